"""Timing helpers: medians with spread, never a single sample."""

from __future__ import annotations

import statistics
import time
from typing import Callable


def spread(samples_ms: list[float]) -> dict[str, float]:
    """median, quartiles, min, max (ms) and n of a list of timings."""
    if not samples_ms:
        raise ValueError("no samples")
    ordered = sorted(samples_ms)
    q = statistics.quantiles(ordered, n=4) if len(ordered) > 1 else [ordered[0]] * 3
    return {"median_ms": round(statistics.median(ordered), 4), "p25_ms": round(q[0], 4), "p75_ms": round(q[2], 4),
            "min_ms": round(ordered[0], 4), "max_ms": round(ordered[-1], 4), "n": len(ordered)}


def time_call(fn: Callable[[], object], repeats: int, warmup: int = 1) -> dict[str, float]:
    """Runs fn warmup + repeats times; the spread of the timed repeats."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return spread(samples)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)
