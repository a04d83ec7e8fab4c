"""`python -m bench.variants` (make bench-variants): T2L-L, M and S side by side (issue #26).

For each trained checkpoint, in one process and one run: parameters, checkpoint MB, the time to generate adapters
for 1 and for 64 descriptions (the encoder, the hypernet pass with the split into Adapters, and the trunk alone, so
the head is the difference), the FLOPs of each stage counted on the real modules (a hook on every nn.Linear:
2 * in * out per row), and those FLOPs per second against the fp32 matmul peak measured in the same run at the
shapes the stages use. Accuracy per tier comes from each checkpoint's `t2l eval --tasks tiers` eval.json, paired
on the tasks every checkpoint scored (`training.tier_curve`: the first checkpoint is the reference, the others get
their difference with a 95% bootstrap interval), and the steering margins from the same files.
Writes bench/results/variants.{json,md,png}.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from bench.parts import descriptions
from bench.report import bench_main
from bench.steps import matmul_peak
from bench.timing import time_call
from ground.assets import prepare_encoder
from hypernet import adapters_from_embeddings, count_parameters, load_checkpoint, make_encoder
from training.config import ConfigFile
from training.tier_curve import TIERS, parse_point, paired


@dataclass
class VariantBenchConfig(ConfigFile):
    """What the bench compares (~3 minutes on 2 cores as set)."""

    checkpoints: tuple[str, ...] = ("checkpoints/t2l-smollm2-135m-sft-L", "checkpoints/t2l-smollm2-135m-sft-M",
                                    "checkpoints/t2l-smollm2-135m-sft-S")  # the first is the reference
    # training samples each saw (for the table): L 800 steps x 18 (16 suite + 2 BIG-bench), M and S 800 x 16 (no
    # BIG-bench here: the same suite samples per step, without the 2 BIG-bench ones; see docs/variants.md)
    samples: tuple[int, ...] = (14400, 12800, 12800)
    batches: tuple[int, ...] = (1, 64)  # descriptions per generation call
    repeats: int = 15  # timed calls per (checkpoint, batch, stage)
    matmul_repeats: int = 10  # timed repeats per matmul shape
    threads: int = 2  # torch threads (every timing and the peak)
    out: str = "bench/results/variants.json"


def linear_flops(net: nn.Module, run) -> dict[str, float]:
    """FLOPs of every nn.Linear `run()` calls, by the top-level child that owns it (heads, mlp3, ...)."""
    totals: dict[str, float] = {}
    hooks = []
    for name, module in net.named_modules():
        if isinstance(module, nn.Linear):
            owner = name.split(".")[0]

            def count(mod, inputs, output, owner=owner):
                rows = inputs[0].numel() // mod.in_features
                totals[owner] = totals.get(owner, 0.0) + 2.0 * rows * mod.in_features * mod.out_features
            hooks.append(module.register_forward_hook(count))
    try:
        with torch.inference_mode():
            run()
    finally:
        for h in hooks:
            h.remove()
    return totals


def stage_shapes(net) -> list[tuple[int, int, int]]:
    """(rows, in, out) of the largest trunk and head matmuls for 64 descriptions: where the peak is measured."""
    c = net.config
    rows = 64 * len(net.targets) * {"L": 1, "M": 2, "S": 2 * c.rank}[c.variant]
    module = c.target_modules[0]
    return [(rows, c.trunk_width, 4 * c.trunk_width), (rows, c.head_in_size, net.heads[module].out_features)]


def bench_checkpoint(path: str, config: VariantBenchConfig) -> dict:
    ckpt = load_checkpoint(path)
    net = ckpt.model.eval()
    encoder = make_encoder(prepare_encoder(ckpt.encoder), ckpt.embedding)
    weights = (Path(path) / "hypernet.safetensors").stat().st_size
    row = {"path": path, "variant": ckpt.config.variant, "parameters": count_parameters(net),
           "checkpoint_mb": round(weights / 2**20, 2), "steps": ckpt.provenance.get("steps"), "batches": {}}
    for n in config.batches:
        texts = descriptions(n)
        emb = encoder.embed(texts)
        flops = linear_flops(net, lambda: net(emb))
        head = flops.get("heads", 0.0)

        def trunk():
            with torch.inference_mode():
                net._trunk(emb)

        timings = {"embed": time_call(lambda: encoder.embed(texts), config.repeats),
                   "hypernet": time_call(lambda: adapters_from_embeddings(ckpt, texts, emb), config.repeats),
                   "trunk": time_call(trunk, config.repeats)}
        hyper_ms, trunk_ms = timings["hypernet"]["median_ms"], timings["trunk"]["median_ms"]
        row["batches"][str(n)] = {
            **timings, "total_ms": round(timings["embed"]["median_ms"] + hyper_ms, 3),
            "head_ms": round(hyper_ms - trunk_ms, 3),
            "gflop": {"trunk": round((sum(flops.values()) - head) / 1e9, 4), "head": round(head / 1e9, 4)},
            "gflops_per_s": {"trunk": round((sum(flops.values()) - head) / 1e6 / trunk_ms, 1),
                             "head": round(head / 1e6 / max(hyper_ms - trunk_ms, 1e-6), 1)}}
    row["peak"] = matmul_peak(stage_shapes(net), config.matmul_repeats)
    return row


def accuracy(paths, labels, samples) -> dict:
    """Tier accuracy paired over the tasks every checkpoint's eval.json scored, and the steering margins."""
    points = [parse_point(f"{label}:{count or 0}:{Path(p) / 'eval.json'}")
              for p, label, count in zip(paths, labels, samples)]
    steering = {label: {tier: {k: round(v, 3) for k, v in row.items() if k.endswith("nats") or k == "n"}
                        for tier, row in json.loads((Path(p) / "eval.json").read_text())["steering"].items()}
                for p, label in zip(paths, labels)}
    return {"tiers": paired(points), "steering": steering}


