"""`t2l eval --tasks tiers`: every method on the three tiers of the description-necessary suite (issue #12), the
steering margins per tier, and the BIG-bench held-out summary as before.

eval.json gains
    tiers     {tier: {method: average %}}; `oracle` is the mean over the tier's tasks that have a per-task LoRA,
              and `oracle_tasks` {method: average %} compares every method on exactly those tasks
    steering  {tier: {other_desc_margin_nats, random_desc_margin_nats, stderr_nats, random_stderr_nats, n}}
    by_tier   {tier: the full evaluate_methods result (per task, per family)}
and keeps `summary` (the 22 BIG-bench held-out tasks, comparable with earlier evaluations).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from ground.assets import prepare_encoder
from hypernet import generate_adapters, load_checkpoint, make_encoder
from hypernet.adapter import WEIGHTS_NAME
from training.eval_run import EvalInputs, build_methods
from training.evaluate import EvalConfig, evaluate_methods
from training.lora_library import adapter_dirname, load_base
from training.report import markdown_table, plot_adapter_map, plot_tiers
from training.steering import steering
from training.suite.build import TIERS, tier_tasks
from training.tasks import bigbench_ready, load_tasks


def load_tiers() -> dict[str, list]:
    """tier -> Tasks (the heldout_tasks tier adds the committed split's BIG-bench held-out tasks where the BIG-bench
    cache is built)."""
    bigbench = load_tasks("heldout") if bigbench_ready() else []  # without the cache: the suite's held-out ops
    return {tier: tier_tasks(tier, bigbench_heldout=bigbench if tier == "heldout_tasks" else ()) for tier in TIERS}


def tier_steering(checkpoint_dir: str, tasks: Sequence, model, tokenizer, per_task: int, seed: int) -> dict:
    """training.steering with the checkpoint's hypernet and encoder."""
    checkpoint = load_checkpoint(checkpoint_dir)
    encoder = make_encoder(prepare_encoder(checkpoint.encoder), checkpoint.embedding)
    return steering(checkpoint.model, model, tokenizer, encoder.embed, tasks, per_task, seed)


def steering_key(checkpoint_dir: str, tasks: Sequence, per_task: int, seed: int) -> str:
    import hashlib

    blob = json.dumps([load_checkpoint(checkpoint_dir).digest, sorted(t.name for t in tasks), per_task, seed])
    return hashlib.sha256(blob.encode()).hexdigest()


def cached_steering(path: Path, checkpoint_dir: str, tasks: Sequence, model, tokenizer, per_task: int,
                    seed: int) -> dict:
    """tier_steering, saved at `path` and reused while checkpoint, tasks, per_task and seed are the same."""
    key = steering_key(checkpoint_dir, tasks, per_task, seed)
    if path.exists() and json.loads(path.read_text()).get("key") == key:
        return json.loads(path.read_text())["steering"]
    result = tier_steering(checkpoint_dir, tasks, model, tokenizer, per_task, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"key": key, "steering": result}))
    return result


def reused_scores(previous: dict, methods: Sequence[str], config: EvalConfig, tiers: dict) -> dict:
    """{tier: {method: {task: %}}} from an earlier tiers eval.json, for methods that do not depend on the checkpoint
    being evaluated (base, multi-task and oracle LoRAs). Refuses unless it was run with the same EvalConfig (so the
    same examples, seed and decoding) on the same tasks: the scores would then be recomputed identically."""
    if previous.get("task_set") != "tiers":
        raise ValueError("--reuse needs the eval.json of an earlier `t2l eval --tasks tiers`")
    changed = sorted(k for k, v in config.__dict__.items() if previous["config"].get(k) != v)
    if changed:
        raise ValueError(f"--reuse: the earlier evaluation used a different config ({changed}); its scores would differ")
    out = {}
    for tier, tasks in tiers.items():
        old = previous["by_tier"].get(tier, {}).get("tasks", {})
        if sorted(old) != sorted(t.name for t in tasks):
            raise ValueError(f"--reuse: tier {tier} had other tasks in the earlier evaluation")
        missing = [m for m in methods if m != "oracle" and any(m not in old[t]["scores"] for t in old)]
        if missing:
            raise ValueError(f"--reuse: the earlier evaluation has no scores for {missing} on tier {tier}")
        out[tier] = {m: {t: row["scores"][m] for t, row in old.items() if m in row["scores"]} for m in methods}
    return out


