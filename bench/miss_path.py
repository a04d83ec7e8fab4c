"""Where a new description's adapter time goes inside the service (issue #25 item 3): every phase of
`AdapterService.get_or_create` on a miss, next to the bare generation it wraps.

    python -m bench.miss_path [--set descriptions=40] [--set out=bench/results/miss_path.json]

The service is built as `t2l serve` builds it (bench/served.py: served settings, the memory tier in front of the
real Redis at `redis_url`), with the shipped default checkpoint. Each description is new (a miss in both tiers),
asked one at a time, so the figures are one request's latency on an idle service. The cache tier's calls and
`Adapter.to_bytes` are timed by wrapping them for the run; the generation phases come from the service's own
timings. Each description is asked twice (tagged per mode), once of a service with the Redis write and lock release
on the request (`background_publish=False`) and once of one with them after it (the served default), alternating."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from bench.parts import descriptions
from bench.report import bench_main
from bench.served import adapter_service, described, redis_cache, served_settings, service_cache
from bench.timing import spread
from ground.assets import prepare_encoder, shipped_checkpoint
from hypernet import Adapter, load_checkpoint, make_encoder
from training.config import ConfigFile


@dataclass
class MissPathConfig(ConfigFile):
    """One run of the miss-path timing."""

    descriptions: int = 40  # new descriptions per publish mode (each a miss; the first two per mode are warm-up)
    redis_url: str = "redis://127.0.0.1:6379/0"  # the Redis the service writes through (a real one: no fakes)
    threads: int = 2  # torch threads, as served on this machine
    out: str = "bench/results/miss_path.json"  # results file (.md beside it)


@contextmanager
def clocked(record: dict[str, list[float]], name: str):
    """Append the block's wall time (ms) to record[name]."""
    started = time.perf_counter()
    try:
        yield
    finally:
        record[name].append((time.perf_counter() - started) * 1000)


class TimedCache:
    """The service's cache with each call timed (ms per method name, in call order) and nothing else changed."""

    def __init__(self, inner: Any, record: dict[str, list[float]]) -> None:
        self._inner, self._record = inner, record

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if not callable(value):
            return value
        if asyncio.iscoroutinefunction(value):
            async def timed_async(*args, **kwargs):
                with clocked(self._record, name):
                    return await value(*args, **kwargs)
            return timed_async

        def timed(*args, **kwargs):
            with clocked(self._record, name):
                return value(*args, **kwargs)
        return timed


MODES = ("inline", "background")  # the Redis write and lock release on the request, or after it


async def measure(config: MissPathConfig, checkpoint, encoder) -> dict:
    """Per description and publish mode: the request's wall time and each phase. The two modes' services share
    the process and the Redis; they take turns, one description each, so drift hits both alike."""
    settings = served_settings()
    redis = redis_cache(config.redis_url, settings)
    calls: dict[str, list[float]] = defaultdict(list)
    services = {}
    for mode in MODES:
        services[mode] = adapter_service(checkpoint, encoder, TimedCache(service_cache(settings, redis), calls),
                                         checkpoint.base_model, settings)
        services[mode].background_publish = mode == "background"
    rows: dict[str, list[dict]] = {mode: [] for mode in MODES}
    original = Adapter.to_bytes

    def timed_to_bytes(self):
        with clocked(calls, "to_bytes"):
            return original(self)
    Adapter.to_bytes = timed_to_bytes
    stamp = f"{time.time():.0f}"
    try:
        for i, text in enumerate(descriptions(config.descriptions, tag=f" (miss path {stamp})")):
            for mode in (MODES if i % 2 == 0 else MODES[::-1]):
                service = services[mode]
                calls.clear()
                started = time.perf_counter()
                record = await service.get_or_create(f"{text} [{mode}]")
                request_ms = (time.perf_counter() - started) * 1000
                await service.settle()  # the background write finishes before the next request is timed
                settled_ms = (time.perf_counter() - started) * 1000
                t = record.timings
                generation = t["embed_ms"] + t["hypernet_ms"] + t.get("coverage_ms", 0.0)
                rows[mode].append({"request_ms": request_ms, "settled_ms": settled_ms, "embed_ms": t["embed_ms"],
                                   "hypernet_ms": t["hypernet_ms"], "coverage_ms": t.get("coverage_ms", 0.0),
                                   "generation_ms": generation, **{f"{k}_ms": sum(v) for k, v in calls.items()},
                                   **{f"{k}_calls": len(v) for k, v in calls.items()}})
        for service in services.values():
            await service.close()
        await redis.close()
    finally:
        Adapter.to_bytes = original
    return {"rows": {mode: r[2:] for mode, r in rows.items()}, "settings": described(settings)}


