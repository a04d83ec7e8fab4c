"""What a SFT run holds and how it starts and ends: devices and DDP ranks, the frozen base and encoder, the plan,
the hypernetwork (fresh, warm-started, centred, with an offset), AdamW, the exact resume from the latest state, the
metrics log, and the final checkpoint with its provenance. The step loop itself is training.sft."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from ground.assets import prepare_encoder
from hypernet import Adapter
from hypernet import HyperLoRA, save_checkpoint, targets_from_model
from hypernet import SentenceTransformerEncoder
from training.common import load_frozen_base
from training.data import EmbeddingTable
from training.plan import Plan, make_plan
from training.state import git_commit, load_state, trim_metrics, warm_start


@dataclass
class Run:
    """A SFT run in progress (one per rank)."""

    device: torch.device  # where the base model and the hypernetwork live
    rank: int  # DDP rank (0 without torchrun)
    world: int  # DDP world size (1 without torchrun)
    model: nn.Module  # the frozen base model
    tokenizer: Any  # its tokenizer
    encoder: Any  # the frozen description encoder (hypernet.TaskEncoder)
    table: EmbeddingTable  # description -> embedding, filled as tasks are drawn
    plan: Plan  # what the run draws from and evaluates on
    hyper: HyperLoRA  # the hypernetwork being trained
    net: nn.Module  # `hyper`, or its DDP wrapper
    optimizer: torch.optim.Optimizer  # AdamW over the hypernetwork
    scheduler: Any  # the warmup/decay schedule
    step: int  # optimizer steps done (the resumed step after a resume)
    out_dir: Path  # states, metrics.jsonl, checkpoint

    @property
    def metrics_path(self) -> Path:
        return self.out_dir / "metrics.jsonl"

    def log(self, record: dict) -> None:
        """Append a metrics line (rank 0 only)."""
        if self.rank == 0:
            with self.metrics_path.open("a") as f:
                f.write(json.dumps(record) + "\n")


def setup_device(config) -> tuple[torch.device, int, int]:
    """(device, rank, world size); initialises torch.distributed under torchrun."""
    world, rank = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))
    name = ("cuda" if torch.cuda.is_available() else "cpu") if config.device == "auto" else config.device
    if world > 1:
        if name.startswith("cuda"):  # one GPU per rank
            name = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
            torch.cuda.set_device(torch.device(name))
        torch.distributed.init_process_group("nccl" if name.startswith("cuda") else "gloo")
    return torch.device(name), rank, world


def load_encoder(config, device: torch.device):
    """The configured sentence-transformers encoder (offline assets resolved)."""
    return SentenceTransformerEncoder(prepare_encoder(config.encoder), device=str(device), name=config.encoder)


def init_hypernet(config, model: nn.Module, plan: Plan, table: EmbeddingTable, device: torch.device,
                  fresh: bool) -> HyperLoRA:
    """The seeded HyperLoRA; a `fresh` run (no state to resume) also takes the warm start (init_from) or the
    embedding centre; the offset LoRA is set either way (it is not in the state)."""
    torch.manual_seed(config.seed)
    hyper = HyperLoRA(config.hyper, targets_from_model(model, config.hyper.target_modules)).to(device).train()
    if config.init_from and fresh:
        warm_start(hyper, config.init_from, config.hyper)
    # Centre: mean over every training description (each task's phrasings weigh 1/task). Embedding them all takes
    # minutes on CPU; a resumed run gets the centre back from its state (task_center is a persistent buffer).
    if config.center_embeddings and fresh and not config.init_from:
        for t in plan.train_tasks:
            table.ensure(t)
        hyper.set_task_center(torch.stack([table.stack(t.train_descriptions).mean(0) for t in plan.train_tasks])
                              .mean(0).to(device))
    if config.offset_lora:
        hyper.set_offset(Adapter.from_peft(config.offset_lora))
    return hyper


def start_run(config, build_optimizer, resume_free: frozenset, tasks: tuple[Sequence, Sequence] | None = None,
              encoder=None, tiers: dict | None = None) -> Run:
    """Everything a run needs, resumed exactly from the latest out_dir/state/step-N.pt when there is one (and
    config.resume is set; a state without it is refused). `build_optimizer(hyper, config)` -> (AdamW, schedule)."""
    out_dir = Path(config.out_dir)
    device, rank, world = setup_device(config)
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    model, tokenizer = load_frozen_base(config.base_model, config.base_dtype, device)
    encoder = encoder if encoder is not None else load_encoder(config, device)
    if encoder.dim != config.hyper.embed_dim:
        raise ValueError(f"encoder {config.encoder!r} gives {encoder.dim}-d embeddings but hyper.embed_dim is "
                         f"{config.hyper.embed_dim}")
    plan = make_plan(config, tokenizer, tasks, tiers)
    table = EmbeddingTable(encoder)
    states = sorted((out_dir / "state").glob("step-*.pt"))
    hyper = init_hypernet(config, model, plan, table, device, fresh=not states)
    optimizer, scheduler = build_optimizer(hyper, config)
    if states and not config.resume:
        raise ValueError(f"{out_dir} holds states of an earlier run: resume it or choose another output folder")
    step = load_state(states[-1], hyper, optimizer, scheduler, config, resume_free) if states else config.init_step
    if rank == 0:
        trim_metrics(out_dir / "metrics.jsonl", step)  # fresh: an empty log; resumed: lines after `step` go
    net = hyper
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(hyper, device_ids=[device.index] if device.type == "cuda" else None)
    out_dir.mkdir(parents=True, exist_ok=True)
    return Run(device, rank, world, model, tokenizer, encoder, table, plan, hyper, net, optimizer, scheduler, step,
               out_dir)


def check_replicas_agree(run: Run) -> None:
    """DDP must have kept every rank's weights identical; refuse to save a run where it did not."""
    if run.world == 1:
        return
    digest = torch.stack([p.detach().double().sum() for p in run.hyper.parameters()]).to(run.device)
    copies = [torch.zeros_like(digest) for _ in range(run.world)]
    torch.distributed.all_gather(copies, digest)
    if not all(torch.allclose(c, copies[0], rtol=1e-6, atol=1e-9) for c in copies):
        raise RuntimeError("DDP ranks hold different hypernet weights after training")


def provenance(run: Run, config, last: dict) -> dict:
    """What the final checkpoint records about how it was trained."""
    return {"trained": True, "objective": "sft", "created_by": "training.sft", "steps": run.step,
            "config": config.to_dict(), "git_commit": git_commit(), "final_metrics": last,
            "tasks": {"train": sorted(t.name for t in run.plan.train_tasks),
                      "heldout": sorted({t.name for t, _, _ in run.plan.held})}}


def write_checkpoint(run: Run, config, last: dict, folder: Path) -> Path:
    """A self-contained checkpoint of the hypernetwork now, with its provenance (the final one, or a snapshot)."""
    save_checkpoint(folder, run.hyper, config.base_model, getattr(run.encoder, "name", config.encoder),
                    provenance(run, config, last))
    return folder


def save_snapshot(run: Run, config, last: dict) -> Path:
    """out_dir/snapshots/step-N: a checkpoint along the run (evaluated later along the run's curve)."""
    return write_checkpoint(run, config, last, run.out_dir / "snapshots" / f"step-{run.step:07d}")


def finish_run(run: Run, config, last: dict) -> Path:
    """Check the DDP replicas, write out_dir/checkpoint (rank 0), leave the process group; returns the folder."""
    check_replicas_agree(run)
    final = run.out_dir / "checkpoint"
    if run.rank == 0:
        write_checkpoint(run, config, last, final)
    if run.world > 1:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return final
