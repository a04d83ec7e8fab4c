"""Grouped, contrastive draws: every step holds K inputs, each under M tasks whose answers differ.

With one sample per task (training.data.FamilySampler) a hypernet can lower the loss with one shared adapter
that ignores the description, because each input already says what to do. Here a step draws an input (say
"mouse") and M tasks that all accept it but answer differently ("mice", "5", "m", "MOUSE"): the only way to
lower the loss on all M rows is to read each row's description. Draw i depends only on (seed, step, rank), so
resumed runs and DDP ranks draw what they should. A share of each step can come from a second sampler (the
BIG-bench tasks, drawn family-balanced) so the model keeps its ordinary skills.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from training.tasks import Example, Task


def input_key(task: Task, example: Example) -> tuple[str, str]:
    """Inputs are shared within a pool: the family minus a "+fmt" suffix, plus the input text."""
    return task.family.removesuffix("+fmt"), example.input


class GroupedSampler:
    """Draws of (task, training description, example), K inputs x M tasks per step (plus `other` draws)."""

    def __init__(self, tasks: Sequence[Task], inputs_per_step: int = 4, tasks_per_input: int = 4, seed: int = 0,
                 other=None, other_share: float = 0.0) -> None:
        if inputs_per_step < 1 or tasks_per_input < 2:
            raise ValueError("need inputs_per_step >= 1 and tasks_per_input >= 2")
        if not 0.0 <= other_share < 1.0 or (other_share > 0 and other is None):
            raise ValueError("other_share must be in [0, 1) and needs an `other` sampler")
        rows: dict[tuple[str, str], list[tuple[Task, Example]]] = {}
        for t in sorted(tasks, key=lambda t: t.name):
            if not t.train_descriptions:
                raise ValueError(f"task {t.name} has no training descriptions")
            for e in t.examples:
                rows.setdefault(input_key(t, e), []).append((t, e))
        # an input is usable when at least M of its tasks give pairwise different answers
        usable = {k: v for k, v in rows.items() if len({e.target for _, e in v}) >= tasks_per_input}
        if not usable:
            raise ValueError(f"no input has {tasks_per_input} tasks with different answers")
        self.pools = sorted({k[0] for k in usable})
        self.keys = {p: sorted(k for k in usable if k[0] == p) for p in self.pools}
        self.rows = usable
        self.k, self.m, self.seed = inputs_per_step, tasks_per_input, seed
        self.other, self.other_share = other, other_share

    @property
    def per_step(self) -> int:
        return self.k * self.m + self.n_other

    @property
    def n_other(self) -> int:
        return int(round(self.other_share * self.k * self.m / (1 - self.other_share))) if self.other_share else 0

    def group(self, rng: np.random.Generator) -> list[tuple[Task, str, Example]]:
        """One input (pool uniform, then input uniform) under M tasks with pairwise different answers."""
        pool = self.pools[int(rng.integers(len(self.pools)))]
        key = self.keys[pool][int(rng.integers(len(self.keys[pool])))]
        out, answers = [], set()
        for task, example in self._order(self.rows[key], rng):
            if example.target in answers:
                continue
            answers.add(example.target)
            out.append((task, task.train_descriptions[int(rng.integers(len(task.train_descriptions)))], example))
            if len(out) == self.m:
                break
        return out

    @staticmethod
    def _order(rows: list, rng: np.random.Generator) -> list:
        """The input's (task, example) rows shuffled, plain ops and (op, format) pairs alternating (the one to
        start drawn at random), so the many format pairs do not crowd the plain ops out of a group."""
        plain = [rows[int(i)] for i in rng.permutation(len(rows)) if "+" not in rows[int(i)][0].name]
        combos = [r for r in (rows[int(i)] for i in rng.permutation(len(rows))) if "+" in r[0].name]
        first, second = (plain, combos) if rng.random() < 0.5 else (combos, plain)
        merged = [x for pair in zip(first, second) for x in pair]
        n = min(len(first), len(second))
        return merged + first[n:] + second[n:]

    def draws(self, step: int, count: int | None = None, rank: int = 0, world: int = 1
              ) -> list[tuple[Task, str, Example]]:
        """The draws of optimizer step `step` on `rank`: K groups, then the other sampler's share."""
        rng = np.random.default_rng([self.seed, step, rank, world])
        items = [row for _ in range(self.k) for row in self.group(rng)]
        if self.n_other:
            items += self.other.draws(step, self.n_other, rank, world)
        return items
