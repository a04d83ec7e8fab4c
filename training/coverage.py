"""`t2l checkpoint index`: write a checkpoint's description index from the task library, calibrate its threshold on
held-out descriptions, and plot the distributions (hypernet.description_index has the maths and the file).

Training descriptions: the tasks the checkpoint's provenance lists (`tasks.train`; suite tasks "suite:..." come from
training.suite.build.training_tasks, BIG-bench ones from the task library), each with its training phrasings
(`Task.train_descriptions`, what training/sft.py draws). A checkpoint without that list gets the suite's training
tasks plus the split's BIG-bench training tasks (what a default suite run trains on).

Calibration, every description never seen in training:
    in distribution (positives)   the suite's evaluation wordings of the ops the checkpoint trained on, of held-out
                                  (op, format) pairs of those ops, and the evaluation wordings of its BIG-bench tasks
    out of distribution (negatives)  random character strings, random word salad, and unrelated text (the suite's
                                  sentence pool: plain sentences that describe no task)
    reported only                 held-out ops (suite ops and BIG-bench tasks never trained: the checkpoint does not
                                  transfer to them, but their wording is task-like)
The threshold maximises TPR - FPR (Youden's J) between positives and negatives. Results go to coverage.json and
coverage.png beside the weights.

`t2l checkpoint index CKPT --from OTHER` (reuse_index) takes OTHER's index instead, for a checkpoint trained on the
same tasks with the same encoder (the same run at another step) on a machine without the task library: the index
holds only the encoder's embeddings of the training descriptions, which the hypernetwork does not enter.
"""

from __future__ import annotations

import json
import random
import string
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch

from ground.assets import prepare_encoder
from hypernet import DescriptionIndex, load_checkpoint, make_encoder, write_description_index, write_task_accuracy
from training.suite.build import registry, tier_tasks, training_tasks
from training.tasks import bigbench_ready, load_named_tasks, load_split, load_tasks

COVERAGE_JSON, COVERAGE_PNG = "coverage.json", "coverage.png"
POSITIVE = ("seen ops, new wordings", "trained ops + formats, new pairs", "BIG-bench trained tasks, new wordings")
NEGATIVE = ("random strings", "random words", "unrelated sentences")
REPORTED = ("held-out ops and tasks",)


@dataclass(frozen=True)
class IndexJob:
    """What `t2l checkpoint index` does for one checkpoint."""

    checkpoint: Path
    batch_size: int = 256
    negatives_per_group: int = 300
    seed: int = 0
    plot: bool = True


def _suite_tasks(combos: bool) -> list:
    return training_tasks(combos=combos)


def training_tasks_of(provenance: dict[str, Any]) -> list:
    """The Task objects a checkpoint was trained on (see the module doc)."""
    combos = bool(provenance.get("config", {}).get("suite_combos", True))
    names = list(provenance.get("tasks", {}).get("train", []))
    suite = {t.name: t for t in _suite_tasks(combos)}
    if not names:
        return list(suite.values()) + load_named_tasks(sorted(load_split().train))
    missing = [n for n in names if n.startswith("suite:") and n not in suite]
    if missing:
        raise ValueError(f"the checkpoint names suite tasks the suite no longer has: {missing[:5]}")
    bigbench = load_named_tasks([n for n in names if not n.startswith("suite:")])
    return [suite[n] for n in names if n.startswith("suite:")] + bigbench


TASK_CHOICE = ("data", "split", "suite_combos", "train_tasks")  # the SFT config fields that choose the tasks


def task_choice(provenance: dict[str, Any]) -> dict[str, Any]:
    """What decided a checkpoint's training tasks: those config fields, and whether BIG-bench was drawn (it also
    brings the suite's mc ops). Two checkpoints with equal choices trained on the same tasks; comparing task lists
    instead would need the BIG-bench cache, which lists the mc ops."""
    config = provenance.get("config", {})
    return {**{k: config.get(k) for k in TASK_CHOICE}, "bigbench": bool(config.get("bigbench_share", 0))}


