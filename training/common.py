"""Pieces every trainer shares (SFT, the LoRA baselines, recon, the evaluation, the bench): the lr schedule, the
completion loss, the frozen base model. The config style (YAML + --set) is training.config."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from training.config import parse_value  # noqa: F401  (its home is training.config; kept importable here)
from ground.assets import prepare_base_model
from training.data import Batch


def warmup_decay(step: int, warmup: int, total: int, floor: float, schedule: str = "cosine") -> float:
    """Multiplier of lr at optimizer step `step` (0-based): linear warmup over `warmup` steps, then cosine or
    linear decay to `floor` at step `total` (or constant). Shared by SFT, the LoRA baselines and recon."""
    if step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    shape = 0.5 * (1 + math.cos(math.pi * progress)) if schedule == "cosine" else 1 - progress
    return floor + (1 - floor) * shape


def _label_logits(model: nn.Module, batch: Batch) -> tuple[Tensor, Tensor, Tensor]:
    """(logits at label positions (K, vocab), their targets (K,), keep mask (B, T-1)). Runs the LM head only on
    those positions (~20% of a step's FLOPs saved at 128 tokens) unless the model post-processes its logits."""
    targets = batch.labels[:, 1:]
    keep = targets != -100  # (B, T-1)
    body, head = getattr(model, getattr(model, "base_model_prefix", ""), None), model.get_output_embeddings()
    if body is None or head is None or getattr(model.config, "final_logit_softcapping", None):
        logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, use_cache=False).logits
        logits = logits[:, :-1][keep]
    else:
        hidden = body(input_ids=batch.input_ids, attention_mask=batch.attention_mask, use_cache=False)[0]  # (B,T,H)
        logits = head(hidden[:, :-1][keep])  # (K, vocab)
    return logits, targets[keep], keep


def completion_loss(model: nn.Module, batch: Batch) -> tuple[Tensor, int]:
    """(sum of next-token cross-entropy over label positions, their count)."""
    logits, targets, _ = _label_logits(model, batch)
    return nn.functional.cross_entropy(logits.float(), targets, reduction="sum"), int(targets.numel())


def sample_losses(model: nn.Module, batch: Batch) -> tuple[Tensor, Tensor]:
    """Per-sample (summed cross-entropy (B,), label count (B,)) over each row's completion tokens."""
    logits, targets, keep = _label_logits(model, batch)
    ce = nn.functional.cross_entropy(logits.float(), targets, reduction="none")  # (K,)
    rows = keep.nonzero()[:, 0]  # (K,) row of each label position
    sums = torch.zeros(keep.shape[0], dtype=ce.dtype, device=ce.device).index_add(0, rows, ce)
    return sums, keep.sum(1)


def load_frozen_base(name: str, dtype: str = "float32", device: torch.device | str = "cpu"):
    """(model, tokenizer) of the base model (HF id or folder, offline assets resolved), frozen: eval mode, no
    weight gradients. Every trainer and the evaluation load it this way."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = prepare_base_model(name)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype)).to(device)
    model.eval().requires_grad_(False)  # frozen: no dropout, no weight gradients
    return model, tokenizer
