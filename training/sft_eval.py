"""SFT's periodic evaluation (rank 0, every eval_every steps and at the end): held-out BIG-bench loss and greedy
exact match, plus the suite's steering margins per tier."""

from __future__ import annotations

import torch
from torch import nn

from hypernet import HyperLoRA, inject
from training.common import completion_loss
from training.data import EmbeddingTable, collate, encode, make_batches, pad_id, prompt_only, sample_groups
from training.steering import steering


def eval_due(step: int, config) -> bool:
    """Whether the run evaluates after optimizer step `step`: at the end, and every eval_every steps (-1: never)."""
    if config.eval_every == -1:
        return False
    return step == config.steps or (config.eval_every > 0 and step % config.eval_every == 0)


@torch.no_grad()
def evaluate(hyper: HyperLoRA, model: nn.Module, tokenizer, table: EmbeddingTable, items, config,
             device: torch.device) -> dict[str, float]:
    """Held-out loss (token mean) and greedy exact match on the first `eval_generate` items."""
    was_training = hyper.training
    hyper.eval()
    total, count = 0.0, 0
    for batch in make_batches(items, tokenizer, table, config.max_len, config.eval_batch_size, config.chat_template,
                              bucket=True):  # a token-weighted mean: the grouping does not change it
        batch = batch.to(device)
        with inject(model, hyper(table.stack(batch.descriptions).to(device))):
            loss, n = completion_loss(model, batch)
        total, count = total + float(loss), count + n
    out = {"eval_loss": total / max(1, count), "eval_tokens": count}
    gen = list(items)[: config.eval_generate]
    if gen:
        hits = 0
        samples = [encode(tokenizer, t.name, d, e, config.max_len, config.chat_template) for t, d, e in gen]
        for rows in sample_groups(samples, config.eval_batch_size, prompt=True):  # prompts of similar length
            chunk = [samples[i] for i in rows]
            batch = collate([prompt_only(s) for s in chunk], pad_id(tokenizer), side="left").to(device)
            with inject(model, hyper(table.stack(batch.descriptions).to(device))):
                new = model.generate(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                                     max_new_tokens=config.eval_max_new_tokens, do_sample=False,
                                     pad_token_id=pad_id(tokenizer))[:, batch.input_ids.shape[1]:]
            for s, ids in zip(chunk, new.tolist()):
                answer = tokenizer.decode(ids, skip_special_tokens=True).strip()
                hits += any(answer == t.strip() for t in s.targets)
        out["eval_exact_match"] = hits / len(gen)
    hyper.train(was_training)
    return out


def evaluate_steering(hyper: HyperLoRA, model: nn.Module, tokenizer, table: EmbeddingTable, tiers: dict,
                      config) -> dict[str, float]:
    """training.steering per tier: eval_steer_<tier>_{other,random} margins (nats) and their standard errors."""
    out = {}
    for tier, tier_tasks in tiers.items():
        res = steering(hyper, model, tokenizer, table.embed, tier_tasks, config.steering_per_task, config.seed,
                       config.max_len, config.eval_batch_size, config.chat_template)
        out.update({f"eval_steer_{tier}_other": res["other_desc_margin_nats"],
                    f"eval_steer_{tier}_random": res["random_desc_margin_nats"],
                    f"eval_steer_{tier}_se": res["stderr_nats"], f"eval_steer_{tier}_loss": res["right_loss"]})
    return out


def periodic_eval(run, config) -> dict[str, float]:
    """The eval_* metrics of `run` (a training.sft_setup.Run) now: held-out items, then steering tiers."""
    out = {}
    if run.plan.held:
        out.update(evaluate(run.hyper, run.model, run.tokenizer, run.table, run.plan.held, config, run.device))
    out.update(evaluate_steering(run.hyper, run.model, run.tokenizer, run.table, run.plan.tiers, config))
    return out
