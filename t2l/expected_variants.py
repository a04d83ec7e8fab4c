"""Better-calibrated expected accuracy? Variants of the figure, fitted on one untrained tier, tested on the other.

Per description the server knows its coverage score (best similarity over all training tasks) and its measured
neighbours: the training tasks with an accuracy.json figure a_i, by similarity s_i, best first. Candidates:

    A  current       sum_i w_i a_i / sum_i w_i,  w_i = max(s_i, 0), top 3   (hypernet.description_index)
    B  pseudo-count  (sum_i w_i a_i + c p) / (sum_i w_i + c),  w_i = max(s_i, 0)^gamma, top k
    C  by coverage   p + t (A - p),  t = clip((score - s0) / (1 - s0), 0, 1)
    D  linear        p + beta (A - p)      (C without the coverage score: a control for what the score adds)
    p  constant      p

A task's prediction is the mean over its evaluated examples (as its measured score is). p is the checkpoint's mean
measured score on the untrained tier used for fitting; c, gamma, k, s0, beta are grid-searched there (least squares:
a calibrated figure is a conditional mean; MAE fitting would aim at the median, 0 for most tasks), then every figure
is scored on the other tier. The trained tier is scored leave-one-out: a task's own accuracy.json entry is not among
its neighbours (its coverage score still counts its own training rows, as the server's would); in-sample too (own
entry kept: what the server shows for a trained task's description, not a test).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

from t2l.expected_stats import calibration, mean_absolute_error, spearman

TOP_K = 3  # the current figure's (hypernet.description_index.TOP_K)
KS = (1, 3, 5)
GAMMAS = (0.0, 0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0)  # 0: equal weights
CS = (0.0, *(round(10 ** (e / 4), 4) for e in range(-16, 9)))  # 0, 1e-4 .. 100 (units of summed weight)
S0S = tuple(round(-0.5 + 0.02 * i, 2) for i in range(70))  # -0.5 .. 0.88
BETAS = tuple(round(0.02 * i, 2) for i in range(76))  # 0 .. 1.5
LOO, IN = "seen_ops_loo", "seen_ops_in_sample"  # the trained tier without / with each task's own entry


@dataclass(frozen=True)
class Description:
    score: float  # coverage: best similarity over all training tasks
    neighbours: tuple[tuple[float, float], ...]  # (similarity, accuracy %) of measured tasks, best first
    uses: int = 1  # evaluated examples that got this description


@dataclass(frozen=True)
class Case:
    name: str
    measured: float
    descriptions: tuple[Description, ...]


# ---- the figures (per description) ------------------------------------------------------------------------------
def pseudo_count(neighbours: Sequence[tuple[float, float]], p: float, c: float, gamma: float, k: int) -> float:
    """(sum w a + c p) / (sum w + c) over the top k, w = max(s, 0)^gamma; p when no weight at all (c = 0)."""
    weights = [(s ** gamma if s > 0 else 0.0, a) for s, a in neighbours[:k]]
    total = sum(w for w, _ in weights) + c
    return p if total <= 0 else (sum(w * a for w, a in weights) + c * p) / total


def current(neighbours: Sequence[tuple[float, float]]) -> float:
    """The server's figure, as hypernet.description_index computes it (epsilon included)."""
    used = neighbours[:TOP_K]
    weights = [max(s, 0.0) + 1e-6 for s, _ in used]
    return sum(w * a for w, (_, a) in zip(weights, used)) / sum(weights)


def coverage_shrink(a: float, score: float, p: float, s0: float) -> float:
    """p + t (a - p), t = clip((score - s0) / (1 - s0), 0, 1): trust the figure in proportion to coverage."""
    return p + min(max((score - s0) / (1.0 - s0), 0.0), 1.0) * (a - p)


def linear_shrink(a: float, p: float, beta: float) -> float:
    return p + beta * (a - p)


Figure = Callable[[Description, float, dict], float]  # (description, p, parameters) -> expected %
VARIANTS: dict[str, tuple[Figure, list[dict]]] = {
    "A current": (lambda d, p, q: current(d.neighbours), [{}]),
    "B pseudo-count": (lambda d, p, q: pseudo_count(d.neighbours, p, q["c"], q["gamma"], q["k"]),
                       [{"k": k, "gamma": g, "c": c} for k in KS for g in GAMMAS for c in CS]),
    "C by coverage": (lambda d, p, q: coverage_shrink(current(d.neighbours), d.score, p, q["s0"]),
                      [{"s0": s} for s in S0S]),
    "D linear": (lambda d, p, q: linear_shrink(current(d.neighbours), p, q["beta"]), [{"beta": b} for b in BETAS]),
    "p constant": (lambda d, p, q: p, [{}]),
}


