"""SFT data: (task, description, example) triples -> token ids with completion-only labels -> padded batches.

Format. The base model sees what it sees when served (`/v1/generate`, chat mode): the prompt `ground.prompt` builds
(the one builder training, evaluation and the server share) around one user turn holding the example's input,
then the assistant's answer. The task description reaches the model through the generated adapter (and, for a
`desc_in_prompt` share, also above the input: `ground.prompt.with_description`). Labels are -100 on the prompt and on
padding, so the loss covers exactly the target text plus the end-of-turn token (the tokenizer's EOS; `<|im_end|>`
for SmolLM2).

Truncation. A sequence is at most `max_len` tokens. The completion keeps at most half of that (its start); the
prompt keeps the template's frame and the END of the user's text (`ground.prompt.prompt_ids`). Sampling prefers
examples that fit (`FamilySampler(fits=...)`), so truncation is rare.

Sampling. Draw i is a pure function of (seed, i): family (p ~ n_tasks ** family_power; 0 = uniform over families,
1 = uniform over tasks), then a task of that family, a training description and an example, each uniform. Uniform
over families matters: list_functions and mult_data_wrangling are 64% of the training tasks. Because nothing is
stateful, a resumed run and every DDP rank draw exactly what they should from (seed, step, rank) alone.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from ground.prompt import prompt_ids, token_ids
from training.tasks import Example, Task

IGNORE = -100  # label of a position that carries no loss (prompt, padding)


@dataclass(frozen=True)
class Sample:
    """One tokenised training or evaluation item; `labels` is -100 wherever no loss is taken."""

    task: str
    description: str
    input_ids: tuple[int, ...]
    labels: tuple[int, ...]
    targets: tuple[str, ...] = ()  # every acceptable answer (for exact match)
    prompt_len: int = 0  # tokens before the completion


@dataclass
class Batch:
    """Padded tensors (B, T) plus the per-row description each row's adapter is generated from."""

    input_ids: Tensor
    attention_mask: Tensor
    labels: Tensor
    descriptions: list[str]
    tasks: list[str]

    def to(self, device: torch.device | str) -> "Batch":
        return Batch(self.input_ids.to(device), self.attention_mask.to(device), self.labels.to(device),
                     self.descriptions, self.tasks)

    @property
    def target_tokens(self) -> int:
        """Tokens that carry loss (the next-token targets, i.e. labels[:, 1:] != -100)."""
        return int((self.labels[:, 1:] != IGNORE).sum())


def completion_ids(tokenizer, target: str) -> list[int]:
    """The answer's tokens followed by EOS (the end-of-turn token the served model stops on)."""
    eos = tokenizer.eos_token_id
    if eos is None:
        raise ValueError("the tokenizer has no EOS token; SFT needs one to teach the model where to stop")
    return token_ids(tokenizer, target) + [eos]