def run_variants(config: VariantBenchConfig) -> dict:
    torch.set_num_threads(config.threads)
    rows = [bench_checkpoint(p, config) for p in config.checkpoints]
    labels = [r["variant"] for r in rows]
    if len(config.samples) != len(rows):
        raise ValueError(f"samples names {len(config.samples)} counts for {len(rows)} checkpoints")
    samples = list(config.samples)
    for r, count in zip(rows, samples):
        r["samples"] = count
    return {"config": config.to_dict(), "host": {"cpus": os.cpu_count(), "threads": config.threads,
                                                 "torch": torch.__version__},
            "variants": rows, **accuracy(config.checkpoints, labels, samples)}


def markdown(result: dict) -> str:
    rows, tiers = result["variants"], result["tiers"]
    first, last = (str(b) for b in (result["config"]["batches"][0], result["config"]["batches"][-1]))
    lines = ["| variant | parameters | checkpoint MB | samples | "
             f"generation ms, {first} | generation ms, {last} | "
             + " | ".join(f"{t} ({tiers[t]['tasks']} tasks)" for t in TIERS if t in tiers) + " |",
             "|---|---|---|---|---|---|" + "---|" * len(tiers)]
    for i, r in enumerate(rows):
        cells = []
        for t in TIERS:
            if t not in tiers:
                continue
            cell = f"{tiers[t]['means'][i]:.1f}"
            if i:
                d = tiers[t]["vs_first"][i - 1]
                cell += f" ({d['mean']:+.1f}, {d['low']:+.1f} to {d['high']:+.1f})"
            cells.append(cell)
        lines.append(f"| {r['variant']} | {r['parameters']:,} | {r['checkpoint_mb']} | {r['samples'] or '?'} | "
                     f"{r['batches'][first]['total_ms']:.1f} | {r['batches'][last]['total_ms']:.1f} | "
                     + " | ".join(cells) + " |")
    lines += ["", "Accuracy: exact match (%) of the adapter alone, paired on the tasks every checkpoint scored; in "
              "brackets the difference from the first row with its 95% bootstrap interval (tasks resampled).", "",
              "| variant | " + " | ".join(f"{t} other / random (nats, n)" for t in TIERS) + " |",
              "|---|" + "---|" * len(TIERS)]
    for r in rows:
        s = result["steering"][r["variant"]]
        lines.append(f"| {r['variant']} | " + " | ".join(
            f"{s[t]['other_desc_margin_nats']:.2f} / {s[t]['random_desc_margin_nats']:.2f} ({s[t]['n']})"
            if t in s else "" for t in TIERS) + " |")
    lines += ["", "Where the generation time goes (ms, median; GFLOP and GFLOP/s of the nn.Linear layers; peak: fp32 "
              "mm at the stage's own shape for 64 descriptions, same run):", "",
              "| variant | batch | embed | trunk | head + split | trunk GFLOP | head GFLOP | trunk GFLOP/s | head GFLOP/s | "
              "peak GFLOP/s (trunk / head shape) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        peak = " / ".join(f"{p['gflops']:.0f}" for p in r["peak"])
        for n, b in r["batches"].items():
            lines.append(f"| {r['variant']} | {n} | {b['embed']['median_ms']:.1f} | {b['trunk']['median_ms']:.1f} | "
                         f"{b['head_ms']:.1f} | {b['gflop']['trunk']:.3f} | {b['gflop']['head']:.3f} | "
                         f"{b['gflops_per_s']['trunk']:.0f} | {b['gflops_per_s']['head']:.0f} | {peak} |")
    return "\n".join(lines) + "\n"


def plot(result: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, tiers = result["variants"], result["tiers"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    params = [r["parameters"] / 1e6 for r in rows]
    for t, row in tiers.items():
        left.plot(params, row["means"], "-o", label=f"{t} ({row['tasks']} tasks)")
    for x, r in zip(params, rows):
        left.annotate(r["variant"], (x, 0), textcoords="offset points", xytext=(0, 4))
    left.set(xlabel="hypernet parameters (millions)", ylabel="exact match (%), paired tasks",
             title="accuracy vs parameters at equal samples")
    left.set_ylim(bottom=0)
    left.legend(fontsize=8)
    last = str(result["config"]["batches"][-1])
    parts = ("embed", "trunk", "head + split")
    bottoms = [0.0] * len(rows)
    for part in parts:
        values = [r["batches"][last]["embed"]["median_ms"] if part == "embed" else
                  r["batches"][last]["trunk"]["median_ms"] if part == "trunk" else r["batches"][last]["head_ms"]
                  for r in rows]
        right.bar([r["variant"] for r in rows], values, bottom=bottoms, label=part)
        bottoms = [b + v for b, v in zip(bottoms, values)]
    right.set(ylabel="ms (median)", title=f"generation for {last} descriptions, by stage")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv=None) -> int:
    return bench_main(argv, "python -m bench.variants", __doc__, VariantBenchConfig, run_variants, markdown, plot)


if __name__ == "__main__":
    raise SystemExit(main())
