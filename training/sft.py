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

Here: the config, one optimizer step and the step loop. Start (devices, models, exact resume) and end (checkpoint,
provenance): training/sft_setup.py; the periodic evaluation: training/sft_eval.py.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import torch
from torch import Tensor, nn

from hypernet import HyperConfig, inject
from ground.assets import DEFAULT_BASE_MODEL, DEFAULT_ENCODER
from training.common import sample_losses, warmup_decay
from training.config import ConfigFile, add_config_arguments, config_from_args
from training.data import Batch, EmbeddingTable, batch_rows
from training.export import export_state, latest_state, merge_metrics
from training.plan import describe_in_prompt, other_descriptions
from training.sft_eval import eval_due, periodic_eval
from training.sft_setup import Run, finish_run, save_snapshot, start_run
from training.state import save_state

# Fields a resumed run may change without changing the past.
RESUME_FREE = frozenset({"steps", "budget_s", "snapshot_every", "export_every", "export_to", "export_metrics",
                         "out_dir", "resume", "device", "eval_every",
                         "save_every", "log_every", "keep_states", "progress", "threads", "eval_examples_per_task", "eval_generate", "eval_max_new_tokens",
                         "eval_batch_size", "max_eval_tasks", "steering_tasks", "steering_per_task"})


@dataclass
class SFTConfig(ConfigFile):
    """Everything a SFT run depends on. Defaults are the tiny CPU case; training/configs/*.yaml set the others."""

    base_model: str = DEFAULT_BASE_MODEL  # HF id or folder of the frozen base model
    encoder: str = DEFAULT_ENCODER  # sentence-transformers id or folder (frozen)
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
    init_step: int = 0  # with init_from: continue a run that stopped after this many steps (its schedule and draws
    #                     go on from there; AdamW starts afresh and is re-warmed over warmup_steps)
    budget_s: float = 0.0  # > 0: after 10 steps, cut `steps` so the run (and its schedule) ends within this many
    #                       seconds of training (a GPU call has a fixed time; evaluation and saving come after)
    snapshot_every: int = 0  # also write out_dir/snapshots/step-N (a full checkpoint) every N steps (0 = never)
    export_every: int = 0  # every N steps (at a state save) also export the weights to `export_to` (0 = never)
    export_to: str = ""  # a folder in the repository (float16 weights, `t2l train export`): the run's progress
    #                      survives the machine even if nobody exports by hand before the session ends
    export_metrics: str = ""  # with export_to: keep this copy of metrics.jsonl up to the exported step
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
        if self.init_step and not self.init_from:
            raise ValueError("init_step continues a stopped run: it needs init_from (that run's weights)")
        if not 0 <= self.init_step < self.steps:
            raise ValueError(f"init_step must be in [0, steps), got {self.init_step} with steps={self.steps}")
        for name in ("batch_size", "grad_accum", "steps", "max_len", "log_every", "keep_states"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


# ---- pieces (pure where possible) -----------------------------------------------------------------------------
def lr_factor(step: int, config: SFTConfig) -> float:
    """The SFT schedule at optimizer step `step` (0-based, counted from the run's true start): warmup_decay with the
    config's warmup, steps, min_lr_ratio and schedule. A run continued at init_step > 0 (fresh AdamW moments) is
    re-warmed linearly over warmup_steps from there, so the new optimizer's first steps stay small."""
    factor = warmup_decay(step, config.warmup_steps, config.steps, config.min_lr_ratio, config.schedule)
    if config.init_step and step >= config.init_step:
        factor *= min(1.0, (step - config.init_step + 1) / max(1, config.warmup_steps))
    return factor


def build_optimizer(hyper: nn.Module, config: SFTConfig):
    """AdamW (weight decay on weight matrices, not on biases, norms or embeddings) + the warmup/decay schedule."""
    decayed = {n for n, p in hyper.named_parameters() if p.dim() >= 2 and "emb" not in n}
    groups = [{"params": [p for n, p in hyper.named_parameters() if n in decayed], "weight_decay": config.weight_decay},
              {"params": [p for n, p in hyper.named_parameters() if n not in decayed], "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=config.lr, betas=config.betas)
    # LambdaLR counts its own steps from 0; a continued run's count starts at init_step
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s + config.init_step, config))


BUDGET_CALIBRATION = 10  # steps timed before budget_s fixes the number of steps


def fit_steps(step: int, seconds_per_step: float, config: SFTConfig) -> int:
    """The total steps that end the run within config.budget_s of training at the measured pace (never more than
    configured, never fewer than done). The schedule (warmup, cosine) then runs over this total."""
    left = config.budget_s - seconds_per_step * BUDGET_CALIBRATION
    return max(step, min(config.steps, step + int(left / max(seconds_per_step, 1e-9))))


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


# ---- the loop -------------------------------------------------------------------------------------------------
def step_data(run: Run, config: SFTConfig) -> tuple[list[Batch], list[list[str]]]:
    """The micro-batches of optimizer step `run.step` on this rank (a pure function of seed, step and rank), and
    per micro-batch the other descriptions of the margin loss (empty without it)."""
    items = describe_in_prompt(run.plan.sampler.draws(run.step, run.plan.per_step, run.rank, run.world),
                               config.desc_in_prompt, config.seed, run.step, run.rank)
    margin = config.margin_weight > 0 and run.plan.group > 0
    others = other_descriptions(items, run.plan.group) if margin else []
    # Length buckets: the micro-batches hold rows of similar length, so the step computes real tokens, not padding
    # (the loss is normalised by the whole step's tokens, so the grouping leaves it and its gradient unchanged).
    grouped = batch_rows(items, run.tokenizer, run.table, config.max_len, config.batch_size, config.chat_template)
    return [b for b, _ in grouped], [[others[i] for i in rows] for _, rows in grouped] if margin else []


def train_steps(run: Run, config: SFTConfig) -> dict:
    """Optimizer steps from run.step to config.steps: log, evaluate and save when due; returns the last metrics."""
    from tqdm.auto import tqdm

    bar = tqdm(total=config.steps, initial=run.step, disable=not config.progress or run.rank != 0, desc="sft",
               unit="step")
    started, last, first = time.perf_counter(), {}, run.step
    while run.step < config.steps:
        tick = time.perf_counter()
        batches, others = step_data(run, config)
        last = sft_step(run.net, run.model, run.table, batches, run.optimizer, run.scheduler, config, run.device,
                        others)
        run.step += 1
        step = run.step
        last.update(step=step, seconds=time.perf_counter() - tick, elapsed=time.perf_counter() - started)
        if config.budget_s > 0 and step - first == BUDGET_CALIBRATION:
            config.steps = fit_steps(step, last["elapsed"] / BUDGET_CALIBRATION, config)
            bar.total = config.steps
        if step % config.log_every == 0 or step == config.steps:
            run.log(last)
        bar.update(1)
        bar.set_postfix(loss=f"{last['loss']:.3f}", lr=f"{last['lr']:.2e}")
        if run.rank == 0 and (run.plan.held or run.plan.tiers) and eval_due(step, config):
            last.update(periodic_eval(run, config))
            run.log({"step": step, **{k: v for k, v in last.items() if k.startswith("eval_")}})
        if run.rank == 0 and (step == config.steps or (config.save_every > 0 and step % config.save_every == 0)):
            save_state(run.out_dir, step, run.hyper, run.optimizer, run.scheduler, config)
            if config.export_to and config.export_every > 0 and (step % config.export_every == 0 or
                                                                  step == config.steps):
                export_run(run.out_dir, config)
        if run.rank == 0 and config.snapshot_every > 0 and step % config.snapshot_every == 0:
            save_snapshot(run, config, last)
        if run.world > 1:
            torch.distributed.barrier()
    bar.close()
    return last


def export_run(out_dir: Path, config: SFTConfig) -> None:
    """The latest state's weights to config.export_to (and its metrics to export_metrics), as `t2l train export`."""
    provenance = export_state(latest_state(Path(out_dir)), Path(config.export_to))
    if config.export_metrics:
        merge_metrics(Path(out_dir) / "metrics.jsonl", Path(config.export_metrics), config.init_step,
                      provenance["steps"])


def train_sft(config: SFTConfig, *, tasks: tuple[Sequence, Sequence] | None = None, encoder=None,
              tiers: dict | None = None) -> Path:
    """Run SFT as configured; returns out_dir/checkpoint. `tasks` = (train, heldout) Task lists, `encoder` (a
    TaskEncoder) and `tiers` (tier -> tasks for the steering metric) replace the ones the config names (tests use
    in-process ones)."""
    run = start_run(config, build_optimizer, RESUME_FREE, tasks, encoder, tiers)
    last = train_steps(run, config)
    return finish_run(run, config, last)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.sft", description=__doc__.split("\n\n")[0])
    add_config_arguments(parser, "SFTConfig (training/configs/*.yaml)", required=True)
    parser.add_argument("--out", help="output folder (sets out_dir)")
    parser.add_argument("--resume", action="store_true", help="continue from the latest state in the output folder")
    args = parser.parse_args(argv)
    config = config_from_args(SFTConfig, args, parser, {"out_dir": args.out, "resume": args.resume or None})
    print(json.dumps({"checkpoint": str(train_sft(config))}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
