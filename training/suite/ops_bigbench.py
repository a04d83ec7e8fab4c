"""Format-control operations on BIG-bench multiple-choice items ("<question>\\nA) ...\\nB) ...").

The same item gets different answers under different descriptions: the correct option's letter, its text, its
number, "yes"/"no" for "is A correct", the number of options, the text of the first option, ...

Pool "mc": up to MAX_ITEMS items from the multiple-choice tasks of the committed split's TRAINING part
(training/splits/default.json), taken in task-name order, at most PER_TASK per task, each with 2-5 distinct
short options (<= MAX_CHOICE_CHARS characters), exactly one best-scoring option, an ASCII question of
MIN..MAX_QUESTION_CHARS characters; families about social bias or self-harm (EXCLUDED_FAMILIES) are left out. The
question is the task's own input with BIG-bench's appended "choice:" lines cut off; the options keep the cache's
seeded order. Everything is read from the local BIG-bench cache (training.bigbench_source) at register time and
kept in memory only: nothing is written to disk and nothing is downloaded (a missing cache is an error).

Sources and licences
    bigbench 1.0.0 (Apache-2.0): the questions and options of the pool "mc" and the correct option that every op
              here uses; not redistributed, only read from the local cache.
    python    the rendering and every answer (letter, text, number, ...) are computed here.

Descriptions: training/suite/descriptions/bigbench.txt (format and `make_op` in training/suite/text.py).
"""

from __future__ import annotations

from typing import Callable

from ground.assets import t2l_home
from training.bigbench_source import SDIST_SHA256, BigBenchError, cache_is_current, read_index, read_task_record
from training.suite.core import Pool, Registry
from training.suite.ops_numbers import yes_no
from training.suite.text import descriptions, make_op
from training.tasks import TaskConfig, load_split

POOL = "mc"
DESCRIPTIONS = "bigbench.txt"
SOURCE = "bigbench==1.0.0 (Apache-2.0)"
MAX_ITEMS = 300
PER_TASK = 6
MAX_CHOICE_CHARS = 40
MIN_QUESTION_CHARS, MAX_QUESTION_CHARS = 10, 220
CHOICE_MARK = "\n  choice: "
LETTERS = "ABCDE"
EXCLUDED_FAMILIES = frozenset({"bbq_lite_json", "hhh_alignment", "suicide_risk"})


def render(question: str, choices) -> str:
    return question + "".join(f"\n{LETTERS[i]}) {c}" for i, c in enumerate(choices))


def _item(example: dict) -> tuple[str, tuple[str, ...], int] | None:
    """(question, choices, index of the correct choice) of a cached example, or None when it does not qualify."""
    choices, scores = example.get("choices") or [], example.get("scores") or []
    if not 2 <= len(choices) <= 5 or len(scores) != len(choices) or len(set(choices)) != len(choices):
        return None
    if any(not c or len(c) > MAX_CHOICE_CHARS or "\n" in c or not c.isascii() for c in choices):
        return None
    best = max(scores)
    if best <= 0 or scores.count(best) != 1:
        return None
    text = example["input"]
    cut = text.find(CHOICE_MARK)
    question = " ".join(text[:cut].split()) if cut >= 0 else ""
    if not MIN_QUESTION_CHARS <= len(question) <= MAX_QUESTION_CHARS or not question.isascii():
        return None
    return question, tuple(choices), scores.index(best)


def load_items(max_items: int = MAX_ITEMS, per_task: int = PER_TASK) -> dict[str, tuple[tuple[str, ...], int]]:
    """Rendered item -> (choices, correct index), in a deterministic order; needs the local BIG-bench cache."""
    cache_dir = t2l_home() / "data" / "bigbench"
    if not cache_is_current(cache_dir, TaskConfig().source_params(), SDIST_SHA256):
        raise BigBenchError(f"no current BIG-bench cache at {cache_dir}: build it with training.tasks.prepare_bigbench()"
                            " (the suite's 'mc' pool never downloads)")
    tasks = read_index(cache_dir)["tasks"]
    names = sorted(n for n in load_split("default").train
                   if tasks[n]["kind"] == "multiple_choice" and tasks[n]["family"] not in EXCLUDED_FAMILIES)
    items: dict[str, tuple[tuple[str, ...], int]] = {}
    for name in names:
        taken = 0
        for example in read_task_record(cache_dir, name)["examples"]:
            got = _item(example)
            if got is None:
                continue
            text = render(got[0], got[1])
            if text in items:
                continue
            items[text] = (got[1], got[2])
            taken += 1
            if taken == per_task or len(items) == max_items:
                break
        if len(items) == max_items:
            break
    return items


def _longest(choices: tuple[str, ...]) -> str | None:
    best = max(map(len, choices))
    hits = [c for c in choices if len(c) == best]
    return hits[0] if len(hits) == 1 else None


def _first_wrong(choices: tuple[str, ...], k: int) -> str:
    return LETTERS[1 if k == 0 else 0]


ANSWERS: dict[str, Callable[[tuple[str, ...], int], object]] = {
    "letter": lambda cs, k: LETTERS[k],
    "letter_lower": lambda cs, k: LETTERS[k].lower(),
    "letter_paren": lambda cs, k: f"({LETTERS[k]})",
    "text": lambda cs, k: cs[k],
    "text_upper": lambda cs, k: cs[k].upper() if cs[k].upper() != cs[k] else None,
    "number": lambda cs, k: k + 1,
    "line": lambda cs, k: f"{LETTERS[k]}) {cs[k]}",
    "is_a": lambda cs, k: yes_no(k == 0),
    "first_wrong": _first_wrong,
    "count_options": lambda cs, k: len(cs),
    "first_option": lambda cs, k: cs[0],
    "last_option": lambda cs, k: cs[-1],
    "last_letter": lambda cs, k: LETTERS[len(cs) - 1],
    "longest_option": lambda cs, k: _longest(cs),
}


def _answer(items: dict[str, tuple[tuple[str, ...], int]], fn) -> Callable[[str], str | None]:
    def answer(x: str) -> str | None:
        if x not in items:
            return None
        out = fn(*items[x])
        return None if out is None else str(out)
    return answer


def register(reg: Registry) -> None:
    """Needs the local BIG-bench cache (raises training.bigbench_source.BigBenchError without it)."""
    items = load_items()
    reg.add_pool(Pool(POOL, tuple(items), source=SOURCE))
    specs = descriptions(DESCRIPTIONS, [f"mc.{key}" for key in ANSWERS])
    for key, fn in ANSWERS.items():
        reg.ops.append(make_op(f"mc.{key}", POOL, _answer(items, fn), specs[f"mc.{key}"], source=SOURCE))
