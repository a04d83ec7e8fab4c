"""`python -m bench.refine` (make bench-refine): refining from the T2L adapter vs from a standard LoRA start.

The question issue #22 asks and the paper does not answer: with a handful of examples, does starting the LoRA at
the hypernetwork's output for the task's description beat PEFT's usual start (A Kaiming-uniform, B zero, so the
model starts as the base) at an equal number of steps? For held-out suite operations (never trained on, so the
T2L start is a zero-shot guess; by default those with a per-task oracle LoRA in the checkpoint's eval.json) each
arm is refined with `hypernet.refine.refine_adapter` on `examples` training examples (each count drawn per seed from
the examples no one scores) and scored along the way, at each of `steps`, by exact match on `eval_examples` fixed
examples of the task (`training.data.eval_split`, seed 0: never trained on; they hold the oracle's scored ones).
One run per (task, count, seed, arm) gives the whole curve: `inspect` scores the adapter mid-run, and the seconds
are training time only. Same rows, seed, lr and batch for both arms. Writes bench/results/refine.{json,md,png}.
"""

from __future__ import annotations

import json
import math
import random
import statistics
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Sequence

import torch

from bench.report import bench_main
from ground.assets import prepare_base_model, prepare_encoder
from hypernet import generate_adapters, load_checkpoint, make_encoder
from hypernet.refine import RefineConfig, greedy_answers, refine_adapter
from server.refine_job import example_rows
from training.config import ConfigFile
from training.data import eval_split
from training.eval_tiers import load_tiers

ARMS = ("t2l", "lora")


@dataclass
class RefineBenchConfig(ConfigFile):
    """What the bench measures (~100 minutes on 2 cores as set; a GPU takes minutes). Override with --set, e.g.
    --set "examples=[16]" --set "seeds=[0]"."""

    checkpoint: str = "checkpoints/t2l-smollm2-135m-sft-L"  # the hypernet (its base model and encoder)
    tasks: int = 6  # held-out suite operations: those with an oracle in the checkpoint's eval.json, then by name
    examples: tuple[int, ...] = (4, 8, 16, 32)  # training examples per task (a user's handful)
    seeds: tuple[int, ...] = (0, 1)  # each draws its own training examples and row order; medians over them
    eval_examples: int = 10  # scored examples per task (fixed, disjoint from every training draw)
    steps: tuple[int, ...] = (0, 10, 20, 40)  # where each run is scored (0: the start itself); it runs to the last
    lr: float = 1e-3  # the refine API's default
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


def oracle_scores(checkpoint: str) -> dict[str, float]:
    """{held-out task: its per-task oracle LoRA's exact match} from the checkpoint's eval.json (empty if none)."""
    path = Path(checkpoint) / "eval.json"
    if not path.is_file():
        return {}
    tasks = json.loads(path.read_text()).get("by_tier", {}).get("heldout_tasks", {}).get("tasks", {})
    return {name: t["scores"]["oracle"] for name, t in tasks.items() if "oracle" in t["scores"]}


def pick_tasks(candidates: Sequence, oracles: dict[str, float], n: int) -> list:
    """Generative held-out suite operations, those with an oracle first (so the target has a yardstick)."""
    pool = sorted((t for t in candidates if t.name.startswith("suite:") and t.kind == "generative"),
                  key=lambda t: (t.name not in oracles, t.name))
    return pool[:n]


def run_refine_bench(config: RefineBenchConfig) -> dict:
    from tqdm import tqdm
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(config.threads)
    checkpoint = load_checkpoint(config.checkpoint)
    encoder = make_encoder(prepare_encoder(checkpoint.encoder), checkpoint.embedding)
    path = prepare_base_model(checkpoint.base_model)
    tokenizer, model = AutoTokenizer.from_pretrained(path), AutoModelForCausalLM.from_pretrained(path).eval()
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    oracles = oracle_scores(config.checkpoint)
    held = pick_tasks(load_tiers()["heldout_tasks"], oracles, config.tasks)
    runs, started, last = [], time.perf_counter(), max(config.steps)
    total = len(held) * len(config.examples) * len(config.seeds) * len(ARMS)
    with tqdm(total=total, desc="refine bench", unit="run") as bar:
        for task in held:
            scored, rest = eval_split(task, config.eval_examples, 0)
            _, prompts = _rows(tokenizer, scored)
            description = (task.eval_descriptions or task.descriptions)[0]
            t2l = generate_adapters(checkpoint, encoder, [description])[0]
            for count in config.examples:
                for seed in config.seeds:
                    train = random.Random(f"{task.name}/{seed}").sample(rest, min(count, len(rest)))
                    rows, _ = _rows(tokenizer, train)
                    for arm, start in (("t2l", t2l), ("lora", standard_start(t2l, seed))):
                        curve = []

                        def score(progress, adapter, curve=curve):
                            curve.append({"step": progress.step, "seconds": round(progress.seconds, 2),
                                          "exact": _exact(model, tokenizer, adapter, prompts, scored,
                                                          config.max_new_tokens)})

                        refine_adapter(model, start, rows, RefineConfig(steps=last, lr=config.lr, seed=seed), pad,
                                       inspect=score, inspect_at=set(config.steps))
                        runs.append({"task": task.name, "arm": arm, "examples": count, "seed": seed, "curve": curve})
                        bar.update(1)
    return summarise(config, [t.name for t in held], oracles, runs, time.perf_counter() - started)


