"""Held-out evaluation of T2L against its baselines (T2L paper, Sec. 5, Table 1 and the random-description control).

For every task, `examples_per_task` evaluation examples (`training.data.eval_split`: never trained on by any
method); example i is paired with the task's evaluation-only description i mod 3, so a method that reads the
description is scored on all three phrasings. Methods (names are the keys of eval.json's `summary`):

    base                 the frozen base model, the example alone
    base_desc            the base model with the description written above the example
    multitask_lora       one LoRA trained on every training task (training.lora_library multitask)
    t2l_recon            adapters from the reconstruction-trained hypernet (training.recon)
    t2l_sft              adapters from the SFT-trained hypernet (training.sft)
    t2l_sft_random_desc  the SFT hypernet given a random string of the same length instead of the description
    t2l_sft_other_desc   the SFT hypernet given another task's evaluation description (same kind of input if any)
    t2l_sft_desc         the SFT adapter AND the description written above the example (as base_desc)
    base_desc_system     the base model with the description as the system message (in place of the default one)
    t2l_sft_desc_system  the SFT adapter AND the description as the system message (a chat user's hybrid)
    oracle               the task's own LoRA (training.lora_library oracle)

Scoring follows BIG-bench: multiple choice picks the choice with the highest summed log-likelihood after the
prompt (multiple_choice_grade: the score of the picked choice); generative tasks decode greedily and count an
exact match with any reference after stripping whitespace (exact_str_match). Prompts are the served format: the
base model's chat template around one user turn. A method whose inputs are missing (no oracle folder, say) is
left out of the table, never filled in.
"""

from __future__ import annotations

import random
import string
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from hypernet import Adapter, inject
from ground.prompt import Placement, prompt_ids, token_ids, with_description
from training.data import completion_ids, eval_split, pad_id

METHODS = ("base", "base_desc", "multitask_lora", "t2l_recon", "t2l_sft", "t2l_sft_random_desc", "t2l_sft_other_desc",
           "t2l_sft_desc", "oracle", "base_desc_system", "t2l_sft_desc_system")


@dataclass
class EvalConfig:
    """What `t2l eval` scores and how. Defaults: the CPU budget (all 22 held-out tasks in minutes per method)."""

    examples_per_task: int = 20  # evaluation examples per task (the same ones for every method)
    max_len: int = 256  # prompt tokens kept (the end of a long input)
    max_new_tokens: int = 32  # cap on greedy tokens for generative tasks (per task: longest reference + 8)
    batch_size: int = 16  # sequences per forward
    seed: int = 0  # picks the evaluation examples and the random descriptions
    chat_template: bool = True  # the served prompt format


@dataclass
class Method:
    """How one method turns (task, description, example input) into a prompt and an adapter."""

    name: str
    adapter: Callable[[object, str], Adapter | None] = lambda task, description: None
    with_description: bool = False  # put the description into the prompt (base_desc)
    placement: Placement = "user"  # where it goes: above the input in the user turn, or as the system message
    description: Callable[[object, int], str] | None = None  # replaces the evaluation description (random control)
    source: str = ""  # what the adapters come from (checkpoint digest, folder + mtimes): keys the score cache


@dataclass
class Row:
    """One scored example under one method."""

    task: str
    prompt: list[int]
    adapter: Adapter | None
    choices: list[list[int]] | None = None  # token ids per choice (multiple choice)
    scores: list[float] | None = None
    targets: tuple[str, ...] = ()
    max_new_tokens: int = 0
    score: float = field(default=float("nan"))
    logliks: list[float] | None = None  # multiple choice: summed log-likelihood of each choice


def random_description(text: str, seed: int) -> str:
    """A random string of lowercase words with the length of `text` (the paper's control for the description)."""
    rng = random.Random(seed)
    words, size = [], 0
    while size < len(text):
        word = "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(2, 9)))
        words.append(word)
        size += len(word) + 1
    return " ".join(words)[: max(1, len(text))]


def build_rows(method: Method, tasks: Sequence, tokenizer, config: EvalConfig) -> list[Row]:
    rows = []
    for t_index, task in enumerate(tasks):
        examples, _ = eval_split(task, config.examples_per_task, config.seed)
        phrasings = task.eval_descriptions or task.descriptions
        longest = max((len(token_ids(tokenizer, x)) for e in examples for x in e.targets), default=8)
        for i, example in enumerate(examples):
            description = (method.description(task, i) if method.description is not None
                           else phrasings[i % len(phrasings)])
            shown = description if method.with_description else None
            if method.placement == "system":
                prompt = prompt_ids(tokenizer, example.input, config.max_len, config.chat_template, system=shown)
            else:
                prompt = prompt_ids(tokenizer, with_description(shown, example.input), config.max_len,
                                    config.chat_template)
            row = Row(task.name, prompt, method.adapter(task, description), targets=example.targets)
            if example.choices:
                row.choices = [completion_ids(tokenizer, c)[:-1] or [pad_id(tokenizer)] for c in example.choices]
                row.scores = list(example.scores or [float(c in example.targets) for c in example.choices])
            else:
                row.max_new_tokens = min(config.max_new_tokens, longest + 8)
            rows.append(row)
    return rows


