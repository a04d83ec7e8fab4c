"""Tables and plots of evaluation results: the markdown table people compare and the two figures of `t2l eval`.

Figures: a bar chart of each method's held-out average (with chance), and a 2-D projection (PCA) of generated
adapters coloured by task family, the paper's Figure 5 idea: if adapters of one family cluster, the hypernet maps
descriptions to task-specific weights rather than to one shared adapter.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

LABELS = {"base": "base", "base_desc": "base + description", "multitask_lora": "multi-task LoRA",
          "t2l_recon": "T2L (recon)", "t2l_sft": "T2L (SFT)", "t2l_sft_random_desc": "T2L (SFT), random description",
          "t2l_sft_other_desc": "T2L (SFT), other task's description",
          "t2l_sft_desc": "T2L (SFT) + description in prompt",
          "t2l_sft_desc_system": "T2L (SFT) + description as system message",
          "base_desc_system": "base + description as system message",
          "oracle": "oracle LoRA (per task)"}


def markdown_table(results: dict) -> str:
    """Per-task scores and the averages, methods as columns (percent)."""
    methods = list(results["summary"])
    head = "| task | family | chance | n | " + " | ".join(LABELS.get(m, m) for m in methods) + " |"
    rule = "|" + "---|" * (4 + len(methods))
    lines = [head, rule]
    for name, row in results["tasks"].items():
        cells = " | ".join(f"{row['scores'][m]:.1f}" for m in methods)
        lines.append(f"| {name} | {row['family']} | {row['chance']:.1f} | {row['n']} | {cells} |")
    for label, key in (("**average**", "summary"), ("**family-balanced average**", "summary_family_balanced")):
        if key in results:
            cells = " | ".join(f"**{results[key][m]:.1f}**" for m in methods)
            lines.append(f"| {label} | | {_mean_chance(results):.1f} | | {cells} |")
    return "\n".join(lines) + "\n"


def _mean_chance(results: dict) -> float:
    rows = list(results["tasks"].values())
    return sum(r["chance"] for r in rows) / max(1, len(rows))


def plot_summary(results: dict, path: Path, title: str = "Held-out BIG-bench tasks") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = list(results["summary"])
    values = [results["summary"][m] for m in methods]
    fig, ax = plt.subplots(figsize=(8, 4))
    colours = ["#d62728" if m == "t2l_sft" else "#7f7f7f" if m.startswith("base") else "#1f77b4" for m in methods]
    ax.bar(range(len(methods)), values, color=colours)
    ax.axhline(_mean_chance(results), color="k", linestyle="--", linewidth=1, label="chance (mean)")
    for i, v in enumerate(values):
        ax.text(i, v + 0.5, f"{v:.1f}", ha="center", fontsize=8)
    ax.set_xticks(range(len(methods)), [LABELS.get(m, m) for m in methods], rotation=25, ha="right", fontsize=8)
    ax.set_ylabel("average score (%)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_tiers(tiers: dict, path: Path, title: str = "Description-necessary suite: exact match per tier") -> Path:
    """Grouped bars: one group per tier (eval.json `tiers`: tier -> method -> average), one bar per method in the
    same colour across tiers; a method a tier lacks (NaN, e.g. no oracle for new combinations) gets no bar."""
    import math

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def present(v) -> bool:  # a method a tier lacks is NaN in eval.json
        return v is not None and not math.isnan(v)

    names = list(tiers)
    methods = list(dict.fromkeys(m for row in tiers.values() for m in row))
    width = 0.8 / max(1, len(methods))
    fig, ax = plt.subplots(figsize=(11, 4.5))
    for j, m in enumerate(methods):
        xs = [i + (j - (len(methods) - 1) / 2) * width for i in range(len(names))]
        keep = [(x, tiers[t][m]) for x, t in zip(xs, names) if present(tiers[t].get(m))]
        ax.bar([x for x, _ in keep], [v for _, v in keep], width, label=LABELS.get(m, m),
               edgecolor="black" if m == "t2l_sft" else None)
        for x, v in keep:
            ax.text(x, v + 0.5, f"{v:.1f}", ha="center", fontsize=6)
    ax.set_xticks(range(len(names)), names, fontsize=9)
    top = max([v for row in tiers.values() for v in row.values() if present(v)] + [1.0])
    ax.set_ylim(0, top * 1.35)  # room for the legend above the bars
    ax.set_ylabel("exact match / task metric (%)")
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=3, loc="upper center")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def adapter_vectors(adapters: Sequence) -> torch.Tensor:
    """(N, D): every A and B entry of each adapter, flattened (the generated weights themselves)."""
    return torch.stack([torch.cat([x.flatten() for x in (*ad.a, *ad.b)]).float() for ad in adapters])


def project_2d(vectors: torch.Tensor) -> torch.Tensor:
    """(N, 2) PCA projection of centred rows."""
    centred = vectors - vectors.mean(0, keepdim=True)
    _, _, v = torch.linalg.svd(centred, full_matrices=False)
    return centred @ v[:2].T


def plot_adapter_map(adapters: Sequence, families: Sequence[str], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = project_2d(adapter_vectors(adapters)).numpy()
    names = sorted(set(families))
    cmap = plt.get_cmap("tab20")
    fig, ax = plt.subplots(figsize=(7, 5))
    for i, fam in enumerate(names):
        sel = [j for j, f in enumerate(families) if f == fam]
        ax.scatter(points[sel, 0], points[sel, 1], s=18, color=cmap(i % 20), label=fam)
    ax.set_title(title)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.legend(fontsize=6, ncol=2, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_training(metrics_jsonl: Path, path: Path, window: int = 25) -> Path:
    """SFT curves from metrics.jsonl: training loss (moving mean over `window` steps) and held-out eval loss."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(x) for x in Path(metrics_jsonl).read_text().splitlines() if x.strip()]
    train = [(r["step"], r["loss"]) for r in rows if "loss" in r]
    evals = [(r["step"], r["eval_loss"]) for r in rows if "eval_loss" in r]
    smooth = [sum(v for _, v in train[max(0, i - window + 1): i + 1]) / len(train[max(0, i - window + 1): i + 1])
              for i in range(len(train))]
    steer = sorted({k[len("eval_steer_"):-len("_other")] for r in rows for k in r
                    if k.startswith("eval_steer_") and k.endswith("_other")})
    fig, axes = plt.subplots(1, 2 if steer else 1, figsize=(12 if steer else 7, 4))
    ax = axes[0] if steer else axes
    ax.plot([s for s, _ in train], smooth, label=f"train loss ({window}-step mean)")
    if evals:
        ax.plot([s for s, _ in evals], [v for _, v in evals], marker="o", label="held-out loss (eval descriptions)")
    ax.set_xlabel("step")
    ax.set_ylabel("completion cross-entropy")
    ax.legend()
    if steer:  # the steering margins (training/steering.py) per tier: does the adapter follow its description?
        for tier in steer:
            pts = [(r["step"], r[f"eval_steer_{tier}_other"], r[f"eval_steer_{tier}_random"]) for r in rows
                   if f"eval_steer_{tier}_other" in r]
            line, = axes[1].plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=f"{tier}: other desc")
            axes[1].plot([p[0] for p in pts], [p[2] for p in pts], marker="x", linestyle="--", color=line.get_color(),
                         label=f"{tier}: random desc")
        axes[1].axhline(0, color="grey", linewidth=0.8)
        axes[1].set_xlabel("step")
        axes[1].set_ylabel("loss(wrong) - loss(right), nats")
        axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
