"""Import a reference T2L checkpoint (SakanaAI/text-to-lora: `hypermod.pt` + `args.yaml` + `adapter_config.json`)
into a HyperLoRA. Our module uses the reference's state-dict keys, so importing is checking, not renaming:
every key our model expects must be there with the right shape (the first mismatch is named), and the reference's
always-present extras (a zero AB offset, unused reconstruction statistics, rotary frequencies) are dropped.

What the reference's files say, and where it lands:
    args.yaml      shared_AB_head / autoreg_gen -> variant (L: neither, M: shared, S: both); learnable_pos_emb;
                   hypernet_latent_size, head_in_size; training_task + pred_z_score + factorized -> recon_mode;
                   mt_lora_path / learnable_AB_offset -> ab_offset; emb_model -> EncoderSpec.reference(...)
                   (pooling, full stop, L2 x sqrt(d), and the text as given: no NFKC, inner whitespace kept)
    adapter_config r, lora_alpha, use_rslora
    hypermod.pt    the weights; also the module-type order (below), the layer count and every in/out width
Both files are found where the reference's loader looks (beside hypermod.pt, or the run folder of
<run>/checkpoints/it_N/hypermod.pt) or given; importing without them is refused, not guessed: they choose the
encoder, its pooling and the adapters' scaling, none of which the weights show. What the weights cannot vouch for
is checked against what the reference would know at load: the task encoder's input width against the encoder's
(the reference builds it from emb_model's hidden size), and each module's in/out widths across the three stacks
the reference builds from the base model (AB_offset, mean_recon_target, std_recon_target), which matters in M and
S, whose shared head (max(in, out) wide) hides the narrower side.
Module-type order: peft keeps target_modules as a set, so the reference numbers module types in the set's
iteration order, which depends on the training process's string hashing. The heads were registered in that order,
so the order of the `heads.*` keys in the saved state dict is the order the checkpoint was trained with; we use
it (the reference's own loader re-derives the order in the loading process, which can differ).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
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
_STACKS = ("AB_offset", "mean_recon_target", "std_recon_target")  # built from the base model's shapes, always saved
_READS_HIDDEN = ("q_proj", "k_proj", "v_proj", "gate_proj", "up_proj")  # in = hidden size (Llama-style decoder)
_WRITES_HIDDEN = ("o_proj", "down_proj")                                # out = hidden size
KNOWN_WIDTHS = {"Alibaba-NLP/gte-large-en-v1.5": 1024}
"""hidden_size of the embedding model the published checkpoints name, for an import without it on disk."""
_ARGS_READ = ("emb_model", "use_one_hot_task_emb", "training_task", "target_modules", "pred_z_score", "mt_lora_path",
              "shared_AB_head", "autoreg_gen", "learnable_pos_emb", "learnable_AB_offset", "hypernet_latent_size",
              "head_in_size")  # what the reference's load_hypermod_checkpoint / create_hypermod read with no default
_PEFT_READ = ("r", "lora_alpha", "use_rslora")


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
    if task == "recon":  # the reference's defaults: factorized False, pred_z_score True
        factorized, z_score = bool(args.get("factorized", False)), bool(args.get("pred_z_score", True))
        if z_score and not factorized:
            raise ReferenceImportError(
                "args.yaml sets training_task recon with factorized false and pred_z_score true: the reference's "
                "own generation refuses that (convert_to_raw_scale: 'pred_z_score not implemented for "
                "non-factorized LORA'), so there is no reference output to reproduce. Such a run fitted B @ A to "
                "delta W x delta_w_scaling and never used its z-score statistics; to import it as that, pass --args "
                "with a copy of args.yaml that sets pred_z_score: false")
        recon_mode = "zscore" if factorized and z_score else "none" if factorized else "scaled"
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


def _stack_shape(state: dict[str, torch.Tensor], ab: str, module: str) -> tuple[int, ...]:
    """Shape of `<stack>.<ab>.<module>`, which every stack the file holds must agree on: the reference builds all
    of them from the base model's layer (A (layers, r, in), B (layers, out, r)); the odd one out is named."""
    keys = [f"{stack}.{ab}.{module}" for stack in _STACKS if f"{stack}.{ab}.{module}" in state]
    if not keys:
        return _shape(state, f"AB_offset.{ab}.{module}")  # raises, naming it
    shapes = {k: tuple(state[k].shape) for k in keys}
    (common, count), = Counter(shapes.values()).most_common(1)
    odd = [k for k, v in shapes.items() if v != common]
    if odd and count > 1:
        agree = ", ".join(k for k in keys if k not in odd)
        raise ReferenceImportError(f"{odd[0]} has shape {shapes[odd[0]]}, while {agree} have {common}: the "
                                   f"reference builds them all from the base model's {module}; the file is corrupt "
                                   "or edited")
    if odd:
        raise ReferenceImportError(f"{' and '.join(f'{k} {v}' for k, v in shapes.items())} disagree: the reference "
                                   f"builds both from the base model's {module}; the file is corrupt or edited")
    return common


