"""Import a reference T2L checkpoint (SakanaAI/text-to-lora: `hypermod.pt` + `args.yaml` + `adapter_config.json`)
into a HyperLoRA. Our module uses the reference's state-dict keys, so importing is checking, not renaming:
every key our model expects must be there with the right shape (the first mismatch is named), and the reference's
always-present extras (a zero AB offset, unused reconstruction statistics, rotary frequencies) are dropped.

What the reference's files say, and where it lands:
    args.yaml      shared_AB_head / autoreg_gen -> variant (L: neither, M: shared, S: both); learnable_pos_emb;
                   hypernet_latent_size, head_in_size; training_task + pred_z_score + factorized -> recon_mode;
                   mt_lora_path / learnable_AB_offset -> ab_offset; emb_model -> EncoderSpec.reference(...)
    adapter_config r, lora_alpha, use_rslora (the reference's defaults: r 8, alpha 2r, rsLoRA)
    hypermod.pt    the weights; also the module-type order (below), the layer count and every in/out width
Module-type order: peft keeps target_modules as a set, so the reference numbers module types in the set's
iteration order, which depends on the training process's string hashing. The heads were registered in that order,
so the order of the `heads.*` keys in the saved state dict is the order the checkpoint was trained with; we use
it (the reference's own loader re-derives the order in the loading process, which can differ).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Sequence

import torch

from .checkpoint import save_checkpoint
from .config import HyperConfig
from .encoder import EncoderSpec
from .model import HyperLoRA
from .targets import TargetSpec

REFERENCE_REPO = "SakanaAI/text-to-lora"
_ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")
_OURS_ONLY = ("task_center",)  # our extension: set to zeros (the reference's behaviour)


class ReferenceImportError(ValueError):
    """A reference state dict that does not match the architecture its args describe."""


def default_path(module: str, layer: int) -> str:
    """HF module path of a Llama/Mistral/Gemma-style decoder (what the published checkpoints adapt)."""
    block = "self_attn" if module in _ATTENTION else "mlp"
    return f"model.layers.{layer}.{block}.{module}"


def module_order(state: dict[str, torch.Tensor]) -> list[str]:
    """Module types in the order their heads were registered (= the training run's type-embedding rows)."""
    return list(dict.fromkeys(k.split(".")[1] for k in state if k.startswith("heads.")))


def _shape(state: dict[str, torch.Tensor], key: str) -> tuple[int, ...]:
    if key not in state:
        raise ReferenceImportError(f"reference state dict has no {key!r}")
    return tuple(state[key].shape)


def config_from_reference(state: dict[str, torch.Tensor], args: dict[str, Any] | None = None,
                          adapter_config: dict[str, Any] | None = None,
                          modules: Sequence[str] | None = None) -> HyperConfig:
    """Our HyperConfig for a reference checkpoint: args and adapter config where given, else read off the shapes."""
    args, peft = dict(args or {}), dict(adapter_config or {})
    modules = list(modules or module_order(state))
    if not modules:
        raise ReferenceImportError("reference state dict has no heads.* keys: not a HyperModulator checkpoint")
    if args.get("encoder_type", "linear") != "linear" or args.get("use_one_hot_task_emb"):
        raise ReferenceImportError("only the reference's 'linear' task encoder over text embeddings is supported "
                                   f"(encoder_type={args.get('encoder_type')!r}, "
                                   f"use_one_hot_task_emb={args.get('use_one_hot_task_emb')!r})")
    if args.get("target_modules") and sorted(args["target_modules"]) != sorted(modules):
        raise ReferenceImportError(f"args.yaml targets {sorted(args['target_modules'])}, the state dict has heads "
                                   f"for {sorted(modules)}")
    embed_dim = _shape(state, "task_encoder.mlp.0.weight")[1]
    latent = int(args.get("hypernet_latent_size") or 4 * _shape(state, "layer_depth_encoder.0.weight")[1])
    head_in = int(args.get("head_in_size") or _shape(state, f"heads.{modules[0]}.weight")[1])
    rank = int(peft.get("r") or _shape(state, f"AB_offset.A.{modules[0]}")[1])
    shared = bool(args.get("shared_AB_head", any(k.startswith("out_emb.") for k in state)))
    if "autoreg_gen" in args:
        autoreg = bool(args["autoreg_gen"])
    else:  # an autoregressive head emits one rank row: max(in, out) (shared) or in + out wide, not r times that
        width, (d_in, d_out) = _shape(state, f"heads.{modules[0]}.weight")[0], _in_out(state, modules[0])
        autoreg = width == (max(d_in, d_out) if shared else d_in + d_out)
    if autoreg and not shared:
        raise ReferenceImportError("autoreg_gen without shared_AB_head is not one of the paper's variants; "
                                   "not supported")
    variant = "S" if autoreg else "M" if shared else "L"
    task = args.get("training_task", "sft")
    recon_mode = "none"
    if task == "recon":
        if not args.get("factorized", False):
            recon_mode = "scaled"
        elif args.get("pred_z_score", True):
            recon_mode = "zscore"
    offset_set = any(float(v.abs().max()) > 0 for k, v in state.items() if k.startswith("AB_offset."))
    learnable_offset = bool(args.get("learnable_AB_offset", False))
    ab_offset = task == "sft" and (bool(args.get("mt_lora_path")) or learnable_offset or offset_set)
    alpha = float(peft.get("lora_alpha", 2 * rank))
    return HyperConfig(
        variant=variant, embed_dim=embed_dim, latent_size=latent, head_in_size=head_in,
        head_use_bias=f"heads.{modules[0]}.bias" in state,
        learnable_pos_emb=bool(args.get("learnable_pos_emb", False)) and variant == "S",
        dropout=0.05, rank=rank, alpha=alpha, use_rslora=bool(peft.get("use_rslora", True)),
        target_modules=tuple(modules), match_lora_init=task == "sft" and not args.get("mt_lora_path"),
        ab_offset=ab_offset, learnable_AB_offset=learnable_offset and ab_offset, recon_mode=recon_mode,
        delta_w_scaling=float(args.get("delta_w_scaling", 10000)))


def _in_out(state: dict[str, torch.Tensor], module: str) -> tuple[int, int]:
    a, b = _shape(state, f"AB_offset.A.{module}"), _shape(state, f"AB_offset.B.{module}")
    return a[2], b[1]


def targets_from_reference(state: dict[str, torch.Tensor], modules: Sequence[str],
                           base_targets: Sequence[TargetSpec] | None = None) -> list[TargetSpec]:
    """One TargetSpec per (module, layer) from the AB_offset shapes (layers, r, in) / (layers, out, r); paths from
    `base_targets` (the real model, checked against the shapes) or the Llama-style template."""
    found: list[TargetSpec] = []
    for module in modules:
        layers = _shape(state, f"AB_offset.A.{module}")[0]
        d_in, d_out = _in_out(state, module)
        found += [TargetSpec(layer, module, d_in, d_out, default_path(module, layer)) for layer in range(layers)]
    if base_targets is None:
        return found
    real = {(t.module, t.layer): t for t in base_targets}
    for t in found:
        have = real.get((t.module, t.layer))
        if have is None or (have.in_features, have.out_features) != (t.in_features, t.out_features):
            what = "absent" if have is None else f"{have.in_features}->{have.out_features}"
            raise ReferenceImportError(f"the base model's {t.module} at layer {t.layer} is {what}; the checkpoint "
                                       f"generates {t.in_features}->{t.out_features}")
    if len(real) != len(found):
        raise ReferenceImportError(f"the base model has {len(real)} target layers, the checkpoint {len(found)}")
    return [real[(t.module, t.layer)] for t in found]


def import_reference(state: dict[str, torch.Tensor], args: dict[str, Any] | None = None,
                     adapter_config: dict[str, Any] | None = None, modules: Sequence[str] | None = None,
                     base_targets: Sequence[TargetSpec] | None = None) -> HyperLoRA:
    """A HyperLoRA holding the reference weights (eval mode); ReferenceImportError names the first mismatch."""
    config = config_from_reference(state, args, adapter_config, modules)
    targets = targets_from_reference(state, config.target_modules, base_targets)
    model = HyperLoRA(config, targets)
    expected = model.state_dict()
    load: dict[str, torch.Tensor] = {}
    for key, want in expected.items():
        if key in _OURS_ONLY:
            load[key] = torch.zeros_like(want)
            continue
        if key not in state:
            raise ReferenceImportError(f"missing key {key!r} (expected shape {tuple(want.shape)}) for a "
                                       f"{config.variant} hypernet with latent_size {config.latent_size}")
        if tuple(state[key].shape) != tuple(want.shape):
            raise ReferenceImportError(f"key {key!r} has shape {tuple(state[key].shape)}, expected "
                                       f"{tuple(want.shape)} for the architecture args.yaml describes")
        load[key] = state[key].detach().float()
    for key, value in state.items():
        if key in expected:
            continue
        droppable = key.startswith(("AB_offset.", "mean_recon_target.", "std_recon_target.", "rotary_emb."))
        if not droppable:
            raise ReferenceImportError(f"unexpected key {key!r} {tuple(value.shape)}: not part of the architecture "
                                       f"args.yaml describes")
        if key.startswith("AB_offset.") and float(value.abs().max()) > 0:
            raise ReferenceImportError(f"{key} is non-zero but args.yaml gives no multi-task LoRA offset")
    model.load_state_dict(load)
    return model.eval()


def read_reference(hypermod: str | Path, args_yaml: str | Path | None = None,
                   adapter_config: str | Path | None = None) -> tuple[dict, dict, dict, str]:
    """(state dict, args, adapter config, sha256 of hypermod.pt); args.yaml / adapter_config.json default to the
    files next to hypermod.pt when present (the hub's trained_t2l/<name>/ layout)."""
    import yaml

    path = Path(hypermod)
    raw = path.read_bytes()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ReferenceImportError(f"{path} is not a torch state dict: {exc}") from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ReferenceImportError(f"{path} does not hold a flat state dict of tensors")
    args_path = Path(args_yaml) if args_yaml else path.parent / "args.yaml"
    peft_path = Path(adapter_config) if adapter_config else path.parent / "adapter_config.json"
    args = yaml.safe_load(args_path.read_text()) if args_path.is_file() else {}
    peft = json.loads(peft_path.read_text()) if peft_path.is_file() else {}
    return dict(state), args or {}, peft, hashlib.sha256(raw).hexdigest()


def encoder_spec_from_args(args: dict[str, Any], base_model: str) -> EncoderSpec:
    """The reference embeds with args.emb_model (gte: CLS) or, when empty, with the base LLM itself (last token)."""
    return EncoderSpec.reference(args.get("emb_model") or base_model)


def import_reference_checkpoint(hypermod: str | Path, out: str | Path, args_yaml: str | Path | None = None,
                                adapter_config: str | Path | None = None, base_model: str | None = None,
                                base_targets: Sequence[TargetSpec] | None = None,
                                modules: Sequence[str] | None = None) -> str:
    """Write our checkpoint folder for a reference hypermod.pt; returns its digest (see `t2l checkpoint
    import-reference`). The provenance records the source file's sha256 and the reference's args."""
    state, args, peft, sha = read_reference(hypermod, args_yaml, adapter_config)
    model = import_reference(state, args, peft, modules, base_targets)
    base = base_model or str(args.get("model_dir") or peft.get("base_model_name_or_path") or "").rstrip("/")
    if not base:
        raise ReferenceImportError("no base model named in args.yaml (model_dir) or adapter_config.json; pass one")
    spec = encoder_spec_from_args(args, base)
    provenance = {
        "trained": True, "created_by": "import_reference", "imported_from": REFERENCE_REPO,
        "source": str(hypermod), "source_sha256": sha, "module_order": list(model.config.target_modules),
        "reference_args": {k: args[k] for k in sorted(args) if isinstance(args[k], (str, int, float, bool, list))
                           and k not in ("train_ds_names", "additional_eval_descs")},
        "adapter_config": {k: peft[k] for k in ("r", "lora_alpha", "use_rslora", "target_modules") if k in peft},
    }
    return save_checkpoint(out, model, base, spec.name, provenance, encoder_spec=spec)
