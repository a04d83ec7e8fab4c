"""`t2l bench steps`: what a SFT step costs, padded vs length-bucketed, next to this machine's matmul peak.

One process, one run: the shipped recipe's config (training/configs/suite.yaml) builds the real run (frozen
SmolLM2-135M, MiniLM, the grouped suite + BIG-bench draws, T2L-L with its offset); for each of `steps` draws the
same 18 samples go through `training.sft.sft_step` once as one padded micro-batch (the old batching) and once in
length buckets (`training.data.length_buckets`), in alternating order so drift hits both arms alike. The matmul
peak is torch fp32 `mm` at the base model's shapes, measured in the same process and thread count. FLOPs are
counted analytically (`step_flops`): a figure per computed position and per real token, so "achieved" GFLOP/s
(every position the step computes) and "useful" GFLOP/s (real tokens only) can be read against the peak.
Writes bench/results/steps.json and steps.md.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from bench.report import write_results
from training.config import parse_sets
from training.data import batch_rows
from training.plan import describe_in_prompt
from training.sft import RESUME_FREE, SFTConfig, build_optimizer, sft_step
from training.sft_setup import start_run


@dataclass
class StepBenchConfig:
    """What `t2l bench steps` measures; defaults are the shipped recipe on this machine."""

    config: str = "training/configs/suite.yaml"  # the SFT recipe whose steps are timed
    steps: int = 12  # timed draws (each timed in both arms)
    warmup: int = 2  # untimed draws first (allocator, thread pool)
    threads: int = 2  # torch threads (both arms and the matmul peak)
    matmul_repeats: int = 10  # timed repeats per matmul shape
    out: str = "bench/results/steps.json"  # results path (.md beside it)
    overrides: tuple[str, ...] = ()  # extra --set KEY=VALUE for the recipe (tests: a tiny model)


def matmul_peak(shapes, repeats: int) -> list[dict]:
    """fp32 GFLOP/s of torch.mm per (m, k, n) shape: the median over `repeats` of 2mkn / seconds."""
    out = []
    for m, k, n in shapes:
        a, b = torch.randn(m, k), torch.randn(k, n)
        torch.mm(a, b)
        seconds = []
        for _ in range(repeats):
            tick = time.perf_counter()
            torch.mm(a, b)
            seconds.append(time.perf_counter() - tick)
        out.append({"shape": [m, k, n], "gflops": round(2 * m * k * n / statistics.median(seconds) / 1e9, 1)})
    return out


def linear_params(module: nn.Module) -> int:
    """Weights of the nn.Linear layers of `module` (the per-position matmul work of a transformer body)."""
    return sum(m.weight.numel() for m in module.modules() if isinstance(m, nn.Linear))


def step_flops(batches, model: nn.Module, rank: int, lora_dims: int) -> dict[str, float]:
    """Analytic FLOPs of one SFT step over `batches` through the frozen base (weights frozen: backward computes
    input gradients only, ~ the forward again). Per micro-batch (B, T): body linears 4 N_body B T; attention
    scores and values 12 L B T^2 d (forward 4, backward 8); the LM head 4 V d per label position; the LoRA
    deltas 6 r (in + out) per position and adapted layer (forward, input and A/B gradients). The hypernetwork's
    own pass is left out (a few % of the step). Returns {computed, useful}: all positions, or real tokens only."""
    cfg = model.config
    body = getattr(model, model.base_model_prefix)
    n_body, d, layers = linear_params(body), cfg.hidden_size, cfg.num_hidden_layers
    head = model.get_output_embeddings().weight.numel()
    computed = useful = 0.0
    for batch in batches:
        b, t = batch.input_ids.shape
        real = batch.attention_mask.sum(1).double()  # (B,) real tokens per row
        labels = float(batch.target_tokens)
        per_pos = 4 * n_body + 6 * rank * lora_dims  # lora_dims: in + out summed over every adapted layer
        computed += per_pos * b * t + 12 * layers * b * t * t * d + 4 * head * labels
        useful += per_pos * float(real.sum()) + 12 * layers * d * float((real * real).sum()) + 4 * head * labels
    return {"computed": computed, "useful": useful}


def _summary(arm: list[dict]) -> dict:
    med = lambda k: statistics.median(r[k] for r in arm)  # noqa: E731
    seconds = med("seconds")
    return {"s_per_step": round(seconds, 3),
            "s_per_step_iqr": [round(q, 3) for q in statistics.quantiles([r["seconds"] for r in arm], n=4)[::2]],
            "positions": med("padded_tokens"), "tokens": med("tokens"),
            "real_share": round(med("real_share"), 3), "micro_batches": med("micro_batches"),
            "real_tokens_per_s": round(med("tokens_per_s"), 1),
            "achieved_gflops": round(med("computed_gflops"), 1), "useful_gflops": round(med("useful_gflops"), 1)}


def run_step_bench(config: StepBenchConfig) -> Path:
    """Times both arms on the same draws and writes the results (JSON + markdown); returns the JSON path."""
    torch.set_num_threads(config.threads)
    overrides = {"center_embeddings": False, "eval_every": -1, "progress": False, "threads": config.threads,
                 "out_dir": tempfile.mkdtemp(prefix="t2l-bench-steps-"), **parse_sets(config.overrides)}
    sft = SFTConfig.from_yaml(config.config, **overrides)
    run = start_run(sft, build_optimizer, RESUME_FREE)
    lora_dims = sum(t.in_features + t.out_features for t in run.hyper.targets)  # summed over adapted layers
    arms: dict[str, list[dict]] = {"padded": [], "bucketed": []}
    for k in range(config.warmup + config.steps):
        items = describe_in_prompt(run.plan.sampler.draws(k, run.plan.per_step), sft.desc_in_prompt, sft.seed, k)
        order = ("padded", "bucketed") if k % 2 == 0 else ("bucketed", "padded")
        for arm in order:
            grouped = batch_rows(items, run.tokenizer, run.table, sft.max_len, sft.batch_size, sft.chat_template,
                                 bucket=arm == "bucketed")
            batches = [b for b, _ in grouped]
            tick = time.perf_counter()
            metrics = sft_step(run.net, run.model, run.table, batches, run.optimizer, run.scheduler, sft, run.device)
            seconds = time.perf_counter() - tick
            if k < config.warmup:
                continue
            flops = step_flops(batches, run.model, sft.hyper.rank, lora_dims)
            arms[arm].append({"seconds": seconds, "padded_tokens": metrics["padded_tokens"],
                              "tokens": metrics["tokens"], "micro_batches": len(batches),
                              "real_share": metrics["tokens"] / metrics["padded_tokens"],
                              "tokens_per_s": metrics["tokens"] / seconds,
                              "computed_gflops": flops["computed"] / seconds / 1e9,
                              "useful_gflops": flops["useful"] / seconds / 1e9})
    cfg = run.model.config
    d, ff, width = cfg.hidden_size, cfg.intermediate_size, int(arms["padded"][0]["padded_tokens"])
    shapes = [(1024, 1024, 1024), (width, d, ff), (width, ff, d), (width, d, d)]
    peak = matmul_peak(shapes, config.matmul_repeats)
    summary = {arm: _summary(rows) for arm, rows in arms.items()}
    best = max(p["gflops"] for p in peak)
    summary["bucketed_over_padded_s"] = round(summary["bucketed"]["s_per_step"] / summary["padded"]["s_per_step"], 3)
    summary["matmul_peak_gflops"] = best
    for arm in ("padded", "bucketed"):
        summary[arm]["achieved_share_of_peak"] = round(summary[arm]["achieved_gflops"] / best, 3)
        summary[arm]["useful_share_of_peak"] = round(summary[arm]["useful_gflops"] / best, 3)
    result = {"bench": "steps", "config": asdict(config), "recipe": sft.to_dict(), "samples_per_step": run.plan.per_step,
              "matmul": peak, "summary": summary, "steps": arms,
              "note": "paired: every draw timed in both arms, alternating which goes first; medians over draws"}

    return write_results(result, config.out, steps_markdown)


def steps_markdown(result: dict) -> str:
    """The results as a table (one row per arm) plus the matmul peaks."""
    s = result["summary"]
    lines = [f"# SFT step cost: padded vs length-bucketed ({result['samples_per_step']} samples a step, "
             f"{result['config']['threads']} threads, {len(result['steps']['padded'])} paired draws)", "",
             "| arm | s/step (median) | IQR | positions | real tokens | real share | micro-batches | real tokens/s | "
             "achieved GFLOP/s | useful GFLOP/s | achieved / peak |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for arm in ("padded", "bucketed"):
        a = s[arm]
        lines.append(f"| {arm} | {a['s_per_step']} | {a['s_per_step_iqr'][0]}-{a['s_per_step_iqr'][1]} | "
                     f"{a['positions']:.0f} | {a['tokens']:.0f} | {a['real_share']:.1%} | {a['micro_batches']:.0f} | "
                     f"{a['real_tokens_per_s']} | {a['achieved_gflops']} | {a['useful_gflops']} | "
                     f"{a['achieved_share_of_peak']:.0%} |")
    lines += ["", f"bucketed / padded s/step: **{s['bucketed_over_padded_s']}**", "",
              "fp32 torch.mm peak in the same run: " + ", ".join(
                  f"{'x'.join(map(str, p['shape']))}: {p['gflops']} GFLOP/s" for p in result["matmul"]), "",
              "Re-run: `t2l bench steps` (or `make bench-steps`).", ""]
    return "\n".join(lines)
