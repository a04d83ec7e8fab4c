"""Which linear layers a generated adapter touches, and their shapes, from an HF config alone.

A `TargetSpec` names one (layer, module) pair. The list is computed by building the model on the meta device
(no weights, no memory), so every architecture transformers knows is handled with its real module paths and its
real shapes (GQA: v_proj/k_proj are num_key_value_heads * head_dim wide). It is stored in every checkpoint, so
generating adapters never needs the base model.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Iterable

import torch
from torch import nn

_LAYER_INDEX = re.compile(r"\.(\d+)\.")


@dataclass(frozen=True, order=True)
class TargetSpec:
    """One adapted linear layer: W has shape (out_features, in_features); LoRA A is (r, in), B is (out, r)."""

    layer: int
    module: str
    in_features: int
    out_features: int
    path: str
    """Module path inside the HF model, e.g. 'model.layers.3.self_attn.q_proj'."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TargetSpec":
        return cls(**data)


def targets_from_model(model: nn.Module, modules: Iterable[str]) -> list[TargetSpec]:
    """Target specs for every nn.Linear named like one of `modules` inside a numbered block of `model`.

    Sorted by (module order in `modules`, layer) so that the same config always gives the same list.
    """
    wanted = list(modules)
    found: list[TargetSpec] = []
    for path, sub in model.named_modules():
        name = path.rsplit(".", 1)[-1]
        if name not in wanted or not isinstance(sub, nn.Linear):
            continue
        match = _LAYER_INDEX.findall(f".{path}.")
        if not match:
            continue  # a linear outside the repeated blocks (e.g. lm_head) is not a per-layer target
        found.append(TargetSpec(int(match[-1]), name, sub.in_features, sub.out_features, path))
    missing = [m for m in wanted if not any(t.module == m for t in found)]
    if missing:
        names = sorted({p.rsplit(".", 1)[-1] for p, s in model.named_modules() if isinstance(s, nn.Linear)})
        raise ValueError(f"target modules {missing} not found as linear layers; this model has {names}")
    found.sort(key=lambda t: (wanted.index(t.module), t.layer, t.path))
    return found


def targets_from_config(config: Any, modules: Iterable[str] = ("q_proj", "v_proj")) -> list[TargetSpec]:
    """Target specs from an HF `PretrainedConfig` (or a model path/id), building the model on the meta device."""
    from transformers import AutoConfig, AutoModelForCausalLM

    if isinstance(config, str):
        config = AutoConfig.from_pretrained(config)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return targets_from_model(model, modules)


def describe_mismatch(expected: list[TargetSpec], actual: list[TargetSpec]) -> str | None:
    """Human-readable first difference between two target lists, or None when they agree."""
    if len(expected) != len(actual):
        return f"{len(expected)} target layers expected, the model has {len(actual)}"
    for want, have in zip(expected, actual):
        if want != have:
            return (
                f"target {want.path} expects a {want.in_features}->{want.out_features} linear, "
                f"the model has {have.path} {have.in_features}->{have.out_features}"
            )
    return None
