"""The everyday evaluation set: what people would type into the playground (see README.md next to this file).

Hand-written tasks.json: 25 tasks x 12 inputs, two everyday wordings per task, every acceptable answer per input.
Evaluation only, written before any model result was looked at: never train on it, never tune to it.
`load_everyday()` turns it into `training.tasks.Task` objects the way `training.suite.build` builds its evaluation
tiers: family "everyday", generative, exact match, n_train=0 so both wordings are evaluation descriptions.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from training.tasks import Example, Task

TASKS_PATH = Path(__file__).resolve().parent / "tasks.json"
FAMILY = "everyday"
NAME_PREFIX = "everyday:"
SOURCE = "training/everyday/tasks.json (hand-written everyday set, evaluation only)"
N_WORDINGS = 2


def read_everyday(path: Path = TASKS_PATH) -> list[dict]:
    """The raw records of tasks.json: [{"name", "wordings": [2 strings], "examples": [{"input", "targets"}]}]."""
    records = json.loads(Path(path).read_text(encoding="utf-8"))
    names = set()
    for r in records:
        name = r.get("name")
        if not name or name in names:
            raise ValueError(f"{path}: missing or repeated task name {name!r}")
        names.add(name)
        wordings = r.get("wordings") or []
        if len(wordings) != N_WORDINGS or len(set(wordings)) != N_WORDINGS or not all(w.strip() for w in wordings):
            raise ValueError(f"{path}: task {name!r} needs exactly {N_WORDINGS} distinct non-empty wordings")
        for e in r.get("examples") or []:
            if not e.get("input", "").strip() or not e.get("targets") or not all(t.strip() for t in e["targets"]):
                raise ValueError(f"{path}: task {name!r} has an example without input or targets: {e!r}")
        if not r.get("examples"):
            raise ValueError(f"{path}: task {name!r} has no examples")
    return records


def load_everyday(path: Path = TASKS_PATH) -> list[Task]:
    """Every everyday task as a Task ("everyday:<name>"): both wordings are evaluation descriptions (n_train=0),
    scored by exact match of the stripped answer against any stripped target (case-sensitive)."""
    return [Task(name=NAME_PREFIX + r["name"], family=FAMILY, kind="generative", metric="exact_str_match",
                 keywords=(), descriptions=tuple(r["wordings"]),
                 examples=tuple(Example(e["input"], tuple(e["targets"])) for e in r["examples"]),
                 source_description=SOURCE, n_train=0)
            for r in read_everyday(path)]


WORDING_MARK = "#"  # "everyday:plural#2": the task under its second wording alone


def by_wording(tasks: list[Task]) -> list[Task]:
    """Each task once per wording ("<name>#1", "<name>#2"), every one with all of the task's inputs, so both
    wordings are scored on the same inputs (the gap between them is the wording's effect, not the inputs')."""
    return [replace(t, name=f"{t.name}{WORDING_MARK}{i}", descriptions=(wording,))
            for t in tasks for i, wording in enumerate(t.descriptions, 1)]


def wording_gaps(scores: dict[str, float]) -> dict:
    """From {"<name>#k": score} (the by_wording tasks of one method): per wording the mean score, and the mean over
    tasks of the absolute difference between a task's two wordings (issue #21's robustness figure)."""
    per_task: dict[str, dict[int, float]] = {}
    for name, score in scores.items():
        base, _, k = name.rpartition(WORDING_MARK)
        per_task.setdefault(base, {})[int(k)] = score
    pairs = [(w[1], w[2]) for w in per_task.values() if 1 in w and 2 in w]
    if not pairs:
        return {"tasks": 0}
    return {"tasks": len(pairs), "wording_1": sum(a for a, _ in pairs) / len(pairs),
            "wording_2": sum(b for _, b in pairs) / len(pairs),
            "mean_gap": sum(abs(a - b) for a, b in pairs) / len(pairs),
            "max_gap": max(abs(a - b) for a, b in pairs)}


__all__ = ["FAMILY", "TASKS_PATH", "WORDING_MARK", "by_wording", "load_everyday", "read_everyday", "wording_gaps"]