def run_tiers(inputs: EvalInputs, config: EvalConfig, out_dir: Path, model=None, tokenizer=None,
              tiers: dict | None = None, steering_per_task: int = 4, reuse: Path | None = None,
              reuse_methods: Sequence[str] = ()) -> dict:
    """Every method on every tier. With `reuse` (an earlier tiers eval.json), `reuse_methods` take their per-task
    scores from it instead of being run (see reused_scores); eval.json records which and from where."""
    if model is None:
        model, tokenizer = load_base(inputs.base_model)
    tiers = tiers if tiers is not None else load_tiers()
    out = {"tiers": {}, "oracle_tasks": {}, "steering": {}, "by_tier": {}, "skipped": {}, "task_set": "tiers",
           "inputs": inputs.__dict__ | {"methods": list(inputs.methods)}, "config": config.__dict__}
    old = reused_scores(json.loads(Path(reuse).read_text()), reuse_methods, config, tiers) if reuse else {}
    if reuse:
        out["reused"] = {"from": str(reuse), "methods": list(reuse_methods)}
    for tier, tasks in tiers.items():
        given = {m: v for m, v in old.get(tier, {}).items() if m != "oracle"}
        names = [m for m in inputs.methods if m != "oracle" and m not in given]
        methods, skipped = build_methods(EvalInputs(**{**inputs.__dict__, "methods": tuple(names)}), config,
                                         "eval", tasks)
        res = evaluate_methods(methods, tasks, model, tokenizer, config, cache_dir=out_dir / "scores" / tier,
                               reused=given)
        out["tiers"][tier] = dict(res["summary"])
        given_oracle = old.get(tier, {}).get("oracle")  # {task: %} for the tasks that had an oracle, or None
        if given_oracle is not None:
            with_oracle, oracle_methods = [t for t in tasks if t.name in given_oracle], []
        else:
            with_oracle = [t for t in tasks if inputs.oracles and _has_oracle(inputs.oracles, t.name)]
            oracle_methods = build_methods(EvalInputs(**{**inputs.__dict__, "methods": ("oracle",)}), config)[0] \
                if with_oracle else []
        if with_oracle:
            ores = evaluate_methods(oracle_methods, with_oracle, model, tokenizer, config,
                                    cache_dir=out_dir / "scores" / f"{tier}-oracle",
                                    reused={"oracle": given_oracle} if given_oracle is not None else None)
            out["tiers"][tier]["oracle"] = ores["summary"]["oracle"]
            out["oracle_tasks"][tier] = {m: float(np.mean([res["tasks"][t.name]["scores"][m] for t in with_oracle]))
                                         for m in res["summary"]} | {"oracle": ores["summary"]["oracle"],
                                                                     "n_tasks": len(with_oracle)}
            for t in with_oracle:
                res["tasks"][t.name]["scores"]["oracle"] = ores["tasks"][t.name]["scores"]["oracle"]
        out["by_tier"][tier] = res
        out["skipped"].update(skipped)
        if inputs.sft:
            out["steering"][tier] = cached_steering(out_dir / "scores" / tier / "steering.json", inputs.sft, tasks,
                                                    model, tokenizer, steering_per_task, config.seed)
        bigbench = [t for t in tasks if not t.family.startswith("suite.")]
        if bigbench:  # the 22 BIG-bench held-out tasks alone: the headline of earlier evaluations
            out["summary"] = {m: float(np.mean([res["tasks"][t.name]["scores"][m] for t in bigbench]))
                              for m in res["summary"]}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "eval.json").write_text(json.dumps(out, indent=1))
    (out_dir / "eval.md").write_text(tier_table(out) + "\n" + "\n".join(
        f"## {tier}\n\n" + markdown_table(res) for tier, res in out["by_tier"].items()))
    if inputs.sft and tiers:  # the generated adapters of the first tier's tasks x eval descriptions, by input pool
        plot_tier_adapters(inputs.sft, next(iter(tiers.values())), out_dir / "adapters.png")
    plot_tiers(out["tiers"], out_dir / "eval.png")
    return out


def plot_tier_adapters(checkpoint_dir: str, tasks: Sequence, path: Path) -> Path:
    """PCA of the adapters of every task x evaluation description, coloured by input pool (the paper's Fig. 5
    idea): adapters that follow their description spread by operation, not into one blob."""
    checkpoint = load_checkpoint(checkpoint_dir)
    encoder = make_encoder(prepare_encoder(checkpoint.encoder), checkpoint.embedding)
    pairs = [(t, d) for t in tasks for d in (t.eval_descriptions or t.descriptions)]
    adapters = [a for i in range(0, len(pairs), 64)
                for a in generate_adapters(checkpoint, encoder, [d for _, d in pairs[i:i + 64]])]
    return plot_adapter_map(adapters, [t.family.removeprefix("suite.") for t, _ in pairs], path,
                            "T2L adapters of unseen descriptions of trained operations, PCA, by input pool")


def _has_oracle(folder: str, task_name: str) -> bool:
    return (Path(folder) / adapter_dirname(task_name) / WEIGHTS_NAME).exists()


def tier_table(results: dict) -> str:
    """Methods x tiers (percent), then the steering margins."""
    tiers = list(results["tiers"])
    methods = list(dict.fromkeys(m for row in results["tiers"].values() for m in row))
    lines = ["| method | " + " | ".join(tiers) + " |", "|---|" + "---|" * len(tiers)]
    for m in methods:
        lines.append(f"| {m} | " + " | ".join(f"{results['tiers'][t].get(m, float('nan')):.1f}" for t in tiers) + " |")
    if results.get("steering"):
        lines += ["", "| steering (nats) | other-task margin | random margin | stderr | n |", "|---|---|---|---|---|"]
        for t, s in results["steering"].items():
            lines.append(f"| {t} | {s['other_desc_margin_nats']:.2f} | {s['random_desc_margin_nats']:.2f} | "
                         f"{s['stderr_nats']:.2f} | {s['n']} |")
    return "\n".join(lines) + "\n"
