"""`t2l eval`'s dispatch: check a configured run before any model loads, then score one task set
(training.eval_run) or the suite's tiers (training.eval_tiers). It sits above both, so neither imports the other's
caller (eval_tiers builds on eval_run's methods; nothing below imports this module)."""

from __future__ import annotations

from pathlib import Path

from training.eval_run import TASK_SETS, EvalRunConfig, run_eval
from training.eval_tiers import run_tiers
from training.evaluate import METHODS


def check_run(config: EvalRunConfig) -> None:
    """Refuse, before any model loads, a run whose methods, task set or input paths are wrong (ValueError or
    FileNotFoundError, one line each)."""
    inputs = config.inputs
    unknown = sorted(set(inputs.methods) - set(METHODS))
    if unknown:
        raise ValueError(f"unknown methods {unknown}; choose from {list(METHODS)}")
    if inputs.tasks not in TASK_SETS:
        raise ValueError(f"unknown task set {inputs.tasks!r}; choose from {list(TASK_SETS)}")
    for name in ("sft", "recon", "multitask", "oracles", "library"):
        value = getattr(inputs, name)
        if value is not None and not Path(value).exists():
            raise FileNotFoundError(f"--{name} {value} does not exist")
    if config.reuse_methods and not config.reuse:
        raise ValueError("--reuse-methods needs --reuse EVAL_JSON")
    if config.reuse and inputs.tasks != "tiers":
        raise ValueError("--reuse works with --tasks tiers only")
    if config.reuse and not Path(config.reuse).is_file():
        raise FileNotFoundError(f"--reuse {config.reuse} does not exist")


def run_configured(config: EvalRunConfig) -> dict:
    """Check and run an evaluation (tiers or one task set); returns the summary `t2l eval` prints."""
    check_run(config)
    if config.threads:
        import torch

        torch.set_num_threads(config.threads)
    out = Path(config.out_dir)
    if config.inputs.tasks == "tiers":
        results = run_tiers(config.inputs, config.scoring, out, steering_per_task=config.steering_examples,
                            reuse=Path(config.reuse) if config.reuse else None,
                            reuse_methods=tuple(config.reuse_methods))
        return {k: results.get(k) for k in ("tiers", "steering", "summary", "skipped")}
    results = run_eval(config.inputs, config.scoring, out)
    return {"summary": results["summary"], "skipped": results["skipped"], "out": config.out_dir}