def reuse_index(source: Path, target: Path) -> dict[str, Any]:
    """`target` gets `source`'s description index (same rows, embeddings and threshold; centred on target's own
    task_center when it is loaded), coverage.json (marked reused) and coverage.png. Refused unless both use the same
    encoder, were trained on the same tasks and share their task_center."""
    import shutil

    source, target = Path(source), Path(target)
    src, dst = load_checkpoint(source), load_checkpoint(target, description_index=False)
    index = src.description_index  # embeddings as written (not centred), threshold and the writer's record
    if index is None:
        raise ValueError(f"{source} has no description index to reuse")
    if (src.encoder, src.embedding.to_dict()) != (dst.encoder, dst.embedding.to_dict()):
        raise ValueError(f"{source} and {target} embed descriptions differently: the index would not match")
    if task_choice(src.provenance) != task_choice(dst.provenance):
        raise ValueError(f"{source} and {target} were trained on different tasks ({task_choice(src.provenance)} vs "
                         f"{task_choice(dst.provenance)}): run `t2l checkpoint index` without --from")
    if not torch.allclose(src.model.task_center.float(), dst.model.task_center.float(), atol=1e-3):
        raise ValueError(f"{source} and {target} centre embeddings differently (task_center): the threshold would "
                         f"not carry over")
    names = [index.tasks[i] for i in index.row_task.tolist()]
    digest = write_description_index(target, names, index.embeddings, index.threshold,
                                     {**index.extra, "reused_from": source.name})
    before = json.loads((source / COVERAGE_JSON).read_text()) if (source / COVERAGE_JSON).is_file() else {}
    report = {**before, "checkpoint": str(target), "digest": digest, "rows": len(names), "tasks": len(index.tasks),
              "threshold": index.threshold, "reused_from": str(source)}
    (target / COVERAGE_JSON).write_text(json.dumps(report, indent=2) + "\n")
    if (source / COVERAGE_PNG).is_file():
        shutil.copyfile(source / COVERAGE_PNG, target / COVERAGE_PNG)
    return report


def training_rows(tasks: Sequence) -> tuple[list[str], list[str]]:
    """(task name, description) per distinct pair, in task order."""
    pairs = dict.fromkeys((t.name, d) for t in tasks for d in t.train_descriptions)
    return [n for n, _ in pairs], [d for _, d in pairs]


def calibration_texts(train_tasks: Sequence, count: int, seed: int) -> dict[str, list[str]]:
    """Group name -> descriptions (see the module doc); none of them is a training description."""
    seen = {d for t in train_tasks for d in t.train_descriptions}
    fresh = lambda texts: sorted({d for d in texts if d not in seen})  # noqa: E731
    trained = {t.name for t in train_tasks}
    trained_op = lambda task: task.name.split("+")[0] in trained  # noqa: E731  (suite:op+format -> suite:op)
    rng = random.Random(seed)
    reg = registry()
    words = sorted(reg.pools["word"].items)
    alphabet = string.ascii_letters + string.digits + string.punctuation + "     "
    groups = {
        POSITIVE[0]: fresh(d for t in tier_tasks("seen_ops_new_descriptions") if t.name in trained
                           for d in t.descriptions),
        POSITIVE[1]: fresh(d for t in tier_tasks("new_combinations") if trained_op(t) for d in t.descriptions),
        POSITIVE[2]: fresh(d for t in train_tasks if not t.name.startswith("suite:") for d in t.eval_descriptions),
        NEGATIVE[0]: ["".join(rng.choice(alphabet) for _ in range(rng.randint(8, 80))).strip() or "x"
                      for _ in range(count)],
        NEGATIVE[1]: [" ".join(rng.choice(words) for _ in range(rng.randint(2, 12))) for _ in range(count)],
        NEGATIVE[2]: sorted(reg.pools["sentence"].items)[:count],
        REPORTED[0]: fresh(d for t in tier_tasks("heldout_tasks", bigbench_heldout=_bigbench_heldout())
                           for d in t.descriptions),
    }
    return {k: v for k, v in groups.items() if v}


def _bigbench_heldout() -> list:
    return load_tasks("heldout") if load_split().heldout and bigbench_ready() else []


