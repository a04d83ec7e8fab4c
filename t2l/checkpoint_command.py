"""`t2l checkpoint ...`: write an untrained checkpoint, list the shipped ones, describe one, (re)write its
description index and accuracy.json, import a reference checkpoint."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ground import assets
from ground.assets import prepare_base_model, prepare_encoder


def _cmd_checkpoint_init(args: argparse.Namespace) -> int:
    # lazy: a subcommand imports only its own stack (`t2l --help` loads no torch)
    from hypernet import HyperConfig, init_checkpoint
    from hypernet.checkpoint import META_FILE

    encoder_dim = args.embed_dim
    if encoder_dim is None:
        from hypernet import SentenceTransformerEncoder  # lazy: loads torch only on this branch
        encoder_dim = SentenceTransformerEncoder(prepare_encoder(args.encoder)).dim
    config = HyperConfig(variant=args.variant, embed_dim=encoder_dim, latent_size=args.latent_size,
                         head_in_size=args.head_in_size, rank=args.rank,
                         alpha=args.alpha, use_rslora=not args.no_rslora, target_modules=tuple(args.targets))
    digest = init_checkpoint(args.out, prepare_base_model(args.base_model), args.base_model, args.encoder, config,
                             seed=args.seed, head_noise=args.head_noise)
    params = json.loads((Path(args.out) / META_FILE).read_text())["parameters"]
    print(json.dumps({"checkpoint": args.out, "digest": digest, "parameters": params, "trained": False}, indent=2))
    return 0


def _origin(provenance: dict) -> str:
    """One line on where a checkpoint came from."""
    if provenance.get("imported_from"):
        return (f"imported from {provenance['imported_from']} ({provenance.get('source')}, sha256 "
                f"{str(provenance.get('source_sha256', ''))[:16]}...)")
    if provenance.get("trained") is False:
        return f"UNTRAINED ({provenance.get('created_by', 'init')}, seed {provenance.get('seed')})"
    return f"trained by {provenance.get('created_by') or provenance.get('trainer') or 'our training'}"


def _cmd_checkpoint_info(args: argparse.Namespace) -> int:
    # lazy: a subcommand imports only its own stack (`t2l --help` loads no torch)
    from hypernet import count_parameters, load_checkpoint
    ckpt = load_checkpoint(assets.checkpoint_folder(args.checkpoint))
    print(json.dumps({"path": str(ckpt.path), "origin": _origin(ckpt.provenance), "digest": ckpt.digest,
                      "base_model": ckpt.base_model, "encoder": {**ckpt.embedding.to_dict(),
                                                                  "dim": ckpt.config.embed_dim},
                      "parameters": count_parameters(ckpt.model), "config": ckpt.config.to_dict(),
                      "targets": len(ckpt.targets), "provenance": ckpt.provenance}, indent=2))
    return 0


def _cmd_checkpoint_list(args: argparse.Namespace) -> int:
    print(json.dumps(assets.shipped_checkpoint_rows(), indent=2))
    return 0


def _cmd_checkpoint_index(args: argparse.Namespace) -> int:
    import torch

    # lazy: a subcommand imports only its own stack (`t2l --help` loads no torch)
    from training.coverage import IndexJob, build_index, reuse_index
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.reuse_from:
        report = reuse_index(Path(args.reuse_from), Path(args.checkpoint))
    else:
        report = build_index(IndexJob(Path(args.checkpoint), args.batch_size, plot=not args.no_plot),
                             log=lambda line: print(line, file=sys.stderr))
    print(json.dumps({k: report.get(k) for k in ("checkpoint", "digest", "rows", "tasks", "threshold", "tpr", "fpr")},
                     indent=2))
    return 0


def _cmd_checkpoint_accuracy(args: argparse.Namespace) -> int:
    # lazy: a subcommand imports only its own stack (`t2l --help` loads no torch)
    from training.coverage import write_checkpoint_accuracy
    print(json.dumps(write_checkpoint_accuracy(Path(args.checkpoint), args.eval_json, args.method)))
    return 0


def _cmd_checkpoint_import(args: argparse.Namespace) -> int:
    # lazy: a subcommand imports only its own stack (`t2l --help` loads no torch)
    from hypernet import import_reference_checkpoint, targets_from_config
    from hypernet.checkpoint import META_FILE
    modules = args.module_order.split(",") if args.module_order else None
    base_targets = None
    if args.base_config:  # the real module paths and shapes, checked against the checkpoint
        from hypernet.reference import module_order, read_reference  # lazy: loads torch only on this branch
        state = read_reference(args.hypermod, args.args, args.adapter_config).state
        base_targets = targets_from_config(args.base_config, modules or module_order(state))
    digest = import_reference_checkpoint(args.hypermod, args.out, args.args, args.adapter_config, args.base_model,
                                         base_targets, modules, args.embed_dim)
    meta = json.loads((Path(args.out) / META_FILE).read_text())
    print(json.dumps({"checkpoint": args.out, "digest": digest, "parameters": meta["parameters"],
                      "variant": meta["config"]["variant"], "base_model": meta["base_model"],
                      "encoder": meta["encoder"], "targets": len(meta["targets"])}, indent=2))
    return 0


def add_checkpoint_commands(sub) -> None:
    """The `checkpoint` command group, on the top-level subparsers `sub`."""
    p_ckpt = sub.add_parser("checkpoint", help="hypernetwork checkpoints")
    ckpt_sub = p_ckpt.add_subparsers(dest="action", required=True)
    p = ckpt_sub.add_parser("init", help="write an UNTRAINED checkpoint for a base model (for tests and demos)")
    p.add_argument("--out", required=True)
    p.add_argument("--base-model", default=assets.DEFAULT_BASE_MODEL)
    p.add_argument("--encoder", default=assets.DEFAULT_ENCODER)
    p.add_argument("--embed-dim", type=int, default=None, help="encoder width (default: load the encoder and ask)")
    p.add_argument("--variant", choices=["L", "M", "S"], default="L")
    p.add_argument("--latent-size", type=int, default=128,
                   help="trunk width (paper: 128); task encoder latent/2, layer and module embeddings latent/4")
    p.add_argument("--head-in-size", type=int, default=256, help="head input width (paper: 512)")
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--alpha", type=float, default=16.0)
    p.add_argument("--no-rslora", action="store_true", help="scale alpha/r instead of alpha/sqrt(r)")
    p.add_argument("--targets", nargs="+", default=["q_proj", "v_proj"], help="linear module names")
    p.add_argument("--head-noise", type=float, default=0.0, help="std of random head weights (0: delta W = 0 for L)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_checkpoint_init)
    p = ckpt_sub.add_parser("list", help="shipped checkpoints (the default, L, M, S)")
    p.set_defaults(func=_cmd_checkpoint_list)
    p = ckpt_sub.add_parser("info", help="describe a checkpoint and where it came from")
    p.add_argument("checkpoint", help="a folder or a shipped checkpoint's name (t2l checkpoint list)")
    p.set_defaults(func=_cmd_checkpoint_info)
    p = ckpt_sub.add_parser("index", help="(re)write the checkpoint's description index (training descriptions from "
                                          "the task library), calibrate its threshold, write coverage.json/png")
    p.add_argument("checkpoint")
    p.add_argument("--batch-size", type=int, default=256, help="descriptions per encoder call")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--no-plot", action="store_true", help="skip coverage.png")
    p.add_argument("--from", dest="reuse_from", metavar="CHECKPOINT",
                   help="take this checkpoint's index instead (same encoder, training tasks and task_center, e.g. "
                        "the same run at another step; needs no task library)")
    p.set_defaults(func=_cmd_checkpoint_index)
    p = ckpt_sub.add_parser("accuracy", help="write accuracy.json (the expected-accuracy figure of coverage) from the "
                                             "checkpoint's tiers evaluation")
    p.add_argument("checkpoint")
    p.add_argument("--eval-json", help="a `t2l eval --tasks tiers` eval.json (default: the checkpoint's own)")
    p.add_argument("--method", default="t2l_sft", help="whose scores (default %(default)s)")
    p.set_defaults(func=_cmd_checkpoint_accuracy)
    p = ckpt_sub.add_parser("import-reference", help="convert a reference T2L checkpoint (SakanaAI/text-to-lora "
                                                     "hypermod.pt) into our checkpoint format")
    p.add_argument("hypermod", help="hypermod.pt (a torch state dict), e.g. trained_t2l/mistral_7b_t2l/hypermod.pt")
    p.add_argument("--args", help="its args.yaml (default: beside hypermod.pt, or <run>/ for <run>/checkpoints/it_N/)")
    p.add_argument("--adapter-config", help="its adapter_config.json (default: beside --args, then as args.yaml)")
    p.add_argument("--out", required=True, help="checkpoint folder to write")
    p.add_argument("--base-model", default=None, help="base model id to record (default: args.yaml model_dir)")
    p.add_argument("--base-config", default=None, metavar="ID_OR_PATH",
                   help="take module paths from this HF config and check every shape against it "
                        "(default: Llama-style paths model.layers.N.self_attn|mlp.<module>)")
    p.add_argument("--embed-dim", type=int, metavar="N", help="emb_model's width, where it is neither a local "
                                                              "folder, in the HF cache, nor a known id")
    p.add_argument("--module-order", default=None, metavar="A,B",
                   help="module-type embedding order (default: the order of the heads in the state dict, i.e. "
                        "the training run's)")
    p.set_defaults(func=_cmd_checkpoint_import)
