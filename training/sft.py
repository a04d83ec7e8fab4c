"""Supervised fine-tuning of a HyperLoRA end to end through a FROZEN base model (T2L, arXiv 2506.06105, Sec. 3.3).

One step, for B (task, description, example) triples drawn family-balanced (training/data.py): the B descriptions'
embeddings (B, embed_dim) (frozen encoder, cached) -> HyperLoRA once -> LoRABatch of B adapters -> base model under
`hypernet.inject` (sample n gets adapter n, batched einsums) -> cross-entropy on completion tokens only (mean over
the whole accumulated step) -> gradients into the hypernetwork only. AdamW, linear warmup then cosine or linear
decay to min_lr_ratio * lr, gradient clipping. Every eval_every steps: loss on held-out tasks' examples with their
evaluation-only descriptions, plus greedy exact match on a few. Every save_every steps out_dir/state/step-N.pt
(weights, optimizer, scheduler, step, torch RNG); `resume` continues from the latest exactly. At the end
out_dir/checkpoint is a self-contained hypernet checkpoint; out_dir/metrics.jsonl has a line per step and eval.

    python -m training.sft --config training/configs/tiny.yaml --out runs/tiny [--resume] [--set lr=3e-4 ...]

Devices: `device: auto` takes CUDA when present. Multi-GPU: `torchrun --nproc_per_node=N -m training.sft ...` wraps
the hypernetwork in DDP (each rank holds a frozen base copy and draws different batches from (seed, step, rank));
rank 0 logs, evaluates and saves. The batch is per rank: the global batch is N * batch_size * grad_accum.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
import yaml
from torch import Tensor, nn

from hypernet import HyperConfig, HyperLoRA, inject, save_checkpoint, targets_from_model
from training.common import completion_loss, load_frozen_base, parse_value, sample_losses, warmup_decay
from training.plan import describe_in_prompt, make_plan, other_descriptions
from training.state import git_commit, load_state, save_state, trim_metrics, warm_start
from training.data import (Batch, EmbeddingTable, FamilySampler, collate, encode, eval_items, make_batches, pad_id,
                           prompt_only, token_length)

RESUME_FREE = frozenset({"steps", "out_dir", "resume", "device", "eval_every", "save_every", "log_every", "keep_states",
               "progress", "threads", "eval_examples_per_task", "eval_generate", "eval_max_new_tokens",
               "eval_batch_size", "max_eval_tasks", "steering_tasks", "steering_per_task"})  # fields a resumed run may change without changing the past


@dataclass
class SFTConfig:
    """Everything a SFT run depends on. Defaults are the tiny CPU case; training/configs/*.yaml set the others."""

    base_model: str = "HuggingFaceTB/SmolLM2-135M-Instruct"  # HF id or folder of the frozen base model
    encoder: str = "sentence-transformers/all-MiniLM-L6-v2"  # sentence-transformers id or folder (frozen)
    hyper: HyperConfig = field(default_factory=HyperConfig)  # the hypernetwork (YAML: fields over HyperConfig's)
    split: str = "default"  # committed split (training/splits/<name>.json): train tasks and held-out tasks
    train_tasks: tuple[str, ...] = ()  # train only on these task names; empty = every task of the split's train part
    max_eval_tasks: int = 0  # evaluate on the first N held-out tasks (sorted by name); 0 = all
    family_power: float = 0.0  # p(family) ~ n_tasks ** family_power: 0 = uniform over families, 1 = over tasks
    max_len: int = 128  # tokens per sequence (prompt + completion); longer ones are truncated
    chat_template: bool = True  # wrap inputs in the base model's chat template, as served
    batch_size: int = 4  # samples (each with its own adapter) per micro-batch, per rank
    grad_accum: int = 1  # micro-batches per optimizer step
    steps: int = 10  # optimizer steps in total
    lr: float = 1e-3  # peak learning rate (AdamW)
    weight_decay: float = 0.01  # AdamW weight decay, on matrices only (not biases, norms)
    betas: tuple[float, float] = (0.9, 0.999)  # AdamW betas
    warmup_steps: int = 2  # linear warmup from 0 to lr
    schedule: str = "cosine"  # decay after warmup: "cosine" | "linear" | "constant"
    min_lr_ratio: float = 0.1  # the decay ends at min_lr_ratio * lr
    max_grad_norm: float = 1.0  # clip the global gradient norm to this (0 = no clipping)
    lora_dropout: float = 0.0  # dropout on the adapted layers' inputs (LoRA dropout), training only
    seed: int = 0  # seeds the hypernet init, the data draws and dropout
    device: str = "auto"  # "auto" (cuda if available), "cpu", "cuda", "cuda:1", ...
    base_dtype: str = "float32"  # dtype of the frozen base: float32 | bfloat16 | float16 (fp32 on CPU)
    threads: int = 0  # torch CPU threads (0 = torch's default)
    eval_every: int = 0  # evaluate every N steps (0 = only at the end; -1 = never)
    eval_examples_per_task: int = 2  # held-out examples per task for the eval loss
    eval_generate: int = 2  # of those, how many (spread over tasks) get a greedy exact-match check
    eval_max_new_tokens: int = 16  # greedy tokens per exact-match answer
    eval_batch_size: int = 8  # samples per evaluation forward
    save_every: int = 0  # write out_dir/state/step-N.pt every N steps (0 = only at the end)
    keep_states: int = 2  # how many step-N.pt files to keep
    log_every: int = 1  # write a metrics line every N steps
    out_dir: str = "runs/sft"  # where states, metrics.jsonl and the final checkpoint go
    resume: bool = False  # continue from the latest out_dir/state/step-N.pt
    init_from: str = ""  # warm start: a t2l checkpoint folder whose weights (task_center too) start this run
    progress: bool = True  # show a progress bar
    # ---- the description-necessary suite (issue #12; training/suite, training/grouped.py) ----
    data: str = "bigbench"  # "bigbench": family-balanced BIG-bench draws; "suite": grouped suite draws (+ BIG-bench)
    group_inputs: int = 4  # suite: inputs per step (K)
    group_tasks: int = 4  # suite: tasks per input (M), their answers pairwise different
    bigbench_share: float = 0.0  # suite: share of each step's samples drawn from the BIG-bench training tasks
    suite_combos: bool = True  # suite: train on the (op, format) pairs of the split too
    center_embeddings: bool = False  # subtract the mean training-description embedding (hyper.task_center)
    offset_lora: str = ""  # PEFT folder of a multi-task LoRA used as a frozen offset (the head then has no bias)
    mean_penalty: float = 0.0  # weight of ||batch-mean generated B||^2 (discourages one shared adapter)
    margin_weight: float = 0.0  # weight of relu(margin - (CE(other description) - CE(own))) per sample
    margin: float = 1.0  # nats, for margin_weight
    desc_in_prompt: float = 0.0  # share of samples that also get the description above the input in the prompt
    steering_tasks: int = 24  # per tier, tasks for the steering metric at each evaluation (0 = no steering)
    steering_per_task: int = 2  # examples per task for the steering metric

    def __post_init__(self) -> None:
        if isinstance(self.hyper, dict):
            self.hyper = HyperConfig.from_dict(self.hyper)
        self.train_tasks, self.betas = tuple(self.train_tasks), tuple(self.betas)
        if self.data not in ("bigbench", "suite"):
            raise ValueError(f"data must be bigbench or suite, got {self.data!r}")
        if self.schedule not in ("cosine", "linear", "constant"):
            raise ValueError(f"schedule must be cosine, linear or constant, got {self.schedule!r}")
        for name in ("batch_size", "grad_accum", "steps", "max_len", "log_every", "keep_states"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out.update(hyper=self.hyper.to_dict(), train_tasks=list(self.train_tasks), betas=list(self.betas))
        return out

    @classmethod
    def from_dict(cls, fields: dict[str, Any], **overrides: Any) -> "SFTConfig":
        """`overrides` may name nested fields with dots: hyper.hidden=512."""
        data = {**fields, "hyper": dict(fields.get("hyper") or {})}
        for key, value in overrides.items():
            head, _, rest = key.partition(".")
            if rest and head == "hyper":
                data["hyper"][rest] = value
            else:
                data[key] = value
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown SFTConfig fields: {sorted(unknown)}")
        data["hyper"] = HyperConfig.from_dict({**HyperConfig().to_dict(), **data["hyper"]})
        return cls(**data)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike, **overrides: Any) -> "SFTConfig":
        return cls.from_dict(yaml.safe_load(Path(path).read_text()) or {}, **overrides)


# ---- pieces (pure where possible) -----------------------------------------------------------------------------
def lr_factor(step: int, config: SFTConfig) -> float:
    """The SFT schedule: warmup_decay with the config's warmup, steps, min_lr_ratio and schedule."""
    return warmup_decay(step, config.warmup_steps, config.steps, config.min_lr_ratio, config.schedule)


def build_optimizer(hyper: nn.Module, config: SFTConfig):
    """AdamW (weight decay on weight matrices, not on biases, norms or embeddings) + the warmup/decay schedule."""
    decayed = {n for n, p in hyper.named_parameters() if p.dim() >= 2 and "emb" not in n}
    groups = [{"params": [p for n, p in hyper.named_parameters() if n in decayed], "weight_decay": config.weight_decay},
              {"params": [p for n, p in hyper.named_parameters() if n not in decayed], "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=config.lr, betas=config.betas)
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, config))


def mean_adapter_penalty(lora) -> Tensor:
    """Sum over targets of ||mean over the batch of B||^2 / numel: zero when the batch's adapters share no B."""
    return sum(b.mean(0).pow(2).mean() for b in lora.b) / len(lora.b)


def sft_step(net: nn.Module, model: nn.Module, table: EmbeddingTable, batches: Sequence[Batch], optimizer,
             scheduler, config: SFTConfig, device: torch.device, others: Sequence[list[str]] = ()
             ) -> dict[str, float]:
    """One optimizer step over the micro-batches: each sample's adapter is generated from its own description,
    the loss is the mean over every completion token of the step (+ the optional penalties); returns metrics.
    `others[i]` gives, per row of batch i, another task's description for the margin loss."""
    total = sum(b.target_tokens for b in batches)  # normalise by the whole step's completion tokens
    loss_sum, tokens, padded, extra = 0.0, 0, 0, {"penalty": 0.0, "margin_loss": 0.0}
    rows = sum(len(b.descriptions) for b in batches)
    for i, batch in enumerate(batches):
        batch = batch.to(device)
        last = i == len(batches) - 1
        with (net.no_sync() if hasattr(net, "no_sync") and not last else nullcontext()):  # DDP: reduce once
            lora = net(table.stack(batch.descriptions).to(device))
            with inject(model, lora, dropout=config.lora_dropout):
                sums, counts = sample_losses(model, batch)
            loss = sums.sum()
            objective = loss / max(1, total)
            if config.mean_penalty > 0:
                pen = mean_adapter_penalty(lora)
                objective = objective + config.mean_penalty * pen * len(batch.descriptions) / rows
                extra["penalty"] += float(pen.detach()) / len(batches)
            if config.margin_weight > 0 and others:
                with inject(model, net(table.stack(others[i]).to(device)), dropout=config.lora_dropout):
                    wrong, _ = sample_losses(model, batch)
                per = counts.clamp(min=1)
                hinge = torch.relu(config.margin - (wrong - sums) / per)  # (B,) nats per token
                objective = objective + config.margin_weight * hinge.sum() / rows
                extra["margin_loss"] += float(hinge.detach().sum()) / rows
            objective.backward()
        loss_sum, tokens = loss_sum + float(loss.detach()), tokens + int(batch.attention_mask.sum())
        padded += batch.input_ids.numel()
    params = [p for group in optimizer.param_groups for p in group["params"]]
    grad_norm = nn.utils.clip_grad_norm_(params, config.max_grad_norm or math.inf)
    lr = scheduler.get_last_lr()[0]
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return {"loss": loss_sum / max(1, total), "lr": lr, "grad_norm": float(grad_norm), "tokens": tokens,
            "target_tokens": total, "padded_tokens": padded, "samples": rows,
            **{k: v for k, v in extra.items() if v}}


@torch.no_grad()
def evaluate(hyper: HyperLoRA, model: nn.Module, tokenizer, table: EmbeddingTable, items, config: SFTConfig,
             device: torch.device) -> dict[str, float]:
    """Held-out loss (token mean) and greedy exact match on the first `eval_generate` items."""
    was_training = hyper.training
    hyper.eval()
    total, count = 0.0, 0
    for batch in make_batches(items, tokenizer, table, config.max_len, config.eval_batch_size, config.chat_template):
        batch = batch.to(device)
        with inject(model, hyper(table.stack(batch.descriptions).to(device))):
            loss, n = completion_loss(model, batch)
        total, count = total + float(loss), count + n
    out = {"eval_loss": total / max(1, count), "eval_tokens": count}
    gen = list(items)[: config.eval_generate]
    if gen:
        hits = 0
        for start in range(0, len(gen), config.eval_batch_size):
            chunk = gen[start:start + config.eval_batch_size]
            samples = [encode(tokenizer, t.name, d, e, config.max_len, config.chat_template) for t, d, e in chunk]
            batch = collate([prompt_only(s) for s in samples], pad_id(tokenizer), side="left").to(device)
            with inject(model, hyper(table.stack(batch.descriptions).to(device))):
                new = model.generate(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                                     max_new_tokens=config.eval_max_new_tokens, do_sample=False,
                                     pad_token_id=pad_id(tokenizer))[:, batch.input_ids.shape[1]:]
            for s, ids in zip(samples, new.tolist()):
                answer = tokenizer.decode(ids, skip_special_tokens=True).strip()
                hits += any(answer == t.strip() for t in s.targets)
        out["eval_exact_match"] = hits / len(gen)
    hyper.train(was_training)
    return out


def evaluate_steering(hyper: HyperLoRA, model: nn.Module, tokenizer, table: EmbeddingTable, tiers: dict,
                      config: SFTConfig) -> dict[str, float]:
    """training.steering per tier: eval_steer_<tier>_{other,random} margins (nats) and their standard errors."""
    from training.steering import steering

    out = {}
    for tier, tier_tasks in tiers.items():
        res = steering(hyper, model, tokenizer, table.embed, tier_tasks, config.steering_per_task, config.seed,
                       config.max_len, config.eval_batch_size, config.chat_template)
        out.update({f"eval_steer_{tier}_other": res["other_desc_margin_nats"],
                    f"eval_steer_{tier}_random": res["random_desc_margin_nats"],
                    f"eval_steer_{tier}_se": res["stderr_nats"], f"eval_steer_{tier}_loss": res["right_loss"]})
    return out


# ---- the loop -------------------------------------------------------------------------------------------------
def _setup_device(config: SFTConfig) -> tuple[torch.device, int, int]:
    """(device, rank, world size); initialises torch.distributed under torchrun."""
    world, rank = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))
    name = ("cuda" if torch.cuda.is_available() else "cpu") if config.device == "auto" else config.device
    if world > 1:
        if name.startswith("cuda"):  # one GPU per rank
            name = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
            torch.cuda.set_device(torch.device(name))
        torch.distributed.init_process_group("nccl" if name.startswith("cuda") else "gloo")
    return torch.device(name), rank, world


def train_sft(config: SFTConfig, *, tasks: tuple[Sequence, Sequence] | None = None, encoder=None,
              tiers: dict | None = None) -> Path:
    """Run SFT as configured; returns out_dir/checkpoint. `tasks` = (train, heldout) Task lists, `encoder` (a
    TaskEncoder) and `tiers` (tier -> tasks for the steering metric) replace the ones the config names (tests use
    in-process ones)."""
    out_dir = Path(config.out_dir)
    device, rank, world = _setup_device(config)
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    model, tokenizer = load_frozen_base(config.base_model, config.base_dtype, device)
    if encoder is None:
        from hypernet import SentenceTransformerEncoder
        from t2l.assets import prepare_encoder

        encoder = SentenceTransformerEncoder(prepare_encoder(config.encoder), device=str(device), name=config.encoder)
    if encoder.dim != config.hyper.embed_dim:
        raise ValueError(f"encoder {config.encoder!r} gives {encoder.dim}-d embeddings but hyper.embed_dim is "
                         f"{config.hyper.embed_dim}")
    plan = make_plan(config, tokenizer, tasks, tiers)
    table, held = EmbeddingTable(encoder), plan.held

    torch.manual_seed(config.seed)
    hyper = HyperLoRA(config.hyper, targets_from_model(model, config.hyper.target_modules)).to(device).train()
    states = sorted((out_dir / "state").glob("step-*.pt"))
    # Centre: mean over every training description (each task's phrasings weigh 1/task). Embedding them all takes
    # minutes on CPU; a resumed run gets the centre back from its state (task_center is a persistent buffer).
    if config.init_from and not states:
        warm_start(hyper, config.init_from, config.hyper)
    if config.center_embeddings and not states and not config.init_from:
        for t in plan.train_tasks:
            table.ensure(t)
        hyper.set_task_center(torch.stack([table.stack(t.train_descriptions).mean(0) for t in plan.train_tasks])
                              .mean(0).to(device))
    if config.offset_lora:
        from hypernet import Adapter

        hyper.set_offset(Adapter.from_peft(config.offset_lora))
    optimizer, scheduler = build_optimizer(hyper, config)
    step, metrics_path = 0, out_dir / "metrics.jsonl"
    if states and not config.resume:
        raise ValueError(f"{out_dir} holds states of an earlier run: resume it or choose another output folder")
    if states:
        step = load_state(states[-1], hyper, optimizer, scheduler, config, RESUME_FREE)
    if rank == 0:
        trim_metrics(metrics_path, step)  # a fresh run starts an empty log; a resumed one drops lines after `step`
    net = hyper
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(hyper, device_ids=[device.index] if device.type == "cuda" else None)
    out_dir.mkdir(parents=True, exist_ok=True)

    def log(record: dict) -> None:
        if rank == 0:
            with metrics_path.open("a") as f:
                f.write(json.dumps(record) + "\n")

    from tqdm.auto import tqdm

    bar = tqdm(total=config.steps, initial=step, disable=not config.progress or rank != 0, desc="sft", unit="step")
    started, last = time.perf_counter(), {}
    while step < config.steps:
        tick = time.perf_counter()
        items = describe_in_prompt(plan.sampler.draws(step, plan.per_step, rank, world), config.desc_in_prompt,
                                   config.seed, step, rank)
        margin = config.margin_weight > 0 and plan.group > 0
        others = other_descriptions(items, plan.group) if margin else []
        batches = make_batches(items, tokenizer, table, config.max_len, config.batch_size, config.chat_template,
                               bucket=not margin)
        others = [others[i:i + config.batch_size] for i in range(0, len(others), config.batch_size)]
        last = sft_step(net, model, table, batches, optimizer, scheduler, config, device, others)
        step += 1
        last.update(step=step, seconds=time.perf_counter() - tick, elapsed=time.perf_counter() - started)
        if step % config.log_every == 0 or step == config.steps:
            log(last)
        bar.update(1)
        bar.set_postfix(loss=f"{last['loss']:.3f}", lr=f"{last['lr']:.2e}")
        if rank == 0 and (held or plan.tiers) and config.eval_every != -1 and (
                step == config.steps or (config.eval_every > 0 and step % config.eval_every == 0)):
            if held:
                last.update(evaluate(hyper, model, tokenizer, table, held, config, device))
            last.update(evaluate_steering(hyper, model, tokenizer, table, plan.tiers, config))
            log({"step": step, **{k: v for k, v in last.items() if k.startswith("eval_")}})
        if rank == 0 and (step == config.steps or (config.save_every > 0 and step % config.save_every == 0)):
            save_state(out_dir, step, hyper, optimizer, scheduler, config)
        if world > 1:
            torch.distributed.barrier()
    bar.close()
    if world > 1:  # DDP must have kept every rank's weights identical; refuse to save a run where it did not
        digest = torch.stack([p.detach().double().sum() for p in hyper.parameters()]).to(device)
        copies = [torch.zeros_like(digest) for _ in range(world)]
        torch.distributed.all_gather(copies, digest)
        if not all(torch.allclose(c, copies[0], rtol=1e-6, atol=1e-9) for c in copies):
            raise RuntimeError("DDP ranks hold different hypernet weights after training")
    final = out_dir / "checkpoint"
    if rank == 0:
        provenance = {"trained": True, "objective": "sft", "created_by": "training.sft", "steps": step,
                      "config": config.to_dict(), "git_commit": git_commit(), "final_metrics": last,
                      "tasks": {"train": sorted(t.name for t in plan.train_tasks),
                                "heldout": sorted({t.name for t, _, _ in held})}}
        save_checkpoint(final, hyper, config.base_model, getattr(encoder, "name", config.encoder), provenance)
    if world > 1:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return final


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.sft", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="YAML file of SFTConfig fields (training/configs/*.yaml)")
    parser.add_argument("--out", help="output folder (overrides out_dir)")
    parser.add_argument("--resume", action="store_true", help="continue from the latest state in the output folder")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="override a field; nested with dots (hyper.hidden=512); repeatable")
    args = parser.parse_args(argv)
    bad = [pair for pair in args.sets if "=" not in pair.strip("=")]
    if bad:
        parser.error(f"--set expects KEY=VALUE, got {bad}")
    overrides = {k.strip(): parse_value(v) for k, _, v in (pair.partition("=") for pair in args.sets)}
    if args.out:
        overrides["out_dir"] = args.out
    if args.resume:
        overrides["resume"] = True
    final = train_sft(SFTConfig.from_yaml(args.config, **overrides))
    print(json.dumps({"checkpoint": str(final)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