def _in_out(state: dict[str, torch.Tensor], module: str) -> tuple[int, int]:
    return _stack_shape(state, "A", module)[2], _stack_shape(state, "B", module)[1]


def _check_stacks(state: dict[str, torch.Tensor], modules: Sequence[str], rank: int) -> None:
    """Every module's A (layers, r, in) and B (layers, out, r) hold the one layer count and the adapters' rank."""
    layers = _stack_shape(state, "A", modules[0])[0]
    for module in modules:
        for ab in ("A", "B"):
            shape = _stack_shape(state, ab, module)
            got = (shape[0], shape[1] if ab == "A" else shape[2])
            if got != (layers, rank):
                raise ReferenceImportError(f"AB_offset.{ab}.{module} has shape {shape}: {got[0]} layers of rank "
                                           f"{got[1]}, expected {layers} layers (as AB_offset.A.{modules[0]}) of "
                                           f"rank {rank} (adapter_config.json's r)")


def hidden_width(targets: Sequence[TargetSpec]) -> tuple[int, str] | None:
    """(hidden size, the key it is read from) of a Llama/Mistral/Gemma-style decoder from its target shapes: what
    q/k/v/gate/up_proj read and o/down_proj write; None when no such module is targeted. Refuses targets that
    disagree (a checkpoint whose shapes no such decoder has)."""
    seen = {f"AB_offset.A.{t.module}": t.in_features for t in targets if t.module in _READS_HIDDEN}
    seen |= {f"AB_offset.B.{t.module}": t.out_features for t in targets if t.module in _WRITES_HIDDEN}
    if len(set(seen.values())) > 1:
        raise ReferenceImportError(f"{', '.join(f'{k} gives {v}' for k, v in seen.items())}: in the Llama-style "
                                   "decoder this import assumes without --base-config, all of these are the hidden "
                                   "size; the file is corrupt or edited, or pass --base-config to check it against "
                                   "the real model")
    return (next(iter(seen.values())), next(iter(seen))) if seen else None


def targets_from_reference(state: dict[str, torch.Tensor], modules: Sequence[str],
                           base_targets: Sequence[TargetSpec] | None = None,
                           rank: int | None = None) -> list[TargetSpec]:
    """One TargetSpec per (module, layer) from the AB_offset shapes (layers, r, in) / (layers, out, r), checked
    against the reference's other stacks and `rank`; paths from `base_targets` (the real model, checked against
    the shapes) or the Llama-style template (whose hidden size the shapes must then agree on)."""
    _check_stacks(state, modules, rank if rank is not None else _stack_shape(state, "A", modules[0])[1])
    found: list[TargetSpec] = []
    for module in modules:
        layers = _stack_shape(state, "A", module)[0]
        d_in, d_out = _in_out(state, module)
        found += [TargetSpec(layer, module, d_in, d_out, default_path(module, layer)) for layer in range(layers)]
    if base_targets is None:
        hidden_width(found)
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
    targets = targets_from_reference(state, config.target_modules, base_targets, config.rank)
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


