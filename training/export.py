"""A stopped run's latest training state as a small checkpoint: the weights a later session continues from.

States (weights + AdamW moments + RNG, ~3x the weights) are too big to commit and are lost with the machine; this
writes only the weights, in float16 by default, with the provenance `init_step` continues from (`steps`, the
config). `make train-long-save` runs it for the long run (issue #21); `make train-long-continue` reads it back.

    t2l train export runs/sft-long --to training/results/sft-long/warm --metrics training/results/sft-long/metrics.jsonl
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Sequence

import torch

from hypernet.checkpoint import load_checkpoint, save_checkpoint
from training.state import git_commit


def latest_state(run_dir: Path) -> Path:
    states = sorted((run_dir / "state").glob("step-*.pt"))
    if not states:
        raise FileNotFoundError(f"{run_dir}/state holds no step-N.pt: nothing to export")
    return states[-1]


def export_state(state_path: Path, folder: Path, dtype: str = "float16", like: str | None = None) -> dict:
    """Write the state's hypernet weights to `folder` as a checkpoint of the architecture of `like` (default: the
    run's init_from, which a continued run always has); returns the provenance written."""
    state = torch.load(state_path, map_location="cpu", weights_only=True)
    config = state["config"]
    like = like or config.get("init_from")
    if not like:
        raise ValueError(f"{state_path}: the run has no init_from; name a checkpoint of the same architecture")
    start = load_checkpoint(like)
    if start.config.to_dict() != config["hyper"]:
        raise ValueError(f"{like} is not this run's architecture (its hypernet config differs)")
    start.model.load_state_dict(state["hypernet"])
    provenance = {"trained": True, "objective": "sft", "created_by": "training.export", "steps": int(state["step"]),
                  "config": config, "git_commit": git_commit(), "state": state_path.name}
    if folder.exists() and Path(like).resolve() != folder.resolve():
        shutil.rmtree(folder)  # the export replaces an earlier one (not the checkpoint it was built from: read above)
    save_checkpoint(folder, start.model, start.base_model, start.encoder, provenance, dtype=dtype,
                    encoder_spec=start.encoder_spec)
    return provenance


def continue_step(run_dir: Path, warm: Path) -> int:
    """The init_step that goes with `warm` for `make train-long-continue`: a run with a state in `run_dir` resumes
    with the init_step it started with (it fixes the schedule and the draws; the run exports `warm` as it goes, so
    warm's own step is later); a fresh machine starts at the step `warm` holds."""
    states = sorted((Path(run_dir) / "state").glob("step-*.pt"))
    if states:
        return int(torch.load(states[-1], map_location="cpu", weights_only=True)["config"].get("init_step", 0))
    return int(load_checkpoint(warm).provenance["steps"])


def merge_metrics(run_log: Path, kept: Path, first: int, last: int) -> None:
    """`kept` becomes its own lines up to step `first` (earlier sessions' part of a continued run) followed by the
    run's lines after it, up to `last` (a crashed run's lines past its last state go)."""
    read = lambda p: [ln for ln in p.read_text().splitlines() if ln] if p.exists() else []  # noqa: E731
    earlier = [ln for ln in read(kept) if json.loads(ln)["step"] <= first]
    later = [ln for ln in read(run_log) if first < json.loads(ln)["step"] <= last]
    kept.write_text("".join(ln + "\n" for ln in earlier + later))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="t2l train export", description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", help="the run's output folder (its state/step-N.pt files)")
    parser.add_argument("--to", required=True, help="checkpoint folder to write")
    parser.add_argument("--dtype", default="float16", choices=["float16", "bfloat16", "float32"])
    parser.add_argument("--like", help="a checkpoint of the same architecture (default: the run's init_from)")
    parser.add_argument("--metrics", help="also copy the run's metrics.jsonl here, trimmed to the exported step")
    args = parser.parse_args(argv)
    run_dir = Path(args.run_dir)
    try:
        state = latest_state(run_dir)
        provenance = export_state(state, Path(args.to), args.dtype, args.like)
    except (FileNotFoundError, ValueError) as exc:
        parser.error(str(exc))
    if args.metrics:
        merge_metrics(run_dir / "metrics.jsonl", Path(args.metrics), provenance["config"].get("init_step", 0),
                      provenance["steps"])
    print(json.dumps({"checkpoint": args.to, "state": str(state), "steps": provenance["steps"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
