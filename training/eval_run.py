"""The `t2l eval` run: build the methods whose inputs exist, score them (training.evaluate), write eval.json,
eval.md and the plots. Scores are cached per method under out/scores, so an evaluation can be run in parts.
The checks and the dispatch to one task set or the tiers: training.eval_command.

Configured like the trainers (training.config): an EvalRunConfig from YAML, `--set` overrides (inputs.sft=...,
scoring.examples_per_task=5) and the command line's flags as shortcuts (`t2l eval --sft DIR --examples 5`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from ground.assets import DEFAULT_BASE_MODEL
from ground.assets import prepare_encoder
from hypernet import Adapter
from hypernet import generate_adapters, load_checkpoint, make_encoder
from hypernet.adapter import WEIGHTS_NAME
from training.config import ConfigFile
from training.evaluate import METHODS, EvalConfig, Method, evaluate_methods, random_description
from training.lora_library import adapter_dirname
from training.lora_library import load_base
from training.recon import load_library
from training.report import markdown_table, plot_adapter_map, plot_summary
from training.everyday import WORDING_MARK, by_wording, load_everyday, wording_gaps
from training.tasks import load_named_tasks, load_tasks

TASK_SETS = ("heldout", "library", "bbh", "tiers", "everyday")  # what `inputs.tasks` may name
TITLES = {"heldout": "Held-out BIG-bench tasks", "library": "The recon library's training tasks",
          "bbh": "BIG-Bench Hard", "everyday": "The everyday set: each input under both wordings of its task"}


@dataclass
class EvalInputs:
    """What to compare. A missing path drops its method(s) from the run (and the report says so)."""

    base_model: str = DEFAULT_BASE_MODEL  # the frozen base model
    sft: str | None = None  # SFT hypernet checkpoint folder -> t2l_sft, t2l_sft_random_desc
    recon: str | None = None  # reconstruction hypernet checkpoint folder -> t2l_recon
    multitask: str | None = None  # multi-task LoRA PEFT folder -> multitask_lora
    oracles: str | None = None  # folder of per-task PEFT folders (training.lora_library oracle) -> oracle
    tasks: str = "heldout"  # heldout | library (recon library, training descriptions) | bbh | tiers (issue #12) |
    #   everyday (training/everyday: every input under each of a task's two wordings, and the gap between them)
    library: str | None = None  # for tasks=library: the library folder whose tasks to score
    methods: tuple[str, ...] = METHODS  # subset to run


@dataclass
class EvalRunConfig(ConfigFile):
    """A whole `t2l eval` run: what to compare, how to score it, where the results go."""

    inputs: EvalInputs = field(default_factory=EvalInputs)  # checkpoints, LoRA folders, task set, methods
    scoring: EvalConfig = field(default_factory=EvalConfig)  # examples per task, lengths, batch size, seed
    out_dir: str = "runs/eval"  # eval.json, eval.md, the plots and scores/ (the per-method score cache)
    threads: int = 0  # torch CPU threads (0 = torch's default)
    steering_examples: int = 4  # tasks=tiers: examples per task for the steering margins
    reuse: str = ""  # tasks=tiers: an earlier tiers eval.json (same examples and seed) whose scores reuse_methods take
    reuse_methods: tuple[str, ...] = ()  # methods taken from `reuse` (base, base_desc, multitask_lora, oracle)


def _t2l_method(name: str, checkpoint_dir: str, encoder_cache: dict, description=None) -> Method:
    checkpoint = load_checkpoint(checkpoint_dir)
    if checkpoint.encoder not in encoder_cache:  # the checkpoint's embedding path (pooling, full stop, norm)
        encoder_cache[checkpoint.encoder] = make_encoder(prepare_encoder(checkpoint.encoder), checkpoint.embedding)
    encoder, made = encoder_cache[checkpoint.encoder], {}

    def adapter(task, text):
        if text not in made:
            made[text] = generate_adapters(checkpoint, encoder, [text])[0]
        return made[text]

    return Method(name, adapter=adapter, description=description, source=f"checkpoint:{checkpoint.digest}")


def _fingerprint(folder: str) -> str:
    """Folder + size and mtime of every adapter file under it (changes when any adapter is retrained)."""
    files = sorted(Path(folder).rglob(WEIGHTS_NAME))
    return f"{Path(folder).resolve()}:" + ",".join(f"{f.parent.name}/{f.stat().st_size}/{f.stat().st_mtime_ns}"
                                                  for f in files)


def other_description(tasks: Sequence, seed: int):
    """(task, i) -> the evaluation description of another task of the set, of the same input kind when there is one
    (family without "+fmt"), chosen by (seed, task, i): the 'wrong description' control."""
    import numpy as np

    kind = lambda t: t.family.removesuffix("+fmt")  # noqa: E731
    same = lambda t: t.name.partition(WORDING_MARK)[0]  # noqa: E731  (the everyday set's two wordings: one task)
    names = sorted({t.name: t for t in tasks}.items())

    def pick(task, i):
        peers = [t for n, t in names if same(t) != same(task) and kind(t) == kind(task)] or \
            [t for n, t in names if same(t) != same(task)]
        rng = np.random.default_rng([seed, i, *task.name.encode()])
        other = peers[int(rng.integers(len(peers)))]
        phrasings = other.eval_descriptions or other.descriptions
        return phrasings[int(rng.integers(len(phrasings)))]

    return pick


def build_methods(inputs: EvalInputs, config: EvalConfig, descriptions: str = "eval", tasks: Sequence = ()
                  ) -> tuple[list[Method], dict]:
    """Methods whose inputs exist, plus {method: reason} for those left out."""
    pick = (lambda task, i: task.train_descriptions[i % len(task.train_descriptions)]) if descriptions == "train" \
        else None
    methods, skipped, encoders = [], {}, {}
    for name in inputs.methods:
        if name not in METHODS:
            raise ValueError(f"unknown method {name!r}; choose from {METHODS}")
        if name == "base":
            methods.append(Method("base", description=pick))
        elif name in ("base_desc", "base_desc_system"):
            methods.append(Method(name, with_description=True, description=pick,
                                  placement="system" if name.endswith("_system") else "user"))
        elif name == "multitask_lora":
            if not inputs.multitask:
                skipped[name] = "no --multitask folder"
                continue
            shared = Adapter.from_peft(inputs.multitask)
            methods.append(Method(name, adapter=lambda task, text, a=shared: a, description=pick,
                                  source=_fingerprint(inputs.multitask)))
        elif name == "oracle":
            if not inputs.oracles:
                skipped[name] = "no --oracles folder"
                continue
            root, loaded = Path(inputs.oracles), {}

            def oracle(task, text, root=root, loaded=loaded):
                if task.name not in loaded:
                    loaded[task.name] = Adapter.from_peft(root / adapter_dirname(task.name))
                return loaded[task.name]

            methods.append(Method(name, adapter=oracle, description=pick, source=_fingerprint(inputs.oracles)))
        elif name == "t2l_recon":
            if not inputs.recon:
                skipped[name] = "no --recon checkpoint"
                continue
            methods.append(_t2l_method(name, inputs.recon, encoders, pick))
        else:  # t2l_sft, t2l_sft_random_desc
            if not inputs.sft:
                skipped[name] = "no --sft checkpoint"
                continue
            if name == "t2l_sft":
                methods.append(_t2l_method(name, inputs.sft, encoders, pick))
            elif name in ("t2l_sft_desc", "t2l_sft_desc_system"):
                method = _t2l_method(name, inputs.sft, encoders, pick)
                method.with_description = True
                method.placement = "system" if name.endswith("_system") else "user"
                methods.append(method)
            elif name == "t2l_sft_other_desc":
                if len(tasks) < 2:
                    skipped[name] = "needs at least two tasks"
                    continue
                methods.append(_t2l_method(name, inputs.sft, encoders, other_description(tasks, config.seed)))
            else:
                def scrambled(task, i, seed=config.seed):
                    phrasings = task.eval_descriptions or task.descriptions
                    return random_description(phrasings[i % len(phrasings)], hash((seed, task.name, i)) & 0xFFFF)

                methods.append(_t2l_method(name, inputs.sft, encoders, scrambled))
    return methods, skipped


def wording_table(wordings: dict[str, dict]) -> str:
    """The everyday set's two wordings side by side per method (mean exact match, and the mean gap per task)."""
    lines = ["", "## The two wordings of each task (same inputs)", "",
             "| method | wording 1 | wording 2 | mean gap | largest gap |", "|---|---|---|---|---|"]
    for method, w in wordings.items():
        if w.get("tasks"):
            lines.append(f"| {method} | {w['wording_1']:.1f} | {w['wording_2']:.1f} | {w['mean_gap']:.1f} | "
                         f"{w['max_gap']:.1f} |")
    return "\n".join(lines) + "\n"


