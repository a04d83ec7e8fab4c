"""A description-necessary task suite: the same input, different answers under different descriptions.

Why (issue #12, ../shared/RESEARCH.md): in BIG-bench the input itself says what to do, so an SFT hypernet can ignore
its description and still fit every task with one shared adapter. Here the model sees only a bare input ("apple",
"17", "3, 8, 1", a sentence, a multiple-choice item) and must read the description (through the generated adapter)
to know whether to pluralise it, count its letters, sort it, or answer with an option's letter.

Pieces (all pure, no I/O at import time):
    Pool    a named, deterministic list of inputs of one kind; every input is in the train or eval half by a hash
            of its text, so no evaluation input is ever trained on.
    Op      an operation over one pool: answer(x) -> str | None (None = not defined for x), at least 12 training
            descriptions and at least 3 evaluation-only descriptions written separately (never a training
            description with another field filled in), optional short clauses for composition with formats.
    Format  an output format applied to an op's answer (quotes, brackets, capitals, ...), with its own clauses.
A (op, format) pair is a combination; its descriptions join an op clause and a format clause.
`training.suite.build` turns ops, formats and the committed split into `training.tasks.Task` objects.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Callable, Sequence

MIN_TRAIN_DESCRIPTIONS = 12
MIN_EVAL_DESCRIPTIONS = 3
EVAL_SHARE = 0.25  # share of every pool's inputs kept for evaluation (by hash of the text)


def in_eval_half(pool: str, text: str, share: float = EVAL_SHARE) -> bool:
    """Whether an input belongs to the evaluation half of its pool: a pure function of (pool, text)."""
    digest = hashlib.sha256(f"{pool}\x00{text}".encode()).digest()
    return int.from_bytes(digest[:8], "little") / 2**64 < share


@dataclass(frozen=True)
class Pool:
    """Inputs of one kind; `items` are the exact strings the model sees as the user's message."""

    name: str
    items: tuple[str, ...]
    source: str = "python"  # where the inputs come from (package + licence, or "python" for generated ones)

    def half(self, part: str) -> tuple[str, ...]:
        """The "train" or "eval" half (disjoint, by hash; see in_eval_half)."""
        if part not in ("train", "eval"):
            raise ValueError(f"part must be 'train' or 'eval', got {part!r}")
        return tuple(x for x in self.items if in_eval_half(self.name, x) == (part == "eval"))


@dataclass(frozen=True)
class Op:
    """One operation over one pool's inputs."""

    name: str  # unique, "<group>.<what>", e.g. "word.plural"
    pool: str  # Pool.name of its inputs
    answer: Callable[[str], str | None]  # the known answer for an input, or None where undefined
    train: tuple[str, ...]  # >= 12 natural training descriptions (vary wording, length, register)
    eval: tuple[str, ...]  # >= 3 evaluation-only descriptions, written separately from `train`
    clauses: tuple[str, ...] = ()  # short imperative clauses ("give the plural of the word") for combinations
    eval_clauses: tuple[str, ...] = ()  # evaluation-only clauses
    source: str = "python"  # where the answer comes from (package + licence, or "python")

    @property
    def group(self) -> str:
        return self.name.split(".", 1)[0]


@dataclass(frozen=True)
class Format:
    """An output format: apply(answer) -> formatted answer, with clauses to join after an op clause."""

    name: str  # e.g. "brackets"
    apply: Callable[[str], str]
    clauses: tuple[str, ...]  # >= 4 training clauses ("and put it in square brackets")
    eval_clauses: tuple[str, ...]  # >= 2 evaluation-only clauses


def check_ops(ops: Sequence[Op], pools: dict[str, Pool], min_examples: int = 8) -> list[str]:
    """Problems with a set of ops (empty list = fine): unknown pools, too few descriptions, duplicates,
    descriptions shared between ops or between the train and eval sets, ops with too few defined answers,
    and ops whose answers equal the input everywhere (they would not need the description)."""
    problems, seen_names, owner = [], set(), {}
    for op in ops:
        if op.name in seen_names:
            problems.append(f"{op.name}: duplicate name")
        seen_names.add(op.name)
        if op.pool not in pools:
            problems.append(f"{op.name}: unknown pool {op.pool!r}")
            continue
        if len(set(op.train)) < MIN_TRAIN_DESCRIPTIONS:
            problems.append(f"{op.name}: {len(set(op.train))} distinct training descriptions (< 12)")
        if len(set(op.eval)) < MIN_EVAL_DESCRIPTIONS:
            problems.append(f"{op.name}: {len(set(op.eval))} distinct eval descriptions (< 3)")
        if set(op.train) & set(op.eval):
            problems.append(f"{op.name}: a description is both train and eval")
        if bool(op.clauses) != bool(op.eval_clauses):
            problems.append(f"{op.name}: clauses need both training and eval clauses")
        for text in (*op.train, *op.eval, *op.clauses, *op.eval_clauses):
            if owner.setdefault(text, op.name) != op.name:
                problems.append(f"{op.name}: description {text!r} also belongs to {owner[text]}")
        answers = {x: op.answer(x) for x in pools[op.pool].items}
        defined = {x: a for x, a in answers.items() if a is not None}
        for part in ("train", "eval"):
            n = sum(1 for x in pools[op.pool].half(part) if x in defined)
            if n < (min_examples if part == "eval" else 2 * min_examples):
                problems.append(f"{op.name}: only {n} {part} inputs with an answer")
        if defined and all(a == x for x, a in defined.items()):
            problems.append(f"{op.name}: the answer is always the input")
    return problems


@dataclass
class Registry:
    """What the op modules contribute: pools, ops and formats (plain lists; built by functions, not at import)."""

    pools: dict[str, Pool] = field(default_factory=dict)
    ops: list[Op] = field(default_factory=list)
    formats: list[Format] = field(default_factory=list)

    def add_pool(self, pool: Pool) -> None:
        if pool.name in self.pools and self.pools[pool.name] != pool:
            raise ValueError(f"pool {pool.name!r} defined twice differently")
        self.pools[pool.name] = pool
