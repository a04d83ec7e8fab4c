"""One request, one pass through the layers (issue #14), on the real app and service in process with a FakeEngine,
a tiny seeded checkpoint, the in-process tokenizer and the real Redis: fast, and every property here can fail."""

from __future__ import annotations

import ast
import time
import uuid
from pathlib import Path

import pytest

from server.completions import Job
from server.engines.base import SamplingSpec
from server.failures import BadRequest, NotFound
from server.prompts import ChatPrompt, TextPrompt, TokenPrompt
from tests.server.conftest import fast_serving
from tests.server.fake_engine import FakeEngine

ROOT = Path(__file__).resolve().parents[2]


def fresh(text: str = "Answer with the antonym of the given word.") -> str:
    """A description no earlier test (nor an earlier run, through Redis) has generated."""
    return f"{text} ({uuid.uuid4().hex[:8]})"


def runtime(client):
    return client.app.state.runtime


def chat(client, **body):
    return client.post("/v1/chat/completions", json={"model": runtime(client).model_name, **body})


# ---- one crossing -------------------------------------------------------------------------------------------------
def test_a_chat_request_with_a_task_crosses_each_layer_once(fast, monkeypatch):
    import hypernet.encoder
    import hypernet.generate
    import server.service
    import tests.helpers

    rt = runtime(fast)
    svc, adapters, engine = rt.completions, rt.adapters, rt.engine
    counts = {"complete": 0, "key_for": 0, "normalize": 0, "get_or_create": 0, "pin": 0}

    def counting(name, fn, is_async=False):
        if is_async:
            async def wrapped(*args, **kwargs):
                counts[name] += 1
                return await fn(*args, **kwargs)
        else:
            def wrapped(*args, **kwargs):
                counts[name] += 1
                return fn(*args, **kwargs)
        return wrapped

    norm = counting("normalize", hypernet.encoder.normalize_description)
    for module in (hypernet.encoder, hypernet.generate, server.service, tests.helpers):
        monkeypatch.setattr(module, "normalize_description", norm)
    monkeypatch.setattr(svc, "complete", counting("complete", svc.complete, True))
    monkeypatch.setattr(adapters, "key_for", counting("key_for", adapters.key_for))
    monkeypatch.setattr(adapters, "get_or_create", counting("get_or_create", adapters.get_or_create, True))
    monkeypatch.setattr(engine, "pin", counting("pin", engine.pin))
    calls, batches = len(engine.calls), adapters.batches_run

    task = fresh()
    r = chat(fast, task=task, max_tokens=6, messages=[{"role": "user", "content": "hot"}])
    assert r.status_code == 200, r.text
    adapter_id = r.json()["model"]
    assert counts == {"complete": 1, "key_for": 1, "normalize": 1, "get_or_create": 1, "pin": 1}
    assert adapters.batches_run == batches + 1 and engine.loads[adapter_id] == 1
    call, = engine.calls[calls:]
    assert call.adapter_id == adapter_id and adapter_id in engine.loaded()
    ids = svc.chat_prompt_ids([{"role": "user", "content": "hot"}], task, False)
    assert list(call.prompt_ids) == ids
    assert r.json()["choices"][0]["message"]["content"] == FakeEngine.expected(ids, call.spec, adapter_id)

    again = chat(fast, task=task, max_tokens=6, messages=[{"role": "user", "content": "hot"}])
    assert again.json()["choices"] == r.json()["choices"] and engine.loads[adapter_id] == 1  # loaded once


