"""The refine job itself: examples -> refined adapter + held-out scores. `run_refine` is the rq job the worker runs
(server/refine.py queues it); `refine_examples` is the part `t2l train refine` runs offline too, so the served and
the offline refine are one training path (the served chat format of ground.prompt, hypernet.refine's loss)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict
from typing import Any, Callable, Sequence

from ground.assets import prepare_base_model
from ground.prompt import chat_ids, describe_messages, token_ids
from hypernet import Adapter
from hypernet.refine import IGNORE, RefineConfig, greedy_answers, refine_adapter

from .cache import RedisCache
from .refine import Example, RefineSettings, holdout_split
from .settings import Settings


def example_rows(tokenizer, examples: Sequence[Example], description: str | None = None
                 ) -> tuple[list[tuple[list[int], list[int]]], list[list[int]]]:
    """Training rows (ids, labels: the answer and EOS only) and the prompts alone, in the served chat format (with
    `description` above the last user message, as description_in_prompt serves it)."""
    rows, prompts = [], []
    for messages, answer in examples:
        prompt = chat_ids(tokenizer, describe_messages(description, list(messages)))
        target = token_ids(tokenizer, answer) + [tokenizer.eos_token_id]
        rows.append((prompt + target, [IGNORE] * len(prompt) + target))
        prompts.append(prompt)
    return rows, prompts


def stop_ids(model, tokenizer) -> list[int]:
    """The ids generation ends on: the generation config's end tokens and the tokenizer's EOS (as HFEngine stops)."""
    eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    return sorted(ids | ({tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()))


def _answer_room(row) -> int:
    """New tokens to let a held-out answer take: its own length (answer + EOS) and a few more."""
    return sum(t != IGNORE for t in row[1]) + 4


def refine_examples(model, tokenizer, start, examples: Sequence[Example], settings: RefineSettings,
                    description: str | None, note: Callable[..., None] = lambda **_: None) -> tuple[Any, dict]:
    """`start` refined on the training part of `examples`, and the held-out exact match (%) of the base, the base
    with `description` in the prompt, `start` and the result (None without held-out examples). `note(**fields)`
    gets the split, the first scores and each step's progress."""

    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    train_at, held_at = holdout_split(examples, settings.holdout_fraction, settings.seed)
    rows, prompts = example_rows(tokenizer, examples)
    described = example_rows(tokenizer, examples, description)[1] if description else None
    held, stops = [examples[i] for i in held_at], stop_ids(model, tokenizer)

    def score(adapter, asked=None) -> float | None:
        if not held:
            return None
        answers = [greedy_answers(model, adapter, [(asked or prompts)[i]], _answer_room(rows[i]), stops)[0]
                   for i in held_at]  # room for the expected answer and its end, as serving would stop
        said = [tokenizer.decode(a, skip_special_tokens=True).strip() for a in answers]
        return 100.0 * sum(s == answer.strip() for s, (_, answer) in zip(said, held)) / len(held)

    scores = {"exact_base": score(None), "exact_base_description": score(None, described) if described else None,
              "exact_before": score(start)}
    note(examples={"train": len(train_at), "held_out": len(held_at)}, scores=dict(scores))
    config = RefineConfig(steps=settings.steps, lr=settings.lr, batch_size=settings.batch_size, seed=settings.seed)
    refined, losses = refine_adapter(model, start, [rows[i] for i in train_at], config, pad, on_step=lambda p: note(
        step=p.step, loss=round(p.loss, 4), eta_s=round(p.eta_s, 1) if p.step else None))
    scores.update(exact_after=score(refined), loss_first=losses[0], loss_last=losses[-1])
    return refined, scores


def load_base(name: str, device: str):
    """(tokenizer, model) of the base as the service resolves it (prepare_base_model under this T2L_HOME)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = prepare_base_model(name)
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    return AutoTokenizer.from_pretrained(path), AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(device).eval()


def run_refine(payload: dict[str, Any]) -> dict[str, Any]:
    """The rq job: refine_examples on the starting adapter read from Redis, the result stored there under its key.
    Progress goes to job.meta after every step; a failure leaves its reason there."""
    import torch
    from rq import get_current_job

    job = get_current_job()
    settings = RefineSettings(**payload["settings"])
    examples: list[Example] = [(tuple(m), a) for m, a in payload["examples"]]
    here = Settings()  # this worker's own device and threads (T2L_DEVICE, T2L_REFINE_THREADS), not the service's
    if here.refine_threads:
        torch.set_num_threads(here.refine_threads)
    cache = lambda op: asyncio.run(_with_cache(payload["redis_url"], payload["cache"], op))  # noqa: E731

    def note(**fields) -> None:
        if job is not None:
            job.meta.update(fields)
            job.save_meta()

    try:
        blob = cache(lambda c: c.get(payload["start_key"]))
        if blob is None:
            raise LookupError(f"the starting adapter {payload['start_id']} is no longer in Redis; send the request "
                              "again")
        tokenizer, model = load_base(payload["base_model"], here.device)
        refined, scores = refine_examples(model, tokenizer, Adapter.from_bytes(blob), examples, settings,
                                          payload["description"], note)
        refined.metadata.update({"refined": {"from": payload["start_id"], "examples": len(examples),
                                             "settings": asdict(settings), "scores": scores}})
        if refined.metadata.get("coverage"):  # the description's coverage stays; its expected accuracy was the
            refined.metadata["coverage"] = {**refined.metadata["coverage"], "expected_accuracy": None}  # start's
        meta = {"key": payload["key"], "description": payload["description"], "base_model": payload["base_model"],
                "checkpoint": payload["checkpoint"], "created": time.time(), "refined": refined.metadata["refined"]}
        cache(lambda c: c.put(payload["key"], refined.to_bytes(), payload["id"], meta))
        note(scores=scores, eta_s=0.0)
        return {"adapter_id": payload["id"], "scores": scores}
    except Exception as exc:
        note(error=f"{type(exc).__name__}: {exc}"[:500])
        raise


async def _with_cache(url: str, limits: dict[str, int], operation):
    """One operation on a RedisCache of its own (an asyncio client belongs to the loop that made it), with the
    service's expiry and blob limit."""
    cache = RedisCache(url, limits["ttl_s"], limits["max_blob_bytes"], timeout_s=10.0)
    try:
        return await operation(cache)
    finally:
        await cache.close()
