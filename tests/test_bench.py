"""`t2l bench --smoke` (the CI-sized run of every benchmark, real SmolLM2 + MiniLM, HF engine, real Redis): the
results file has every promised figure, a markdown summary and a plot. No timing is asserted (noisy machines).
The bench's AdapterService, cache and HF engine are the served ones: built from server/settings.py's defaults with
server/app.py's arguments (issue #14: it measured a 5 ms batch window that serving does not have)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.run import TARGETS, summarise
from bench.timing import percentile, spread

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
    from server.settings import Settings

    engine = results["engine"]  # the served window and batch; only the multi-adapter knobs are set otherwise
    assert engine["settings"]["batch_window_ms"] == Settings.model_fields["batch_window_ms"].default
    assert set(engine["differs_from_served"]) <= {"max_loras", "max_cpu_loras", "max_model_len"}
    assert results["cache"]["service"]["differs_from_served"] == {}
    assert "built from the served defaults" in out.with_suffix(".md").read_text()
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"


def test_load_counts_every_token_under_concurrency():
    """Regression: `tokens += await ...` lost updates when requests finished concurrently."""
    import asyncio

    from server.engines.base import Delta
    from bench.serving import run_load

    class Engine:
        name = "fake"

        async def generate(self, prompt_ids, spec, adapter_id=None):
            for i in range(spec.max_tokens):
                await asyncio.sleep(0.001)
            yield Delta("", "length", len(prompt_ids), spec.max_tokens)

    out = asyncio.run(run_load(Engine(), [[1, 2]], [None, "a"], concurrency=8, requests=40, max_tokens=5))
    assert out["tokens"] == 200 and out["requests"] == 40


# ---- the bench runs what `t2l serve` runs (issue #14) -----------------------------------------------------------
def _calls(path: Path, name: str) -> list[ast.Call]:
    return [n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Call)
            and getattr(n.func, "id", getattr(n.func, "attr", None)) == name]


def _settings_args(call: ast.Call) -> list[str | None]:
    """Which Settings field each argument of a call passes (`settings.x` -> "x"; anything else -> None)."""
    return [a.attr if isinstance(a, ast.Attribute) and getattr(a.value, "id", "") == "settings" else None
            for a in call.args]


@pytest.mark.parametrize("cls, served_in", [("AdapterService", "build_runtime"), ("HFEngine", "make_engine")])
def test_bench_passes_the_server_its_own_arguments(cls, served_in):
    """bench/served.py builds AdapterService and HFEngine with the same Settings fields, in the same places, as
    server/app.py: a new or reordered argument there fails here."""
    (server_call,) = _calls(ROOT / "server" / "app.py", cls)
    (bench_call,) = _calls(ROOT / "bench" / "served.py", cls)
    served = [a for a in _settings_args(server_call) if a is not None]
    assert served and _settings_args(bench_call)[-len(served):] == served, (cls, served_in)
    assert len(bench_call.args) <= len(server_call.args)  # at most metrics is left out


def test_every_bench_service_is_built_from_the_served_settings():
    """No module of bench/ builds a service, engine or cache itself (where a 5 ms window hid before)."""
    for path in sorted((ROOT / "bench").glob("*.py")):
        if path.name == "served.py":
            continue
        for name in ("AdapterService", "HFEngine", "MemoryCache", "RedisCache", "TieredCache"):
            assert not _calls(path, name), f"{path.name} builds {name} itself: use bench/served.py"


def test_served_settings_are_the_declared_defaults(monkeypatch, tmp_path):
    from server.settings import Settings
    from bench.served import ENGINE_FIELDS, SERVICE_FIELDS, described, served_settings

    for name in [k for k in os.environ if k.startswith("T2L_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no .env here
    clean = Settings()
    monkeypatch.setenv("T2L_BATCH_WINDOW_MS", "5")  # what the bench used to wait: the environment changes nothing
    monkeypatch.setenv("T2L_MAX_BATCH", "3")
    monkeypatch.setenv("T2L_HOME", str(tmp_path / "home"))  # ... but where files go
    settings = served_settings()
    for name in SERVICE_FIELDS + ENGINE_FIELDS:
        assert getattr(settings, name) == getattr(clean, name) == Settings.model_fields[name].default, name
    assert settings.home == tmp_path / "home"
    assert described(settings)["differs_from_served"] == {}
    wider = served_settings(max_loras=32, max_cpu_loras=96)
    assert described(wider)["differs_from_served"] == {"max_loras": [clean.max_loras, 32],
                                                       "max_cpu_loras": [clean.max_cpu_loras, 96]}
    with pytest.raises(ValueError, match="not settings"):
        served_settings(batch_window=5)
    with pytest.raises(ValueError):  # validated like any Settings
        served_settings(max_loras=100, max_cpu_loras=10)


def test_cache_bench_measures_the_served_service(monkeypatch, tmp_path):
    """bench_cache's memory hit runs on an AdapterService with the served window, batch, limits and cache budget,
    even when the environment says otherwise; the results record those settings."""
    import bench.served
    import server.service
    from hypernet import load_checkpoint, save_checkpoint
    from server.settings import Settings
    from bench.parts import bench_cache, sized_adapters
    from tests.helpers import HashingEncoder, tiny_hypernet, tiny_llama, tiny_llama_config

    built = []

    class Recording(server.service.AdapterService):
        def __init__(self, *args, **kw):
            super().__init__(*args, **kw)
            built.append(self)

    monkeypatch.setattr(bench.served, "AdapterService", Recording)  # where the bench looks it up
    monkeypatch.setenv("T2L_BATCH_WINDOW_MS", "5")
    save_checkpoint(tmp_path / "ckpt", tiny_hypernet(tiny_llama(), head_noise=0.05), "tiny-llama", "test/hashing")
    out = bench_cache(sized_adapters(tiny_llama_config()), None, 2, load_checkpoint(tmp_path / "ckpt"),
                      HashingEncoder())
    (service,) = built
    defaults = {name: field.default for name, field in Settings.model_fields.items()}
    assert service.window_s == defaults["batch_window_ms"] / 1000 and service.max_batch == defaults["max_batch"]
    assert service.max_chars == defaults["max_description_chars"] and service.lock_ttl_ms == defaults["lock_ttl_ms"]
    assert service.cache.memory.max_bytes == defaults["cache_max_bytes"] and service.cache.redis is None
    assert out["service"]["differs_from_served"] == {} and out["service_memory_hit"]["n"] == 2


def _refine_runs(config, tasks):
    """Synthetic bench.refine runs: T2L starts at 20 and gains 10 a scored step, the standard start at 0 and 5."""
    runs = []
    for task in tasks:
        for count in config.examples:
            for seed in config.seeds:
                for arm, (start, gain) in (("t2l", (20, 10)), ("lora", (0, 5))):
                    runs.append({"task": task, "arm": arm, "examples": count, "seed": seed, "curve": [
                        {"step": s, "seconds": 2.0 * s + seed, "exact": start + gain * i + seed}
                        for i, s in enumerate(config.steps)]})
    return runs


def test_bench_main_takes_the_config_style_and_writes_every_results_file(tmp_path, capsys):
    """python -m bench.<name>: --set fields of its config (tuples from YAML lists), then the .json, .md and .png."""
    import json

    import pytest

    from bench.refine import RefineBenchConfig, markdown, plot, summarise
    from bench.report import bench_main

    seen = []

    def run(config):
        seen.append(config)
        return summarise(config, ["t"], {"t": 40.0}, _refine_runs(config, ["t"]), 1.0)

    out = tmp_path / "refine.json"
    assert bench_main(["--set", "steps=[0, 5]", "--set", "examples=[4, 16]", "--set", f"out={out}"], "p", "doc",
                      RefineBenchConfig, run, markdown, plot) == 0
    assert seen[0].steps == (0, 5) and seen[0].examples == (4, 16) and seen[0].tasks == RefineBenchConfig().tasks
    assert json.loads(out.read_text())["table"]["t2l/16/5"]["exact"] == 30.5  # median over seeds 0, 1 of 30, 31
    assert "| 16 | T2L | 20.5 (0 s) | 30.5 (10 s) |" in out.with_suffix(".md").read_text()
    assert out.with_suffix(".png").stat().st_size > 10_000 and "| 4 | standard LoRA |" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        bench_main(["--set", "nope=1"], "p", "doc", RefineBenchConfig, run, markdown)


def test_refine_bench_summary_takes_medians_over_seeds_and_finds_the_step_that_matches():
    """Per task the median over seeds, then the mean over tasks; the T2L start 'matches' at the first scored step
    where it reaches the standard start's last score."""
    from bench.refine import RefineBenchConfig, summarise

    config = RefineBenchConfig(examples=(8,), seeds=(0, 1, 5), steps=(0, 10, 20, 40))
    runs = _refine_runs(config, ["a", "b"])
    for r in runs:  # task b's standard start ends higher: 50 + seed at step 40
        if r["task"] == "b" and r["arm"] == "lora":
            r["curve"][-1]["exact"] = 50 + r["examples"] * 0 + r["seed"]
    got = summarise(config, ["a", "b"], {}, runs, 3.0)
    assert got["table"]["lora/8/40"]["exact"] == (16 + 51) / 2  # medians of (15,16,20) and (50,51,55)
    assert got["table"]["t2l/8/0"]["exact"] == 21.0 and got["table"]["t2l/8/20"]["seconds"] == 41.0
    assert got["steps_to_match"] == {"8": 20}  # t2l at step 20: 41 >= 33.5; at step 10: 31 < 33.5
    assert summarise(RefineBenchConfig(examples=(8,), seeds=(0,), steps=(0, 10)), ["a"], {}, [
        {"task": "a", "arm": "t2l", "examples": 8, "seed": 0, "curve": [{"step": 0, "seconds": 0, "exact": 0},
                                                                        {"step": 10, "seconds": 1, "exact": 5}]},
        {"task": "a", "arm": "lora", "examples": 8, "seed": 0, "curve": [{"step": 0, "seconds": 0, "exact": 0},
                                                                         {"step": 10, "seconds": 1, "exact": 9}]},
    ], 1.0)["steps_to_match"] == {"8": None}


def test_refine_bench_picks_held_out_operations_with_an_oracle_first():
    from types import SimpleNamespace

    from bench.refine import pick_tasks

    tasks = [SimpleNamespace(name=n, kind=k) for n, k in (("suite:b", "generative"), ("suite:a", "generative"),
                                                          ("suite:c", "multiple_choice"), ("bigbench:x", "generative"),
                                                          ("suite:z", "generative"))]
    assert [t.name for t in pick_tasks(tasks, {"suite:z": 60.0}, 3)] == ["suite:z", "suite:a", "suite:b"]
