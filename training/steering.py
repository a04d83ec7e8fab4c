"""The steering metric: does the adapter depend on what its description says? (issue #12, item 4)

On held-out examples, the completion loss (mean nats per answer token) under the adapter generated from
    right   the task's own (evaluation) description
    other   another task's description: of the same input pool when there is one (same kind of input, different
            answer), else of any other task in the set
    random  a random string of lowercase words of the same length (training.evaluate.random_description)
Margins are paired per example: other - right and random - right, averaged, with their standard errors. A
hypernet that ignores its description scores ~0; one that follows it scores well above 0.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from hypernet import inject
from training.data import collate, encode, eval_split, pad_id, sample_groups
from training.evaluate import random_description


def steering_items(tasks: Sequence, per_task: int, seed: int = 0) -> list[tuple]:
    """(task, right description, other description, random description, example) rows, deterministic."""
    tasks = sorted(tasks, key=lambda t: t.name)
    by_family: dict[str, list[int]] = {}
    for i, t in enumerate(tasks):
        by_family.setdefault(t.family.removesuffix("+fmt"), []).append(i)
    rows = []
    for i, task in enumerate(tasks):
        examples, _ = eval_split(task, per_task, seed)
        phrasings = task.eval_descriptions or task.descriptions
        peers = [j for j in by_family[task.family.removesuffix("+fmt")] if j != i] or \
            [j for j in range(len(tasks)) if j != i]
        rng = np.random.default_rng([seed, i])
        for n, example in enumerate(examples):
            right = phrasings[n % len(phrasings)]
            if not peers:
                continue
            other_task = tasks[peers[int(rng.integers(len(peers)))]]
            other_phr = other_task.eval_descriptions or other_task.descriptions
            other = other_phr[int(rng.integers(len(other_phr)))]
            rows.append((task, right, other, random_description(right, int(rng.integers(1 << 16))), example))
    return rows


@torch.no_grad()
def per_sample_losses(hyper: nn.Module, model: nn.Module, tokenizer, embed: Callable[[list[str]], Tensor],
                      pairs: Sequence[tuple], max_len: int = 128, batch_size: int = 16,
                      chat: bool = True) -> list[float]:
    """Mean completion loss of each (task, description, example) under the adapter of its description."""
    device = next(model.parameters()).device
    samples = [encode(tokenizer, t.name, d, e, max_len, chat) for t, d, e in pairs]
    out = [0.0] * len(samples)
    for rows in sample_groups(samples, batch_size):  # rows of similar length: little padding; order restored below
        batch = collate([samples[i] for i in rows], pad_id(tokenizer)).to(device)
        with inject(model, hyper(embed(batch.descriptions).to(device))):
            logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, use_cache=False).logits
        targets = batch.labels[:, 1:]
        ce = nn.functional.cross_entropy(logits[:, :-1].float().transpose(1, 2), targets, reduction="none",
                                         ignore_index=-100)  # (B, T-1)
        keep = (targets != -100).float()
        for i, loss in zip(rows, (ce.sum(1) / keep.sum(1).clamp(min=1)).tolist()):
            out[i] = loss
    return out


def _mean_se(values: Sequence[float]) -> tuple[float, float]:
    if not values:
        return float("nan"), float("nan")
    arr = np.asarray(values, dtype=np.float64)
    return float(arr.mean()), float(arr.std(ddof=1) / math.sqrt(len(arr))) if len(arr) > 1 else float("nan")


def steering(hyper: nn.Module, model: nn.Module, tokenizer, embed: Callable[[list[str]], Tensor],
             tasks: Sequence, per_task: int = 2, seed: int = 0, max_len: int = 128, batch_size: int = 16,
             chat: bool = True) -> dict[str, float]:
    """{right_loss, other_desc_margin_nats, random_desc_margin_nats, stderr_nats, random_stderr_nats, n}."""
    was = hyper.training
    hyper.eval()
    rows = steering_items(tasks, per_task, seed)
    losses = {}
    for col, name in ((1, "right"), (2, "other"), (3, "random")):
        losses[name] = per_sample_losses(hyper, model, tokenizer, embed, [(r[0], r[col], r[4]) for r in rows],
                                         max_len, batch_size, chat)
    hyper.train(was)
    other, other_se = _mean_se([o - r for o, r in zip(losses["other"], losses["right"])])
    rand, rand_se = _mean_se([o - r for o, r in zip(losses["random"], losses["right"])])
    return {"right_loss": _mean_se(losses["right"])[0], "other_desc_margin_nats": other,
            "random_desc_margin_nats": rand, "stderr_nats": other_se, "random_stderr_nats": rand_se, "n": len(rows)}