def predict(cases: Iterable[Case], figure: Figure, p: float, params: dict) -> list[float]:
    """Per task: the figure averaged over its evaluated examples."""
    return [sum(d.uses * figure(d, p, params) for d in case.descriptions) / sum(d.uses for d in case.descriptions)
            for case in cases]


def squared_error(predicted: Sequence[float], measured: Sequence[float]) -> float:
    return sum((x - y) ** 2 for x, y in zip(predicted, measured, strict=True)) / len(measured)


def fit(cases: Sequence[Case], variant: str) -> tuple[float, dict]:
    """(p, parameters): p = the cases' mean measured score, parameters = the grid point of least squared error."""
    figure, grid = VARIANTS[variant]
    measured, p = [c.measured for c in cases], sum(c.measured for c in cases) / len(cases)
    return p, min(grid, key=lambda q: squared_error(predict(cases, figure, p, q), measured))


def mae_gain_interval(predicted: Sequence[float], baseline: Sequence[float], measured: Sequence[float],
                      rounds: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Bootstrap 95% interval (over tasks) of MAE(predicted) - MAE(baseline); below 0 everywhere = reliably better."""
    rng, gain = random.Random(seed), [abs(x - m) - abs(b - m) for x, b, m in zip(predicted, baseline, measured)]
    values = sorted(sum(gain[rng.randrange(len(gain))] for _ in gain) / len(gain) for _ in range(rounds))
    return values[int(0.025 * rounds)], values[int(0.975 * rounds)]


def score(predicted: Sequence[float], measured: Sequence[float], constant: Sequence[float]) -> dict[str, Any]:
    rho, (lo, hi) = spearman(predicted, measured), mae_gain_interval(predicted, constant, measured)
    return {"mae": round(mean_absolute_error(predicted, measured), 2),
            "rmse": round(math.sqrt(squared_error(predicted, measured)), 2),
            "spearman": None if rho is None else round(rho, 4),
            "mean_predicted": round(sum(predicted) / len(predicted), 2),
            "mean_measured": round(sum(measured) / len(measured), 2),
            "mae_minus_constant_ci95": [round(lo, 2) + 0.0, round(hi, 2) + 0.0],  # + 0.0: no "-0.0"
            "calibration": calibration([min(max(x, 0.0), 100.0) for x in predicted], measured)}


def compare_variants(tiers: dict[str, Sequence[Case]], trained: dict[str, Sequence[Case]],
                     fits: dict[str, Sequence[str]]) -> dict[str, Any]:
    """fits: direction -> (fit tier, test tier); trained: LOO / IN -> the trained tier's cases. Per direction and
    variant: p, parameters, the scores on the test tier and on the trained tier; "fit on both": fitted on every
    untrained tier (the recommendation), scored on the trained tier only. Per-task predictions (test tiers and LOO)
    come back under "tasks"."""
    out: dict[str, Any] = {"directions": {}, "tasks": {}}
    plan = [(name, list(tiers[a]), b) for name, (a, b) in fits.items()]
    plan.append(("fit on both", [c for cases in tiers.values() for c in cases], None))
    for direction, fitting, test in plan:
        got = out["directions"][direction] = {"fit": fits.get(direction, ("all untrained tiers",))[0], "test": test,
                                              "variants": {}}
        for variant, (figure, _) in VARIANTS.items():
            p, params = fit(fitting, variant)
            row = got["variants"][variant] = {"p": round(p, 2), "params": params}
            for where, cases in ((test, tiers.get(test)), *trained.items()):
                if cases is None:
                    continue
                measured = [c.measured for c in cases]
                predicted = predict(cases, figure, p, params)
                row[where] = score(predicted, measured, [p] * len(cases))
                per_task = out["tasks"].setdefault(where, {})
                for c, x in zip(cases, predicted) if where != IN else ():
                    per_task.setdefault(c.name, {}).setdefault(direction, {})[variant] = round(x, 2)
    return out


# ---- reports --------------------------------------------------------------------------------------------------
def _or_dash(value: Any) -> str:
    return "-" if value is None else str(value)


def _interval(v: list[float]) -> str:
    return f"{v[0]:+.2f} to {v[1]:+.2f}"


def markdown(variants: dict[str, Any], constant_name: str = "p constant") -> list[str]:
    """The comparison: per direction a score table and a calibration table, then the trained tier, then a summary."""
    params = lambda row: ", ".join(f"{k}={v:g}" for k, v in row["params"].items()) or "-"  # noqa: E731
    lines = ["## Variants of the figure, fitted on one untrained tier and tested on the other", "",
             "A: the current figure. B: pseudo-count shrinkage to p, (sum w a + c p) / (sum w + c), "
             "w = max(s, 0)^gamma over the top k measured tasks. C: shrink by coverage, p + t (A - p), "
             "t = clip((score - s0) / (1 - s0), 0, 1). D: plain shrink p + beta (A - p) (a control: C without the "
             "coverage score). p: the fitting tier's mean measured score. Parameters: least squares on the fitting "
             "tier, by grid search; nothing from the test tier. MAE - constant: the bootstrap 95% interval (over "
             "test tasks, parameters fixed) of the MAE difference to the constant p; wholly below 0 = reliably "
             "better than the constant.", ""]
    directions = {d: g for d, g in variants["directions"].items() if g["test"]}
    for direction, g in directions.items():
        test = g["test"]
        lines += [f"### {direction}, tested on {test}", "",
                  "| variant | p | parameters | MAE | RMSE | Spearman | mean predicted | mean measured | "
                  "MAE - constant (95% CI) |", "|---|---|---|---|---|---|---|---|---|"]
        lines += [f"| {v} | {r['p']} | {params(r)} | {r[test]['mae']} | {r[test]['rmse']} | "
                  f"{_or_dash(r[test]['spearman'])} | {r[test]['mean_predicted']} | "
                  f"{r[test]['mean_measured']} | {_interval(r[test]['mae_minus_constant_ci95'])} |"
                  for v, r in g["variants"].items()]
        shown = [v for v in g["variants"] if v != constant_name]
        lines += ["", "Calibration (tasks: mean predicted / mean measured) per bin of the prediction:", "",
                  "| bin | " + " | ".join(shown) + " |", "|---|" + "---|" * len(shown)]
        for i, b in enumerate(g["variants"][shown[0]][test]["calibration"]):
            cells = [g["variants"][v][test]["calibration"][i] for v in shown]
            lines.append(f"| {b['bin']} | " + " | ".join(
                f"{c['n']}: {c['mean_expected']} / {c['mean_measured']}" if c["n"] else "-" for c in cells) + " |")
        lines.append("")
    both = variants["directions"]["fit on both"]
    lines += ["### The trained tier (seen_ops_new_descriptions), parameters fitted on both untrained tiers", "",
              "Leave-one-out: a task's own accuracy.json entry is not among its neighbours (a sanity check that the "
              "figure tracks trained tasks from their neighbours). In-sample: it is (what the server shows for a "
              "trained task; its scores ARE accuracy.json, so not a test).", "",
              "| variant | p | parameters | MAE LOO | Spearman LOO | mean predicted LOO | MAE in-sample | "
              "Spearman in-sample | mean predicted in-sample | mean measured |", "|" + "---|" * 10]
    for v, r in both["variants"].items():
        loo, ins = r[LOO], r[IN]
        lines.append(f"| {v} | {r['p']} | {params(r)} | {loo['mae']} | {_or_dash(loo['spearman'])} | "
                     f"{loo['mean_predicted']} | {ins['mae']} | {_or_dash(ins['spearman'])} | "
                     f"{ins['mean_predicted']} | {loo['mean_measured']} |")
    lines += ["", "### Summary over the two held-out directions", "",
              "| variant | MAE (" + ", ".join(g["test"] for g in directions.values()) + ") | beats A on MAE in both | "
              "beats the constant on MAE in both | reliably (95% CI below 0) in both |", "|---|---|---|---|---|"]
    for v in both["variants"]:
        rows = [(g["variants"][v][g["test"]], g["variants"]["A current"][g["test"]], g["variants"][constant_name][
            g["test"]]) for g in directions.values()]
        yes = lambda ok: "yes" if all(ok) else "no"  # noqa: E731
        lines.append(f"| {v} | {', '.join(str(r['mae']) for r, _, _ in rows)} | "
                     f"{yes(r['mae'] < a['mae'] for r, a, _ in rows)} | {yes(r['mae'] < c['mae'] for r, _, c in rows)}"
                     f" | {yes(r['mae_minus_constant_ci95'][1] < 0 for r, _, _ in rows)} |")
    return lines + [""]


def plot_calibration(ax, variants: dict[str, Any], direction: str, where: str, title: str) -> None:
    """Binned mean predicted (x) vs mean measured (y) of every variant of one direction on one tier."""
    for v, row in variants["directions"][direction]["variants"].items():
        s = row[where]
        pts = [(b["mean_expected"], b["mean_measured"]) for b in s["calibration"] if b["n"]]
        ax.plot(*zip(*pts), "-o", ms=4, label=f"{v} (MAE {s['mae']})")
    ax.plot([0, 100], [0, 100], color="grey", linewidth=1, label="y = x")
    ax.set(xlim=(-2, 82), ylim=(-4, 104), xlabel="predicted, binned mean (%)",
           ylabel="measured, binned mean (%); bins as in the tables, some of 1 task")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
