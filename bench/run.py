"""`t2l bench`: every benchmark in one process and one run, then bench/results/<host-kind>.{json,md} + plots."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ground.assets import prepare_base_model, prepare_encoder
from ground.prompt import prompt_ids
from hypernet import SentenceTransformerEncoder, load_checkpoint
from server.app import resolve_checkpoint
from server.engines.vllm_engine import VLLMEngine
from server.settings import Settings
from training.lora_library import load_base
from training.suite.build import tier_tasks
from training.tasks import bigbench_ready, load_tasks

from .finetune import bench_finetune, pick_task
from .parts import bench_cache, bench_generation, sized_adapters
from .report import write_report
from .served import adapter_service, described, hf_engine, served_settings, service_cache
from .serving import bench_cold_warm, bench_hot_load, bench_icl, bench_multi_adapter

TARGETS = {  # summary key -> (comparison, target) from issue #6
    "cold_overhead_ms": ("<=", 60.0), "cache_hit_ms": ("<=", 2.0), "batch64_over_batch1": ("<=", 10.0),
    "multi16_over_base_throughput": (">=", 0.85), "finetune_over_t2l_time": (">=", 10_000.0)}


@dataclass
class BenchConfig:
    """What `t2l bench` measures. Defaults: the full CPU run (~10 minutes); `smoke()` is the CI-sized one."""

    checkpoint: str | None = None  # hypernet checkpoint (default: the server's default checkpoint)
    engine: str = "vllm"  # serving benchmarks on: vllm | hf
    redis_url: str | None = "redis://127.0.0.1:6379/14"  # Redis for the cache benchmark (None: skip that path)
    repeats: int = 20  # timed repeats per component figure
    batches: tuple[int, ...] = (1, 8, 64)  # descriptions per hypernet pass
    cold_warm_n: int = 9  # never-seen tasks for the cold vs warm figure
    e2e_tokens: int = 64  # new tokens per cold/warm request
    distinct: tuple[int, ...] = (1, 8, 16, 64)  # distinct adapters in flight
    concurrencies: tuple[int, ...] = (8, 32)  # requests in flight
    serve_tokens: int = 32  # new tokens per throughput request
    rounds: int = 2  # repeats of each throughput configuration (alternating base / adapters)
    icl_n: int = 8  # requests per arm of the in-context learning comparison
    finetune_steps: int = 60  # cap on fine-tuning steps (0: skip the fine-tuning comparison)
    finetune_eval_examples: int = 20  # held-out examples scoring the race (as `t2l eval`)
    eval_json: str | None = None  # eval.json of the checkpoint: picks the task for the fine-tuning race
    out: str | None = None  # results path (default bench/results/<host-kind>.json)
    threads: int = 0  # torch CPU threads (0: default)
    notes: dict = field(default_factory=dict)

    @classmethod
    def smoke(cls, **kw) -> "BenchConfig":
        return cls(**{**dict(engine="hf", repeats=3, batches=(1, 4), cold_warm_n=2, e2e_tokens=4, distinct=(1, 2),
                             concurrencies=(2,), serve_tokens=4, rounds=1, icl_n=1, finetune_steps=2,
                             finetune_eval_examples=2), **kw})


def host_kind() -> str:
    import torch

    if torch.cuda.is_available():
        return "cuda-" + torch.cuda.get_device_name(0).lower().replace(" ", "-")
    return "cpu"


def summarise(results: dict) -> dict:
    gen, cw, multi = results.get("generation", {}), results.get("cold_warm", {}), results.get("multi_adapter", {})
    cache = results.get("cache", {})
    summary = {
        "cold_overhead_ms": cw.get("cold_overhead", {}).get("median_ms"),
        "cache_hit_ms": cache.get("service_memory_hit", {}).get("median_ms"),
        "batch64_over_batch1": gen.get("L", {}).get("largest_over_smallest"),
        "multi16_over_base_throughput": None,
        "finetune_over_t2l_time": results.get("finetune", {}).get("finetune_over_t2l_time"),
    }
    if multi:
        top = max(multi, key=int)
        summary["multi16_over_base_throughput"] = multi[top].get("16", {}).get("over_base")
        summary["multi_over_base_by_concurrency"] = {c: {k: v["over_base"] for k, v in t.items()} for c, t in
                                                     multi.items()}
    redis = cache.get("sizes", {}).get("r8_qv", {}).get("redis_hit", {})
    summary["redis_hit_ms"] = redis.get("median_ms")
    summary["targets"] = {k: {"target": f"{op} {v}", "met": None if summary.get(k) is None else (
        summary[k] <= v if op == "<=" else summary[k] >= v)} for k, (op, v) in TARGETS.items()}
    return summary


def run_bench(config: BenchConfig) -> Path:
    import torch
    from transformers import AutoConfig, AutoTokenizer

    if config.threads:
        torch.set_num_threads(config.threads)
    started = time.time()
    if config.checkpoint is None:
        config.checkpoint = str(resolve_checkpoint(Settings()))
    checkpoint = load_checkpoint(config.checkpoint)
    base_path = prepare_base_model(checkpoint.base_model)
    encoder = SentenceTransformerEncoder(prepare_encoder(checkpoint.encoder), name=checkpoint.encoder)
    base_config = AutoConfig.from_pretrained(base_path)
    results: dict = {"config": asdict(config), "host_kind": host_kind(), "host": platform.node(),
                     "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "machine": platform.machine(),
                     "checkpoint": {"path": config.checkpoint, "digest": checkpoint.digest,
                                    "trained": checkpoint.provenance.get("trained")},
                     "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    progress = lambda what: print(f"[bench {time.time() - started:6.1f}s] {what}", flush=True)  # noqa: E731
    progress("adapter generation (L/M/S)")
    results["generation"] = bench_generation(encoder, base_config, checkpoint.config, config.batches,
                                             config.repeats, checkpoint.model.state_dict())
    progress("cache paths")
    results["cache"] = bench_cache(sized_adapters(base_config), config.redis_url, config.repeats, checkpoint, encoder)
    progress(f"engine benchmarks ({config.engine})")
    tokenizer = AutoTokenizer.from_pretrained(base_path)
    # the BIG-bench held-out tasks where their cache is built, else the suite's held-out ops (PyPI dropped BIG-bench)
    heldout = load_tasks("heldout") if bigbench_ready() else tier_tasks("heldout_tasks")
    results["heldout_source"] = "bigbench" if bigbench_ready() else "suite"
    results.update(asyncio.run(_engine_part(config, checkpoint, encoder, str(base_path), tokenizer, heldout)))
    if config.finetune_steps > 0:
        progress("fine-tuning race")
        eval_results = json.loads(Path(config.eval_json).read_text()) if config.eval_json else None
        task, gain = pick_task(eval_results, heldout)
        model, _ = load_base(str(base_path))
        t2l_ms = (results["cold_warm"]["cold_split_ms"]["adapter_ms"]) + results["cold_warm"]["cold_split_ms"][
            "load_ms"]
        results["finetune"] = bench_finetune(model, tokenizer, task, checkpoint, encoder, t2l_ms,
                                             eval_examples=config.finetune_eval_examples,
                                             max_steps=config.finetune_steps, check_every=min(5, config.finetune_steps))
        results["finetune"]["t2l_gain_over_base_in_eval"] = gain
    results["summary"] = summarise(results)
    results["seconds"] = round(time.time() - started, 1)
    out = Path(config.out or Path("bench/results") / f"{results['host_kind']}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))

    write_report(results, out)
    progress(f"wrote {out}")
    return out


async def _engine_part(config: BenchConfig, checkpoint, encoder, base_path: str, tokenizer, heldout) -> dict:
    # the served defaults, except what the multi-adapter figure needs: up to max(distinct) adapters loaded and as
    # many in one batch as requests in flight; a shorter context (every prompt here is short)
    most = max(config.distinct)
    settings = served_settings(max_loras=min(most, max(config.concurrencies)), max_cpu_loras=most + 32,
                               max_model_len=1024)
    if config.engine == "vllm":
        engine = VLLMEngine(base_path, settings, checkpoint.config.rank, checkpoint.config.target_modules)
    else:
        engine = hf_engine(base_path, settings)
    service = adapter_service(checkpoint, encoder, service_cache(settings), base_path, settings)
    await engine.start()
    try:
        out = {"engine": {"name": engine.name, "max_loras": settings.max_loras, **described(settings)}}
        out["hot_load"] = {engine.name: await bench_hot_load(engine, service, max(3, config.repeats // 2))}
        prompt = prompt_ids(tokenizer, "Translate to French: the cat sleeps on the warm stone.")
        out["cold_warm"] = await bench_cold_warm(engine, service, prompt, config.cold_warm_n, config.e2e_tokens)
        prompts = [prompt_ids(tokenizer, e.input) for t in heldout for e in t.examples[:2]]
        out["multi_adapter"] = await bench_multi_adapter(engine, service, prompts, config.distinct,
                                                         config.concurrencies, config.serve_tokens, config.rounds)
        # a word-mapping task both ways: BIG-bench's plural_json, or the suite's held-out "word with its article"
        task = next(t for t in heldout if t.name in ("linguistic_mappings:plural_json", "suite:word.with_article"))
        out["icl"] = await bench_icl(engine, service, tokenizer, task, config.icl_n, 16)
    finally:
        await engine.close()
    if config.engine == "vllm":  # the HF engine's hot load too (it keeps adapters in memory, no folder)
        hf = hf_engine(base_path, settings)
        await hf.start()
        try:
            out["hot_load"]["hf"] = await bench_hot_load(hf, service, max(3, config.repeats // 2))
        finally:
            await hf.close()
    await service.close()
    return out
