"""The statistics of the expected-accuracy check (t2l.expected_check) and its variants (t2l.expected_variants):
ranks, correlations with a bootstrap interval, mean absolute error, and a calibration table over score bins.
Pure functions over plain sequences."""

from __future__ import annotations

import math
import random
from typing import Any, Sequence

BINS = ((0.0, 5.0), (5.0, 15.0), (15.0, 30.0), (30.0, 50.0), (50.0, 100.0))  # the last bin includes 100


def rank(values: Sequence[float]) -> list[float]:
    """1-based ranks; tied values share the mean of the ranks they span."""
    order, out, start = sorted(range(len(values)), key=lambda i: values[i]), [0.0] * len(values), 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for j in order[start:end + 1]:
            out[j] = (start + end) / 2 + 1
        start = end + 1
    return out


def pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Pearson correlation; None when either side is constant (it is undefined then)."""
    if len(x) != len(y) or len(x) < 2:
        raise ValueError(f"need two equally long series of >= 2 values, got {len(x)} and {len(y)}")
    mx, my = sum(x) / len(x), sum(y) / len(y)
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    sxx, syy = sum((a - mx) ** 2 for a in x), sum((b - my) ** 2 for b in y)
    return None if sxx <= 0 or syy <= 0 else sxy / math.sqrt(sxx * syy)


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman rank correlation: Pearson of the tie-averaged ranks."""
    return pearson(rank(x), rank(y))


def spearman_interval(x: Sequence[float], y: Sequence[float], rounds: int = 2000, seed: int = 0
                      ) -> tuple[float, float] | None:
    """Percentile bootstrap 95% interval of Spearman over tasks (resamples where it is undefined are dropped)."""
    rng = random.Random(seed)
    picks = ([rng.randrange(len(x)) for _ in x] for _ in range(rounds))
    values = sorted(r for p in picks if (r := spearman([x[i] for i in p], [y[i] for i in p])) is not None)
    return (values[int(0.025 * len(values))], values[int(0.975 * len(values))]) if len(values) >= rounds // 2 else None


def mean_absolute_error(predicted: Sequence[float], measured: Sequence[float]) -> float:
    return sum(abs(p - m) for p, m in zip(predicted, measured, strict=True)) / len(measured)


def bin_of(value: float, bins: Sequence[tuple[float, float]] = BINS) -> int:
    """Index of the bin [lo, hi) holding value; the last bin is closed, [lo, hi]."""
    for i, (lo, hi) in enumerate(bins):
        if lo <= value < hi or (i == len(bins) - 1 and value == hi):
            return i
    raise ValueError(f"{value} lies outside the bins {bins[0][0]}..{bins[-1][1]}")


def calibration(expected: Sequence[float], measured: Sequence[float],
                bins: Sequence[tuple[float, float]] = BINS) -> list[dict[str, Any]]:
    """Per bin of expected accuracy: count, mean expected, mean measured (None for an empty bin)."""
    which = [bin_of(e, bins) for e in expected]
    mean = lambda xs: round(sum(xs) / len(xs), 2) if xs else None  # noqa: E731
    return [{"bin": f"[{lo:g}, {hi:g}{']' if k == len(bins) - 1 else ')'}", "n": which.count(k),
             "mean_expected": mean([e for e, b in zip(expected, which) if b == k]),
             "mean_measured": mean([m for m, b in zip(measured, which) if b == k])} for k, (lo, hi) in enumerate(bins)]