@dataclass(frozen=True)
class ReferenceFiles:
    """What a reference checkpoint consists of, as read from disk."""

    state: dict[str, torch.Tensor]
    """hypermod.pt: the HyperModulator state dict."""
    args: dict[str, Any]
    """args.yaml: the training run's arguments."""
    adapter_config: dict[str, Any]
    """adapter_config.json: the PEFT LoraConfig of the adapters it generates."""
    sha256: str
    """sha256 of hypermod.pt's bytes."""
    args_path: Path
    """Where args.yaml was found (or given)."""
    adapter_config_path: Path
    """Where adapter_config.json was found (or given)."""


def reference_folders(hypermod: Path) -> list[Path]:
    """Where the reference's loader (load_hypermod_checkpoint) looks for args.yaml and adapter_config.json: the run
    folder for its own <run>/checkpoints/it_<step>/hypermod.pt (save_hypermod_checkpoint), else beside the file
    (the hub's trained_t2l/<name>/)."""
    beside = hypermod.parent
    return [beside.parent.parent, beside] if beside.parent.name == "checkpoints" else [beside]


def _find(name: str, given: str | Path | None, folders: Sequence[Path], flag: str, why: str) -> Path:
    if given:
        path = Path(given)
        if not path.is_file():
            raise ReferenceImportError(f"{flag} {path}: no such file")
        return path
    for folder in folders:
        if (folder / name).is_file():
            return folder / name
    looked = ", ".join(str(f / name) for f in folders)
    raise ReferenceImportError(f"no {name} found (looked for {looked}); it records {why}, which the weights do not "
                               f"show and a default would get silently wrong: pass {flag} PATH (the training run's "
                               f"{name})")


def _require(found: dict[str, Any], keys: Sequence[str], path: Path, reader: str) -> None:
    missing = [k for k in keys if k not in found]
    if missing:
        raise ReferenceImportError(f"{path} lacks {', '.join(missing)}: {reader} reads them, so this is not what a "
                                   "reference run writes; pass the run's own file")


def read_reference(hypermod: str | Path, args_yaml: str | Path | None = None,
                   adapter_config: str | Path | None = None) -> ReferenceFiles:
    """The three files of a reference checkpoint; args.yaml / adapter_config.json default to where the reference
    keeps them (reference_folders; adapter_config.json also beside a given args.yaml). Refuses missing files and
    keys rather than defaulting them."""
    import yaml

    path = Path(hypermod)
    raw = path.read_bytes()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ReferenceImportError(f"{path} is not a torch state dict: {exc}") from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ReferenceImportError(f"{path} does not hold a flat state dict of tensors")
    folders = reference_folders(path)
    args_path = _find("args.yaml", args_yaml, folders, "--args",
                      "the encoder (emb_model, hence its pooling), the training task and the head layout")
    peft_path = _find("adapter_config.json", adapter_config, [args_path.parent, *folders] if args_yaml else folders,
                      "--adapter-config", "the rank, lora_alpha and use_rslora (the adapters' scaling)")
    args = yaml.safe_load(args_path.read_text()) or {}
    peft = json.loads(peft_path.read_text())
    if not isinstance(args, dict) or not isinstance(peft, dict):
        raise ReferenceImportError(f"{args_path} or {peft_path} is not a mapping of settings")
    _require(args, _ARGS_READ, args_path, "the reference's loader (load_hypermod_checkpoint)")
    _require(peft, _PEFT_READ, peft_path, "the adapters' scaling")
    return ReferenceFiles(dict(state), args, peft, hashlib.sha256(raw).hexdigest(), args_path, peft_path)


def encoder_spec_from_args(args: dict[str, Any], base_model: str) -> EncoderSpec:
    """The reference embeds with args.emb_model (gte: CLS) or, when empty, with the base LLM itself (last token);
    any other emb_model has no pooling in its get_emb_model_and_fns (its loader fails), so it is refused here."""
    name = args.get("emb_model") or ""
    if name and "gte" not in name:
        raise ReferenceImportError(f"args.yaml emb_model {name!r}: the reference sets a pooling only for gte models "
                                   "(CLS) and SFR (an instruction template, not supported), so its own loader "
                                   "cannot embed with it")
    return EncoderSpec.reference(name or base_model)