def encode(tokenizer, task: str, description: str, example: Example, max_len: int, chat: bool = True) -> Sample:
    """One Sample: prompt ids + completion ids (completion at most max_len // 2), labels only on the completion."""
    if max_len < 4:
        raise ValueError(f"max_len must be at least 4, got {max_len}")
    completion = completion_ids(tokenizer, example.target)[: max_len // 2]
    prompt = prompt_ids(tokenizer, example.input, max_len - len(completion), chat)
    ids = prompt + completion
    labels = [IGNORE] * len(prompt) + completion
    return Sample(task, description, tuple(ids), tuple(labels), example.targets, len(prompt))


def token_length(tokenizer, example: Example, chat: bool = True) -> int:
    """Untruncated length of an example's prompt + completion."""
    return len(prompt_ids(tokenizer, example.input, None, chat)) + len(completion_ids(tokenizer, example.target))


def pad_id(tokenizer) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def collate(samples: Sequence[Sample], pad: int, side: str = "right") -> Batch:
    """Pad to the longest sample. Right padding for training (positions stay 0..n-1); left for generation."""
    if not samples:
        raise ValueError("cannot collate an empty batch")
    width = max(len(s.input_ids) for s in samples)
    ids = torch.full((len(samples), width), pad, dtype=torch.long)
    labels = torch.full((len(samples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(samples), width), dtype=torch.long)
    for row, s in enumerate(samples):
        n = len(s.input_ids)
        cols = slice(0, n) if side == "right" else slice(width - n, width)
        ids[row, cols] = torch.tensor(s.input_ids)
        labels[row, cols] = torch.tensor(s.labels)
        mask[row, cols] = 1
    return Batch(ids, mask, labels, [s.description for s in samples], [s.task for s in samples])


# A micro-batch's fixed cost, in token positions: on SmolLM2-135M with 2 CPU threads one more micro-batch costs about
# what 96 more positions do, mostly because small matmuls run below the peak (640x576x1536 at ~100 GFLOP/s, 2304 rows
# at ~165). 24 and 200 were slower on the same draws.
BATCH_OVERHEAD = 96


def length_buckets(lengths: Sequence[int], max_rows: int, overhead: int = BATCH_OVERHEAD, min_real: float = 0.9
                   ) -> list[list[int]]:
    """Indices into `lengths` grouped into micro-batches of at most `max_rows` rows that minimise the positions
    computed: sum over micro-batches of rows x longest row + `overhead` each. Exact (dynamic programme over the
    length-sorted order, where an optimal grouping is contiguous); O(n x max_rows). When the cheapest grouping
    leaves fewer than `min_real` of its positions real, the overhead is halved until it does not (at overhead 0
    the grouping pads least), so a step always computes mostly real tokens."""
    groups = _cheapest_groups(lengths, max_rows, overhead)
    while overhead > 0 and sum(lengths) < min_real * sum(len(g) * max(lengths[i] for i in g) for g in groups):
        overhead //= 2
        groups = _cheapest_groups(lengths, max_rows, overhead)
    return groups


def _cheapest_groups(lengths: Sequence[int], max_rows: int, overhead: int) -> list[list[int]]:
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    n = len(order)
    best = [0.0] + [math.inf] * n  # best[j]: cost of the shortest j rows
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        width = lengths[order[j - 1]]  # longest of rows i..j-1 (sorted)
        for i in range(max(0, j - max_rows), j):
            cost = best[i] + (j - i) * width + overhead
            if cost < best[j]:
                best[j], cut[j] = cost, i
    groups, j = [], n
    while j > 0:
        groups.append(order[cut[j]:j])
        j = cut[j]
    return groups[::-1]


def make_batches(items, tokenizer, table: "EmbeddingTable", max_len: int, size: int, chat: bool = True,
                 bucket: bool = False) -> list[Batch]:
    """(task, description, example) triples -> right-padded micro-batches of at most `size`; embeds descriptions of
    new tasks. `bucket`: group by length (`length_buckets`) so the step computes few padding positions; the step's
    loss is a sum over all its tokens divided by their count, so the grouping does not change it (the order of the
    rows does change: `batch_rows` tells which items each micro-batch holds)."""
    return [b for b, _ in batch_rows(items, tokenizer, table, max_len, size, chat, bucket)]


def batch_rows(items, tokenizer, table: "EmbeddingTable", max_len: int, size: int, chat: bool = True,
               bucket: bool = True) -> list[tuple[Batch, list[int]]]:
    """make_batches, with the item indices each micro-batch holds (row r of the batch is item rows[r])."""
    for task, _, _ in items:
        table.ensure(task)
    samples = [encode(tokenizer, t.name, d, e, max_len, chat) for t, d, e in items]
    return [(collate([samples[i] for i in rows], pad_id(tokenizer)), rows)
            for rows in sample_groups(samples, size, bucket)]


def sample_groups(samples: Sequence[Sample], size: int, bucket: bool = True, prompt: bool = False
                  ) -> list[list[int]]:
    """Indices of `samples` per micro-batch: length buckets (of the whole sequence, or of the prompt alone for
    generation), or consecutive chunks of `size` without `bucket`."""
    if not bucket:
        return [list(range(i, min(i + size, len(samples)))) for i in range(0, len(samples), size)]
    lengths = [s.prompt_len if prompt else len(s.input_ids) for s in samples]
    return length_buckets(lengths, size)


def prompt_only(sample: Sample) -> Sample:
    """The sample cut before its completion (to generate from)."""
    prompt = sample.input_ids[: sample.prompt_len]
    return Sample(sample.task, sample.description, prompt, prompt, sample.targets, sample.prompt_len)


class FamilySampler:
    """Family-balanced draws of (task, training description, example); draw i depends only on (seed, i)."""

    def __init__(self, tasks: Sequence[Task], seed: int = 0, family_power: float = 0.0,
                 fits: Callable[[Example], bool] | None = None, tries: int = 8) -> None:
        if not tasks:
            raise ValueError("no training tasks")
        empty = [t.name for t in tasks if not t.examples or not t.train_descriptions]
        if empty:
            raise ValueError(f"tasks without examples or descriptions: {empty[:5]}")
        by_family: dict[str, list[Task]] = {}
        for t in sorted(tasks, key=lambda t: t.name):  # sorted: the draw must not depend on the input order
            by_family.setdefault(t.family, []).append(t)
        self.families = sorted(by_family)
        self.by_family = by_family
        weights = np.array([len(by_family[f]) ** family_power for f in self.families], dtype=np.float64)
        self.probs = weights / weights.sum()  # (F,)
        self.seed, self.fits, self.tries = seed, fits, tries

    def draw(self, index: int) -> tuple[Task, str, Example]:
        rng = np.random.default_rng([self.seed, index])
        family = self.families[int(rng.choice(len(self.families), p=self.probs))]
        task = self.by_family[family][int(rng.integers(len(self.by_family[family])))]
        description = task.train_descriptions[int(rng.integers(len(task.train_descriptions)))]
        example = task.examples[int(rng.integers(len(task.examples)))]
        for _ in range(self.tries if self.fits is not None else 0):  # prefer an example that fits untruncated
            if self.fits(example):
                break
            example = task.examples[int(rng.integers(len(task.examples)))]
        return task, description, example

    def draws(self, step: int, count: int, rank: int = 0, world: int = 1) -> list[tuple[Task, str, Example]]:
        """The `count` draws of optimizer step `step` (0-based) on DDP rank `rank` of `world`; disjoint across ranks
        and steps."""
        start = (step * world + rank) * count
        return [self.draw(start + i) for i in range(count)]


def eval_items(tasks: Sequence[Task], per_task: int, seed: int = 0) -> list[tuple[Task, str, Example]]:
    """A fixed evaluation set: `per_task` seeded examples of every task, each with one of the task's
    evaluation-only descriptions in turn; round-robin across tasks so any prefix covers as many tasks as it can."""
    rows: list[list[tuple[Task, str, Example]]] = []
    for t in sorted(tasks, key=lambda t: t.name):
        rng = np.random.default_rng([seed, len(rows)])
        picks = rng.permutation(len(t.examples))[:per_task]
        descriptions = t.eval_descriptions or t.descriptions
        rows.append([(t, descriptions[i % len(descriptions)], t.examples[int(j)]) for i, j in enumerate(picks)])
    return [row[i] for i in range(max((len(r) for r in rows), default=0)) for row in rows if i < len(row)]


def eval_split(task: Task, n_eval: int, seed: int = 0) -> tuple[list[Example], list[Example]]:
    """(evaluation examples, the rest) of a task: the first `n_eval` of a permutation seeded by (seed, task name).
    Everything that trains on a task (oracle LoRAs, the fine-tuning baseline) draws only from the rest, so no
    method is ever scored on an example it was trained on."""
    key = int.from_bytes(hashlib.sha256(task.name.encode()).digest()[:8], "little")
    order = np.random.default_rng([seed, key]).permutation(len(task.examples))
    n = min(n_eval, len(task.examples))
    return [task.examples[int(i)] for i in order[:n]], [task.examples[int(i)] for i in order[n:]]


class EmbeddingTable:
    """Description -> embedding, computed on first use and kept. A task's descriptions are embedded together in one
    encoder call, so every text's embedding is the same whatever batch first asked for it (exact resumes)."""

    def __init__(self, encoder) -> None:
        self.encoder = encoder
        self.rows: dict[str, Tensor] = {}

    def ensure(self, task: Task) -> None:
        if any(d not in self.rows for d in task.descriptions):
            vectors = self.encoder.embed(list(task.descriptions)).float().cpu()  # (n_descriptions, dim)
            self.rows.update(zip(task.descriptions, vectors))

    def embed(self, texts: Sequence[str]) -> Tensor:
        """(len(texts), dim) for any texts (those not seen yet are embedded together and kept)."""
        new = list(dict.fromkeys(t for t in texts if t not in self.rows))
        if new:
            self.rows.update(zip(new, self.encoder.embed(new).float().cpu()))
        return self.stack(texts)

    def stack(self, descriptions: Sequence[str]) -> Tensor:
        """(len(descriptions), dim); each text must belong to a task passed to `ensure`."""
        return torch.stack([self.rows[d] for d in descriptions])


__all__ = ["BATCH_OVERHEAD", "Batch", "EmbeddingTable", "FamilySampler", "IGNORE", "Sample", "batch_rows", "collate",
           "completion_ids", "encode", "eval_items", "eval_split", "length_buckets", "make_batches", "pad_id",
           "prompt_ids", "prompt_only", "sample_groups", "token_length"]