def choose_threshold(positives: torch.Tensor, negatives: torch.Tensor) -> tuple[float, float]:
    """(threshold, J): the cut that maximises TPR - FPR, halfway between the two scores it falls between."""
    values = torch.cat([positives, negatives]).sort().values
    candidates = torch.cat([values[:1] - 1e-3, (values[1:] + values[:-1]) / 2, values[-1:] + 1e-3])
    tpr = (positives[None, :] >= candidates[:, None]).float().mean(1)
    fpr = (negatives[None, :] >= candidates[:, None]).float().mean(1)
    best = int((tpr - fpr).argmax())
    return round(float(candidates[best]), 3), float(tpr[best] - fpr[best])


def _summary(scores: torch.Tensor, threshold: float) -> dict[str, Any]:
    q = torch.quantile(scores, torch.tensor([0.05, 0.25, 0.5, 0.75, 0.95])).tolist()
    return {"n": int(scores.numel()), "mean": round(float(scores.mean()), 4),
            "quantiles_5_25_50_75_95": [round(v, 4) for v in q],
            "in_distribution": round(float((scores >= threshold).float().mean()), 4)}


def plot(scores: dict[str, torch.Tensor], threshold: float, title: str, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.8), dpi=110)
    bins = torch.linspace(min(float(s.min()) for s in scores.values()) - 0.02, 1.0, 61).tolist()
    styles = {**{g: ("tab:green", "-") for g in POSITIVE}, **{g: ("tab:red", "--") for g in NEGATIVE},
              **{g: ("tab:blue", ":") for g in REPORTED}}
    shades = iter([0.45, 0.7, 1.0] * 3)
    for group, values in scores.items():
        colour, line = styles.get(group, ("black", "-"))
        ax.hist(values.tolist(), bins=bins, density=True, histtype="step", linewidth=1.8, linestyle=line,
                color=colour, alpha=next(shades), label=f"{group} (n={values.numel()})")
    ax.axvline(threshold, color="black", linewidth=1)
    ax.text(threshold, ax.get_ylim()[1] * 0.95, f" threshold {threshold:.3f}", va="top", fontsize=9)
    ax.set_xlabel("coverage: cosine similarity to the nearest training description (centred as the model centres)")
    ax.set_ylabel("density")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def build_index(job: IndexJob, log=print) -> dict[str, Any]:
    """Embed, calibrate, write descriptions.safetensors (re-stamping the digest), coverage.json and coverage.png."""
    from dataclasses import replace

    started = time.perf_counter()
    ckpt = load_checkpoint(job.checkpoint, description_index=False)  # the index is what we (re)write
    tasks = training_tasks_of(ckpt.provenance)
    names, texts = training_rows(tasks)
    groups = calibration_texts(tasks, job.negatives_per_group, job.seed)
    log(f"{len(texts)} training descriptions of {len(set(names))} tasks; calibration: "
        + ", ".join(f"{g} {len(v)}" for g, v in groups.items()))
    encoder = make_encoder(prepare_encoder(ckpt.encoder), replace(ckpt.embedding, name=ckpt.encoder))

    def embed(batch_texts: list[str]) -> torch.Tensor:
        """Batches of similar length (little padding: BIG-bench descriptions run to 2,000 characters)."""
        order = sorted(range(len(batch_texts)), key=lambda i: len(batch_texts[i]))
        parts = [encoder.embed([batch_texts[j] for j in order[i:i + job.batch_size]])
                 for i in range(0, len(order), job.batch_size)]
        out = torch.empty(len(batch_texts), parts[0].shape[1])
        out[torch.tensor(order)] = torch.cat(parts)
        return out

    train_emb = embed(texts)
    log(f"embedded the training descriptions in {time.perf_counter() - started:.0f} s")
    index = DescriptionIndex(names, train_emb, center=ckpt.model.task_center.detach().cpu())
    scores = {g: index.scores(embed(v)) for g, v in groups.items()}
    if not any(g in scores for g in POSITIVE):
        raise ValueError("no held-out wordings of this checkpoint's training tasks to calibrate on (its tasks are "
                         "neither suite ops nor BIG-bench tasks)")
    positives = torch.cat([scores[g] for g in POSITIVE if g in scores])
    negatives = torch.cat([scores[g] for g in NEGATIVE if g in scores])
    threshold, youden = choose_threshold(positives, negatives)
    centred = bool(ckpt.model.task_center.detach().abs().sum() > 0)
    extra = {"tasks_from": "provenance" if ckpt.provenance.get("tasks", {}).get("train") else "suite default",
             "encoder": ckpt.embedding.to_dict(), "centred": centred, "threshold_method": "youden_j"}
    digest = write_description_index(job.checkpoint, names, train_emb, threshold, extra)
    report = {
        "checkpoint": str(job.checkpoint), "digest": digest, "rows": len(names), "tasks": len(set(names)),
        "centred_with_task_center": centred, "threshold": threshold, "youden_j": round(youden, 4),
        "tpr": round(float((positives >= threshold).float().mean()), 4),
        "fpr": round(float((negatives >= threshold).float().mean()), 4),
        "groups": {g: {"role": "positive" if g in POSITIVE else "negative" if g in NEGATIVE else "reported",
                       **_summary(s, threshold)} for g, s in scores.items()},
        "method": "coverage = max cosine similarity to a training description after subtracting the model's "
                  "task_center; threshold maximises TPR - FPR (positives: held-out wordings of trained tasks; "
                  "negatives: random strings, random words, unrelated sentences)",
        "seconds": round(time.perf_counter() - started, 1),
    }
    folder = Path(job.checkpoint)
    (folder / COVERAGE_JSON).write_text(json.dumps(report, indent=2) + "\n")
    if job.plot:
        plot(scores, threshold, f"{folder.name}: coverage of descriptions never seen in training "
             f"(threshold {threshold:.3f}, TPR {report['tpr']:.2f}, FPR {report['fpr']:.2f})", folder / COVERAGE_PNG)
    return report


