"""`t2l bench --smoke` (the CI-sized run of every benchmark, real SmolLM2 + MiniLM, HF engine, real Redis): the
results file has every promised figure, a markdown summary and a plot. No timing is asserted (noisy machines)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from t2l.bench.run import TARGETS, summarise
from t2l.bench.timing import percentile, spread

ROOT = Path(__file__).resolve().parents[1]


def test_spread_and_percentile():
    s = spread([3.0, 1.0, 2.0, 10.0])
    assert s["median_ms"] == 2.5 and s["min_ms"] == 1.0 and s["max_ms"] == 10.0 and s["n"] == 4
    assert percentile([1, 2, 3, 4, 5], 0.5) == 3 and percentile([1, 2, 3, 4, 5], 1.0) == 5
    with pytest.raises(ValueError):
        spread([])


def test_summary_checks_each_target_in_its_direction():
    results = {"generation": {"L": {"largest_over_smallest": 12.0}},
               "cold_warm": {"cold_overhead": {"median_ms": 30.0}},
               "cache": {"service_memory_hit": {"median_ms": 0.01}},
               "multi_adapter": {"8": {"base": {"over_base": 1.0}, "16": {"over_base": 0.5}},
                                 "32": {"base": {"over_base": 1.0}, "16": {"over_base": 0.9}}},
               "finetune": {"finetune_over_t2l_time": 20_000.0}}
    s = summarise(results)
    assert s["multi16_over_base_throughput"] == 0.9  # the highest concurrency measured
    met = {k: v["met"] for k, v in s["targets"].items()}
    assert met == {"cold_overhead_ms": True, "cache_hit_ms": True, "batch64_over_batch1": False,
                   "multi16_over_base_throughput": True, "finetune_over_t2l_time": True}


@pytest.mark.slow
def test_smoke_run_writes_every_figure(tmp_path):
    out = tmp_path / "cpu.json"
    proc = subprocess.run([sys.executable, "-m", "t2l.cli", "bench", "--smoke", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(out.read_text())
    assert set(TARGETS) <= set(results["summary"])
    assert results["summary"]["cold_overhead_ms"] > 0 and results["summary"]["cache_hit_ms"] > 0
    assert results["summary"]["redis_hit_ms"] > 0  # the real Redis path ran
    assert set(results["generation"]) == {"L", "M", "S"}
    assert results["multi_adapter"]["2"]["base"]["tokens_per_s"] > 0
    assert results["icl"]["extra_prompt_tokens"] > 0
    assert results["finetune"]["curve"][0]["step"] == 0
    assert out.with_suffix(".md").read_text().startswith("# t2l benchmarks")
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"


def test_load_counts_every_token_under_concurrency():
    """Regression: `tokens += await ...` lost updates when requests finished concurrently."""
    import asyncio

    from server.engines.base import Delta
    from t2l.bench.serving import run_load

    class Engine:
        name = "fake"

        async def generate(self, prompt_ids, spec, adapter_id=None, adapter=None):
            for i in range(spec.max_tokens):
                await asyncio.sleep(0.001)
            yield Delta("", "length", len(prompt_ids), spec.max_tokens)

    out = asyncio.run(run_load(Engine(), [[1, 2]], [None, "a"], concurrency=8, requests=40, max_tokens=5))
    assert out["tokens"] == 200 and out["requests"] == 40