def test_n_choices_get_consecutive_seeds_and_keep_every_sampling_field(fast):
    rt = runtime(fast)
    engine = rt.engine
    job = Job(ChatPrompt((("user", "hi"),)), task=fresh(), n=3,
              sampling=SamplingSpec(max_tokens=5, temperature=0.8, top_p=0.9, stop=("zz",), seed=7, ignore_eos=True))
    before = len(engine.calls)
    done = fast.portal.call(rt.completions.complete, job)
    specs = [c.spec for c in engine.calls[before:]]
    assert sorted(s.seed for s in specs) == [7, 8, 9]
    assert {(s.max_tokens, s.temperature, s.top_p, s.stop, s.ignore_eos) for s in specs} == {(5, 0.8, 0.9, ("zz",),
                                                                                              True)}
    assert all(c.completion_tokens == 5 for c in done.choices)  # ignore_eos reached the engine
    for i, choice in enumerate(done.choices):
        assert choice.text == FakeEngine.expected(engine.calls[before].prompt_ids,
                                                  SamplingSpec(5, 0.8, 0.9, ("zz",), 7 + i, True), done.model)
    assert len({c.text for c in done.choices}) == 3 and engine.loads[done.model] == 1

    async def streamed():
        run = await rt.completions.stream(job)
        texts = ["", "", ""]
        async for i, delta in run.deltas:
            texts[i] += delta.text
        return texts

    assert fast.portal.call(streamed) == [c.text for c in done.choices]


def test_for_choice_is_the_one_seed_rule():
    spec = SamplingSpec(max_tokens=3, temperature=1.0, seed=10, ignore_eos=True)
    assert [spec.for_choice(i).seed for i in range(3)] == [10, 11, 12]
    assert all(spec.for_choice(i).ignore_eos for i in range(3))
    assert SamplingSpec(seed=None).for_choice(4).seed is None


# ---- errors are values, mapped to HTTP in one place ---------------------------------------------------------------
def test_the_service_raises_failures_not_http(fast):
    svc = runtime(fast).completions
    with pytest.raises(BadRequest) as err:
        fast.portal.call(svc.complete, Job(TextPrompt("x"), task="   "))
    assert err.value.param == "task"
    with pytest.raises(NotFound) as err:
        fast.portal.call(svc.complete, Job(TextPrompt("x"), model="gpt-4o"))
    assert (err.value.param, err.value.code) == ("model", "model_not_found")


def test_no_http_below_the_routes():
    below = ["completions.py", "service.py", "prompts.py", "failures.py", "cache.py", "engines"]
    for name in below:
        where = ROOT / "server" / name
        for path in [where] if name.endswith(".py") else sorted(where.glob("*.py")):
            tree = ast.parse(path.read_text())
            imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
            imported |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
            assert not imported & {"fastapi", "starlette"}, path
            assert "errors" not in {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}, path


@pytest.mark.parametrize("path, body, status, param, code", [
    ("/v1/chat/completions", {"task": "   ", "messages": [{"role": "user", "content": "x"}]}, 400, "task", None),
    ("/v1/chat/completions", {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}, 404, "model",
     "model_not_found"),
    ("/v1/chat/completions", {"model": "t2l-0000000000000000", "messages": [{"role": "user", "content": "x"}]}, 404,
     "model", "model_not_found"),
    ("/v1/chat/completions", {"n": 99, "messages": [{"role": "user", "content": "x"}]}, 400, "n", None),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x " * 300}]}, 400, "messages",
     "context_length_exceeded"),
    ("/v1/completions", {"prompt": "x " * 300}, 400, "prompt", "context_length_exceeded"),
    ("/v1/completions", {"prompt": "x", "max_tokens": 65}, 400, "max_tokens", None),
    ("/v1/completions", {"prompt": "x", "description_in_prompt": True}, 400, "description_in_prompt", None),
    ("/v1/generate", {"task": "", "prompt": "x"}, 400, "task", None),
    ("/v1/adapters", {"task": "\n\t "}, 400, "task", None),
    ("/v1/adapters/t2l-0000000000000000", None, 404, "adapter_id", None),
])
def test_failures_become_the_openai_envelope(fast, path, body, status, param, code):
    if body is None:
        r = fast.get(path)
    else:
        body = {"model": runtime(fast).model_name, **body} if path.startswith("/v1/c") else body
        r = fast.post(path, json=body)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert (error["param"], error["code"]) == (param, code)
    assert error["type"] == {400: "invalid_request_error", 404: "not_found_error"}[status] and error["message"]