def _adapter_batch(rows: Sequence[Row]):
    """(LoRABatch of the distinct adapters, per-row index) or (None, None) when no row has one."""
    if all(r.adapter is None for r in rows):
        return None, None
    if any(r.adapter is None for r in rows):
        raise ValueError("a batch mixes rows with and without adapters")
    unique: dict[int, int] = {}
    order: list[Adapter] = []
    for r in rows:
        if id(r.adapter) not in unique:
            unique[id(r.adapter)] = len(order)
            order.append(r.adapter)
    return Adapter.stack(order), [unique[id(r.adapter)] for r in rows]


def _run(model: nn.Module, rows: Sequence[Row], fn):
    lora, index = _adapter_batch(rows)
    if lora is None:
        return fn(None)
    device = next(model.parameters()).device
    with inject(model, lora, index=torch.tensor(index, device=device)):
        return fn(torch.tensor(index))


@torch.inference_mode()
def score_choices(model: nn.Module, rows: Sequence[Row], pad: int) -> None:
    """Sets row.score to the score of the choice with the highest summed log-likelihood.

    The prompt runs once per example (with its adapter) and its KV cache is repeated for the choices, which are
    then scored in one forward: ~4x fewer tokens than scoring prompt + choice for every choice (prompts ~80
    tokens, choices ~3)."""
    device = next(model.parameters()).device
    stacked: dict[int, object] = {}
    for r in rows:
        if r.adapter is not None and id(r.adapter) not in stacked:
            stacked[id(r.adapter)] = Adapter.stack([r.adapter])  # one adapter broadcasts over the choices
        context = inject(model, stacked[id(r.adapter)]) if r.adapter is not None else nullcontext()
        n, k = len(r.choices), max(len(c) for c in r.choices)
        with context:
            first = model(input_ids=torch.tensor([r.prompt], device=device), use_cache=True)
            head = torch.log_softmax(first.logits[0, -1].float(), -1)  # (V,): predicts each choice's 1st token
            cache = first.past_key_values
            cache.batch_repeat_interleave(n)
            ids = torch.full((n, k), pad, dtype=torch.long)
            mask = torch.zeros((n, len(r.prompt) + k), dtype=torch.long)
            mask[:, : len(r.prompt)] = 1
            for i, c in enumerate(r.choices):  # right padding: pads come after every real token
                ids[i, : len(c)], mask[i, len(r.prompt): len(r.prompt) + len(c)] = torch.tensor(c), 1
            rest = model(input_ids=ids.to(device), attention_mask=mask.to(device), past_key_values=cache,
                         use_cache=False).logits.float().log_softmax(-1)  # (n, k, V): j predicts token j + 1
        loglik = [float(head[c[0]]) + sum(float(rest[i, j - 1, c[j]]) for j in range(1, len(c)))
                  for i, c in enumerate(r.choices)]
        r.logliks, r.score = loglik, float(r.scores[max(range(n), key=loglik.__getitem__)])


def can_still_match(text: str, targets: Sequence[str]) -> bool:
    """Whether greedy text decoded so far can still end as an exact match of a target (compared stripped).
    Decoding only appends, so once the stripped text is no prefix of any stripped target, no continuation can
    match; a trailing U+FFFD (half a multi-byte character) keeps it open."""
    if text.endswith("\ufffd"):
        return True
    head = text.strip()
    return any(t.strip().startswith(head) for t in targets)


class _Hopeless:
    """HF stopping criterion: a row is done once it can no longer match (the batch stops when every row is done).
    Scores are unchanged (see can_still_match); base models that ramble stop after a few tokens, not 30."""

    def __init__(self, tokenizer, targets: Sequence[Sequence[str]], prompt_width: int) -> None:
        self.tokenizer, self.targets, self.width = tokenizer, targets, prompt_width

    def __call__(self, input_ids: torch.Tensor, scores, **kwargs) -> torch.Tensor:
        new = input_ids[:, self.width:].tolist()
        done = [not can_still_match(self.tokenizer.decode(ids, skip_special_tokens=True), t)
                for ids, t in zip(new, self.targets)]
        return torch.tensor(done, device=input_ids.device)


