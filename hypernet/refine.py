"""Refine an adapter on a handful of examples: a short LoRA fine-tune whose starting A and B are the adapter's own
(the hypernetwork's output for a description), through the frozen base model.

The adapter's tensors become the trainable parameters; the base model is untouched (forward hooks, `inject`), so
one loaded base serves every refine job. The loss is the mean cross-entropy over the answer tokens of every row
(labels -100 elsewhere), as in SFT. `greedy_answers` decodes with an adapter, for the before/after scores.
"""

from __future__ import annotations

import math
import random
import time
from contextlib import nullcontext
from dataclasses import dataclass, replace
from typing import Callable, Collection, Sequence

import torch
from torch import Tensor, nn

from .adapter import Adapter
from .inject import inject

IGNORE = -100
Row = tuple[Sequence[int], Sequence[int]]  # (input ids, labels: IGNORE on the prompt, the answer's ids after it)


@dataclass
class RefineConfig:
    """One refine run; the defaults suit a few dozen short examples on a CPU."""

    steps: int = 40  # optimizer steps
    lr: float = 1e-3  # AdamW on A and B (a LoRA's usual range, as the adapter is already a LoRA)
    batch_size: int = 8  # rows per step (drawn without replacement, reshuffled each pass)
    weight_decay: float = 0.0  # none: decay would pull A and B towards zero, away from the generated start
    max_grad_norm: float = 1.0  # clip the global gradient norm
    seed: int = 0  # row order


@dataclass(frozen=True)
class Progress:
    """What a refine run reports after each step."""

    step: int
    steps: int
    loss: float
    seconds: float  # training time so far (the callbacks and inspections left out)

    @property
    def eta_s(self) -> float:
        return self.seconds / self.step * (self.steps - self.step) if self.step else math.nan


def _batch(rows: Sequence[Row], pad: int, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """Right-padded (n, t) input ids, attention mask and labels, on `device`."""
    width = max(len(ids) for ids, _ in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    for i, (x, y) in enumerate(rows):
        ids[i, :len(x)], mask[i, :len(x)], labels[i, :len(y)] = torch.tensor(x), 1, torch.tensor(y)
    return ids.to(device), mask.to(device), labels.to(device)


def answer_loss(model: nn.Module, adapter_tensors: tuple[tuple[Tensor, ...], tuple[Tensor, ...]], adapter: Adapter,
                rows: Sequence[Row], pad: int) -> Tensor:
    """Mean next-token cross-entropy over the answer tokens of `rows`, with A and B = `adapter_tensors`."""
    a, b = adapter_tensors
    lora = Adapter.stack([replace(adapter, a=a, b=b)])
    ids, mask, labels = _batch(rows, pad, a[0].device)
    with inject(model, lora):
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()  # (n, t-1, vocab)
    target = labels[:, 1:]
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=IGNORE)


def refine_adapter(model: nn.Module, adapter: Adapter, rows: Sequence[Row], config: RefineConfig, pad: int,
                   on_step: Callable[[Progress], None] | None = None,
                   inspect: Callable[[Progress, Adapter], None] | None = None,
                   inspect_at: Collection[int] = ()) -> tuple[Adapter, list[float]]:
    """A copy of `adapter` fine-tuned on `rows` for config.steps steps, and the loss of every step. `on_step` is
    called after each step (progress reports; raising from it stops the run). `inspect` gets the adapter as it
    stands after each step in `inspect_at` (0: the start), e.g. to score a learning curve in one run; its time is
    left out of `Progress.seconds`, which counts training only. Metadata is kept as it is."""
    if not rows:
        raise ValueError("refine needs at least one example")
    if any(all(t == IGNORE for t in labels) for _, labels in rows):
        raise ValueError("every row needs answer tokens (labels other than -100)")
    device = next(model.parameters()).device  # trained where the base is (a GPU worker: on the GPU)
    a = tuple(nn.Parameter(t.detach().to(device, torch.float32).clone()) for t in adapter.a)  # (r, in), fp32
    b = tuple(nn.Parameter(t.detach().to(device, torch.float32).clone()) for t in adapter.b)  # (out, r)
    params = [*a, *b]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    for p in model.parameters():
        p.requires_grad_(False)
    dtype = adapter.a[0].dtype

    def current() -> Adapter:  # a copy: on a CPU in fp32, .to() alone would hand out the live parameters
        return replace(adapter, a=tuple(t.detach().to("cpu", dtype, copy=True) for t in a),
                       b=tuple(t.detach().to("cpu", dtype, copy=True) for t in b), metadata=dict(adapter.metadata))

    order, rng, losses, trained_s = [], random.Random(config.seed), [], 0.0
    was_training = model.training
    model.eval()  # no dropout in the frozen base: the steps see the model that will serve the adapter
    try:
        if inspect is not None and 0 in inspect_at:
            inspect(Progress(0, config.steps, math.nan, 0.0), current())
        for step in range(1, config.steps + 1):
            tic = time.perf_counter()
            if len(order) < min(config.batch_size, len(rows)):
                fresh = list(range(len(rows)))
                rng.shuffle(fresh)
                order += fresh
            batch = [rows[i] for i in order[:config.batch_size]]
            del order[:config.batch_size]
            loss = answer_loss(model, (a, b), adapter, batch, pad)
            optimizer.zero_grad(set_to_none=True)
            if not math.isfinite(float(loss.detach())):
                raise FloatingPointError(f"the loss became {float(loss.detach())} at step {step}: lower lr")
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
            optimizer.step()
            losses.append(float(loss.detach()))
            trained_s += time.perf_counter() - tic
            progress = Progress(step, config.steps, losses[-1], trained_s)
            if on_step is not None:
                on_step(progress)
            if inspect is not None and step in inspect_at:
                inspect(progress, current())
    finally:
        model.train(was_training)
    return current(), losses


@torch.inference_mode()
def greedy_answers(model: nn.Module, adapter: Adapter | None, prompts: Sequence[Sequence[int]], max_new_tokens: int,
                   stop_ids: Sequence[int]) -> list[list[int]]:
    """Greedy continuations of each prompt (one at a time: a handful of held-out examples), cut at a stop id."""
    out, device = [], next(model.parameters()).device
    if adapter is not None:
        adapter = replace(adapter, a=tuple(t.to(device) for t in adapter.a), b=tuple(t.to(device) for t in adapter.b))
    for prompt in prompts:
        ids = torch.tensor([list(prompt)], device=device)
        with inject(model, Adapter.stack([adapter])) if adapter is not None else nullcontext():
            past, new, step = None, [], ids
            for _ in range(max_new_tokens):
                result = model(input_ids=step, past_key_values=past, use_cache=True)
                past, token = result.past_key_values, int(result.logits[0, -1].argmax())
                if token in stop_ids:
                    break
                new.append(token)
                step = torch.tensor([[token]], device=device)
        out.append(new)
    return out
