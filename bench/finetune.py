"""Time-to-adapter: fine-tuning a peft LoRA on one held-out task until it scores as well as the T2L adapter for that
task, vs T2L's own time to produce its adapter (encode + hypernet + write). Only optimizer steps are on the
fine-tuning clock; the periodic scoring that decides when to stop is not (it favours fine-tuning)."""

from __future__ import annotations

import time

import torch
from torch import nn

from hypernet import generate_adapters
from training.common import completion_loss
from training.data import collate, encode, eval_split, pad_id
from training.evaluate import EvalConfig, Method, evaluate_method
from training.lora_library import lora_config


def pick_task(eval_results: dict | None, tasks: list):
    """The held-out task where T2L-SFT gains most over the base model (a fair race: T2L has a score to reach)."""
    by_name = {t.name: t for t in tasks}
    if eval_results:
        rows = [(r["scores"]["t2l_sft"] - r["scores"]["base"], name) for name, r in eval_results["tasks"].items()
                if "t2l_sft" in r["scores"] and "base" in r["scores"] and name in by_name]
        if rows:
            gain, name = max(rows)
            return by_name[name], gain
    return by_name.get("linguistic_mappings:plural_json", tasks[0]), None


def bench_finetune(model, tokenizer, task, checkpoint, encoder, t2l_ms: float, eval_examples: int = 20,
                   max_steps: int = 60, check_every: int = 5, lr: float = 2e-3, batch_size: int = 8) -> dict:
    """Fine-tune a fresh peft LoRA (the oracle recipe) on `task` until its score reaches the T2L adapter's."""
    from peft import get_peft_model

    config = EvalConfig(examples_per_task=eval_examples)
    description = task.eval_descriptions[0]
    adapter = generate_adapters(checkpoint, encoder, [description])[0]
    t2l_score = evaluate_method(Method("t2l", adapter=lambda t, d: adapter, description=lambda t, i: description),
                                [task], model, tokenizer, config)[task.name]
    base_score = evaluate_method(Method("base"), [task], model, tokenizer, config)[task.name]
    _, pool = eval_split(task, eval_examples)
    torch.manual_seed(0)
    peft_model = get_peft_model(model, lora_config(checkpoint.config))
    params = [p for p in peft_model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    rng = torch.Generator().manual_seed(0)
    train_s, curve, reached = 0.0, [{"step": 0, "seconds": 0.0, "score": base_score}], None
    try:
        for step in range(1, max_steps + 1):
            start = time.perf_counter()
            peft_model.train()
            picks = torch.randint(len(pool), (batch_size,), generator=rng).tolist()
            batch = collate([encode(tokenizer, task.name, description, pool[i], 128) for i in picks],
                            pad_id(tokenizer))
            total, count = completion_loss(model, batch)
            (total / max(1, count)).backward()
            nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            train_s += time.perf_counter() - start
            if step % check_every == 0:
                peft_model.eval()
                score = evaluate_method(Method("ft"), [task], model, tokenizer, config)[task.name]
                curve.append({"step": step, "seconds": round(train_s, 3), "score": score})
                if score >= t2l_score and reached is None:
                    reached = curve[-1]
                    break
    finally:
        peft_model.unload()
    out = {"task": task.name, "t2l_score": t2l_score, "base_score": base_score, "t2l_ms": round(t2l_ms, 3),
           "curve": curve, "reached": reached is not None, "max_steps": max_steps, "lr": lr,
           "batch_size": batch_size}
    if t2l_score <= base_score:
        out["finetune_over_t2l_time"] = None
        out["note"] = "T2L does not beat the base model on this task: there is no score for fine-tuning to race to"
    elif reached is not None:
        out["finetune_s"] = reached["seconds"]
        out["finetune_over_t2l_time"] = round(reached["seconds"] * 1000 / t2l_ms, 1)
    else:
        out["finetune_s_lower_bound"] = round(train_s, 3)
        out["finetune_over_t2l_time"] = round(train_s * 1000 / t2l_ms, 1)
        out["note"] = f"fine-tuning did not reach the T2L score in {max_steps} steps: the ratio is a lower bound"
    return out
