"""`python -m bench.refine` (make bench-refine): refining from the T2L adapter vs from a standard LoRA start.

The question issue #22 asks and the paper does not answer: with a handful of examples, does starting the LoRA at
the hypernetwork's output for the task's description beat PEFT's usual start (A Kaiming-uniform, B zero, so the
model starts as the base) at an equal number of steps? For held-out suite operations (never trained on, so the
T2L start is a zero-shot guess) each arm is refined with `hypernet.refine.refine_adapter` on the same `examples`
training examples for each step count, and scored by exact match on `eval_examples` other examples of the task
(`training.data.eval_split`: never trained on). Same seed, lr, batch and rows for both arms. Writes
bench/results/refine.{json,md}.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import asdict, dataclass, replace
from typing import Sequence

import torch

from bench.report import bench_main
from ground.assets import prepare_base_model, prepare_encoder
from hypernet import generate_adapters, load_checkpoint, make_encoder
from hypernet.refine import RefineConfig, refine_adapter
from hypernet.refine import greedy_answers
from server.refine_job import example_rows
from training.config import ConfigFile
from training.data import eval_split
from training.eval_tiers import load_tiers


@dataclass
class RefineBenchConfig(ConfigFile):
    """What the bench measures; the defaults (the committed bench/results/refine.json) take ~17 minutes on 2 cores.
    Override with --set, e.g. --set tasks=8 --set "steps=[0, 10, 40]"."""

    checkpoint: str = "checkpoints/t2l-smollm2-135m-sft-L"  # the hypernet (its base model and encoder)
    tasks: int = 6  # held-out suite operations, the first by name
    examples: int = 8  # training examples per task (a user's handful)
    eval_examples: int = 10  # scored examples per task (disjoint from the training ones)
    steps: tuple[int, ...] = (0, 40)  # refine steps per arm (0: the start itself)
    lr: float = 1e-3  # the refine API's default
    seed: int = 0
    threads: int = 2
    max_new_tokens: int = 16
    out: str = "bench/results/refine.json"


def standard_start(adapter, seed: int):
    """PEFT's LoRA initialisation for the same targets, rank and scale: A Kaiming-uniform (a = sqrt 5), B zero."""
    generator = torch.Generator().manual_seed(seed)
    a = []
    for t in adapter.a:
        bound = 1.0 / math.sqrt(t.shape[1])  # kaiming_uniform_(a=sqrt(5)) on (r, in): U(-1/sqrt(in), 1/sqrt(in))
        a.append((torch.rand(t.shape, generator=generator) * 2 - 1) * bound)
    return replace(adapter, a=tuple(a), b=tuple(torch.zeros_like(t) for t in adapter.b), metadata={})


def _rows(tokenizer, examples) -> tuple[list, list]:
    """The worker's rows and prompts (server.refine_job.example_rows) for task examples sent as one user turn."""
    return example_rows(tokenizer, [(({"role": "user", "content": e.input},), e.target) for e in examples])


def _exact(model, tokenizer, adapter, prompts, examples, max_new_tokens: int) -> float:
    answers = greedy_answers(model, adapter, prompts, max_new_tokens, [tokenizer.eos_token_id])
    said = [tokenizer.decode(a, skip_special_tokens=True).strip() for a in answers]
    return 100.0 * sum(any(s == t.strip() for t in e.targets) for s, e in zip(said, examples)) / len(examples)


def run_refine_bench(config: RefineBenchConfig) -> dict:
    from tqdm import tqdm
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(config.threads)
    checkpoint = load_checkpoint(config.checkpoint)
    encoder = make_encoder(prepare_encoder(checkpoint.encoder), checkpoint.embedding)
    path = prepare_base_model(checkpoint.base_model)
    tokenizer, model = AutoTokenizer.from_pretrained(path), AutoModelForCausalLM.from_pretrained(path).eval()
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    held = sorted((t for t in load_tiers()["heldout_tasks"] if t.name.startswith("suite:") and t.kind == "generative"),
                  key=lambda t: t.name)[:config.tasks]
    results, started = [], time.perf_counter()
    with tqdm(total=len(held) * 2 * len(config.steps), desc="refine bench", unit="run") as bar:
        for task in held:
            scored, rest = eval_split(task, config.eval_examples, config.seed)
            train = rest[:config.examples]
            rows, _ = _rows(tokenizer, train)
            _, prompts = _rows(tokenizer, scored)
            description = (task.eval_descriptions or task.descriptions)[0]
            t2l = generate_adapters(checkpoint, encoder, [description])[0]
            for arm, start in (("t2l", t2l), ("lora", standard_start(t2l, config.seed))):
                for steps in config.steps:
                    tic = time.perf_counter()
                    adapter, losses = (start, []) if steps == 0 else refine_adapter(
                        model, start, rows, RefineConfig(steps=steps, lr=config.lr, seed=config.seed), pad)
                    exact = _exact(model, tokenizer, adapter, prompts, scored, config.max_new_tokens)
                    results.append({"task": task.name, "arm": arm, "steps": steps, "exact": exact,
                                    "loss_last": losses[-1] if losses else None,
                                    "seconds": round(time.perf_counter() - tic, 2)})
                    bar.update(1)
    table = {f"{arm}@{steps}": statistics.mean(r["exact"] for r in results if r["arm"] == arm and r["steps"] == steps)
             for arm in ("t2l", "lora") for steps in config.steps}
    wins = {steps: sum(_pair(results, t.name, steps)[0] > _pair(results, t.name, steps)[1] for t in held)
            for steps in config.steps}
    losses = {steps: sum(_pair(results, t.name, steps)[0] < _pair(results, t.name, steps)[1] for t in held)
              for steps in config.steps}
    return {"config": asdict(config), "tasks": [t.name for t in held], "mean_exact": table,
            "t2l_better_tasks": wins, "lora_better_tasks": losses, "runs": results,
            "seconds": round(time.perf_counter() - started, 1), "torch_threads": torch.get_num_threads()}


def _pair(results: Sequence[dict], task: str, steps: int) -> tuple[float, float]:
    got = {r["arm"]: r["exact"] for r in results if r["task"] == task and r["steps"] == steps}
    return got["t2l"], got["lora"]


def markdown(result: dict) -> str:
    c = result["config"]
    lines = [f"# Refine: T2L start vs standard LoRA start ({len(result['tasks'])} held-out suite operations)", "",
             f"{c['examples']} training examples and {c['eval_examples']} scored ones per task, lr {c['lr']}, "
             f"seed {c['seed']}, checkpoint `{c['checkpoint']}`; exact match (%), mean over tasks. Written by "
             "`python -m bench.refine` in one run of " + f"{result['seconds']} s.", "",
             "| steps | T2L start | standard LoRA start | tasks T2L better | tasks LoRA better |", "|---|---|---|---|---|"]
    for steps in c["steps"]:
        lines.append(f"| {steps} | {result['mean_exact'][f't2l@{steps}']:.1f} | "
                     f"{result['mean_exact'][f'lora@{steps}']:.1f} | {result['t2l_better_tasks'][steps]} | "
                     f"{result['lora_better_tasks'][steps]} |")
    lines += ["", "Tasks: " + ", ".join(f"`{t}`" for t in result["tasks"]), ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    return bench_main(argv, "python -m bench.refine", __doc__, RefineBenchConfig, run_refine_bench, markdown)


if __name__ == "__main__":
    raise SystemExit(main())
