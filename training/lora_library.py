"""LoRA baselines trained with peft: per-task (oracle) LoRAs and one multi-task LoRA (T2L paper, Sec. 4 baselines).

Every adapter has the hypernet's shape and scaling (rank, alpha, rsLoRA and target modules come from a HyperConfig)
so a library adapter, a T2L adapter and the reconstruction target are the same kind of object, saved as standard
PEFT folders (`hypernet.Adapter` reads them back).

    python -m training.lora_library oracle --tasks heldout --out runs/oracle      # one LoRA per held-out task
    python -m training.lora_library oracle --tasks library --out runs/library     # the reconstruction library
    python -m training.lora_library multitask --out runs/multitask                # one LoRA over all train tasks
    python -m training.lora_library suite-multitask --out runs/suite-multitask    # the suite's grouped draws
    python -m training.lora_library suite-oracle --tasks 16 --out runs/suite-oracles  # spread trained + held-out ops
    python -m training.lora_library --config lora.yaml --set steps=40     # LoRATrainConfig fields, kind included

Training data never includes a task's evaluation examples: `training.data.eval_split` sets the first
`eval_examples` of a seeded permutation aside for `t2l eval` and these trainers draw only from the rest.
Each LoRA gets `steps` AdamW steps of `batch_size` examples (completion-only loss, the SFT data path), so its cost
is known before it starts; the per-step wall time goes to out/<task>/train_log.json for the benchmarks'
time-to-adapter comparison.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from ground.assets import DEFAULT_BASE_MODEL
from hypernet import HyperConfig
from hypernet.adapter import WEIGHTS_NAME
from training.common import completion_loss, load_frozen_base, warmup_decay
from training.config import ConfigFile, add_config_arguments, config_from_args
from training.data import FamilySampler, collate, encode, eval_split, pad_id, token_length
from training.grouped import GroupedSampler
from training.plan import spread
from training.suite.build import load_split as load_suite_split, op_task, registry, split_for, training_tasks
from training.tasks import load_named_tasks, load_split, load_tasks


KINDS = ("oracle", "multitask", "suite-multitask", "suite-oracle")


@dataclass
class LoRATrainConfig(ConfigFile):
    """How library LoRAs are trained, and (kind .. out_dir) which ones `python -m training.lora_library` trains.
    Defaults: the CPU budget (~1 minute per task on 2 cores)."""

    base_model: str = DEFAULT_BASE_MODEL  # HF id or folder of the frozen base model
    hyper: HyperConfig = field(default_factory=HyperConfig)  # rank, alpha, rsLoRA, target modules to match
    steps: int = 20  # AdamW steps per LoRA
    batch_size: int = 8  # examples per step
    lr: float = 2e-3  # peak learning rate (LoRA B starts at 0, so this is the usual LoRA range)
    warmup_steps: int = 2  # linear warmup, then cosine decay to 10%
    max_len: int = 128  # tokens per example (prompt + completion)
    eval_examples: int = 20  # per task, set aside for evaluation and never trained on
    seed: int = 0  # data order and LoRA A init
    threads: int = 0  # torch CPU threads (0 = default)
    kind: str = "oracle"  # oracle (one per task) | multitask | suite-multitask | suite-oracle
    tasks: str = "heldout"  # oracle: heldout | library | comma-separated names; suite-oracle: trained ops to spread
    library_size: int = 16  # oracle with tasks=library: tasks in the reconstruction library
    split: str = "default"  # committed split (training/splits/<name>.json) the task sets come from
    out_dir: str = ""  # output folder (one sub-folder per LoRA for the oracles)

    def __post_init__(self) -> None:
        if isinstance(self.hyper, dict):
            self.hyper = HyperConfig.from_dict({**HyperConfig().to_dict(), **self.hyper})
        self.tasks = str(self.tasks)
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")


def lora_config(hyper: HyperConfig):
    from peft import LoraConfig

    return LoraConfig(r=hyper.rank, lora_alpha=hyper.alpha, use_rslora=hyper.use_rslora, lora_dropout=0.0,
                      target_modules=list(hyper.target_modules), bias="none", task_type="CAUSAL_LM")


def _loss(model: nn.Module, batch) -> torch.Tensor:
    """Mean next-token cross-entropy over completion tokens (the SFT loss, LM head on those positions only)."""
    total, count = completion_loss(model, batch)
    return total / max(1, count)


def train_lora(model: nn.Module, tokenizer, draw: Callable[[int, int], list], config: LoRATrainConfig,
               out: Path, meta: dict) -> dict:
    """Fit one fresh LoRA on `model` (in place, peft) from `draw(step, n)` -> [(task, description, example)];
    save it as a PEFT folder in `out`; remove it from the model again. Returns the training log."""
    from peft import get_peft_model

    torch.manual_seed(config.seed)
    peft_model = get_peft_model(model, lora_config(config.hyper))
    params = [p for p in peft_model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(  # warmup, then cosine to 10%
        optimizer, lambda s: warmup_decay(s, config.warmup_steps, config.steps, 0.1))
    log, started = [], time.perf_counter()
    peft_model.train()
    for step in range(config.steps):
        items = draw(step, config.batch_size)
        batch = collate([encode(tokenizer, t.name, d, e, config.max_len) for t, d, e in items], pad_id(tokenizer))
        loss = _loss(model, batch)  # peft put the LoRA layers into `model` itself
        loss.backward()
        nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        log.append({"step": step + 1, "loss": float(loss.detach()), "elapsed": time.perf_counter() - started})
    peft_model.eval()
    out.mkdir(parents=True, exist_ok=True)
    peft_model.save_pretrained(str(out))
    record = {**meta, "config": config.to_dict(), "log": log,
              "train_seconds": time.perf_counter() - started}
    (out / "train_log.json").write_text(json.dumps(record, indent=1))
    peft_model.unload()  # the same base model object, LoRA layers removed, for the next task
    return record


def task_draw(task, config: LoRATrainConfig, fits: Callable) -> Callable[[int, int], list]:
    """Draws from one task's training examples (never its evaluation ones), with its training descriptions."""
    _, pool = eval_split(task, config.eval_examples, config.seed)
    if not pool:
        raise ValueError(f"task {task.name} has no examples left after setting {config.eval_examples} aside")
    fitting = [e for e in pool if fits(e)] or pool

    def draw(step: int, n: int) -> list:
        rng = np.random.default_rng([config.seed, step])
        return [(task, task.train_descriptions[0], fitting[int(i)]) for i in rng.integers(len(fitting), size=n)]

    return draw