def encoder_width(args: dict[str, Any], targets: Sequence[TargetSpec],
                  embed_dim: int | None = None) -> tuple[int, str]:
    """(width, where it comes from) of the embeddings the reference feeds this checkpoint: emb_model's hidden_size
    (a local folder's or the Hugging Face cache's config.json, or a known id) or, with no emb_model, the base LLM's
    hidden size (read off the targets); `embed_dim` stands in where neither can be read and must agree otherwise."""
    name = args.get("emb_model") or ""
    width, source = None, ""
    if not name:
        found = hidden_width(targets)
        if found:
            width, source = found[0], f"emb_model is empty, so the base LLM embeds: the hidden size {found[1]} reads"
    else:
        from huggingface_hub import try_to_load_from_cache

        config = Path(name) / "config.json"
        cached = try_to_load_from_cache(name, "config.json") if not config.is_file() else None
        config = config if config.is_file() else Path(cached) if isinstance(cached, str) else None
        if config is not None:
            width, source = int(json.loads(config.read_text())["hidden_size"]), f"emb_model {name!r}, {config}"
        elif name in KNOWN_WIDTHS:
            width, source = KNOWN_WIDTHS[name], f"emb_model {name!r}"
    if embed_dim is not None and width is not None and embed_dim != width:
        raise ReferenceImportError(f"--embed-dim {embed_dim} contradicts the encoder's {width}-d ({source})")
    if width is None and embed_dim is None:
        raise ReferenceImportError(f"cannot tell how wide emb_model {name or '(the base LLM)'!r}'s embeddings are "
                                   "(no local folder or cached config.json, not a known id): pass --embed-dim N, its "
                                   "hidden_size")
    return (width, source) if width is not None else (int(embed_dim), "--embed-dim")


def check_encoder_width(model: HyperLoRA, args: dict[str, Any], embed_dim: int | None = None) -> None:
    """The reference sizes its task encoder from the encoder (emb_model.config.hidden_size) and refuses weights of
    another width at load; ours reads the width off task_encoder.mlp.0.weight, so it is checked here instead."""
    width, source = encoder_width(args, model.targets, embed_dim)
    if width != model.config.embed_dim:
        raise ReferenceImportError(f"task_encoder.mlp.0.weight reads {model.config.embed_dim}-d task embeddings, but "
                                   f"the encoder gives {width}-d ({source}): this hypermod.pt was not trained with "
                                   "the encoder its args.yaml names; pass the args.yaml of the run that trained it "
                                   "(--args)")


def import_reference_checkpoint(hypermod: str | Path, out: str | Path, args_yaml: str | Path | None = None,
                                adapter_config: str | Path | None = None, base_model: str | None = None,
                                base_targets: Sequence[TargetSpec] | None = None,
                                modules: Sequence[str] | None = None, embed_dim: int | None = None) -> str:
    """Write our checkpoint folder for a reference hypermod.pt; returns its digest (see `t2l checkpoint
    import-reference`). Nothing is written unless every check passes. The provenance records the source file's
    sha256, where its args.yaml / adapter_config.json came from, and the reference's args."""
    files = read_reference(hypermod, args_yaml, adapter_config)
    args, peft = files.args, files.adapter_config
    model = import_reference(files.state, args, peft, modules, base_targets)
    base = base_model or str(args.get("model_dir") or peft.get("base_model_name_or_path") or "").rstrip("/")
    if not base:
        raise ReferenceImportError("no base model named in args.yaml (model_dir) or adapter_config.json; pass one")
    spec = encoder_spec_from_args(args, base)
    check_encoder_width(model, args, embed_dim)
    provenance = {
        "trained": True, "created_by": "import_reference", "imported_from": REFERENCE_REPO,
        "source": str(hypermod), "source_sha256": files.sha256, "module_order": list(model.config.target_modules),
        "args_file": str(files.args_path), "adapter_config_file": str(files.adapter_config_path),
        "reference_args": {k: args[k] for k in sorted(args) if isinstance(args[k], (str, int, float, bool, list))
                           and k not in ("train_ds_names", "additional_eval_descs")},
        "adapter_config": {k: peft[k] for k in ("r", "lora_alpha", "use_rslora", "target_modules") if k in peft},
    }
    return save_checkpoint(out, model, base, spec.name, provenance, encoder_spec=spec)
