"""LoRA maths as pure functions (Hu et al. 2021; rsLoRA: Kalajdzievski 2023).

Conventions, shared with PEFT and vLLM: A is (r, in_features), B is (out_features, r) and the adapted layer
computes  y = x W^T + scale * (x A^T) B^T  with scale = alpha / r, or alpha / sqrt(r) when rsLoRA is on.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def lora_scale(alpha: float, rank: int, use_rslora: bool) -> float:
    """The factor PEFT (`use_rslora`), vLLM and our training all multiply B @ A by."""
    if rank <= 0:
        raise ValueError(f"rank must be positive, got {rank}")
    return alpha / math.sqrt(rank) if use_rslora else alpha / rank


def delta_weight(a: Tensor, b: Tensor, scale: float) -> Tensor:
    """Dense update of one layer: a (..., r, in), b (..., out, r) -> (..., out, in)."""
    return scale * (b @ a)


def apply_lora(x: Tensor, a: Tensor, b: Tensor, scale: float) -> Tensor:
    """Per-sample LoRA output, every sample with its own adapter, in two einsums (no weight materialised).

    x (N, T, in) activations, a (N, r, in), b (N, out, r) -> (N, T, out).
    """
    if x.dim() != 3 or a.dim() != 3 or b.dim() != 3:
        raise ValueError(f"expected x (N,T,in), a (N,r,in), b (N,out,r); got {tuple(x.shape)}, "
                         f"{tuple(a.shape)}, {tuple(b.shape)}")
    down = torch.einsum("nti,nri->ntr", x, a)  # (N, T, r)
    return scale * torch.einsum("ntr,nor->nto", down, b)  # (N, T, out)


class LoRABatch:
    """A and B of N adapters for the same targets, one tensor pair per target, sample-major.

    a[i] is (N, r, in_features) and b[i] is (N, out_features, r) for targets[i]. The tensors may carry gradients
    (SFT trains through them) and may be views of larger stacked tensors.
    """

    __slots__ = ("targets", "a", "b", "rank", "alpha", "use_rslora")

    def __init__(self, targets, a, b, rank: int, alpha: float, use_rslora: bool) -> None:
        if not (len(targets) == len(a) == len(b)) or not targets:
            raise ValueError(f"need one A and one B per target: {len(targets)} targets, {len(a)} A, {len(b)} B")
        n = a[0].shape[0]
        for t, ai, bi in zip(targets, a, b):
            if tuple(ai.shape) != (n, rank, t.in_features) or tuple(bi.shape) != (n, t.out_features, rank):
                raise ValueError(f"{t.path}: A {tuple(ai.shape)} and B {tuple(bi.shape)} do not fit "
                                 f"N={n}, r={rank}, {t.in_features}->{t.out_features}")
        self.targets, self.a, self.b = tuple(targets), tuple(a), tuple(b)
        self.rank, self.alpha, self.use_rslora = rank, alpha, use_rslora

    @property
    def size(self) -> int:
        """Number of adapters N."""
        return self.a[0].shape[0]

    @property
    def scale(self) -> float:
        return lora_scale(self.alpha, self.rank, self.use_rslora)
