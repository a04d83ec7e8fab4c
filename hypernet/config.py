"""Configuration of the T2L hypernetwork (paper, Section 3 and Appendix on architecture)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Variant = Literal["L", "M", "S"]


@dataclass(frozen=True)
class HyperConfig:
    """Shape of a HyperLoRA. Defaults run the tiny CPU case (SmolLM2-135M + all-MiniLM-L6-v2)."""

    variant: Variant = "L"
    """L: one head emits A and B; M: one shared head, A/B told apart by an embedding; S: one rank row at a time."""
    embed_dim: int = 384
    """Width of the task-description embedding from the encoder (384 for all-MiniLM-L6-v2)."""
    task_dim: int = 64
    """Width the task embedding is projected to before mixing."""
    module_dim: int = 32
    """Width of the learned module-type embedding (one row per target module name)."""
    layer_dim: int = 32
    """Width of the learned layer-index embedding (one row per transformer block)."""
    hidden: int = 256
    """Width of the MLP trunk; the paper uses 512."""
    n_blocks: int = 2
    """Residual MLP blocks after the mixer."""
    dropout: float = 0.05
    """Dropout inside the trunk (training only)."""
    rank: int = 8
    """LoRA rank r of every generated adapter."""
    alpha: float = 16.0
    """LoRA alpha; the delta is scale * B @ A with scale = alpha / r, or alpha / sqrt(r) with rsLoRA."""
    use_rslora: bool = True
    """Rank-stabilised scaling alpha / sqrt(r) (PEFT's use_rslora)."""
    target_modules: tuple[str, ...] = ("q_proj", "v_proj")
    """Linear module names (HF names, e.g. q_proj, v_proj, o_proj, up_proj) to adapt in every layer."""
    head_init_std: float = 0.1
    """Relative size of the input-dependent part of the heads at init (L keeps B's part at exactly 0)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Free-form notes carried into checkpoints (never read by the model)."""

    def __post_init__(self) -> None:
        if self.variant not in ("L", "M", "S"):
            raise ValueError(f"variant must be 'L', 'M' or 'S', got {self.variant!r}")
        for name in ("embed_dim", "task_dim", "module_dim", "layer_dim", "hidden", "rank"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.n_blocks < 0:
            raise ValueError(f"n_blocks must be >= 0, got {self.n_blocks}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not self.target_modules:
            raise ValueError("target_modules must name at least one linear module")
        if len(set(self.target_modules)) != len(self.target_modules):
            raise ValueError(f"target_modules has duplicates: {self.target_modules}")
        object.__setattr__(self, "target_modules", tuple(self.target_modules))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["target_modules"] = list(self.target_modules)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "HyperConfig":
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown HyperConfig fields: {sorted(unknown)}")
        return cls(**{**data, "target_modules": tuple(data.get("target_modules", cls.target_modules))})
