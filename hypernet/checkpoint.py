"""Self-contained hypernetwork checkpoints: `hypernet.safetensors` + `hypernet.json`.

The JSON carries everything needed to generate adapters without the base model: the HyperConfig, the target
list (paths and shapes) with the PEFT key template, the base model id, the encoder (name, width, pooling, full stop,
normalisation: an `EncoderSpec`), provenance (trained, initialised, or imported from the reference) and a digest. The
digest is sha256 over the weights file and the canonical JSON (minus the digest itself); it is verified on load
and enters the server's cache key, so a new checkpoint never serves stale adapters.

Optionally a third file, `descriptions.safetensors` (hypernet.description_index): the embeddings of the training
descriptions with their task names, for the description-quality signal. The JSON records its sha256 under
"description_index", so the digest covers it; `write_description_index` adds or replaces it in an existing
checkpoint (and re-stamps the digest). A checkpoint without it loads as before, with `description_index` None.
Beside it, `accuracy.json` (measured exact match per training task: the expected accuracy) is recorded the same way
by `write_task_accuracy`, so a re-measured checkpoint gets a new digest and cached adapters never show old figures.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from .config import HyperConfig
from .description_index import (ACCURACY_FILE, INDEX_FILE, DescriptionIndex, DescriptionIndexError, read_accuracy,
                                write_accuracy)
from .encoder import EncoderSpec
from .model import HyperLoRA
from .targets import TargetSpec, describe_mismatch, targets_from_config

WEIGHTS_FILE = "hypernet.safetensors"
META_FILE = "hypernet.json"
FORMAT_VERSION = 1
PEFT_KEY_TEMPLATE = "base_model.model.{path}.lora_{AB}.weight"  # as hypernet.adapter writes it
_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class CheckpointError(ValueError):
    """A checkpoint folder that is missing, corrupt, or does not fit the base model it is used with."""


@dataclass(frozen=True, eq=False)
class Checkpoint:
    """A loaded hypernetwork with everything that describes it."""

    model: HyperLoRA
    base_model: str
    encoder: str
    digest: str
    provenance: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    encoder_spec: EncoderSpec | None = None
    """How descriptions were embedded for this checkpoint (None: sentence-transformers defaults for `encoder`)."""
    description_index: DescriptionIndex | None = None
    """Training-description embeddings for the description-quality signal (None: the checkpoint has none)."""

    @property
    def embedding(self) -> EncoderSpec:
        return self.encoder_spec or EncoderSpec(self.encoder)

    @property
    def config(self) -> HyperConfig:
        return self.model.config

    @property
    def targets(self) -> tuple[TargetSpec, ...]:
        return self.model.targets

    def check_base_model(self, base_config: Any) -> None:
        """Raise CheckpointError unless `base_config` (an HF config, or a model path/id) has this checkpoint's
        target layers with the same shapes."""
        actual = targets_from_config(base_config, self.config.target_modules)
        problem = describe_mismatch(list(self.targets), actual)
        if problem:
            raise CheckpointError(f"checkpoint {self.path or ''} was made for {self.base_model!r} and does not fit "
                                  f"this base model: {problem}")


def _digest(weights: bytes, meta: dict[str, Any]) -> str:
    body = json.dumps({k: v for k, v in meta.items() if k != "digest"}, sort_keys=True).encode()
    return hashlib.sha256(hashlib.sha256(weights).digest() + body).hexdigest()


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _index_entry(folder: Path) -> dict[str, Any] | None:
    """The JSON record of the folder's description index (None when there is none)."""
    path = folder / INDEX_FILE
    if not path.is_file():
        return None
    index = DescriptionIndex.load(path)
    entry = {"file": INDEX_FILE, "sha256": _file_sha256(path), "rows": len(index), "tasks": len(index.tasks),
             "threshold": index.threshold}
    accuracy = folder / ACCURACY_FILE
    if accuracy.is_file():  # covered by the digest too: cached adapters carry the expected accuracy it gave
        entry["accuracy"] = {"file": ACCURACY_FILE, "sha256": _file_sha256(accuracy)}
    return entry


