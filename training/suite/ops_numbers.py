"""Operations on a bare whole number ("17" -> "34", "seventeen", "odd", "XVII", "8", "yes", ...).

Pool "number": 1..100 plus 300 numbers drawn from 101..999 with a fixed seed (400 inputs, written in digits).

Sources and licences
    python    every answer is computed here with the standard library (number words, ordinals and Roman numerals
              are written out below, following the conventions of num2words' English output: "one hundred and
              seventeen", "twenty-one"); no third-party package, no data file.

Descriptions: training/suite/descriptions/numbers.txt (format and `make_op` in training/suite/text.py).
"""

from __future__ import annotations

import random
from typing import Callable

from training.suite.core import Pool, Registry
from training.suite.text import descriptions, make_op

POOL = "number"
DESCRIPTIONS = "numbers.txt"


# ---- number words (num2words-style English), ordinals, Roman numerals -------------------------------------------
_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
         "seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_ORDINAL_IRREGULAR = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
                      "nine": "ninth", "twelve": "twelfth"}


def number_words(n: int) -> str:
    """0..999 in English words: 21 -> "twenty-one", 117 -> "one hundred and seventeen"."""
    if not 0 <= n <= 999:
        raise ValueError(n)
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + (f"-{_ONES[ones]}" if ones else "")
    hundreds, rest = divmod(n, 100)
    return f"{_ONES[hundreds]} hundred" + (f" and {number_words(rest)}" if rest else "")


def ordinal_words(n: int) -> str:
    """17 -> "seventeenth", 21 -> "twenty-first", 100 -> "one hundredth"."""
    words = number_words(n)
    head, sep, last = max(words.rpartition(" "), words.rpartition("-"), key=lambda p: len(p[0]))
    if last in _ORDINAL_IRREGULAR:
        last = _ORDINAL_IRREGULAR[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return head + sep + last


def ordinal_suffix(n: int) -> str:
    """17 -> "17th", 22 -> "22nd", 113 -> "113th"."""
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def roman(n: int) -> str:
    """1..3999 -> Roman numeral: 14 -> "XIV"."""
    out = []
    for value, sym in ((1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"), (50, "L"),
                       (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")):
        count, n = divmod(n, value)
        out.append(sym * count)
    return "".join(out)


def is_prime(n: int) -> bool:
    return n >= 2 and all(n % d for d in range(2, int(n ** 0.5) + 1))


def yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def number_pool() -> Pool:
    rng = random.Random("t2l-suite:number")
    items = list(range(1, 101)) + sorted(rng.sample(range(101, 1000), 300))
    return Pool(POOL, tuple(str(n) for n in items))


def _int(fn: Callable[[int], object]) -> Callable[[str], str | None]:
    def answer(x: str) -> str | None:
        out = fn(int(x))
        return None if out is None else str(out)
    return answer


def _digits(n: int) -> list[int]:
    return [int(c) for c in str(n)]


def _smallest_factor(n: int) -> int | None:
    if n < 2:
        return None
    return next(d for d in range(2, n + 1) if n % d == 0)


def _product(ds: list[int]) -> int:
    out = 1
    for d in ds:
        out *= d
    return out


ANSWERS: dict[str, Callable[[int], object]] = {
    "double": lambda n: 2 * n,
    "half": lambda n: n // 2 if n % 2 == 0 else None,
    "add_one": lambda n: n + 1,
    "subtract_one": lambda n: n - 1,
    "square": lambda n: n * n if n <= 50 else None,
    "digit_sum": lambda n: sum(_digits(n)),
    "num_digits": lambda n: len(str(n)),
    "last_digit": lambda n: n % 10,
    "first_digit": lambda n: str(n)[0],
    "reverse_digits": lambda n: str(n)[::-1] if n >= 10 and n % 10 else None,
    "parity": lambda n: "even" if n % 2 == 0 else "odd",
    "is_prime": lambda n: yes_no(is_prime(n)),
    "divisible_by_three": lambda n: yes_no(n % 3 == 0),
    "in_words": number_words,
    "ordinal_words": ordinal_words,
    "ordinal_suffix": ordinal_suffix,
    "roman": roman,
    "round_ten": lambda n: (n + 5) // 10 * 10,
    "binary": lambda n: format(n, "b"),
    "hexadecimal": lambda n: format(n, "X"),
    "is_square": lambda n: yes_no(round(n ** 0.5) ** 2 == n),
    "is_palindrome": lambda n: yes_no(str(n) == str(n)[::-1]) if n >= 10 else None,
    "tens_digit": lambda n: (n // 10) % 10 if n >= 10 else None,
    "digit_product": lambda n: _product(_digits(n)) if n >= 10 else None,
    "smallest_factor": _smallest_factor,
    "negative": lambda n: -n,
    "largest_digit": lambda n: max(_digits(n)) if n >= 10 else None,
    "sort_digits": lambda n: "".join(sorted(str(n))) if n >= 10 else None,
    "repeat": lambda n: f"{n}{n}",
    "spaced_digits": lambda n: " ".join(str(n)) if n >= 10 else None,
    "pad_three": lambda n: f"{n:03d}" if n < 100 else None,
}


def register(reg: Registry) -> None:
    reg.add_pool(number_pool())
    specs = descriptions(DESCRIPTIONS, [f"number.{key}" for key in ANSWERS])
    for key, fn in ANSWERS.items():
        reg.ops.append(make_op(f"number.{key}", POOL, _int(fn), specs[f"number.{key}"]))
