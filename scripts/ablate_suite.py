"""Short SFT runs on the description-necessary suite, judged by the steering margins (issue #12, item 3).

    python scripts/ablate_suite.py --arm grouped --steps 120 [--set key=value ...] [--modules ops_words ...]

Every arm: the shipped default config (training/configs/suite.yaml) with its overrides, the suite's training tasks
(the committed split, or a split made in memory from --modules by the same hash rule), 16 samples a step, steering
measured at the end on 24 tasks per tier. Writes training/results/ablations/<arm>/{metrics.jsonl,result.json}.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def report(folder: Path) -> str:
    """The markdown table of every arm's result.json under `folder`."""
    rows = [json.loads(f.read_text()) for f in sorted(folder.glob("*/result.json"))]
    tiers = ("seen_ops_new_descriptions", "new_combinations", "heldout_tasks")
    head = ("| arm | settings | steps | s/step | samples/s | tokens/s | train loss (last 20) | "
            + " | ".join(f"{t}: other / random (se)" for t in tiers) + " | loss, right description (3 tiers) |")
    lines = [head, "|" + "---|" * (8 + len(tiers))]
    for r in rows:
        settings = ", ".join(f"{k}={v}" for k, v in r["overrides"].items() if k not in ("threads", "batch_size"))
        settings = ("ungrouped, " if r["ungrouped"] else "grouped 4x4, ") + settings
        cells = " | ".join(f"{r['steering'][t]['other']:.2f} / {r['steering'][t]['random']:.2f} "
                           f"({r['steering'][t]['se']:.2f})" for t in tiers)
        lines.append(f"| {r['arm']} | {settings} | {r['steps']} | {r['sec_per_step_median']:.1f} | "
                     f"{r['samples_per_s']:.2f} | {r['tokens_per_s']:.0f} | {r['train_loss_last20']:.2f} | {cells} | "
                     + " / ".join(f"{r['steering'][t]['loss']:.2f}" for t in tiers) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    if sys.argv[1:2] == ["--report"]:
        print(report(Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "training/results/ablations"))
        return
    from training.common import parse_value
    from training.plan import spread
    from training.sft import SFTConfig, train_sft
    from training.suite.build import MODULES, TIERS, build_registry, load_split, make_split, tier_tasks, training_tasks

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--arm", required=True)
    p.add_argument("--steps", type=int, default=120)
    p.add_argument("--config", default=str(ROOT / "training/configs/suite.yaml"))
    p.add_argument("--set", dest="sets", action="append", default=[])
    p.add_argument("--modules", nargs="*", default=None, help="op modules (default: all, with the committed split)")
    p.add_argument("--ungrouped", action="store_true", help="family-balanced draws of the same tasks instead")
    p.add_argument("--out", default=str(ROOT / "training/results/ablations"))
    args = p.parse_args()
    overrides = {k: parse_value(v) for k, _, v in (s.partition("=") for s in args.sets)}
    reg = build_registry(tuple(args.modules) if args.modules else MODULES)
    split = make_split(reg) if args.modules else load_split()
    train = training_tasks(reg, split)
    tiers = {t: spread(tier_tasks(t, reg, split), 24) for t in TIERS}
    run = Path("/tmp/ablations") / args.arm
    shutil.rmtree(run, ignore_errors=True)
    config = SFTConfig.from_yaml(args.config, **{"steps": args.steps, "out_dir": str(run), "eval_every": 0,
                                                 "save_every": 0, "bigbench_share": 0.0, "steering_per_task": 2,
                                                 "progress": False, **overrides})
    if args.ungrouped:
        config.data = "bigbench"
        config.batch_size = config.group_inputs * config.group_tasks
    tick = time.time()
    train_sft(config, tasks=(train, []), tiers=tiers)
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [x for x in lines if "loss" in x]
    final = lines[-1]
    result = {"arm": args.arm, "steps": args.steps, "overrides": overrides, "ungrouped": args.ungrouped,
              "modules": args.modules or list(MODULES), "minutes": round((time.time() - tick) / 60, 1),
              "sec_per_step_median": sorted(x["seconds"] for x in steps)[len(steps) // 2],
              "samples_per_s": sum(x["samples"] for x in steps) / sum(x["seconds"] for x in steps),
              "tokens_per_s": sum(x["tokens"] for x in steps) / sum(x["seconds"] for x in steps),
              "train_loss_last20": sum(x["loss"] for x in steps[-20:]) / 20,
              "steering": {t: {k: final.get(f"eval_steer_{t}_{k}") for k in ("other", "random", "se", "loss")}
                           for t in TIERS}}
    out = Path(args.out) / args.arm
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(run / "metrics.jsonl", out / "metrics.jsonl")
    (out / "result.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