ACCURACY_TIER = "seen_ops_new_descriptions"  # trained tasks, held-out inputs, unseen wordings: what a user's
# description of a familiar task meets


def accuracy_from_eval(eval_json: Path, method: str = "t2l_sft") -> tuple[dict[str, float], dict[str, Any]]:
    """Per-task exact match (%) of `method` on the tier of trained tasks with new descriptions, from a
    `t2l eval --tasks tiers` eval.json; and a record of where it came from."""
    data = json.loads(Path(eval_json).read_text())
    tier = data.get("by_tier", {}).get(ACCURACY_TIER)
    if tier is None:
        raise ValueError(f"{eval_json} has no {ACCURACY_TIER} tier (run `t2l eval --tasks tiers`)")
    scores = {name: row["scores"][method] for name, row in tier["tasks"].items() if method in row["scores"]}
    if not scores:
        raise ValueError(f"{eval_json}: no {method} scores in the {ACCURACY_TIER} tier")
    n = sorted({row["n"] for row in tier["tasks"].values()})
    return scores, {"eval": Path(eval_json).name, "tier": ACCURACY_TIER, "method": method,
                    "examples_per_task": n, "tasks": len(scores)}


def write_checkpoint_accuracy(folder: Path, eval_json: str | None = None, method: str = "t2l_sft") -> dict[str, Any]:
    """`t2l checkpoint accuracy`: folder/accuracy.json from a tiers eval.json (default: the checkpoint's own)."""
    source = Path(eval_json) if eval_json else folder / "eval.json"
    if not source.is_file():
        raise FileNotFoundError(f"{source} does not exist (pass --eval-json, a `t2l eval --tasks tiers` result)")
    scores, record = accuracy_from_eval(source, method)
    index = load_checkpoint(folder).description_index
    if index is None:
        raise ValueError(f"{folder} has no description index: run `t2l checkpoint index {folder}` first")
    held = set(index.tasks)
    missing = sorted(set(scores) - held)
    digest = write_task_accuracy(folder, {t: v for t, v in scores.items() if t in held}, record)
    return {"written": str(folder / "accuracy.json"), "digest": digest, "tasks": len(scores) - len(missing),
            "not_in_index": missing[:5]}