def library_tasks(train_tasks: Sequence, count: int, seed: int = 0, min_examples: int = 60) -> list:
    """`count` training tasks for the reconstruction library, one per family (seeded), each with enough examples."""
    by_family: dict[str, list] = {}
    for t in sorted(train_tasks, key=lambda t: t.name):
        if len(t.examples) >= min_examples:
            by_family.setdefault(t.family, []).append(t)
    rng = np.random.default_rng(seed)
    families = sorted(by_family)
    picked = [by_family[f][int(rng.integers(len(by_family[f])))] for f in rng.permutation(families)[:count]]
    return sorted(picked, key=lambda t: t.name)


def load_base(name: str, threads: int = 0):
    """The frozen fp32 base model on CPU (training.common.load_frozen_base), after setting torch's thread count."""
    if threads > 0:
        torch.set_num_threads(threads)
    return load_frozen_base(name)


def train_oracles(tasks: Sequence, config: LoRATrainConfig, out_dir: Path, model=None, tokenizer=None) -> list[Path]:
    """One LoRA per task under out_dir/<task name with ':' as '__'>; folders that exist are kept (resumable)."""
    from tqdm.auto import tqdm

    if model is None:
        model, tokenizer = load_base(config.base_model, config.threads)
    fits = lambda e: token_length(tokenizer, e) <= config.max_len  # noqa: E731
    folders = []
    for task in tqdm(tasks, desc="oracle LoRAs", unit="task"):
        folder = out_dir / adapter_dirname(task.name)
        if not (folder / WEIGHTS_NAME).exists():
            train_lora(model, tokenizer, task_draw(task, config, fits), config, folder,
                       {"task": task.name, "family": task.family, "kind": "oracle"})
        folders.append(folder)
    return folders


def train_multitask(tasks: Sequence, config: LoRATrainConfig, out_dir: Path, model=None, tokenizer=None) -> Path:
    """One LoRA over all `tasks`, family-balanced draws (as SFT), descriptions unused (it has no input for them)."""
    if model is None:
        model, tokenizer = load_base(config.base_model, config.threads)
    fits = lambda e: token_length(tokenizer, e) <= config.max_len  # noqa: E731
    sampler = FamilySampler(tasks, config.seed, 0.0, fits)
    train_lora(model, tokenizer, lambda step, n: sampler.draws(step, n), config, out_dir,
               {"task": "multitask", "kind": "multitask", "tasks": len(tasks)})
    return out_dir