def run(config: MissPathConfig) -> dict:
    import torch

    torch.set_num_threads(config.threads)
    folder = shipped_checkpoint()
    checkpoint = load_checkpoint(folder)
    encoder = make_encoder(prepare_encoder(checkpoint.encoder), checkpoint.embedding)
    measured = asyncio.run(measure(config, checkpoint, encoder))
    summary = {}
    for mode, rows in measured["rows"].items():
        phases = sorted({k for r in rows for k in r if k.endswith("_ms")})
        summary[mode] = {k: spread([r.get(k, 0.0) for r in rows]) for k in phases}
    inline, background = summary["inline"], summary["background"]
    return {"checkpoint": str(folder), "descriptions": config.descriptions - 2, "threads": config.threads,
            "summary": summary, "rows": measured["rows"], "settings": measured["settings"],
            "request_over_generation": {m: round(s["request_ms"]["median_ms"] / s["generation_ms"]["median_ms"], 3)
                                        for m, s in summary.items()},
            "background_saves_ms": round(inline["request_ms"]["median_ms"] - background["request_ms"]["median_ms"],
                                         3)}


PHASES = [("request_ms", "request (what the caller waits)"), ("generation_ms", "generation: embed + hypernet + "
          "coverage"), ("embed_ms", "  embed"), ("hypernet_ms", "  hypernet pass + split"), ("coverage_ms",
          "  coverage"), ("get_ms", "cache lookups (memory + Redis GET, twice)"), ("acquire_ms", "Redis lock SET NX"),
          ("to_bytes_ms", "serialise (safetensors + sha256)"), ("put_ms", "write (memory + Redis SET)"),
          ("remember_ms", "memory tier write"), ("keep_decoded_ms", "keep decoded"), ("release_ms",
          "Redis lock release"), ("settled_ms", "until the Redis write is done")]


def markdown(result: dict) -> str:
    s = result["summary"]
    lines = ["# A new description's adapter inside the service (miss path)", "",
             f"`python -m bench.miss_path`: {result['descriptions']} new descriptions per mode, one at a time, "
             f"checkpoint `{result['checkpoint']}`, real Redis, {result['threads']} torch threads. Medians "
             "(IQR), ms, per request; a phase's time is the sum of its calls within the request.", "",
             "| phase | Redis write on the request | Redis write after it |", "|---|---|---|"]
    fmt = lambda d: f"{d['median_ms']:.2f} ({d['p25_ms']:.2f}-{d['p75_ms']:.2f})" if d else "-"  # noqa: E731
    for key, label in PHASES:
        if key in s["inline"] or key in s["background"]:
            lines.append(f"| {label} | {fmt(s['inline'].get(key))} | {fmt(s['background'].get(key))} |")
    r = result["request_over_generation"]
    lines += ["", f"Request / bare generation: {r['inline']}x on the request, {r['background']}x after it; "
              f"the background write saves {result['background_saves_ms']} ms of the request's median."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    return bench_main(argv, "python -m bench.miss_path", __doc__, MissPathConfig, run, markdown)


if __name__ == "__main__":
    raise SystemExit(main())