def test_busy_timeout_and_engine_failure(fast_parts, redis_client, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    engine = FakeEngine()
    with fast_serving(fast_parts, tmp_path, engine, max_concurrent_generations=1, max_waiting=1,
                      request_timeout_s=0.5) as client:
        engine.delay_s = 0.2
        body = {"task": "Busy task.", "prompt": "x", "max_tokens": 2}
        with ThreadPoolExecutor(6) as pool:
            replies = list(pool.map(lambda _: client.post("/v1/generate", json=body), range(6)))
        codes = sorted(r.status_code for r in replies)
        assert codes.count(200) >= 2 and set(codes) <= {200, 429} and 429 in codes
        busy = next(r for r in replies if r.status_code == 429)
        assert busy.headers["retry-after"] == "1" and busy.json()["error"]["code"] == "server_busy"
        assert busy.json()["error"]["type"] == "rate_limit_error"

        engine.delay_s = 2.0
        slow = client.post("/v1/generate", json=body)
        assert slow.status_code == 504 and slow.json()["error"]["code"] == "timeout"

        engine.delay_s, engine.failure = 0.0, "simulated device failure"
        broken = client.post("/v1/generate", json={**body, "task": "Another task."})
        assert broken.status_code == 503 and "simulated device failure" in broken.json()["error"]["message"]
        assert broken.headers["retry-after"] == "5"
        ready = client.get("/ready")
        assert ready.status_code == 503 and ready.json()["status"] == "engine_failed"
        with client.stream("POST", "/v1/generate", json={**body, "stream": True}) as s:  # mid-stream: an event
            events = [line for line in s.iter_lines() if line.startswith("data: ")]
        assert "simulated device failure" in events[0] and events[-1] == "data: [DONE]"


# ---- token-id prompts ---------------------------------------------------------------------------------------------
def test_completions_accept_token_ids_as_openai_does(fast):
    rt = runtime(fast)
    ids = rt.completions.text_ids("Once upon a time")
    spec = SamplingSpec(max_tokens=4)
    text = FakeEngine.expected(ids, spec, None)
    for prompt in (ids, [ids]):
        r = fast.post("/v1/completions", json={"model": rt.model_name, "prompt": prompt, "max_tokens": 4})
        assert r.status_code == 200, r.text
        assert r.json()["choices"][0]["text"] == text and r.json()["usage"]["prompt_tokens"] == len(ids)
    as_text = fast.post("/v1/completions", json={"model": rt.model_name, "prompt": ["Once upon a time"],
                                                 "max_tokens": 4})
    assert as_text.json()["choices"][0]["text"] == text  # the same ids, tokenised by the server
    task = fresh()
    with_task = fast.post("/v1/completions", json={"model": "x", "task": task, "prompt": ids, "max_tokens": 4})
    assert with_task.status_code == 200 and with_task.json()["usage"]["prompt_tokens"] == len(ids)


@pytest.mark.parametrize("prompt, needle", [
    ([[1, 2], [3]], "exactly one prompt"),
    (["a", "b"], "exactly one prompt"),
    ([], "exactly one prompt"),
    ([[]], "token ids"),
    ([1, "a"], "token ids"),
    ([True, 2], "token ids"),
    ({"text": "x"}, "token ids"),
    ([10**6], "vocabulary"),
    ([-1], "vocabulary"),
])
def test_bad_prompts_name_the_prompt_field(fast, prompt, needle):
    r = fast.post("/v1/completions", json={"model": runtime(fast).model_name, "prompt": prompt})
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["param"] == "prompt" and needle in error["message"], error


def test_description_in_prompt_true_with_token_ids_is_refused(fast):
    r = fast.post("/v1/completions", json={"model": "x", "task": fresh(), "prompt": [1, 2, 3],
                                           "description_in_prompt": True})
    assert r.status_code == 400 and r.json()["error"]["param"] == "description_in_prompt"


# ---- streams, adapters --------------------------------------------------------------------------------------------
def test_streams_carry_the_same_text_as_plain_replies(fast):
    import json

    task = fresh()
    messages = [{"role": "user", "content": "cold"}]
    plain = chat(fast, task=task, max_tokens=6, n=2, seed=3, temperature=1.0, messages=messages).json()
    with fast.stream("POST", "/v1/chat/completions", json={
            "model": "x", "task": task, "max_tokens": 6, "n": 2, "seed": 3, "temperature": 1.0, "stream": True,
            "messages": messages, "stream_options": {"include_usage": True}}) as s:
        assert s.headers["x-t2l-adapter-id"] == plain["model"]
        chunks = [json.loads(line[6:]) for line in s.iter_lines() if line.startswith("data: {")]
    for i, choice in enumerate(plain["choices"]):
        mine = [c["choices"][0] for c in chunks if c["choices"] and c["choices"][0]["index"] == i]
        assert mine[0]["delta"] == {"role": "assistant", "content": ""}
        assert "".join(c["delta"].get("content", "") for c in mine) == choice["message"]["content"]
    assert chunks[-1]["usage"] == plain["usage"] and chunks[-1]["choices"] == []
    generated = fast.post("/v1/generate", json={"task": task, "prompt": "cold", "max_tokens": 6}).json()
    with fast.stream("POST", "/v1/generate", json={"task": task, "prompt": "cold", "max_tokens": 6,
                                                   "stream": True}) as s:
        events = [json.loads(line[6:]) for line in s.iter_lines() if line.startswith("data: {")]
    assert "".join(e["text"] for e in events) == generated["text"]
    assert {"load_ms", "generation_ms", "total_ms"} <= set(events[-1]["timings"]) and events[-1]["usage"]


def test_adapter_lifecycle_goes_through_the_service(fast):
    engine = runtime(fast).engine
    task = fresh("Classify the sentiment of the review.")
    created = fast.post("/v1/adapters", json={"task": task}).json()
    assert created["cached"] is False and created["loaded"] is True and engine.loads[created["id"]] == 1
    assert fast.post("/v1/adapters", json={"task": "  " + task}).json()["cached"] is True
    assert fast.get(f"/v1/adapters/{created['id']}").json()["description"] == task
    models = {m["id"] for m in fast.get("/v1/models").json()["data"]}
    assert created["id"] in models
    deleted = fast.delete(f"/v1/adapters/{created['id']}").json()
    assert deleted["engine_unloaded"] is True and created["id"] not in engine.loaded()
    assert fast.get(f"/v1/adapters/{created['id']}").status_code == 404
    assert fast.delete(f"/v1/adapters/{created['id']}").status_code == 404


# ---- warm-up before ready -----------------------------------------------------------------------------------------
def test_ready_waits_for_a_warm_up_that_leaves_no_trace(fast_parts, redis_client, tmp_path):
    import threading

    gate = threading.Event()

    class GatedEngine(FakeEngine):
        async def generate(self, *args, **kwargs):
            import asyncio

            while not gate.is_set():
                await asyncio.sleep(0.01)
            async for delta in super().generate(*args, **kwargs):
                yield delta

    engine = GatedEngine()
    from starlette.testclient import TestClient

    from server.app import assemble_runtime, create_app
    from tests.helpers import HashingEncoder
    from tests.server.conftest import make_settings

    async def build(settings, metrics):
        await engine.start()
        return assemble_runtime(settings, metrics, fast_parts.checkpoint, "tiny", HashingEncoder(16),
                                fast_parts.tokenizer, fast_parts.model, engine)

    app = create_app(make_settings(tmp_path, fast_parts.folder), build=build)
    with TestClient(app) as client:
        starting = client.get("/ready")
        work = client.post("/v1/completions", json={"model": "tiny-base", "prompt": "x"})
        gate.set()
        for _ in range(500):
            if client.get("/ready").status_code == 200:
                break
            threading.Event().wait(0.01)
        rt = app.state.runtime
        metrics = client.get("/metrics").text
    assert starting.status_code == 503 and starting.json()["status"] == "starting" and work.status_code == 503
    warm = engine.calls
    assert len(warm) == 2 and warm[0].adapter_id is not None and warm[1].adapter_id is None
    assert all(c.spec.max_tokens == 1 for c in warm) and engine.loads[warm[0].adapter_id] == 1
    assert engine.loaded() == [] and len(rt.cache.memory) == 0  # unloaded and forgotten
    assert redis_client.get(f"t2l:meta:{warm[0].adapter_id}") is None
    assert 't2l_cache_lookups_total{' not in metrics and "t2l_completion_tokens_total 0.0" in metrics
    assert "t2l_generation_seconds_count" not in metrics or 't2l_generation_seconds_count{engine="fake"} 0.0' \
        in metrics


def test_hypernet_pre_normalised_entry_point_embeds_the_same_text_without_normalising(fast_parts, monkeypatch):
    import torch

    import hypernet.encoder
    import hypernet.generate
    import tests.helpers
    from hypernet import embed_descriptions, normalize_description
    from tests.helpers import HashingEncoder

    raw = "  Sort   the list\tof words. "
    clean = normalize_description(raw)
    texts, usual = embed_descriptions(fast_parts.checkpoint, HashingEncoder(16), [raw])

    class Plain:  # a TaskEncoder with embed only: the pre-normalised path falls back to it
        name, dim = "plain", 16

        def embed(self, texts):
            return HashingEncoder(16).embed(texts)

    plain = embed_descriptions(fast_parts.checkpoint, Plain(), [clean], normalized=True)[1]

    def refuse(*args, **kwargs):
        raise AssertionError("normalised again")

    for module in (hypernet.encoder, hypernet.generate, tests.helpers):
        monkeypatch.setattr(module, "normalize_description", refuse)
    again, direct = embed_descriptions(fast_parts.checkpoint, HashingEncoder(16), [clean], normalized=True)
    assert texts == again == [clean] and torch.equal(usual, direct) and torch.equal(usual, plain)


def test_a_failing_choice_stops_its_siblings_inside_the_request(fast_parts, redis_client, tmp_path):
    class OneBadChoice(FakeEngine):
        """The choice with seed 1 fails at once; the others wait for an event the test never sets, so they end
        only if the request stops them (counted as cancelled), before it answers."""

        def __init__(self):
            super().__init__()
            self.finished = self.cancelled = 0

        async def generate(self, prompt_ids, spec, adapter_id=None):
            import asyncio

            from server.engines.base import EngineError

            if spec.seed == 1:
                raise EngineError("choice 1 failed")
            if spec.seed is not None:  # not the warm-up's unseeded requests
                try:  # (bounded: a request that never stops its siblings fails the test instead of hanging it)
                    await asyncio.wait_for(asyncio.Event().wait(), 30)
                except asyncio.CancelledError:
                    self.cancelled += 1
                    raise
            async for delta in super().generate(prompt_ids, spec, adapter_id):
                yield delta
            self.finished += 1

    engine = OneBadChoice()
    with fast_serving(fast_parts, tmp_path, engine) as client:
        engine.finished = 0  # not the warm-up's
        r = chat(client, n=3, seed=0, temperature=1.0, max_tokens=2, messages=[{"role": "user", "content": "x"}])
        stopped, free = engine.cancelled, not runtime(client).completions.admission.slots.locked()
    assert r.status_code == 503 and "choice 1 failed" in r.json()["error"]["message"]
    assert engine.finished == 0 and stopped == 2 and free


def test_sampling_is_declared_once_and_converted_once():
    """The sampling fields live in one value (SamplingSpec) and the HTTP schema that parses them; every request
    schema converts into that value in one place (one stop string becomes a tuple), and a Job carries it whole."""
    from server.schemas import ChatCompletionRequest, CompletionRequest, GenerateRequest

    root = Path(__file__).resolve().parents[2] / "server"
    holders = sorted(f"{f.name}:{node.name}" for f in root.rglob("*.py") for node in ast.walk(ast.parse(f.read_text()))
                     if isinstance(node, ast.ClassDef) and any(isinstance(s, ast.AnnAssign) and getattr(
                         s.target, "id", "") in ("temperature", "top_p") for s in node.body))
    assert holders == ["base.py:SamplingSpec", "schemas.py:_Sampling"]
    chat = ChatCompletionRequest(model="m", messages=[{"role": "user", "content": "x"}], stop="END", temperature=0.5,
                                 seed=3)
    assert chat.sampling(7) == SamplingSpec(max_tokens=7, temperature=0.5, top_p=1.0, stop=("END",), seed=3)
    text = CompletionRequest(model="m", prompt="x", stop=["a", "b"], top_p=0.5)
    assert text.sampling(None) == SamplingSpec(max_tokens=None, top_p=0.5, stop=("a", "b"))
    assert GenerateRequest(task="Say hi.", prompt="x").sampling(None) == Job(TextPrompt("x")).sampling
