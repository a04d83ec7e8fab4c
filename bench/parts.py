"""Component benchmarks: adapter generation per variant and batch size, the two cache hit paths per adapter size,
and writing a PEFT folder (the disk half of a hot load)."""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import torch

from hypernet import Adapter, HyperConfig, HyperLoRA, targets_from_config

from .served import adapter_service, described, redis_cache, served_settings, service_cache
from .timing import spread, time_call


def descriptions(n: int, tag: str = "") -> list[str]:
    """n distinct, realistic task descriptions."""
    verbs = ["Classify", "Translate", "Summarise", "Answer", "Rewrite", "Extract", "Sort", "Count"]
    objects = ["the sentiment of a review", "a question about physics", "a sentence into the past tense",
               "the named entities in a text", "a list of numbers", "an email into a polite reply",
               "the plural of a noun", "a riddle with one word"]
    return [f"{verbs[i % 8]} {objects[(i // 8) % 8]}, variant {i}{tag}." for i in range(n)]


def bench_generation(encoder, base_config, config: HyperConfig, batches: Sequence[int], repeats: int,
                     state_dict: dict | None = None) -> dict:
    """Per variant L/M/S: embed + hypernet pass + split into Adapters, for each batch size in one call."""
    out = {}
    for variant in ("L", "M", "S"):
        net = HyperLoRA(replace(config, variant=variant), targets_from_config(base_config, config.target_modules))
        if variant == config.variant and state_dict is not None:
            net.load_state_dict(state_dict)
        net.eval()
        rows = {}
        for n in batches:
            texts = descriptions(n)

            def once(texts=texts):
                with torch.inference_mode():
                    batch = net(encoder.embed(texts))
                    return Adapter.from_batch(batch, "bench")

            embed = time_call(lambda texts=texts: encoder.embed(texts), repeats)
            total = time_call(once, repeats)
            rows[str(n)] = {"total": total, "embed": embed,
                            "per_adapter_ms": round(total["median_ms"] / n, 4)}
        first, last = rows[str(batches[0])], rows[str(batches[-1])]
        out[variant] = {"parameters": sum(p.numel() for p in net.parameters()), "batches": rows,
                        "largest_over_smallest": round(last["total"]["median_ms"] / first["total"]["median_ms"], 3),
                        "ratio_of": f"batch {batches[-1]} / batch {batches[0]}"}
    return out


def sized_adapters(base_config) -> dict[str, Adapter]:
    """Adapters of increasing size for the cache benchmark (random weights: size, not content, matters)."""
    shapes = {"r8_qv": (8, ("q_proj", "v_proj")), "r8_qkvo": (8, ("q_proj", "k_proj", "v_proj", "o_proj")),
              "r16_all": (16, ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"))}
    out = {}
    for name, (rank, modules) in shapes.items():
        targets = targets_from_config(base_config, modules)
        gen = torch.Generator().manual_seed(0)
        a = tuple(torch.randn(rank, t.in_features, generator=gen) for t in targets)
        b = tuple(torch.randn(t.out_features, rank, generator=gen) for t in targets)
        out[name] = Adapter(tuple(targets), a, b, rank, 2.0 * rank, True, "bench", {"description": name})
    return out


def bench_cache(adapters: dict[str, Adapter], redis_url: str | None, repeats: int, checkpoint=None,
                encoder=None) -> dict:
    """Per adapter size: Redis hit (GET + checksum + deserialise), blob decode alone, PEFT folder write; and the
    service's memory hit (what a warm request pays: key hash + LRU lookup + the decoded adapter), on an
    AdapterService and cache built from the served settings."""
    settings = served_settings()

    async def run() -> dict:
        out: dict = {"sizes": {}}
        redis = redis_cache(redis_url, settings) if redis_url else None
        loop = asyncio.get_running_loop()
        for name, adapter in adapters.items():
            blob = adapter.to_bytes()
            row = {"blob_bytes": len(blob)}
            row["decode"] = time_call(lambda blob=blob: Adapter.from_bytes(blob), repeats)
            with tempfile.TemporaryDirectory() as tmp:
                row["peft_write"] = time_call(lambda: adapter.to_peft(Path(tmp) / "a"), max(3, repeats // 4))
            if redis is not None:
                key = f"bench-{name}"
                await redis.put(key, blob, f"t2l-bench-{name}", {"key": key})
                samples = []
                for _ in range(repeats + 1):
                    start = loop.time()
                    got = await redis.get(key)
                    Adapter.from_bytes(got)
                    samples.append((loop.time() - start) * 1000)
                row["redis_hit"] = spread(samples[1:])
                await redis.delete(key, f"t2l-bench-{name}")
            out["sizes"][name] = row
        if checkpoint is not None and encoder is not None:
            service = adapter_service(checkpoint, encoder, service_cache(settings, redis), "bench", settings)
            text = descriptions(1, " memory-hit")[0]
            await service.get_or_create(text)
            samples = []
            for _ in range(repeats + 1):
                start = loop.time()
                record = await service.get_or_create(text)
                samples.append((loop.time() - start) * 1000)
            assert record.source == "memory"
            out["service_memory_hit"] = spread(samples[1:])
            out["service"] = described(settings)
            await service.close()
        if redis is not None:
            await redis.close()
        return out

    return asyncio.run(run())
