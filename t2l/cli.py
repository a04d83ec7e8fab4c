"""The `t2l` command line: assets, checkpoints, adapter generation (and, as they land, serve/train/eval/bench)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ground import assets
from ground.assets import prepare_base_model, prepare_encoder
from server.settings import Settings
from training.config import config_from_args

from .checkpoint_command import add_checkpoint_commands


def _cmd_assets_prepare(args: argparse.Namespace) -> int:
    out = assets.prepare_all(args.base_model, args.encoder)
    print(json.dumps(out, indent=2))
    return 0


def _cmd_keys_create(args: argparse.Namespace) -> int:
    # lazy: a subcommand imports only its own stack (`t2l --help` loads no torch)
    from server.auth import new_key
    key, entry = new_key(args.name, tuple(args.scope))
    print(json.dumps({"key": key, "entry": entry,
                      "note": "hand out `key` once; configure only `entry` (T2L_API_KEYS or T2L_API_KEYS_FILE)"},
                     indent=2))
    return 0


def _cmd_data_prepare(args: argparse.Namespace) -> int:
    # lazy: a subcommand imports only its own stack (`t2l --help` loads no torch)
    from training.tasks import load_index, load_split, prepare_bigbench
    folder = prepare_bigbench(sdist=args.sdist)
    index, split = load_index(), load_split()
    print(json.dumps({"cache": str(folder), "tasks": len(index.get("tasks", index)), "train": len(split.train),
                      "heldout": len(split.heldout), "bbh": len(split.bbh)}, indent=2))
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    # lazy: a subcommand imports only its own stack (`t2l --help` loads no torch)
    from hypernet import generate_adapters, load_checkpoint, make_encoder

    started = time.perf_counter()
    ckpt = load_checkpoint(assets.checkpoint_folder(args.checkpoint))
    if args.check_base_model:
        ckpt.check_base_model(prepare_base_model(args.check_base_model))
    encoder = make_encoder(prepare_encoder(ckpt.encoder), ckpt.embedding)
    loaded = time.perf_counter()
    adapters = generate_adapters(ckpt, encoder, args.description)
    generated = time.perf_counter()
    out = Path(args.out)
    paths = [out] if len(adapters) == 1 else [out / f"adapter-{i:03d}" for i in range(len(adapters))]
    for adapter, path in zip(adapters, paths):
        adapter.to_peft(path)
    print(json.dumps({"adapters": [str(p) for p in paths], "load_s": round(loaded - started, 3),
                      "generate_ms": round((generated - loaded) * 1000, 1)}, indent=2))
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    import logging

    # lazy: a subcommand imports only its own stack (`t2l --help` loads no torch)
    from server.app import create_app
    from server.serve import serve
    if args.checkpoint is not None:
        assets.checkpoint_folder(args.checkpoint)  # a bad name fails here, naming the shipped ones
    overrides = {k: v for k, v in {"host": args.host, "port": args.port, "engine": args.engine,
                                   "checkpoint": args.checkpoint}.items() if v is not None}
    settings = Settings(**overrides)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # SIGTERM: drain (T2L_DRAIN_S), then uvicorn stops accepting and lets in-flight requests finish (up to the grace
    # period), then the lifespan closes the engine: nothing in flight is lost on a rolling update.
    serve(create_app(settings), settings)
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    import importlib
    module = importlib.import_module({"sft": "training.sft", "recon": "training.recon", "lora": "training.lora_library",
                                      "export": "training.export", "refine": "t2l.refine_command"}[args.trainer])
    return module.main(args.rest)


def _cmd_eval(args: argparse.Namespace) -> int:
    # lazy: a subcommand imports only its own stack (`t2l --help` loads no torch)
    from training.eval_command import run_configured
    from training.eval_run import EvalRunConfig
    shortcuts = {"out_dir": args.out, "threads": args.threads, "steering_examples": args.steering_examples,
                 "reuse": args.reuse, "reuse_methods": args.reuse_methods,
                 **{f"inputs.{k}": getattr(args, k) for k in ("sft", "recon", "multitask", "oracles", "tasks",
                                                              "library", "methods", "base_model")},
                 "scoring.examples_per_task": args.examples, "scoring.batch_size": args.batch_size,
                 "scoring.seed": args.seed}
    config = config_from_args(EvalRunConfig, args, None, shortcuts)
    print(json.dumps(run_configured(config), indent=1))
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    if args.what == "steps":
        return _cmd_bench_steps(args)
    # lazy: a subcommand imports only its own stack (`t2l --help` loads no torch)
    from bench.run import BenchConfig, run_bench
    for name in ("checkpoint", "eval_json"):
        value = getattr(args, name)
        if value is not None and not Path(value).exists():
            raise FileNotFoundError(f"--{name.replace('_', '-')} {value} does not exist")
    kw = {k: v for k, v in {"checkpoint": args.checkpoint, "engine": args.engine, "out": args.out,
                            "eval_json": args.eval_json, "threads": args.threads}.items() if v is not None}
    if args.no_redis:
        kw["redis_url"] = None
    elif args.redis_url:
        kw["redis_url"] = args.redis_url
    config = BenchConfig.smoke(**kw) if args.smoke else BenchConfig(**kw)
    out = run_bench(config)
    print(json.dumps(json.loads(out.read_text())["summary"], indent=1))
    return 0


def _cmd_bench_steps(args: argparse.Namespace) -> int:
    # lazy: a subcommand imports only its own stack (`t2l --help` loads no torch)
    from bench.steps import StepBenchConfig, run_step_bench
    kw = {k: v for k, v in {"out": args.out, "threads": args.threads, "steps": args.steps,
                            "config": args.recipe}.items() if v is not None}
    if not Path(kw.get("config", StepBenchConfig.config)).exists():
        raise FileNotFoundError(f"--recipe {kw['config']} does not exist")
    out = run_step_bench(StepBenchConfig(**kw, overrides=tuple(args.set or ())))
    print(json.dumps(json.loads(out.read_text())["summary"], indent=1))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="t2l", description="Text-to-LoRA: task description -> LoRA adapter")
    sub = parser.add_subparsers(dest="command", required=True)

    p_assets = sub.add_parser("assets", help="offline model assets under T2L_HOME")
    assets_sub = p_assets.add_subparsers(dest="action", required=True)
    p = assets_sub.add_parser("prepare", help="build the base model folder and locate the encoder")
    p.add_argument("--base-model", default=assets.DEFAULT_BASE_MODEL, help="HF id or path (default: %(default)s)")
    p.add_argument("--encoder", default=assets.DEFAULT_ENCODER, help="sentence-transformers id or path")
    p.set_defaults(func=_cmd_assets_prepare)

    p_keys = sub.add_parser("keys", help="API keys")
    keys_sub = p_keys.add_subparsers(dest="action", required=True)
    p = keys_sub.add_parser("create", help="make a new API key and the hashed entry the service stores")
    p.add_argument("--name", required=True)
    p.add_argument("--scope", nargs="+", default=["use"], choices=["use", "admin"])
    p.set_defaults(func=_cmd_keys_create)

    p_data = sub.add_parser("data", help="training and evaluation data (BIG-bench, from its PyPI sdist)")
    data_sub = p_data.add_subparsers(dest="action", required=True)
    p = data_sub.add_parser("prepare", help="download (pip), verify and cache every BIG-bench task under T2L_HOME")
    p.add_argument("--sdist", type=Path, help="a local copy of bigbench-1.0.0.tar.gz to use instead of the download")
    p.set_defaults(func=_cmd_data_prepare)

    add_checkpoint_commands(sub)

    p = sub.add_parser("generate", help="write PEFT adapters for task descriptions")
    p.add_argument("description", nargs="+", help="one or more task descriptions (one adapter each)")
    p.add_argument("--checkpoint", required=True, help="hypernetwork checkpoint folder")
    p.add_argument("--out", required=True, help="adapter folder (or parent folder for several descriptions)")
    p.add_argument("--check-base-model", default=None, metavar="ID_OR_PATH",
                   help="fail unless the checkpoint fits this base model")
    p.set_defaults(func=_cmd_generate)

    p = sub.add_parser("train", help="train: sft (hypernet through the base model), recon (distil a LoRA library), "
                                     "lora (peft baselines), export (a stopped run's weights as a checkpoint), "
                                     "refine (an adapter on examples, offline); the "
                                     "rest of the line goes to the trainer (--help): --config YAML, --set KEY=VALUE")
    p.add_argument("trainer", choices=["sft", "recon", "lora", "export", "refine"])
    p.add_argument("rest", nargs=argparse.REMAINDER, help="the trainer's own arguments")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("eval", help="score base, base+description, multi-task LoRA, T2L and oracle LoRAs on "
                                    "held-out tasks; writes eval.json, eval.md, eval.png, adapters.png. Configured "
                                    "by --config YAML (training.eval_run.EvalRunConfig) and --set KEY=VALUE; the "
                                    "flags below set its fields")
    p.add_argument("--config", help="YAML file of EvalRunConfig fields (inputs: ..., scoring: ..., out_dir, ...)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override a field; nested with dots (inputs.sft=DIR, scoring.max_len=512); repeatable")
    p.add_argument("--out", help="output folder (out_dir; default runs/eval)")
    p.add_argument("--sft", help="SFT hypernet checkpoint folder (t2l_sft, t2l_sft_random_desc)")
    p.add_argument("--recon", help="reconstruction hypernet checkpoint folder (t2l_recon)")
    p.add_argument("--multitask", help="multi-task LoRA PEFT folder (multitask_lora)")
    p.add_argument("--oracles", help="folder of per-task PEFT folders (oracle)")
    p.add_argument("--tasks", choices=["heldout", "library", "bbh", "tiers", "everyday"],
                   help="task set: held-out tasks (default), the recon library's training tasks (with --library), "
                        "the three tiers of the description-necessary suite + steering margins (tiers), or the "
                        "everyday set (training/everyday: each input under both wordings, and the gap between them)")
    p.add_argument("--steering-examples", type=int,
                   help="examples per task for the steering margins (--tasks tiers; default 4)")
    p.add_argument("--reuse", help="--tasks tiers: an earlier tiers eval.json (same --examples/--seed) whose "
                                   "scores --reuse-methods take instead of being run (e.g. baselines whose LoRAs "
                                   "are gone); eval.json records it")
    p.add_argument("--reuse-methods", nargs="+", choices=["base", "base_desc", "multitask_lora", "oracle"],
                   help="methods to take from --reuse (they do not depend on the hypernet checkpoint)")
    p.add_argument("--library", help="library folder (for --tasks library)")
    p.add_argument("--methods", nargs="+", help="subset of methods (default: all whose inputs are given)")
    p.add_argument("--examples", type=int, help="evaluation examples per task (default 20)")
    p.add_argument("--batch-size", type=int, help="sequences per forward (default 16)")
    p.add_argument("--seed", type=int, help="picks the examples and the random descriptions (default 0)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default 0: torch's)")
    p.add_argument("--base-model", help=f"the frozen base model (default {assets.DEFAULT_BASE_MODEL})")
    p.set_defaults(func=_cmd_eval)

    p = sub.add_parser("bench", help="benchmarks: generation, cache, hot load, cold vs warm, multi-adapter serving, "
                                     "fine-tuning and in-context learning; writes bench/results/<host-kind>.json/.md")
    p.add_argument("what", nargs="?", choices=["all", "steps"], default="all",
                   help="all: the serving benchmarks; steps: a SFT step padded vs length-bucketed, with the matmul "
                        "peak (bench/results/steps.json)")
    p.add_argument("--steps", type=int, help="steps: paired draws to time (default 12)")
    p.add_argument("--recipe", help="steps: the SFT config whose steps are timed (default training/configs/suite.yaml)")
    p.add_argument("--set", nargs="+", metavar="KEY=VALUE", help="steps: overrides of the recipe")
    p.add_argument("--smoke", action="store_true", help="tiny sizes and the HF engine (CI); numbers mean nothing")
    p.add_argument("--checkpoint", help="hypernet checkpoint (default: the server's default)")
    p.add_argument("--engine", choices=["vllm", "hf"], help="engine for the serving benchmarks (default vllm)")
    p.add_argument("--out", help="results JSON path (default bench/results/<host-kind>.json)")
    p.add_argument("--eval-json", help="eval.json of the checkpoint (picks the fine-tuning race's task)")
    p.add_argument("--redis-url", help="Redis for the cache benchmark (default redis://127.0.0.1:6379/14)")
    p.add_argument("--no-redis", action="store_true", help="skip the Redis hit path")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser("serve", help="start the HTTP service (settings: T2L_* environment, see server/settings.py)")
    p.add_argument("--host", default=None)
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--engine", choices=["auto", "vllm", "hf"], default=None)
    p.add_argument("--checkpoint", default=None, help="a checkpoint folder or shipped name (t2l checkpoint list)")
    p.set_defaults(func=_cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except Exception as exc:
        if not _is_user_error(exc):
            raise
        print(f"t2l {args.command}: error: {exc}", file=sys.stderr)
        return 2


def _is_user_error(exc: Exception) -> bool:
    """Errors that mean bad input or a broken file, not a bug. hypernet (and torch) is only imported by the
    commands that need it, so `t2l assets prepare` stays fast on a warm cache."""
    if isinstance(exc, (assets.AssetError, FileNotFoundError)) or (
            isinstance(exc, ValueError) and type(exc) is ValueError):
        return True
    tasks = sys.modules.get("training.tasks")
    if tasks is not None and isinstance(exc, tasks.BigBenchError):
        return True
    hypernet = sys.modules.get("hypernet")
    return hypernet is not None and isinstance(
        exc, (hypernet.CheckpointError, hypernet.DescriptionError, hypernet.AdapterFormatError,
              hypernet.ReferenceImportError))


if __name__ == "__main__":
    sys.exit(main())
