"""Does "expected accuracy" predict real accuracy? A check on tasks it was not computed from.

The server shows each adapter's expected accuracy (hypernet.description_index): the similarity-weighted mean exact
match of the description's 3 nearest *measured* training tasks, "measured" being accuracy.json, the checkpoint's
`t2l_sft` scores on the `seen_ops_new_descriptions` tier. This module scores that figure on the two tiers it never
saw: `new_combinations` (held-out op + format pairs) and `heldout_tasks` (held-out suite ops and BIG-bench tasks).

Per task of those tiers: the descriptions the evaluation gave the hypernetwork (training.evaluate.build_rows:
example i of the eval_split gets `(task.eval_descriptions or task.descriptions)[i % len]`), each embedded alone as
the server embeds it (server.app.build_runtime's encoder, hypernet.embed_descriptions), expected accuracy averaged
over the evaluated examples (as the measured score is), against the measured `t2l_sft` exact match in eval.json:
Spearman (ties averaged; bootstrap 95% interval), Pearson, mean absolute error, a calibration table, and the MAE of
the constant predictor (the mean of accuracy.json) a useful hint must beat. The trained tier is reported too, as
in-sample: each task's own score is among its neighbours' there, so it is an upper reference, not a test.
t2l.expected_variants then fits better-calibrated variants of the figure on one untrained tier and scores them on
the other (both directions), and on the trained tier leave-one-out. With `--everyday EVAL_JSON` (a `t2l eval
--tasks everyday` of the same checkpoint) it scores the figure on the everyday set too: per task and wording, the
wording's expected accuracy against the measured exact match on all of the task's inputs (issue #21 item 6).

    python -m t2l.expected_check checkpoints/t2l-smollm2-135m-sft-L [--eval-json F] [--everyday F] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path
from typing import Any, Sequence

from ground.assets import prepare_encoder
from hypernet import embed_descriptions, load_checkpoint, make_encoder, read_accuracy
from t2l import expected_variants
from t2l.expected_stats import calibration, mean_absolute_error, pearson, spearman, spearman_interval
from t2l.expected_variants import LOO, Case, Description, markdown as variants_markdown, plot_calibration
from training.data import eval_split
from training.eval_tiers import load_tiers
from training.everyday import by_wording, load_everyday

OUT_OF_SAMPLE = ("new_combinations", "heldout_tasks")
IN_SAMPLE = "seen_ops_new_descriptions"
METHOD = "t2l_sft"
FITS = {"fit on heldout_tasks": ("heldout_tasks", "new_combinations"),  # direction -> (fit tier, test tier)
        "fit on new_combinations": ("new_combinations", "heldout_tasks")}
DEFAULT_OUT = Path("docs") / "expected-accuracy"  # from the repository root, where make runs it


# ---- statistics (plain python) --------------------------------------------------------------------------------
def compare(expected: Sequence[float], measured: Sequence[float], constant: float) -> dict[str, Any]:
    """Every figure of one group of tasks: expected vs measured, and the constant predictor's MAE. The hindsight
    constant (the group's own mean, unknowable in advance) shows how much of an MAE gain is only a level shift."""
    rnd = lambda v, places=4: None if v is None else round(v, places)  # noqa: E731
    mae = lambda predicted: rnd(mean_absolute_error(predicted, measured), 2)  # noqa: E731
    interval, hindsight = spearman_interval(expected, measured), sum(measured) / len(measured)
    return {"n": len(measured), "spearman": rnd(spearman(expected, measured)),
            "spearman_ci95": interval and [rnd(v) for v in interval], "pearson": rnd(pearson(expected, measured)),
            "mae": mae(expected), "mean_expected": rnd(sum(expected) / len(expected), 2),
            "mean_measured": rnd(hindsight, 2), "baseline": {"constant": rnd(constant, 2), "mae": mae([constant] * len(
                measured))}, "hindsight_constant_mae": mae([hindsight] * len(measured)),
            "calibration": calibration(expected, measured)}


# ---- the check ------------------------------------------------------------------------------------------------
def eval_descriptions(task, examples_per_task: int, seed: int) -> list[str]:
    """The description of each evaluated example, as training.evaluate.build_rows gives it to the hypernetwork."""
    examples, _ = eval_split(task, examples_per_task, seed)
    phrasings = task.eval_descriptions or task.descriptions
    return [phrasings[i % len(phrasings)] for i in range(len(examples))]


def score_descriptions(checkpoint, texts: Sequence[str], progress: bool = True
                       ) -> tuple[dict[str, dict], dict[str, tuple[float, list[tuple[str, float]]]]]:
    """(text -> expected accuracy, coverage score, neighbours; text -> (coverage score, every measured task with its
    similarity, best first)): server.app's encoder, one text per call as a request; the rows stay in memory."""
    from dataclasses import replace

    from tqdm.auto import tqdm

    encoder = make_encoder(prepare_encoder(checkpoint.encoder), replace(checkpoint.embedding, name=checkpoint.encoder))
    index, out, rows = checkpoint.description_index, {}, {}
    for text in tqdm(list(dict.fromkeys(texts)), desc="embed", unit="description", disable=not progress):
        embedding = embed_descriptions(checkpoint, encoder, [text])[1]
        found, every = index.coverage(embedding)[0], index.coverage(embedding, k=len(index.tasks))[0]  # top 3, all
        out[text] = {"expected": found.expected.exact, "coverage": round(found.score, 4),
                     "from": found.expected.to_dict()["from"]}
        rows[text] = (found.score, [(n.task, n.similarity) for n in every.nearest if n.task in index.accuracy])
    return out, rows


def variant_cases(used: dict[str, list[str]], tasks: dict[str, dict], rows: dict, accuracy: dict[str, float],
                  leave_one_out: bool = False) -> list:
    """t2l.expected_variants cases of one tier (tasks: name -> its "measured" score); leave_one_out drops each
    task's own accuracy.json neighbour."""
    return [Case(name, tasks[name]["measured"], tuple(Description(rows[d][0], tuple(
        (s, accuracy[t]) for t, s in rows[d][1] if not (leave_one_out and t == name)), v.count(d))
        for d in dict.fromkeys(v))) for name, v in used.items()]


def check_expected(checkpoint_folder: str | Path, eval_json: str | Path | None = None,
                   progress: bool = True) -> dict[str, Any]:
    """Expected accuracy vs measured `t2l_sft` exact match per tier (see the module doc)."""
    folder = Path(checkpoint_folder)
    source = Path(eval_json or folder / "eval.json")
    evaluation, checkpoint, measured = json.loads(source.read_text()), load_checkpoint(folder), read_accuracy(folder)
    if checkpoint.description_index is None or not checkpoint.description_index.accuracy:
        raise ValueError(f"{folder} has no description index with accuracy.json: nothing to check")
    constant, config, tiers = sum(measured.values()) / len(measured), evaluation["config"], load_tiers()
    used = {tier: {t.name: eval_descriptions(t, config["examples_per_task"], config["seed"]) for t in tiers[tier]}
            for tier in (*OUT_OF_SAMPLE, IN_SAMPLE)}
    for tier, tasks in used.items():  # the suite must still build the tasks, and example counts, that were scored
        scored = evaluation["by_tier"][tier]["tasks"]
        if sorted(tasks) != sorted(scored) or any(len(v) != scored[n]["n"] for n, v in tasks.items()):
            raise ValueError(f"{source}: tier {tier} was scored on other tasks or example counts than built now")
    coverage, similar = score_descriptions(checkpoint, [d for t in used.values() for v in t.values() for d in v],
                                        progress)
    result: dict[str, Any] = {
        "checkpoint": str(folder), "digest": checkpoint.digest, "eval": str(source), "method": METHOD,
        "examples_per_task": config["examples_per_task"], "seed": config["seed"],
        "accuracy_json": {"tasks": len(measured), "mean": round(constant, 2)}, "groups": {}, "tasks": {}}
    for tier, tasks in used.items():
        rows, got = evaluation["by_tier"][tier]["tasks"], result["tasks"].setdefault(tier, {})
        for name, v in tasks.items():
            got[name] = {"family": rows[name]["family"], "measured": rows[name]["scores"][METHOD],
                         "expected": round(sum(coverage[d]["expected"] for d in v) / len(v), 2),
                         "descriptions": [{"text": d, "uses": v.count(d), **coverage[d]} for d in dict.fromkeys(v)]}
        groups = {tier: list(tasks)}
        if tier == "heldout_tasks":
            groups |= {f"{tier} (suite ops)": [n for n in tasks if n.startswith("suite:")],
                       f"{tier} (BIG-bench)": [n for n in tasks if not n.startswith("suite:")]}
        for group, names in groups.items():
            result["groups"][group] = {"in_sample": tier == IN_SAMPLE, **compare(
                [got[n]["expected"] for n in names], [got[n]["measured"] for n in names], constant)}

    cases = lambda tier, loo=False: variant_cases(used[tier], result["tasks"][tier], similar, measured, loo)  # noqa
    result["variants"] = expected_variants.compare_variants({t: cases(t) for t in OUT_OF_SAMPLE}, {
        expected_variants.LOO: cases(IN_SAMPLE, True), expected_variants.IN: cases(IN_SAMPLE)}, FITS)
    for where, tasks in result["variants"].pop("tasks").items():  # per-task predictions beside the task's figures
        for name, predicted in tasks.items():
            result["tasks"][IN_SAMPLE if where == expected_variants.LOO else where][name]["variants"] = predicted
    return result


def check_everyday(result: dict[str, Any], checkpoint, everyday_json: str | Path, progress: bool = True) -> None:
    """Add the everyday set to `result` (group and tasks "everyday"): each task#wording's expected accuracy (its one
    description) against its measured `t2l_sft` exact match. The evaluation must be of this very checkpoint."""
    source = Path(everyday_json)
    evaluation = json.loads(source.read_text())
    if evaluation.get("task_set") != "everyday" or METHOD not in evaluation.get("summary", {}):
        raise ValueError(f"{source}: not a `t2l eval --tasks everyday` result with {METHOD}")
    scored = (evaluation.get("inputs") or {}).get("sft")
    if not scored or load_checkpoint(scored).digest != checkpoint.digest:
        raise ValueError(f"{source}: scored checkpoint {scored!r}, not this one (digest {checkpoint.digest[:12]})")
    tasks = {t.name: t for t in by_wording(load_everyday())}
    rows = evaluation["tasks"]
    unknown = sorted(set(rows) - set(tasks))
    if unknown:
        raise ValueError(f"{source}: tasks the everyday set no longer has: {unknown[:3]}")
    text = {name: tasks[name].descriptions[0] for name in rows}
    coverage, _ = score_descriptions(checkpoint, list(text.values()), progress)
    got = result["tasks"].setdefault("everyday", {})
    for name in rows:
        got[name] = {"family": rows[name]["family"], "measured": rows[name]["scores"][METHOD],
                     "expected": round(coverage[text[name]]["expected"], 2),
                     "descriptions": [{"text": text[name], "uses": rows[name]["n"], **coverage[text[name]]}]}
    result["everyday_eval"] = str(source)
    result["groups"]["everyday"] = {"in_sample": False, **compare(
        [got[n]["expected"] for n in rows], [got[n]["measured"] for n in rows], result["accuracy_json"]["mean"])}


# ---- reports --------------------------------------------------------------------------------------------------
def markdown(result: dict[str, Any]) -> str:
    lines = [f"# Expected accuracy vs measured exact match: `{result['checkpoint']}`", "",
             f"Measured: `{result['method']}` exact match (%) in `{result['eval']}`, {result['examples_per_task']} "
             "examples per task. Expected: the server's expected accuracy of each evaluated example's description, "
             f"averaged over the examples. Constant: the mean of accuracy.json ({result['accuracy_json']['mean']}%, "
             f"{result['accuracy_json']['tasks']} trained tasks) for every task. Hindsight constant: the group's own "
             "mean measured score (unknowable in advance). Written by `python -m t2l.expected_check`.", ""]
    for group, g in result["groups"].items():
        ci = g["spearman_ci95"]
        lines += [f"## {group}{' (in-sample: NOT a test, its scores are accuracy.json)' if g['in_sample'] else ''}",
                  "", "| tasks | Spearman (95% CI) | Pearson | MAE expected | MAE constant | MAE hindsight constant | "
                  "mean expected | mean measured |", "|---|---|---|---|---|---|---|---|",
                  f"| {g['n']} | {g['spearman']} ({'-' if ci is None else f'{ci[0]:.2f} to {ci[1]:.2f}'}) | "
                  f"{g['pearson']} | {g['mae']} | {g['baseline']['mae']} | {g['hindsight_constant_mae']} | "
                  f"{g['mean_expected']} | {g['mean_measured']} |", "",
                  "| expected bin | tasks | mean expected | mean measured |", "|---|---|---|---|"]
        lines += [f"| {b['bin']} | {b['n']} | {b['mean_expected'] if b['n'] else '-'} | "
                  f"{b['mean_measured'] if b['n'] else '-'} |" for b in g["calibration"]] + [""]
    if "variants" in result:
        lines += variants_markdown(result["variants"])
    return "\n".join(lines)


def plot(result: dict[str, Any], path: Path) -> Path:
    """Expected (x) vs measured (y) per tier: y = x, the constant baseline and the binned means."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tiers, rng = [*OUT_OF_SAMPLE, IN_SAMPLE], random.Random(0)
    n_rows = 2 if "variants" in result else 1
    fig, grid = plt.subplots(n_rows, len(tiers), figsize=(5.2 * len(tiers), 5 * n_rows), dpi=110, squeeze=False)
    axes = grid[0]
    for ax, tier in zip(axes, tiers):
        rows, g = result["tasks"][tier], result["groups"][tier]
        for label, colour, suite in (("suite", "tab:blue", True), ("BIG-bench", "tab:orange", False)):
            pts = [(r["expected"], r["measured"] + rng.uniform(-1.5, 1.5)) for n, r in rows.items()
                   if n.startswith("suite:") == suite]
            if pts:
                ax.scatter(*zip(*pts), s=14, alpha=0.5, color=colour, label=f"{label} tasks ({len(pts)})")
        bins = [(b["mean_expected"], b["mean_measured"]) for b in g["calibration"] if b["n"]]
        ax.plot(*zip(*bins), "k-o", ms=5, label="binned means")
        ax.plot([0, 100], [0, 100], color="grey", linewidth=1, label="y = x")
        ax.axvline(g["baseline"]["constant"], color="tab:red", linestyle=":", label="constant baseline")
        ax.set(xlim=(-2, 102), ylim=(-4, 104), xlabel="expected accuracy (%)")
        ax.set_title(f"{tier}{' (in-sample)' if g['in_sample'] else ''}\nn={g['n']}, Spearman {g['spearman']}, "
                     f"MAE {g['mae']} vs constant {g['baseline']['mae']}", fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
    axes[0].set_ylabel(f"measured {result['method']} exact match (%), jittered +-1.5")
    if n_rows == 2:  # the variants' calibration: each held-out direction, and the trained tier leave-one-out
        for ax, (direction, where) in zip(grid[1], [*((d, test) for d, (_, test) in FITS.items()),
                                                    ("fit on both", LOO)]):
            plot_calibration(ax, result["variants"], direction, where, f"variants: {direction}, tested on {where}")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def everyday_only(folder: Path, everyday_json: str, out: Path) -> int:
    """The everyday group alone (no tier is read): expected_check_everyday.{json,md} under `out`."""
    checkpoint, measured = load_checkpoint(folder), read_accuracy(folder)
    if checkpoint.description_index is None or not measured:
        raise ValueError(f"{folder} has no description index with accuracy.json: nothing to check")
    result: dict[str, Any] = {"checkpoint": str(folder), "digest": checkpoint.digest, "eval": str(everyday_json),
                              "method": METHOD, "examples_per_task": "all (12)", "accuracy_json": {
                                  "tasks": len(measured), "mean": round(sum(measured.values()) / len(measured), 2)},
                              "groups": {}, "tasks": {}}
    check_everyday(result, checkpoint, everyday_json)
    out.mkdir(parents=True, exist_ok=True)
    (out / "expected_check_everyday.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / "expected_check_everyday.md").write_text(markdown(result))
    print(markdown(result) + f"\nwrote {out / 'expected_check_everyday.json'}, {out / 'expected_check_everyday.md'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m t2l.expected_check", description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="checkpoint folder (with descriptions.safetensors and accuracy.json)")
    parser.add_argument("--eval-json", help="a `t2l eval --tasks tiers` eval.json (default: the checkpoint's)")
    parser.add_argument("--everyday", help="a `t2l eval --tasks everyday` eval.json of the same checkpoint: adds the "
                                           "everyday set as a group")
    parser.add_argument("--everyday-only", action="store_true",
                        help="only the everyday group (no tiers: e.g. a machine whose suite builds other tiers than "
                             "the checkpoint's eval.json scored, without the BIG-bench cache); writes "
                             "expected_check_everyday.{json,md}")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help=f"output folder (default {DEFAULT_OUT})")
    parser.add_argument("--details", action="store_true", help="keep every description with its neighbours in the "
                                                               "JSON (~0.9 MB; default: per task only)")
    args = parser.parse_args(argv)
    if args.everyday_only:
        if not args.everyday:
            parser.error("--everyday-only needs --everyday EVAL_JSON")
        return everyday_only(Path(args.checkpoint), args.everyday, Path(args.out))
    result, out = check_expected(args.checkpoint, args.eval_json), Path(args.out)
    if args.everyday:
        check_everyday(result, load_checkpoint(args.checkpoint), args.everyday)
    out.mkdir(parents=True, exist_ok=True)
    kept = result if args.details else {**result, "tasks": {tier: {name: {k: v for k, v in row.items()
                                                                          if k != "descriptions"}
                                                                   for name, row in rows.items()}
                                                            for tier, rows in result["tasks"].items()}}
    (out / "expected_check.json").write_text(json.dumps(kept, indent=1) + "\n")
    (out / "expected_check.md").write_text(markdown(result))
    written = [out / "expected_check.json", out / "expected_check.md"]
    try:
        written.append(plot(result, out / "expected_check.png"))
    except ImportError:
        print("matplotlib is not installed: no plot")
    print(markdown(result) + "\nwrote " + ", ".join(map(str, written)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
