"""Apply per-sample generated LoRAs to an HF model through forward hooks, without touching its weights.

Sample n of the input batch gets adapter index[n] of the LoRABatch (index defaults to n, and a batch of one
adapter is broadcast to every sample). Each hooked linear adds scale * (x A^T) B^T computed by two batched
einsums (`lora.apply_lora`), so gradients flow into the hypernetwork that produced A and B.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from torch import Tensor, nn

from .lora import LoRABatch, apply_lora


def _make_hook(a: Tensor, b: Tensor, scale: float, index: Tensor | None, dropout: nn.Module | None):
    def hook(module: nn.Module, args: tuple, output: Tensor) -> Tensor:
        x = args[0]
        if x.dim() != 3:
            raise ValueError(f"inject expects (batch, tokens, features) inputs, got {tuple(x.shape)}")
        a_, b_ = (a[index], b[index]) if index is not None else (a, b)
        n = x.shape[0]
        if a_.shape[0] == 1 and n != 1:
            a_, b_ = a_.expand(n, -1, -1), b_.expand(n, -1, -1)
        elif a_.shape[0] != n:
            raise ValueError(f"{a_.shape[0]} adapters for a batch of {n} samples (pass index=...)")
        if dropout is not None:
            x = dropout(x)
        return output + apply_lora(x, a_.to(x.dtype), b_.to(x.dtype), scale).to(output.dtype)

    return hook


def check_targets(model: nn.Module, lora: LoRABatch) -> dict[str, nn.Linear]:
    """The linear layers the batch targets, or a ValueError naming the first that is missing or misshapen."""
    found = dict(model.named_modules())
    layers: dict[str, nn.Linear] = {}
    for t in lora.targets:
        sub = found.get(t.path)
        if sub is None:
            raise ValueError(f"adapter targets {t.path}, which this model does not have (wrong base model?)")
        if not isinstance(sub, nn.Linear) or (sub.in_features, sub.out_features) != (t.in_features, t.out_features):
            have = (getattr(sub, "in_features", "?"), getattr(sub, "out_features", "?"))
            raise ValueError(f"adapter expects {t.path} to be a {t.in_features}->{t.out_features} linear, "
                             f"the model has {type(sub).__name__} {have[0]}->{have[1]} (wrong base model?)")
        layers[t.path] = sub
    return layers


@contextmanager
def inject(model: nn.Module, lora: LoRABatch, index: Tensor | None = None, dropout: float = 0.0
           ) -> Iterator[nn.Module]:
    """Within the block, `model(...)` runs with the LoRAs of `lora` added; hooks are removed on exit."""
    layers = check_targets(model, lora)
    drop = nn.Dropout(dropout) if dropout > 0 else None
    if drop is not None:
        drop.train(model.training)
    handles = []
    try:
        for t, a, b in zip(lora.targets, lora.a, lora.b):
            handles.append(layers[t.path].register_forward_hook(_make_hook(a, b, lora.scale, index, drop)))
        yield model
    finally:
        for h in handles:
            h.remove()
