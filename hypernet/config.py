"""Configuration of the T2L hypernetwork (paper, Section 3 and Appendix on architecture).

Field names follow the reference implementation (SakanaAI/text-to-lora, `HyperModulator`, commit 8ba7749) so its
`args.yaml` maps onto this dataclass one to one; widths are free, so the CPU default stays small. The paper's
Mistral-7B widths are latent_size 128, head_in_size 512 (see `reference()`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

Variant = Literal["L", "M", "S"]
ReconMode = Literal["none", "zscore", "scaled"]


@dataclass(frozen=True)
class HyperConfig:
    """Shape of a HyperLoRA. Defaults run the tiny CPU case (SmolLM2-135M + all-MiniLM-L6-v2)."""

    variant: Variant = "L"
    """L: one head per module emits A and B; M: shared A/B head told apart by an output embedding
    (reference shared_AB_head); S: shared A/B head emitting one rank row at a time (shared_AB_head + autoreg_gen)."""
    embed_dim: int = 384
    """Width of the task-description embedding from the encoder (384 for all-MiniLM-L6-v2, 1024 for gte-large)."""
    latent_size: int = 128
    """Trunk width: task encoder -> latent_size // 2, layer-depth and module-type embeddings latent_size // 4 each."""
    head_in_size: int = 256
    """Width of the vector each head reads (reference default 512); the heads hold most of the parameters."""
    head_use_bias: bool = True
    """Heads have a bias (SFT without an AB offset). False when a fixed offset (multi-task LoRA) is added."""
    learnable_pos_emb: bool = False
    """S only: learned rank-position embedding instead of the reference's default rotary positions."""
    dropout: float = 0.05
    """Dropout inside the trunk (the reference fixes 0.05); only active in train()."""
    rank: int = 8
    """LoRA rank r of every generated adapter."""
    alpha: float = 16.0
    """LoRA alpha; the delta is scale * B @ A with scale = alpha / r, or alpha / sqrt(r) with rsLoRA."""
    use_rslora: bool = True
    """Rank-stabilised scaling alpha / sqrt(r) (PEFT's use_rslora; the reference's default)."""
    target_modules: tuple[str, ...] = ("q_proj", "v_proj")
    """Linear module names (HF names, e.g. q_proj, v_proj, o_proj, up_proj) to adapt in every layer."""
    match_lora_init: bool = True
    """SFT init: head weights 0 and, with a bias, the bias = PEFT's LoRA init per the variant's rule (L: delta W = 0).
    False keeps PyTorch's default head init (the reference's reconstruction training)."""
    ab_offset: bool = False
    """Carry the reference's AB_offset: fixed A/B tensors per layer added to every output (e.g. a multi-task LoRA,
    see HyperLoRA.set_offset). Off by default: the buffers are as large as one adapter per layer."""
    learnable_AB_offset: bool = False
    """With ab_offset: train the offset too (reference learnable_AB_offset)."""
    recon_mode: ReconMode = "none"
    """How raw head outputs become A/B: 'none' (SFT: raw + offset), 'zscore' (reconstruction with pred_z_score:
    raw * (std + 1e-10) + mean, then + offset; mean/std buffers), 'scaled' (reconstruction of delta W:
    raw / sqrt(delta_w_scaling)). The reference's convert_to_raw_scale."""
    delta_w_scaling: float = 10000.0
    """recon_mode 'scaled' only: delta W targets were multiplied by this during reconstruction training."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Free-form notes carried into checkpoints (never read by the model)."""

    def __post_init__(self) -> None:
        if self.variant not in ("L", "M", "S"):
            raise ValueError(f"variant must be 'L', 'M' or 'S', got {self.variant!r}")
        for name in ("embed_dim", "latent_size", "head_in_size", "rank"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.latent_size % 4:
            raise ValueError(f"latent_size must be a multiple of 4 (task //2, depth //4, type //4), "
                             f"got {self.latent_size}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.recon_mode not in ("none", "zscore", "scaled"):
            raise ValueError(f"recon_mode must be 'none', 'zscore' or 'scaled', got {self.recon_mode!r}")
        if self.learnable_pos_emb and self.variant != "S":
            raise ValueError("learnable_pos_emb applies to variant S only (one rank row at a time)")
        if self.learnable_AB_offset and not self.ab_offset:
            raise ValueError("learnable_AB_offset needs ab_offset=True")
        if self.delta_w_scaling <= 0:
            raise ValueError(f"delta_w_scaling must be positive, got {self.delta_w_scaling}")
        if not self.target_modules:
            raise ValueError("target_modules must name at least one linear module")
        if len(set(self.target_modules)) != len(self.target_modules):
            raise ValueError(f"target_modules has duplicates: {self.target_modules}")
        object.__setattr__(self, "target_modules", tuple(self.target_modules))

    @property
    def shared_AB_head(self) -> bool:
        """Reference flag: one head per module serves both A and B (M and S)."""
        return self.variant in ("M", "S")

    @property
    def autoreg_gen(self) -> bool:
        """Reference flag: the head emits one rank row per call (S)."""
        return self.variant == "S"

    @property
    def trunk_width(self) -> int:
        """Width of the mixer / residual blocks input: latent//2 + latent//4 + latent//4 (reference mlp_inp_size)."""
        return self.latent_size // 2 + 2 * (self.latent_size // 4)

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

    @classmethod
    def reference(cls, variant: Variant = "L", **overrides: Any) -> "HyperConfig":
        """The paper's widths (Mistral-7B + gte-large-en-v1.5): latent 128, head input 512, 1024-d embeddings."""
        return replace(cls(variant=variant, embed_dim=1024, latent_size=128, head_in_size=512), **overrides)
