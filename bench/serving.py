"""Engine benchmarks, in process with the server's own classes (AdapterService + VLLMEngine / HFEngine):
hot load, one request cold vs warm, multi-adapter throughput vs the base model, and in-context learning."""

from __future__ import annotations

import asyncio
import time
from typing import Sequence

from server.engines.base import SamplingSpec
from training.data import eval_split, prompt_ids

from .parts import descriptions
from .timing import percentile, spread


async def _complete(engine, prompt_ids: list[int], spec: SamplingSpec, adapter_id=None) -> int:
    """One completion on the base model or on a loaded adapter (callers load it first, as the service does)."""
    tokens = 0
    async for delta in engine.generate(prompt_ids, spec, adapter_id):
        if delta.finish_reason is not None:
            tokens = delta.completion_tokens
    return tokens


async def bench_hot_load(engine, service, n: int) -> dict:
    """n never-seen adapters: engine.ensure_loaded (PEFT folder write + engine load) each, medians."""
    samples = []
    for text in descriptions(n, f" hot-load {engine.name} {time.time_ns()}"):
        record = await service.get_or_create(text)
        start = time.perf_counter()
        await engine.ensure_loaded(record.id, record.adapter)
        samples.append((time.perf_counter() - start) * 1000)
    return spread(samples)


async def bench_cold_warm(engine, service, prompt_ids: list[int], n: int, max_tokens: int) -> dict:
    """One request for a never-seen task (generate + load + answer) vs the same request again; medians over n."""
    spec = SamplingSpec(max_tokens=max_tokens, temperature=0.0, ignore_eos=True)
    rows = []
    for text in descriptions(n, f" cold-warm {time.time_ns()}"):
        for phase in ("cold", "warm"):
            start = time.perf_counter()
            record = await service.get_or_create(text)
            got = time.perf_counter()
            await engine.ensure_loaded(record.id, record.adapter)
            loaded = time.perf_counter()
            tokens = await _complete(engine, prompt_ids, spec, record.id)
            done = time.perf_counter()
            rows.append({"phase": phase, "source": record.source, "adapter_ms": (got - start) * 1000,
                         "embed_ms": record.timings.get("embed_ms", 0.0) if phase == "cold" else 0.0,
                         "hypernet_ms": record.timings.get("hypernet_ms", 0.0) if phase == "cold" else 0.0,
                         "load_ms": (loaded - got) * 1000, "generation_ms": (done - loaded) * 1000,
                         "total_ms": (done - start) * 1000, "tokens": tokens})
    cold = [r for r in rows if r["phase"] == "cold"]
    warm = [r for r in rows if r["phase"] == "warm"]
    overhead = [r["adapter_ms"] + r["load_ms"] for r in cold]
    return {"cold_total": spread([r["total_ms"] for r in cold]), "warm_total": spread([r["total_ms"] for r in warm]),
            "cold_overhead": spread(overhead),
            "cold_split_ms": {k: round(sorted(r[k] for r in cold)[len(cold) // 2], 3)
                              for k in ("embed_ms", "hypernet_ms", "load_ms", "adapter_ms")},
            "warm_adapter": spread([r["adapter_ms"] for r in warm]),
            "max_tokens": max_tokens, "rows": rows}


async def _load_many(engine, service, n: int) -> list[str]:
    ids = []
    for text in descriptions(n, f" serving {time.time_ns()}"):
        record = await service.get_or_create(text)
        await engine.ensure_loaded(record.id, record.adapter)
        ids.append(record.id)
    return ids


async def run_load(engine, prompts: Sequence[list[int]], adapter_ids: Sequence[str | None], concurrency: int,
                   requests: int, max_tokens: int) -> dict:
    """`requests` fixed-length completions, at most `concurrency` in flight; request i uses adapter_ids[i % n]."""
    spec = SamplingSpec(max_tokens=max_tokens, temperature=0.0, ignore_eos=True)
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    tokens = 0

    async def one(i: int) -> None:
        nonlocal tokens
        async with gate:
            start = time.perf_counter()
            done = await _complete(engine, prompts[i % len(prompts)], spec, adapter_ids[i % len(adapter_ids)])
            tokens += done  # not `tokens += await ...`: that reads `tokens` before the await and loses updates
            latencies.append((time.perf_counter() - start) * 1000)

    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(requests)))
    wall = time.perf_counter() - start
    return {"tokens_per_s": round(tokens / wall, 2), "p50_ms": round(percentile(latencies, 0.5), 1),
            "p99_ms": round(percentile(latencies, 0.99), 1), "requests": requests, "tokens": tokens,
            "wall_s": round(wall, 2)}