def train_suite_multitask(config: LoRATrainConfig, out_dir: Path, bigbench_share: float = 0.1,
                          model=None, tokenizer=None) -> Path:
    """One LoRA on exactly the draws SFT makes on the suite (training.grouped.GroupedSampler over the suite's
    training tasks + a BIG-bench share), descriptions unused: the multi-task baseline of the suite's tiers."""
    if model is None:
        model, tokenizer = load_base(config.base_model, config.threads)
    fits = lambda e: token_length(tokenizer, e) <= config.max_len  # noqa: E731
    other = FamilySampler(load_tasks("train"), config.seed, 0.0, fits) if bigbench_share > 0 else None
    sampler = GroupedSampler(training_tasks(), 4, 4, config.seed, other, bigbench_share)
    config.batch_size = sampler.per_step
    train_lora(model, tokenizer, lambda step, n: sampler.draws(step, n), config, out_dir,
               {"task": "suite-multitask", "kind": "multitask", "bigbench_share": bigbench_share})
    return out_dir


def suite_oracle_tasks(count: int) -> list:
    """`count` trained ops (spread over the sorted names) and count // 2 held-out ops, as training Tasks (train
    inputs, training descriptions); their evaluation inputs are never in them."""
    reg = registry()
    split = split_for(reg, load_suite_split())
    ops = {o.name: o for o in reg.ops}
    names = [n for n in split["train_ops"]]
    picked = [t for t in spread([op_task(ops[n], reg, "train") for n in names], count)]
    held = spread([op_task(ops[n], reg, "train") for n in split["heldout_ops"]], count // 2)
    return picked + held


def adapter_dirname(task_name: str) -> str:
    return task_name.replace(":", "__").replace("/", "_")


def named_tasks(config: LoRATrainConfig) -> list:
    """The tasks an `oracle` run trains: the split's held-out tasks, the reconstruction library, or named ones."""
    if config.tasks == "heldout":
        return load_tasks("heldout", config.split)
    if config.tasks == "library":
        return library_tasks(load_tasks("train", config.split), config.library_size, config.seed)
    names = [n.strip() for n in config.tasks.split(",") if n.strip()]
    split = load_split(config.split)
    unknown = [n for n in names if n not in set(split.train) | set(split.heldout)]
    if unknown:
        raise ValueError(f"unknown task names: {unknown}")
    return load_named_tasks(names)


def run(config: LoRATrainConfig) -> dict:
    """Train what config.kind names into config.out_dir; returns the summary line."""
    if not config.out_dir:
        raise ValueError("no output folder: set out_dir (--out)")
    out = Path(config.out_dir)
    if config.kind == "suite-multitask":
        train_suite_multitask(config, out)
        return {"suite-multitask": str(out)}
    if config.kind == "multitask":
        train_multitask(load_tasks("train", config.split), config, out)
        return {"multitask": str(out)}
    if config.kind == "suite-oracle":
        tasks = suite_oracle_tasks(int(config.tasks) if config.tasks.isdigit() else 16)
        config.eval_examples = 0
    else:
        tasks = named_tasks(config)
    folders = train_oracles(tasks, config, out)
    (out / "index.json").write_text(json.dumps({t.name: f.name for t, f in zip(tasks, folders)}, indent=1))
    return {"oracles": len(folders), "out": str(out)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.lora_library", description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", nargs="?", choices=KINDS, help="what to train (sets kind; default oracle)")
    add_config_arguments(parser, "LoRATrainConfig")
    parser.add_argument("--tasks", help="oracle: heldout | library | comma-separated task names; suite-oracle: count")
    parser.add_argument("--library-size", type=int, help="tasks in the reconstruction library")
    parser.add_argument("--out", help="output folder (sets out_dir)")
    parser.add_argument("--steps", type=int, help="sets steps")
    parser.add_argument("--batch-size", type=int, help="sets batch_size")
    parser.add_argument("--lr", type=float, help="sets lr")
    parser.add_argument("--threads", type=int, help="sets threads")
    parser.add_argument("--split", help="sets split")
    args = parser.parse_args(argv)
    config = config_from_args(LoRATrainConfig, args, parser, {
        "kind": args.kind, "tasks": args.tasks, "library_size": args.library_size, "out_dir": args.out,
        "steps": args.steps, "batch_size": args.batch_size, "lr": args.lr, "threads": args.threads,
        "split": args.split})
    if not config.out_dir:
        parser.error("no output folder: --out FOLDER (or out_dir: in the YAML)")
    print(json.dumps(run(config)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