def save_checkpoint(directory: str | os.PathLike, model: HyperLoRA, base_model: str, encoder: str,
                    provenance: dict[str, Any] | None = None, dtype: str = "float32",
                    encoder_spec: EncoderSpec | None = None) -> str:
    """Write the checkpoint folder; returns its digest. `dtype` float16/bfloat16 halves the file. `encoder_spec`
    records how descriptions were embedded (default: sentence-transformers, mean pooling, unit vectors)."""
    spec = encoder_spec or EncoderSpec(encoder)
    if spec.name != encoder:
        raise ValueError(f"encoder {encoder!r} and encoder_spec.name {spec.name!r} differ")
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    weights = {k: v.detach().to("cpu", _DTYPES[dtype]).contiguous() for k, v in model.state_dict().items()}
    save_file(weights, str(folder / WEIGHTS_FILE))
    meta = {
        "format_version": FORMAT_VERSION,
        "config": model.config.to_dict(),
        "targets": [t.to_dict() for t in model.targets],
        "base_model": base_model,
        "encoder": {**spec.to_dict(), "dim": model.config.embed_dim},
        "peft_key_template": PEFT_KEY_TEMPLATE,
        "dtype": dtype,
        "parameters": sum(p.numel() for p in model.parameters()),
        "provenance": provenance or {},
    }
    index = _index_entry(folder)  # a description index already in the folder stays part of the checkpoint
    if index is not None:
        meta["description_index"] = index
    meta["digest"] = _digest((folder / WEIGHTS_FILE).read_bytes(), meta)
    (folder / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True))
    return meta["digest"]


