"""`python -m training.tier_curve`: tier accuracy along a training run, paired by task, as a table and a plot.

Each point is a `t2l eval --tasks tiers` eval.json of one checkpoint, with the number of training samples it had
seen. Tasks are paired: every point is scored on the tasks *all* points scored (a machine without the BIG-bench
cache scores fewer tasks than the shipped evaluation did), so the curve compares like with like. Each later point
gets the mean difference from the first over tasks, a 95% bootstrap interval of it (tasks resampled), and the
count of tasks better / worse.

    python -m training.tier_curve --point "shipped:14400:checkpoints/t2l-smollm2-135m-sft-L/eval.json" \\
        --point "step 2300:55800:training/results/sft-long/eval-step-2300/eval.json" --out training/results/sft-long
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

TIERS = ("seen_ops_new_descriptions", "new_combinations", "heldout_tasks")
METHOD = "t2l_sft"


@dataclass(frozen=True)
class Point:
    """One checkpoint on the curve."""

    label: str
    samples: int  # training samples seen
    scores: dict[str, dict[str, float]]  # tier -> task -> exact match (%)


def parse_point(text: str) -> Point:
    """LABEL:SAMPLES:EVAL_JSON -> a Point with the METHOD's per-task scores of each tier."""
    try:
        label, samples, path = text.split(":", 2)
        count = int(samples.replace(",", ""))
    except ValueError:
        raise ValueError(f"--point wants LABEL:SAMPLES:EVAL_JSON, got {text!r}") from None
    result = json.loads(Path(path).read_text())
    if result.get("task_set") != "tiers":
        raise ValueError(f"{path} is not a `t2l eval --tasks tiers` result")
    scores = {tier: {name: task["scores"][METHOD] for name, task in result["by_tier"][tier]["tasks"].items()
                     if METHOD in task["scores"]} for tier in TIERS if tier in result["by_tier"]}
    return Point(label, count, scores)


def paired(points: Sequence[Point], rounds: int = 4000, seed: int = 0) -> dict[str, dict]:
    """Per tier: the shared tasks, each point's mean on them, and each later point minus the first."""
    rng = np.random.default_rng(seed)
    out = {}
    for tier in TIERS:
        shared = sorted(set.intersection(*(set(p.scores.get(tier, {})) for p in points)))
        if not shared:
            continue
        table = np.array([[p.scores[tier][t] for t in shared] for p in points])  # (points, tasks)
        draws = rng.integers(0, len(shared), size=(rounds, len(shared)))
        diffs = []
        for row in table[1:]:
            delta = row - table[0]
            boot = delta[draws].mean(axis=1)
            diffs.append({"mean": round(float(delta.mean()), 2), "low": round(float(np.percentile(boot, 2.5)), 2),
                          "high": round(float(np.percentile(boot, 97.5)), 2), "better": int((delta > 0).sum()),
                          "worse": int((delta < 0).sum())})
        out[tier] = {"tasks": len(shared), "means": [round(float(m), 2) for m in table.mean(axis=1)],
                     "vs_first": diffs}
    return out


def markdown(points: Sequence[Point], result: dict) -> str:
    head = " | ".join(f"{p.label} ({p.samples:,})" for p in points)
    lines = [f"| tier | tasks | {head} | last - first (95% CI) | better / worse |",
             "|---|---|" + "---|" * len(points) + "---|---|"]
    for tier, row in result.items():
        last = row["vs_first"][-1] if row["vs_first"] else None
        change = f"{last['mean']:+.1f} ({last['low']:+.1f} to {last['high']:+.1f})" if last else ""
        counts = f"{last['better']} / {last['worse']}" if last else ""
        lines.append(f"| {tier} | {row['tasks']} | " + " | ".join(f"{m:.1f}" for m in row["means"])
                     + f" | {change} | {counts} |")
    return "\n".join(lines) + "\n"


def plot(points: Sequence[Point], result: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    x = [p.samples for p in points]
    for tier, row in result.items():
        ax.plot(x, row["means"], "-o", label=f"{tier} ({row['tasks']} tasks)")
    for p in points:
        ax.annotate(p.label, (p.samples, 0), textcoords="offset points", xytext=(0, 4), fontsize=7, rotation=90)
    ax.set(xlabel="training samples seen", ylabel="exact match (%), paired tasks",
           title="T2L-L tier accuracy along training (same tasks at every point)")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.tier_curve", description=__doc__.splitlines()[0])
    parser.add_argument("--point", action="append", required=True, help="LABEL:SAMPLES:EVAL_JSON, in order")
    parser.add_argument("--out", required=True, help="folder for tier_curve.{json,md} and accuracy_vs_samples.png")
    args = parser.parse_args(argv)
    if len(args.point) < 2:
        parser.error("give at least two --point")
    try:
        points = [parse_point(p) for p in args.point]
    except (ValueError, OSError, KeyError) as exc:
        parser.error(str(exc))
    result = paired(points)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "tier_curve.json").write_text(json.dumps({"points": [{"label": p.label, "samples": p.samples}
                                                                for p in points], "tiers": result}, indent=1) + "\n")
    (out / "tier_curve.md").write_text(markdown(points, result))
    plot(points, result, out / "accuracy_vs_samples.png")
    print(markdown(points, result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