@torch.inference_mode()
def score_generations(model: nn.Module, tokenizer, rows: Sequence[Row], batch_size: int) -> None:
    """Greedy answers; row.score = 1 if the stripped answer equals a stripped reference."""
    device, pad = next(model.parameters()).device, pad_id(tokenizer)
    for start in range(0, len(rows), batch_size):
        chunk = rows[start:start + batch_size]
        width = max(len(r.prompt) for r in chunk)
        ids = torch.full((len(chunk), width), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, r in enumerate(chunk):  # left padding for generation
            ids[i, width - len(r.prompt):], mask[i, width - len(r.prompt):] = torch.tensor(r.prompt), 1

        stop = _Hopeless(tokenizer, [r.targets for r in chunk], width)

        def generate(_):
            return model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), do_sample=False,
                                  max_new_tokens=max(r.max_new_tokens for r in chunk), pad_token_id=pad,
                                  stopping_criteria=[stop])

        out = _run(model, chunk, generate)[:, width:]
        for r, new in zip(chunk, out.tolist()):
            answer = tokenizer.decode(new, skip_special_tokens=True).strip()
            r.score = float(any(answer == t.strip() for t in r.targets))


def evaluate_method(method: Method, tasks: Sequence, model: nn.Module, tokenizer, config: EvalConfig
                    ) -> dict[str, float]:
    """Per task score in percent for one method."""
    rows = build_rows(method, tasks, tokenizer, config)
    mc = [r for r in rows if r.choices]
    gen = [r for r in rows if not r.choices]
    # Group by adapter so a batch needs few distinct adapters; the order of rows does not change any score.
    key = lambda r: (r.task, id(r.adapter))  # noqa: E731
    if mc:
        score_choices(model, sorted(mc, key=key), pad_id(tokenizer))
    if gen:
        # prompts of similar length share a batch (little left padding); each row carries its own adapter
        score_generations(model, tokenizer, sorted(gen, key=lambda r: (r.max_new_tokens, len(r.prompt), key(r))),
                          config.batch_size)
    by_task: dict[str, list[float]] = {}
    for r in rows:
        by_task.setdefault(r.task, []).append(r.score)
    return {name: 100.0 * float(np.mean(s)) for name, s in by_task.items()}


def _cache_key(method: Method, tasks: Sequence, config: EvalConfig) -> str:
    import hashlib
    import json

    blob = json.dumps([method.name, method.source, config.__dict__, [t.name for t in tasks]], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def evaluate_methods(methods: Sequence[Method], tasks: Sequence, model: nn.Module, tokenizer, config: EvalConfig,
                     progress: bool = True, cache_dir: Path | None = None,
                     reused: dict[str, dict[str, float]] | None = None) -> dict:
    """{"tasks": {task: {family, kind, chance, n, scores: {method: %}}}, "summary": {method: mean %}, ...}.
    With `cache_dir`, a method's scores are saved there and reused by a later run with the same method, inputs
    (`Method.source`), config and tasks: an evaluation can be run in parts (e.g. baselines while SFT trains).
    `reused` {method: {task: %}} adds methods scored by an earlier evaluation (the caller checks it matches)."""
    import json

    from tqdm.auto import tqdm

    reused = reused or {}
    scores = {name: dict(per_task) for name, per_task in reused.items()}
    seconds = {name: None for name in reused}
    for method in tqdm(methods, desc="eval", unit="method", disable=not progress):
        saved = cache_dir / f"{method.name}.json" if cache_dir is not None else None
        key = _cache_key(method, tasks, config)
        if saved is not None and saved.exists() and json.loads(saved.read_text()).get("key") == key:
            entry = json.loads(saved.read_text())
            scores[method.name], seconds[method.name] = entry["scores"], entry["seconds"]
            continue
        tick = time.perf_counter()
        scores[method.name] = evaluate_method(method, tasks, model, tokenizer, config)
        seconds[method.name] = round(time.perf_counter() - tick, 1)
        if saved is not None:
            saved.parent.mkdir(parents=True, exist_ok=True)
            saved.write_text(json.dumps({"key": key, "source": method.source, "scores": scores[method.name],
                                         "seconds": seconds[method.name]}))
    names = [m.name for m in methods] + [n for n in reused if n not in {m.name for m in methods}]
    per_task = {}
    for task in tasks:
        n = min(config.examples_per_task, len(task.examples))
        per_task[task.name] = {"family": task.family, "kind": task.kind, "chance": 100.0 * task.chance(), "n": n,
                               "scores": {m: scores[m][task.name] for m in names}}
    summary = {m: float(np.mean([scores[m][t.name] for t in tasks])) for m in names}
    families = sorted({t.family for t in tasks})
    by_family = {f: {m: float(np.mean([scores[m][t.name] for t in tasks if t.family == f])) for m in names}
                 for f in families}
    # The family-balanced mean keeps the 9 linguistic_mappings subtasks from deciding the headline alone.
    family_mean = {m: float(np.mean([by_family[f][m] for f in families])) for m in names}
    return {"summary": summary, "summary_family_balanced": family_mean, "by_family": by_family, "tasks": per_task,
            "seconds": seconds, "config": config.__dict__}


__all__ = ["EvalConfig", "can_still_match", "METHODS", "Method", "evaluate_method", "evaluate_methods", "random_description"]
