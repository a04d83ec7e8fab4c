"""The everyday evaluation set: what people would type into the playground (see README.md next to this file).

Hand-written tasks.json: 25 tasks x 12 inputs, two everyday wordings per task, every acceptable answer per input.
Evaluation only, written before any model result was looked at: never train on it, never tune to it.
`load_everyday()` turns it into `training.tasks.Task` objects the way `training.suite.build` builds its evaluation
tiers: family "everyday", generative, exact match, n_train=0 so both wordings are evaluation descriptions.
"""

from __future__ import annotations

import json
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


__all__ = ["FAMILY", "TASKS_PATH", "load_everyday", "read_everyday"]
