"""Descriptions -> adapters: normalise, embed once for the batch, one hypernetwork pass, split."""

from __future__ import annotations

from typing import Any, Sequence

import torch

from .adapter import Adapter
from .checkpoint import Checkpoint
from .encoder import MAX_DESCRIPTION_CHARS, TaskEncoder, normalize_description


def generate_adapters(checkpoint: Checkpoint, encoder: TaskEncoder, descriptions: Sequence[str],
                      max_chars: int = MAX_DESCRIPTION_CHARS) -> list[Adapter]:
    """One adapter per description, all from a single encoder call and a single HyperLoRA forward."""
    if not descriptions:
        raise ValueError("need at least one description")
    if encoder.dim != checkpoint.config.embed_dim:
        raise ValueError(f"encoder {encoder.name!r} gives {encoder.dim}-d embeddings; the checkpoint expects "
                         f"{checkpoint.config.embed_dim}-d (made with {checkpoint.encoder!r})")
    texts = [normalize_description(d, max_chars) for d in descriptions]
    device = next(checkpoint.model.parameters()).device
    with torch.inference_mode():
        batch = checkpoint.model(encoder.embed(texts).to(device))
    meta: list[dict[str, Any]] = [
        {"description": t, "checkpoint_digest": checkpoint.digest, "encoder": checkpoint.encoder} for t in texts
    ]
    return Adapter.from_batch(batch, checkpoint.base_model, meta)