async def bench_multi_adapter(engine, service, prompts: Sequence[list[int]], distinct: Sequence[int],
                              concurrencies: Sequence[int], max_tokens: int, rounds: int = 2) -> dict:
    """Throughput and latency with k distinct adapters in flight vs the base model, same engine, same prompts.
    Base and adapter runs alternate and repeat `rounds` times; medians per configuration."""
    ids = await _load_many(engine, service, max(distinct))
    await run_load(engine, prompts, [None], max(concurrencies), max(concurrencies), 4)  # warm the engine
    out: dict = {}
    for conc in concurrencies:
        requests = max(2 * conc, max(distinct))
        runs: dict[str, list[dict]] = {}
        for _ in range(rounds):
            for k in (0, *distinct):
                label = "base" if k == 0 else str(k)
                pool = [None] if k == 0 else ids[:k]
                runs.setdefault(label, []).append(await run_load(engine, prompts, pool, conc, requests, max_tokens))
        table = {}
        for label, rs in runs.items():
            tps = sorted(r["tokens_per_s"] for r in rs)
            table[label] = {"tokens_per_s": tps[len(tps) // 2], "tokens_per_s_all": tps,
                            "p50_ms": sorted(r["p50_ms"] for r in rs)[len(rs) // 2],
                            "p99_ms": sorted(r["p99_ms"] for r in rs)[len(rs) // 2], "requests": requests}
        base = table["base"]["tokens_per_s"]
        for label, row in table.items():
            row["over_base"] = round(row["tokens_per_s"] / base, 3)
        out[str(conc)] = table
    return out


async def bench_icl(engine, service, tokenizer, task, n: int, max_tokens: int) -> dict:
    """In-context learning (3 worked examples in the prompt, base model) vs a T2L adapter (description only):
    prompt tokens and latency per request, medians over n held-out inputs."""
    held, pool = eval_split(task, n)
    shots = "\n\n".join(f"{e.input}\n{e.target}" for e in pool[:3])
    spec = SamplingSpec(max_tokens=max_tokens, temperature=0.0, ignore_eos=True)
    record = await service.get_or_create(task.eval_descriptions[0])
    await engine.ensure_loaded(record.id, record.adapter)
    rows = {"icl_3shot": [], "t2l": []}
    lengths = {"icl_3shot": [], "t2l": []}
    for example in held:
        for name, text, adapter_id in (("icl_3shot", f"{shots}\n\n{example.input}", None),
                                       ("t2l", example.input, record.id)):
            ids = prompt_ids(tokenizer, text)
            start = time.perf_counter()
            await _complete(engine, ids, spec, adapter_id)
            rows[name].append((time.perf_counter() - start) * 1000)
            lengths[name].append(len(ids))
    med = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
    return {"task": task.name, "prompt_tokens": {k: med(v) for k, v in lengths.items()},
            "latency": {k: spread(v) for k, v in rows.items()},
            "extra_prompt_tokens": med(lengths["icl_3shot"]) - med(lengths["t2l"]),
            "icl_over_t2l_latency": round(med(rows["icl_3shot"]) / med(rows["t2l"]), 3)}
