"""Reconstruction training (T2L paper, Sec. 3.2): distil a library of per-task LoRAs into a HyperLoRA.

The library is a folder of PEFT adapters written by `training.lora_library oracle` (one per task, with the task
name in its train_log.json). Each step draws one training description per library task, generates all their
adapters in one hypernet pass and takes the L1 distance to the library's A and B matrices (the paper's loss on the
LoRA weights; both sides share rank, alpha and rsLoRA, so the matrices compare directly). No base model is needed,
so this runs in seconds per hundred steps on CPU. Reported per task: relative error of delta W = scale * B A, the
quantity the base model actually sees.

    python -m training.recon --library runs/library --out runs/recon [--steps 1500] [--config FILE] [--set lr=3e-4]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from ground.assets import DEFAULT_ENCODER
from ground.assets import prepare_encoder
from hypernet import Adapter, HyperConfig, HyperLoRA, save_checkpoint
from hypernet import SentenceTransformerEncoder
from hypernet.adapter import WEIGHTS_NAME
from training.common import warmup_decay
from training.config import ConfigFile, add_config_arguments, config_from_args
from training.tasks import load_named_tasks


@dataclass
class ReconConfig(ConfigFile):
    """A reconstruction run. Defaults: the CPU case (a 16-task library in about a minute)."""

    hyper: HyperConfig = field(default_factory=HyperConfig)  # the hypernetwork (must match the library's LoRAs)
    encoder: str = DEFAULT_ENCODER  # description encoder (frozen)
    steps: int = 1500  # AdamW steps; each sees every library task once
    lr: float = 1e-3  # peak learning rate
    weight_decay: float = 0.01  # AdamW weight decay
    seed: int = 0  # init and description draws
    warmup_steps: int = 50  # linear warmup, then cosine decay
    min_lr_ratio: float = 0.1  # the decay ends at min_lr_ratio * lr
    library: str = ""  # folder of oracle LoRAs to distil (training.lora_library oracle --tasks library)
    out_dir: str = "runs/recon"  # where checkpoint/ and recon.json go
    threads: int = 0  # torch CPU threads (0 = torch's default)
    progress: bool = True  # show a progress bar

    def __post_init__(self) -> None:
        if isinstance(self.hyper, dict):
            self.hyper = HyperConfig.from_dict({**HyperConfig().to_dict(), **self.hyper})


def load_library(folder: Path) -> tuple[list[str], list[Adapter]]:
    """(task names, adapters) of every adapter sub-folder that has a train_log.json naming its task."""
    names, adapters = [], []
    for sub in sorted(p for p in Path(folder).iterdir() if (p / WEIGHTS_NAME).exists()):
        log = json.loads((sub / "train_log.json").read_text())
        names.append(log["task"])
        adapters.append(Adapter.from_peft(sub))
    if not adapters:
        raise ValueError(f"no PEFT adapters under {folder} (train them with: python -m training.lora_library oracle)")
    return names, adapters


def _aligned(hyper: HyperLoRA, adapters: Sequence[Adapter]) -> tuple[list[Tensor], list[Tensor]]:
    """Library A and B stacked per hypernet target (N, r, in) / (N, out, r), matched by module path."""
    first = {t.path: i for i, t in enumerate(adapters[0].targets)}
    missing = [t.path for t in hyper.targets if t.path not in first]
    if missing:
        raise ValueError(f"the library adapters do not cover {missing[:3]} (different target modules?)")
    a = [torch.stack([ad.a[first[t.path]] for ad in adapters]).float() for t in hyper.targets]
    b = [torch.stack([ad.b[first[t.path]] for ad in adapters]).float() for t in hyper.targets]
    return a, b


def recon_loss(lora, a_ref: Sequence[Tensor], b_ref: Sequence[Tensor]) -> Tensor:
    """Mean absolute error over every A and B entry of every target."""
    total = sum((x - y).abs().sum() for x, y in zip(lora.a, a_ref)) + sum(
        (x - y).abs().sum() for x, y in zip(lora.b, b_ref))
    count = sum(x.numel() for x in a_ref) + sum(x.numel() for x in b_ref)
    return total / count


@torch.no_grad()
def delta_errors(lora, a_ref: Sequence[Tensor], b_ref: Sequence[Tensor]) -> list[float]:
    """Per adapter: ||dW_gen - dW_ref||_F / ||dW_ref||_F over all targets (dW = B A; the scale cancels)."""
    num = torch.zeros(a_ref[0].shape[0])
    den = torch.zeros(a_ref[0].shape[0])
    for a, b, ar, br in zip(lora.a, lora.b, a_ref, b_ref):
        gen, ref = b @ a, br @ ar  # (N, out, in)
        num += (gen - ref).pow(2).sum((1, 2))
        den += ref.pow(2).sum((1, 2))
    return (num.sqrt() / den.sqrt().clamp_min(1e-12)).tolist()


def train_recon(config: ReconConfig, tasks: Sequence, adapters: Sequence[Adapter], encoder, out_dir: Path,
                base_model: str, progress: bool = True) -> dict:
    """Fit a HyperLoRA to the library; writes out_dir/checkpoint and out_dir/recon.json; returns the report."""
    from tqdm.auto import tqdm

    first = adapters[0]
    if (first.rank, first.alpha, first.use_rslora) != (config.hyper.rank, config.hyper.alpha, config.hyper.use_rslora):
        raise ValueError("library adapters and hyper config differ in rank/alpha/rsLoRA")
    torch.manual_seed(config.seed)
    targets = [t for t in first.targets if t.module in config.hyper.target_modules]
    hyper = HyperLoRA(config.hyper, targets).train()
    a_ref, b_ref = _aligned(hyper, adapters)
    phrasings = [list(t.train_descriptions) for t in tasks]
    table = {d: e for ps in phrasings for d, e in zip(ps, encoder.embed(ps).float())}
    optimizer = torch.optim.AdamW(hyper.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(  # warmup, then cosine to min_lr_ratio
        optimizer, lambda s: warmup_decay(s, config.warmup_steps, config.steps, config.min_lr_ratio))
    rng = np.random.default_rng(config.seed)
    log, started = [], time.perf_counter()
    for step in tqdm(range(config.steps), desc="recon", unit="step", disable=not progress):
        picks = [ps[int(rng.integers(len(ps)))] for ps in phrasings]
        loss = recon_loss(hyper(torch.stack([table[d] for d in picks])), a_ref, b_ref)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(hyper.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        if (step + 1) % 50 == 0 or step == 0:
            log.append({"step": step + 1, "l1": float(loss.detach())})
    hyper.eval()
    per_task = {}
    for i, task in enumerate(tasks):  # every training phrasing of the task, mean error
        lora = hyper(torch.stack([table[d] for d in phrasings[i]]))
        refs_a = [x[i:i + 1].expand(len(phrasings[i]), -1, -1) for x in a_ref]
        refs_b = [x[i:i + 1].expand(len(phrasings[i]), -1, -1) for x in b_ref]
        per_task[task.name] = float(np.mean(delta_errors(lora, refs_a, refs_b)))
    report = {"config": config.to_dict(), "tasks": [t.name for t in tasks],
              "delta_w_relative_error": per_task, "mean_delta_w_relative_error": float(np.mean(list(per_task.values()))),
              "final_l1": log[-1]["l1"], "log": log, "seconds": round(time.perf_counter() - started, 1)}
    out_dir.mkdir(parents=True, exist_ok=True)
    provenance = {"trained": True, "objective": "reconstruction", "created_by": "training.recon",
                  "steps": config.steps, "library": [t.name for t in tasks], "report": {
                      k: report[k] for k in ("mean_delta_w_relative_error", "final_l1")}}
    save_checkpoint(out_dir / "checkpoint", hyper, base_model, getattr(encoder, "name", config.encoder), provenance)
    (out_dir / "recon.json").write_text(json.dumps(report, indent=1))
    return report


def run_recon(config: ReconConfig) -> dict:
    """Load config.library and its tasks, the encoder; train; returns the report (out_dir/recon.json)."""
    if not config.library:
        raise ValueError("no library to distil: set library (--library FOLDER)")
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    names, adapters = load_library(Path(config.library))
    encoder = SentenceTransformerEncoder(prepare_encoder(config.encoder), name=config.encoder)
    return train_recon(config, load_named_tasks(names), adapters, encoder, Path(config.out_dir),
                       adapters[0].base_model, config.progress)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.recon", description=__doc__.split("\n\n")[0])
    add_config_arguments(parser, "ReconConfig")
    parser.add_argument("--library", help="folder of oracle LoRAs (training.lora_library oracle); sets library")
    parser.add_argument("--out", help="output folder (checkpoint/ and recon.json); sets out_dir")
    parser.add_argument("--steps", type=int, help="sets steps")
    parser.add_argument("--lr", type=float, help="sets lr")
    args = parser.parse_args(argv)
    config = config_from_args(ReconConfig, args, parser, {"library": args.library, "out_dir": args.out,
                                                          "steps": args.steps, "lr": args.lr})
    if not config.library:
        parser.error("no library to distil: --library FOLDER (or library: in the YAML)")
    report = run_recon(config)
    print(json.dumps({"checkpoint": str(Path(config.out_dir) / "checkpoint"),
                      "mean_delta_w_relative_error": report["mean_delta_w_relative_error"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