def summarise(config: RefineBenchConfig, tasks: list[str], oracles: dict[str, float], runs: list[dict],
              seconds: float) -> dict:
    """Per (arm, examples, step): the mean over tasks of each task's median over seeds, and the median seconds."""
    table: dict[str, dict] = {}
    for arm in ARMS:
        for count in config.examples:
            for step in config.steps:
                points = [(r["task"], p) for r in runs if r["arm"] == arm and r["examples"] == count
                          for p in r["curve"] if p["step"] == step]
                per_task = [statistics.median(p["exact"] for n, p in points if n == task) for task in tasks]
                table[f"{arm}/{count}/{step}"] = {
                    "exact": round(statistics.mean(per_task), 2),
                    "seconds": round(statistics.median(p["seconds"] for _, p in points), 2)}
    with_oracle = [t for t in tasks if t in oracles]
    return {"config": asdict(config), "tasks": tasks, "oracle": {t: oracles[t] for t in with_oracle},
            "table": table, "steps_to_match": steps_to_match(config, table), "runs": runs,
            "seconds": round(seconds, 1), "torch_threads": torch.get_num_threads()}


def steps_to_match(config: RefineBenchConfig, table: dict) -> dict[str, int | None]:
    """{examples: the first scored step where the T2L start reaches the standard start's final score} (None: never)."""
    last = max(config.steps)
    out: dict[str, int | None] = {}
    for count in config.examples:
        goal = table[f"lora/{count}/{last}"]["exact"]
        out[str(count)] = next((s for s in sorted(config.steps) if table[f"t2l/{count}/{s}"]["exact"] >= goal), None)
    return out


def markdown(result: dict) -> str:
    c, table = result["config"], result["table"]
    steps = c["steps"]
    lines = [f"# Refine: T2L start vs standard LoRA start ({len(result['tasks'])} held-out suite operations)", "",
             f"Exact match (%) on {c['eval_examples']} fixed held-out examples per task: the mean over tasks of each "
             f"task's median over seeds {list(c['seeds'])}; lr {c['lr']}, checkpoint `{c['checkpoint']}`. Seconds: "
             f"median training time to that step (scoring left out). Written by `python -m bench.refine` in one run "
             f"of {result['seconds']} s.", "",
             "| examples | start | " + " | ".join(f"step {s}" for s in steps) + " |",
             "|---|---|" + "---|" * len(steps)]
    for count in c["examples"]:
        for arm, name in (("t2l", "T2L"), ("lora", "standard LoRA")):
            cells = [f"{table[f'{arm}/{count}/{s}']['exact']:.1f} ({table[f'{arm}/{count}/{s}']['seconds']:.0f} s)"
                     for s in steps]
            lines.append(f"| {count} | {name} | " + " | ".join(cells) + " |")
    lines += ["", "Steps for the T2L start to reach the standard start's final score: " + ", ".join(
        f"{k} examples: {'never' if v is None else v} of {max(steps)}" for k, v in result["steps_to_match"].items())]
    if result["oracle"]:
        mean = statistics.mean(result["oracle"].values())
        lines += ["", f"Per-task oracle LoRAs (the checkpoint's eval.json, 5 of these examples each) on "
                      f"{len(result['oracle'])} of the tasks: mean {mean:.1f}% ("
                  + ", ".join(f"`{t}` {v:.0f}" for t, v in result["oracle"].items()) + ")."]
    lines += ["", "Tasks: " + ", ".join(f"`{t}`" for t in result["tasks"]), ""]
    return "\n".join(lines)


def plot(result: dict, path: Path) -> Path:
    """Left: exact match at the last step vs examples, both starts, the oracle's mean. Right: exact match vs training
    seconds for each example count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c, table = result["config"], result["table"]
    last = max(c["steps"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for arm, name, style in (("t2l", "T2L start", "-o"), ("lora", "standard LoRA start", "--s")):
        left.plot(c["examples"], [table[f"{arm}/{n}/{last}"]["exact"] for n in c["examples"]], style, label=name)
        for n in c["examples"]:
            right.plot([table[f"{arm}/{n}/{s}"]["seconds"] for s in c["steps"]],
                       [table[f"{arm}/{n}/{s}"]["exact"] for s in c["steps"]], style, label=f"{name}, {n} ex.",
                       alpha=0.4 + 0.6 * n / max(c["examples"]))
    if result["oracle"]:
        left.axhline(statistics.mean(result["oracle"].values()), color="grey", ls=":", label="per-task oracle")
    left.set(xscale="log", xticks=list(c["examples"]), xticklabels=[str(n) for n in c["examples"]],
             xlabel="training examples", ylabel=f"exact match (%) after {last} steps", title="vs examples")
    right.set(xlabel="training seconds (2 CPU threads)" if result["torch_threads"] <= 2 else "training seconds",
              ylabel="exact match (%)", title="vs seconds")
    left.legend(fontsize=8)
    right.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    return bench_main(argv, "python -m bench.refine", __doc__, RefineBenchConfig, run_refine_bench, markdown, plot)


if __name__ == "__main__":
    raise SystemExit(main())
