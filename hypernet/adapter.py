"""The `Adapter` value object and its two serialisations: a PEFT LoRA folder and one checksummed blob.

This is the only module that knows PEFT's (and so vLLM's) file names and tensor keys:
    adapter_config.json          peft_type LORA, r, lora_alpha, use_rslora, target_modules, base_model_name_or_path
    adapter_model.safetensors    base_model.model.<module path>.lora_A.weight (r, in) / .lora_B.weight (out, r)
Our own metadata (description, checkpoint digest, ...) rides in the safetensors header under "t2l".
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import load_file, save, save_file
from torch import Tensor

from .lora import LoRABatch, lora_scale
from .targets import TargetSpec

CONFIG_NAME = "adapter_config.json"
WEIGHTS_NAME = "adapter_model.safetensors"
_KEY = re.compile(r"^base_model\.model\.(?P<path>.+)\.lora_(?P<ab>[AB])\.weight$")
_LAYER = re.compile(r"\.(\d+)\.")
_BLOB_MAGIC = b"T2LA\x01"  # blob = magic + sha256(payload) + payload (safetensors bytes, config in its header)


class AdapterFormatError(ValueError):
    """An adapter folder or blob is missing, truncated, corrupt or not a LoRA we can read."""


def _peft_key(path: str, ab: str) -> str:
    return f"base_model.model.{path}.lora_{ab}.weight"


@dataclass(frozen=True, eq=False)
class Adapter:
    """One LoRA adapter: for targets[i], a[i] is (r, in_features) and b[i] is (out_features, r)."""

    targets: tuple[TargetSpec, ...]
    a: tuple[Tensor, ...]
    b: tuple[Tensor, ...]
    rank: int
    alpha: float
    use_rslora: bool
    base_model: str
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        LoRABatch(self.targets, [x[None] for x in self.a], [x[None] for x in self.b],
                  self.rank, self.alpha, self.use_rslora)  # validates every shape

    @property
    def scale(self) -> float:
        return lora_scale(self.alpha, self.rank, self.use_rslora)

    @property
    def target_modules(self) -> list[str]:
        return list(dict.fromkeys(t.module for t in self.targets))

    # ---- batches -------------------------------------------------------------------------------------------
    @classmethod
    def from_batch(cls, batch: LoRABatch, base_model: str, metadata: Sequence[dict[str, Any]] | None = None
                   ) -> list["Adapter"]:
        """Split a (possibly grad-carrying) LoRABatch into N detached, contiguous adapters."""
        metas = list(metadata) if metadata is not None else [{} for _ in range(batch.size)]
        if len(metas) != batch.size:
            raise ValueError(f"{batch.size} adapters but {len(metas)} metadata entries")
        return [
            cls(batch.targets, tuple(x[i].detach().contiguous() for x in batch.a),
                tuple(x[i].detach().contiguous() for x in batch.b),
                batch.rank, batch.alpha, batch.use_rslora, base_model, dict(metas[i]))
            for i in range(batch.size)
        ]

    @staticmethod
    def stack(adapters: Sequence["Adapter"]) -> LoRABatch:
        """N adapters over the same targets -> one LoRABatch (for `inject`)."""
        if not adapters:
            raise ValueError("need at least one adapter")
        first = adapters[0]
        for other in adapters[1:]:
            if (other.targets, other.rank, other.alpha, other.use_rslora) != (
                    first.targets, first.rank, first.alpha, first.use_rslora):
                raise ValueError("adapters in one batch must share targets, rank, alpha and rsLoRA")
        a = [torch.stack([ad.a[i] for ad in adapters]) for i in range(len(first.targets))]
        b = [torch.stack([ad.b[i] for ad in adapters]) for i in range(len(first.targets))]
        return LoRABatch(first.targets, a, b, first.rank, first.alpha, first.use_rslora)

    # ---- PEFT ----------------------------------------------------------------------------------------------
    def peft_config(self) -> dict[str, Any]:
        return {
            "peft_type": "LORA",
            "task_type": "CAUSAL_LM",
            "base_model_name_or_path": self.base_model,
            "r": self.rank,
            "lora_alpha": self.alpha,
            "use_rslora": self.use_rslora,
            "target_modules": self.target_modules,
            "lora_dropout": 0.0,
            "bias": "none",
            "fan_in_fan_out": False,
            "inference_mode": True,
            "init_lora_weights": True,
            "use_dora": False,
            "modules_to_save": None,
        }

    def tensors(self) -> dict[str, Tensor]:
        out: dict[str, Tensor] = {}
        for t, a, b in zip(self.targets, self.a, self.b):
            out[_peft_key(t.path, "A")] = a.contiguous()
            out[_peft_key(t.path, "B")] = b.contiguous()
        return out

    def _header(self) -> dict[str, str]:
        return {"format": "pt", "t2l": json.dumps(self.metadata, sort_keys=True)}

    def to_peft(self, directory: str | os.PathLike) -> Path:
        """Write a PEFT LoRA folder atomically (a reader never sees half an adapter); returns its path."""
        target = Path(directory)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            (staging / CONFIG_NAME).write_text(json.dumps(self.peft_config(), indent=2))
            save_file(self.tensors(), str(staging / WEIGHTS_NAME), metadata=self._header())
            if target.exists():
                shutil.rmtree(target)
            os.replace(staging, target)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        return target

    @classmethod
    def from_peft(cls, directory: str | os.PathLike) -> "Adapter":
        folder = Path(directory)
        try:
            config = json.loads((folder / CONFIG_NAME).read_text())
            tensors = load_file(str(folder / WEIGHTS_NAME))
            from safetensors import safe_open
            with safe_open(str(folder / WEIGHTS_NAME), framework="pt") as f:
                header = f.metadata() or {}
        except (OSError, ValueError) as exc:
            raise AdapterFormatError(f"cannot read a PEFT adapter from {folder}: {exc}") from exc
        except Exception as exc:  # safetensors raises its own error type on corrupt files
            raise AdapterFormatError(f"corrupt adapter weights in {folder}: {exc}") from exc
        return cls._from_parts(config, tensors, header, str(folder))

    # ---- one blob (cache values) ---------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        header = {**self._header(), "adapter_config": json.dumps(self.peft_config(), sort_keys=True)}
        payload = save(self.tensors(), metadata=header)
        return _BLOB_MAGIC + hashlib.sha256(payload).digest() + payload

    @classmethod
    def from_bytes(cls, blob: bytes) -> "Adapter":
        head = len(_BLOB_MAGIC) + 32
        if len(blob) < head + 8 or not blob.startswith(_BLOB_MAGIC):
            raise AdapterFormatError("not a t2l adapter blob (bad magic or too short)")
        digest, payload = blob[len(_BLOB_MAGIC):head], blob[head:]
        if hashlib.sha256(payload).digest() != digest:
            raise AdapterFormatError("adapter blob checksum mismatch (corrupt or truncated)")
        try:
            (size,) = struct.unpack("<Q", payload[:8])
            header = json.loads(payload[8:8 + size]).get("__metadata__", {})
            tensors = load_safetensors_bytes(payload)
            config = json.loads(header["adapter_config"])
        except Exception as exc:
            raise AdapterFormatError(f"adapter blob does not parse: {exc}") from exc
        return cls._from_parts(config, tensors, header, "blob")

    @classmethod
    def _from_parts(cls, config: dict, tensors: dict[str, Tensor], header: dict, where: str) -> "Adapter":
        if config.get("peft_type") != "LORA":
            raise AdapterFormatError(f"{where}: peft_type is {config.get('peft_type')!r}, expected 'LORA'")
        rank = int(config["r"])
        pairs: dict[str, dict[str, Tensor]] = {}
        for key, value in tensors.items():
            match = _KEY.match(key)
            if not match:
                raise AdapterFormatError(f"{where}: unexpected tensor {key!r} in a LoRA adapter")
            pairs.setdefault(match["path"], {})[match["ab"]] = value.float()
        modules = list(config.get("target_modules") or [])
        specs: list[tuple[TargetSpec, Tensor, Tensor]] = []
        for path, ab in pairs.items():
            if set(ab) != {"A", "B"}:
                raise AdapterFormatError(f"{where}: {path} has lora_{''.join(ab)} only")
            layer = _LAYER.findall(f".{path}.")
            module = path.rsplit(".", 1)[-1]
            a, b = ab["A"], ab["B"]
            if a.shape[0] != rank or b.shape[1] != rank:
                raise AdapterFormatError(f"{where}: {path} has rank {a.shape[0]}/{b.shape[1]}, config says r={rank}")
            spec = TargetSpec(int(layer[-1]) if layer else 0, module, a.shape[1], b.shape[0], path)
            specs.append((spec, a, b))
        if not specs:
            raise AdapterFormatError(f"{where}: no LoRA tensors")
        rank_of = {m: i for i, m in enumerate(modules)}
        specs.sort(key=lambda s: (rank_of.get(s[0].module, len(rank_of)), s[0].module, s[0].layer, s[0].path))
        meta = json.loads(header.get("t2l", "{}"))
        return cls(tuple(s[0] for s in specs), tuple(s[1] for s in specs), tuple(s[2] for s in specs), rank,
                   float(config["lora_alpha"]), bool(config.get("use_rslora", False)),
                   str(config.get("base_model_name_or_path") or ""), meta)
