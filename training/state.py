"""Resumable training state: atomic step-N.pt files (weights, optimizer, scheduler, step, RNG), the metrics log
trimmed on resume, the git commit recorded in a checkpoint's provenance, and a warm start from a checkpoint."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import torch
from hypernet.checkpoint import load_checkpoint


def git_commit() -> str | None:
    """HEAD of the repository this file is in, "+dirty" with uncommitted changes; None outside git."""
    run = lambda *a: subprocess.run(["git", *a], cwd=Path(__file__).resolve().parents[1],  # noqa: E731
                                    capture_output=True, text=True, timeout=10)
    try:
        sha, dirty = run("rev-parse", "HEAD"), run("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return sha.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "") if sha.returncode == 0 else None


def save_state(out_dir: Path, step: int, hyper, optimizer, scheduler, config) -> Path:
    folder = out_dir / "state"
    folder.mkdir(parents=True, exist_ok=True)
    rng = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    path, tmp = folder / f"step-{step:07d}.pt", folder / f".step-{step:07d}.pt.tmp"
    torch.save({"step": step, "hypernet": hyper.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "rng": rng, "config": config.to_dict()}, tmp)
    os.replace(tmp, path)  # atomic: a crash mid-write never leaves a half state as the latest
    for old in sorted(folder.glob("step-*.pt"))[: -config.keep_states]:
        old.unlink()
    return path


def load_state(path: Path, hyper, optimizer, scheduler, config, resume_free: frozenset = frozenset()) -> int:
    """Restore a state; refuses when the config differs in a field outside `resume_free`."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    old, new = state["config"], config.to_dict()
    changed = sorted(k for k in new if k not in resume_free and old.get(k) != new[k])
    if changed:
        raise ValueError(f"cannot resume from {path}: the config changed in {changed}")
    hyper.load_state_dict(state["hypernet"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"]["torch"])
    if "cuda" in state["rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng"]["cuda"])
    return int(state["step"])


def trim_metrics(path: Path, step: int) -> None:
    """Keep only the log lines of steps <= `step` (lines a crashed run wrote after its last state go)."""
    if path.exists():
        lines = path.read_text().splitlines()
        path.write_text("".join(ln + "\n" for ln in lines if ln and json.loads(ln)["step"] <= step))


def warm_start(hyper, folder: str, expected) -> None:
    """Load a checkpoint's weights (its task_center included) into `hyper`; refuses a different architecture."""
    start = load_checkpoint(folder)
    if start.config.to_dict() != expected.to_dict():
        changed = sorted(k for k, v in expected.to_dict().items() if start.config.to_dict().get(k) != v)
        raise ValueError(f"init_from {folder}: its hypernet config differs from this run's in {changed}")
    hyper.load_state_dict(start.model.state_dict())