def run_eval(inputs: EvalInputs, config: EvalConfig, out_dir: Path, model=None, tokenizer=None,
             tasks: Sequence | None = None) -> dict:
    """Score every available method on the task set; write out_dir/eval.json, eval.md, eval.png, adapters.png."""
    import json

    if model is None:
        model, tokenizer = load_base(inputs.base_model)
    if tasks is None:
        if inputs.tasks == "library":
            if not inputs.library:
                raise ValueError("tasks=library needs the library folder")

            tasks = load_named_tasks(load_library(Path(inputs.library))[0])
        elif inputs.tasks == "everyday":
            tasks = by_wording(load_everyday())
        else:
            tasks = load_tasks(inputs.tasks)
    methods, skipped = build_methods(inputs, config, "train" if inputs.tasks == "library" else "eval", tasks)
    if not methods:
        raise ValueError(f"nothing to evaluate: {skipped}")
    results = evaluate_methods(methods, tasks, model, tokenizer, config, cache_dir=out_dir / "scores")
    results.update(skipped=skipped, inputs=inputs.__dict__ | {"methods": list(inputs.methods)}, task_set=inputs.tasks)
    report = markdown_table(results)
    if inputs.tasks == "everyday":
        results["wordings"] = {m: wording_gaps({t: row["scores"][m] for t, row in results["tasks"].items()})
                               for m in results["summary"]}
        report += wording_table(results["wordings"])
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "eval.json").write_text(json.dumps(results, indent=1))
    (out_dir / "eval.md").write_text(report)
    plot_summary(results, out_dir / "eval.png", TITLES.get(inputs.tasks, TITLES["heldout"]))
    sft = next((m for m in methods if m.name == "t2l_sft"), None)
    if sft is not None:  # the generated adapters of every task x evaluation description, by family
        pairs = [(t, d) for t in tasks for d in (t.eval_descriptions or t.descriptions)]
        plot_adapter_map([sft.adapter(t, d) for t, d in pairs], [t.family for t, _ in pairs],
                         out_dir / "adapters.png", "T2L (SFT) adapters of held-out task descriptions, PCA")
    return results
