"""Operations on short simple sentences ("Anna painted the red chair in the garden.").

Pool "sentence": 400 distinct sentences generated with a fixed seed from one template family,
    [Did|Does] NAME VERB [the COLOUR|the] OBJECT PREP PLACE [.|!|?]
statements in the past or present tense (some ending with "!"), and yes/no questions with "Did" / "Does". Because
the generator knows every slot, ops can ask for the person, the verb (base form), the object, the colour, the place,
the tense or the kind of sentence, besides surface ops (word count, first/last/longest word, reversed word order,
acronym, capitalised words).

Sources and licences
    python    the word lists (names, verbs with their forms, colours, objects with plurals, places) are written
              here by hand, the sentences are generated here and every answer is computed here; no package.

Descriptions: training/suite/descriptions/sentences.txt (format and `make_op` in training/suite/text.py).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

from training.suite.core import Pool, Registry
from training.suite.text import descriptions, make_op

POOL = "sentence"
N_ITEMS = 400
DESCRIPTIONS = "sentences.txt"

NAMES = ("Anna", "Tom", "Maria", "Ben", "Lucy", "Sam", "Nora", "Jack", "Emma", "Leo", "Mia", "Omar", "Zoe", "Paul",
         "Ivy", "Max")
# base, past, third person singular
VERBS = (("paint", "painted", "paints"), ("clean", "cleaned", "cleans"), ("find", "found", "finds"),
         ("buy", "bought", "buys"), ("carry", "carried", "carries"), ("wash", "washed", "washes"),
         ("fix", "fixed", "fixes"), ("sell", "sold", "sells"), ("draw", "drew", "draws"),
         ("open", "opened", "opens"), ("hide", "hid", "hides"), ("lose", "lost", "loses"))
COLOURS = ("red", "blue", "green", "yellow", "black", "white", "brown", "pink")
OBJECTS = (("chair", "chairs"), ("box", "boxes"), ("kite", "kites"), ("bike", "bikes"), ("lamp", "lamps"),
           ("basket", "baskets"), ("glass", "glasses"), ("cup", "cups"), ("boat", "boats"), ("hat", "hats"),
           ("dish", "dishes"), ("table", "tables"), ("brush", "brushes"), ("key", "keys"))
PREPOSITIONS = ("in", "near", "behind")
PLACES = ("garden", "kitchen", "park", "school", "market", "station", "library", "yard")
CITIES = ("Paris", "London", "Rome", "Tokyo", "Berlin", "Madrid")


@dataclass(frozen=True)
class Parts:
    name: str
    verb: str  # base form
    tense: str  # "past" | "present"
    colour: str | None
    obj: str
    plural: str
    prep: str
    place: str
    kind: str  # "statement" | "question" | "exclamation"


def _render(p: Parts) -> str:
    base, past, third = next(v for v in VERBS if v[0] == p.verb)
    np = f"the {p.colour} {p.obj}" if p.colour else f"the {p.obj}"
    where = f"{p.prep} {p.place}" if p.place in CITIES else f"{p.prep} the {p.place}"
    if p.kind == "question":
        aux = "Did" if p.tense == "past" else "Does"
        return f"{aux} {p.name} {base} {np} {where}?"
    verb = past if p.tense == "past" else third
    return f"{p.name} {verb} {np} {where}" + ("!" if p.kind == "exclamation" else ".")


def sentence_parts() -> dict[str, Parts]:
    """Sentence -> its slots, N_ITEMS distinct sentences in a fixed order."""
    rng = random.Random("t2l-suite:sentence")
    out: dict[str, Parts] = {}
    while len(out) < N_ITEMS:
        obj, plural = rng.choice(OBJECTS)
        r = rng.random()
        kind = "question" if r < 0.25 else "exclamation" if r < 0.4 else "statement"
        p = Parts(name=rng.choice(NAMES), verb=rng.choice(VERBS)[0],
                  tense="past" if rng.random() < 0.6 else "present",
                  colour=rng.choice(COLOURS) if rng.random() < 0.8 else None, obj=obj, plural=plural,
                  prep=rng.choice(PREPOSITIONS),
                  place=rng.choice(CITIES) if rng.random() < 0.25 else rng.choice(PLACES), kind=kind)
        out.setdefault(_render(p), p)
    return out


def _words(s: str) -> list[str]:
    return s[:-1].split()  # every sentence ends with exactly one punctuation mark


def _longest(ws: list[str]) -> str | None:
    best = max(map(len, ws))
    hits = [w for w in ws if len(w) == best]
    return hits[0] if len(hits) == 1 else None


SURFACE: dict[str, Callable[[str], object]] = {
    "word_count": lambda s: len(_words(s)),
    "first_word": lambda s: _words(s)[0],
    "last_word": lambda s: _words(s)[-1],
    "second_word": lambda s: _words(s)[1],
    "longest_word": lambda s: _longest(_words(s)),
    "reverse_words": lambda s: " ".join(_words(s)[::-1]),
    "acronym": lambda s: "".join(w[0].upper() for w in _words(s)),
    "capital_count": lambda s: sum(1 for w in _words(s) if w[0].isupper()),
}
SLOTS: dict[str, Callable[[Parts], object]] = {
    "person": lambda p: p.name,
    "verb": lambda p: p.verb,
    "object": lambda p: p.obj,
    "object_plural": lambda p: p.plural,
    "colour": lambda p: p.colour,
    "place": lambda p: p.place,
    "preposition": lambda p: p.prep,
    "tense": lambda p: p.tense,
    "kind": lambda p: p.kind,
}


def register(reg: Registry) -> None:
    parts = sentence_parts()
    reg.add_pool(Pool(POOL, tuple(parts)))

    def surface(fn):
        return lambda s: None if (out := fn(s)) is None else str(out)

    def slot(fn):
        return lambda s: None if s not in parts or (out := fn(parts[s])) is None else str(out)

    answers = {**{key: surface(fn) for key, fn in SURFACE.items()}, **{key: slot(fn) for key, fn in SLOTS.items()}}
    specs = descriptions(DESCRIPTIONS, [f"sentence.{key}" for key in answers])
    for key, fn in answers.items():
        reg.ops.append(make_op(f"sentence.{key}", POOL, fn, specs[f"sentence.{key}"]))