def load_checkpoint(directory: str | os.PathLike, device: str | torch.device = "cpu",
                    description_index: bool = True) -> Checkpoint:
    """Load and verify a checkpoint folder. `description_index=False` skips the index (and its check): for tools
    that are about to rewrite it."""
    folder = Path(directory)
    if not (folder / META_FILE).is_file() or not (folder / WEIGHTS_FILE).is_file():
        raise CheckpointError(f"{folder} is not a t2l checkpoint (needs {META_FILE} and {WEIGHTS_FILE})")
    try:
        meta = json.loads((folder / META_FILE).read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{folder / META_FILE} is not valid JSON: {exc}") from exc
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{folder}: checkpoint format {meta.get('format_version')}, expected {FORMAT_VERSION}")
    raw = (folder / WEIGHTS_FILE).read_bytes()
    if _digest(raw, meta) != meta.get("digest"):
        raise CheckpointError(f"{folder}: digest mismatch, the checkpoint is corrupt or was edited")
    try:
        config = HyperConfig.from_dict(meta["config"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{folder}: its config does not describe this version's hypernetwork ({exc}); a "
                              "checkpoint from before the reference architecture must be retrained") from exc
    model = HyperLoRA(config, [TargetSpec.from_dict(t) for t in meta["targets"]])
    try:
        state = {k: v.float() for k, v in load_file(str(folder / WEIGHTS_FILE)).items()}
        model.load_state_dict(state)
    except Exception as exc:
        raise CheckpointError(f"{folder}: weights do not load into the HyperLoRA its JSON describes: {exc}") from exc
    model.to(device).eval()
    return Checkpoint(model, meta["base_model"], meta["encoder"]["name"], meta["digest"],
                      meta.get("provenance", {}), folder, EncoderSpec.from_dict(meta["encoder"]),
                      _load_index(folder, meta, model) if description_index else None)


def _load_index(folder: Path, meta: dict[str, Any], model: HyperLoRA) -> DescriptionIndex | None:
    """The index the JSON records (its sha256 checked: the digest vouches for it), centred as the model centres."""
    entry = meta.get("description_index")
    if not entry:
        return None  # a file without a JSON record is not covered by the digest: ignored
    path = folder / entry.get("file", INDEX_FILE)
    if not path.is_file():
        raise CheckpointError(f"{folder}: hypernet.json records a description index {path.name} that is missing")
    if _file_sha256(path) != entry.get("sha256"):
        raise CheckpointError(f"{folder}: {path.name} does not match the sha256 in hypernet.json (edited or "
                              "corrupt; rewrite it with `t2l checkpoint index`)")
    try:
        index = DescriptionIndex.load(path, model.task_center.detach().cpu())
        accuracy = entry.get("accuracy")
        if accuracy:
            if not (folder / accuracy["file"]).is_file() or _file_sha256(folder / accuracy["file"]) != accuracy["sha256"]:
                raise CheckpointError(f"{folder}: {accuracy['file']} is missing or does not match the sha256 in "
                                      "hypernet.json (rewrite it with `t2l checkpoint accuracy`)")
            index.set_accuracy(read_accuracy(folder))
    except DescriptionIndexError as exc:
        raise CheckpointError(str(exc)) from exc
    if index.dim != model.config.embed_dim:
        raise CheckpointError(f"{folder}: description index is {index.dim}-d, the model reads "
                              f"{model.config.embed_dim}-d embeddings")
    return index


def write_description_index(directory: str | os.PathLike, names: Sequence[str], embeddings: Tensor,
                            threshold: float | None = None, extra: dict[str, Any] | None = None) -> str | None:
    """Write `descriptions.safetensors` into a checkpoint folder: one row per training description, `names[i]` the
    task of row i, `embeddings` (rows, embed_dim) as the checkpoint's encoder gives them (not centred: loading
    centres with the model's task_center). `threshold`: the in-distribution cut-off (None: DEFAULT_THRESHOLD).
    When the folder already holds a checkpoint its JSON and digest are updated (returns the new digest); otherwise
    a later `save_checkpoint` into the folder picks the file up (returns None)."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    index = DescriptionIndex(list(names), embeddings, threshold)
    meta_path = folder / META_FILE
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if meta.get("config", {}).get("embed_dim") not in (None, index.dim):
            raise CheckpointError(f"{folder}: the model reads {meta['config']['embed_dim']}-d embeddings, the index "
                                  f"has {index.dim}-d rows")
    index.save(folder / INDEX_FILE, extra)
    return _restamp(folder)


def write_task_accuracy(directory: str | os.PathLike, accuracy: dict[str, float], source: dict[str, Any]) -> str | None:
    """Write accuracy.json (measured exact match per training task, for the expected accuracy) beside the folder's
    description index and re-stamp the digest; same return as write_description_index."""
    write_accuracy(directory, accuracy, source)
    return _restamp(Path(directory))


def _restamp(folder: Path) -> str | None:
    """Record the index (and accuracy) files in hypernet.json and renew the digest; None without a checkpoint."""
    meta_path = folder / META_FILE
    if not meta_path.is_file() or not (folder / WEIGHTS_FILE).is_file():
        return None
    meta = json.loads(meta_path.read_text())
    meta["description_index"] = _index_entry(folder)
    meta["digest"] = _digest((folder / WEIGHTS_FILE).read_bytes(), meta)
    tmp = meta_path.with_name(f".{META_FILE}.tmp")
    tmp.write_text(json.dumps(meta, indent=2, sort_keys=True))
    os.replace(tmp, meta_path)
    return meta["digest"]


def init_checkpoint(directory: str | os.PathLike, base_config: Any, base_model: str, encoder: str,
                    config: HyperConfig, seed: int = 0, head_noise: float = 0.0,
                    encoder_spec: EncoderSpec | None = None) -> str:
    """Write an UNTRAINED checkpoint for `base_config` (an HF config or path); returns its digest.

    With head_noise = 0 an L net generates adapters with delta W = 0 (the base model's behaviour); head_noise > 0
    draws random head weights so adapters change the model (demos, engine tests).
    """
    torch.manual_seed(seed)
    model = HyperLoRA(config, targets_from_config(base_config, config.target_modules))
    if head_noise > 0:
        with torch.no_grad():
            for head in model.heads.values():
                head.weight.normal_(0.0, head_noise)
    provenance = {"trained": False, "seed": seed, "head_noise": head_noise, "created_by": "init_checkpoint"}
    return save_checkpoint(directory, model, base_model, encoder, provenance, encoder_spec=encoder_spec)
