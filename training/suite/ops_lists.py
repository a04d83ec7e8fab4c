"""Operations on short comma-separated lists of numbers ("4, 9, 2, 7") and of words ("cat, apple, river").

Pools (generated with fixed seeds, every item distinct):
    list.num    400 lists of 3-6 whole numbers from 1..20 (about a third with a repeated number, about a fifth
                already sorted), written "4, 9, 2, 7"
    list.word   300 lists of 3-5 distinct common English nouns, written "cat, apple, river"

Sources and licences
    python    the inputs are generated here from a hand-written list of common nouns, and every answer is computed
              with the standard library; no package, no data file.

Descriptions: training/suite/descriptions/lists.txt (format and `make_op` in training/suite/text.py).
"""

from __future__ import annotations

import random
from typing import Callable

from training.suite.core import Pool, Registry
from training.suite.ops_numbers import yes_no
from training.suite.text import descriptions, make_op

NUM_POOL = "list.num"
WORD_POOL = "list.word"
SEP = ", "
DESCRIPTIONS = "lists.txt"

NOUNS = tuple("""
cat dog apple river bread chair lamp horse table window garden pencil orange tiger cloud stone bottle rabbit
ship train clock candle mirror bridge forest island kettle ladder lemon mouse onion pillow rocket spoon tomato
violin wagon zebra anchor basket button carpet dragon eagle feather guitar hammer jacket kitten lizard magnet
needle ocean parrot puzzle quilt shadow ticket umbrella village whistle yacht ant bee egg owl fox sun key cup
""".split())


def _fmt(xs) -> str:
    return SEP.join(str(x) for x in xs)


def _parse_nums(x: str) -> list[int]:
    return [int(t) for t in x.split(SEP)]


def _parse_words(x: str) -> list[str]:
    return x.split(SEP)


def num_list_pool() -> Pool:
    rng = random.Random("t2l-suite:list.num")
    seen: dict[str, None] = {}
    while len(seen) < 400:
        n = rng.randint(3, 6)
        xs = [rng.randint(1, 20) for _ in range(n)]
        r = rng.random()
        if r < 0.3:  # force a repeat
            xs[rng.randrange(n)] = xs[rng.randrange(n)]
        elif r < 0.5:
            xs.sort()
        seen.setdefault(_fmt(xs))
    return Pool(NUM_POOL, tuple(seen))


def word_list_pool() -> Pool:
    rng = random.Random("t2l-suite:list.word")
    seen: dict[str, None] = {}
    while len(seen) < 300:
        seen.setdefault(_fmt(rng.sample(NOUNS, rng.randint(3, 5))))
    return Pool(WORD_POOL, tuple(seen))


def _unique_extreme(xs: list, key, pick) -> object | None:
    """The element with the max/min key, or None when several share it."""
    best = pick(key(x) for x in xs)
    hits = [x for x in xs if key(x) == best]
    return hits[0] if len(hits) == 1 else None


def _second_largest(xs: list[int]) -> int | None:
    distinct = sorted(set(xs), reverse=True)
    return distinct[1] if len(distinct) >= 2 else None


def _has_dup(xs: list) -> bool:
    return len(set(xs)) < len(xs)


NUM_ANSWERS: dict[str, Callable[[list[int]], object]] = {
    "sort_asc": lambda xs: _fmt(sorted(xs)),
    "sort_desc": lambda xs: _fmt(sorted(xs, reverse=True)),
    "max": max,
    "min": min,
    "sum": sum,
    "count": len,
    "first": lambda xs: xs[0],
    "last": lambda xs: xs[-1],
    "second": lambda xs: xs[1],
    "reverse": lambda xs: _fmt(xs[::-1]),
    "dedupe": lambda xs: _fmt(dict.fromkeys(xs)) if _has_dup(xs) else None,
    "product_first_two": lambda xs: xs[0] * xs[1],
    "range": lambda xs: max(xs) - min(xs),
    "join": lambda xs: "".join(map(str, xs)),
    "middle": lambda xs: xs[len(xs) // 2] if len(xs) % 2 else None,
    "count_even": lambda xs: sum(1 for x in xs if x % 2 == 0),
    "is_sorted": lambda xs: yes_no(xs == sorted(xs)),
    "drop_first": lambda xs: _fmt(xs[1:]),
    "drop_last": lambda xs: _fmt(xs[:-1]),
    "second_largest": _second_largest,
    "position_of_max": lambda xs: xs.index(max(xs)) + 1 if xs.count(max(xs)) == 1 else None,
    "first_and_last": lambda xs: _fmt([xs[0], xs[-1]]),
    "double_each": lambda xs: _fmt(2 * x for x in xs),
    "evens": lambda xs: _fmt(x for x in xs if x % 2 == 0) if any(x % 2 == 0 for x in xs) else None,
    "has_duplicates": lambda xs: yes_no(_has_dup(xs)),
}

WORD_ANSWERS: dict[str, Callable[[list[str]], object]] = {
    "sort_alpha": lambda ws: _fmt(sorted(ws)),
    "longest": lambda ws: _unique_extreme(ws, len, max),
    "shortest": lambda ws: _unique_extreme(ws, len, min),
    "first": lambda ws: ws[0],
    "last": lambda ws: ws[-1],
    "count": len,
    "reverse": lambda ws: _fmt(ws[::-1]),
    "join_and": lambda ws: SEP.join(ws[:-1]) + " and " + ws[-1],
    "initials": lambda ws: "".join(w[0] for w in ws),
    "alpha_first": lambda ws: min(ws),
    "capitalise": lambda ws: _fmt(w.capitalize() for w in ws),
    "count_vowel_start": lambda ws: sum(1 for w in ws if w[0] in "aeiou"),
}


def _num(fn: Callable[[list[int]], object]) -> Callable[[str], str | None]:
    def answer(x: str) -> str | None:
        out = fn(_parse_nums(x))
        return None if out is None else str(out)
    return answer


def _word(fn: Callable[[list[str]], object]) -> Callable[[str], str | None]:
    def answer(x: str) -> str | None:
        out = fn(_parse_words(x))
        return None if out is None else str(out)
    return answer


def register(reg: Registry) -> None:
    reg.add_pool(num_list_pool())
    reg.add_pool(word_list_pool())
    specs = descriptions(DESCRIPTIONS, [*(f"list.num_{key}" for key in NUM_ANSWERS),
                                        *(f"list.word_{key}" for key in WORD_ANSWERS)])
    for key, fn in NUM_ANSWERS.items():
        reg.ops.append(make_op(f"list.num_{key}", NUM_POOL, _num(fn), specs[f"list.num_{key}"]))
    for key, fn in WORD_ANSWERS.items():
        reg.ops.append(make_op(f"list.word_{key}", WORD_POOL, _word(fn), specs[f"list.word_{key}"]))
