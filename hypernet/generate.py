"""Descriptions -> adapters: normalise (by the checkpoint's encoder spec), embed once for the batch, one hypernetwork
pass, split.

The two steps are public so a caller (the server) can time them separately.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from .adapter import Adapter
from .checkpoint import Checkpoint
from .encoder import MAX_DESCRIPTION_CHARS, EncoderSpec, TaskEncoder, embed_normalized, normalize_description


def embed_descriptions(checkpoint: Checkpoint, encoder: TaskEncoder, descriptions: Sequence[str],
                       max_chars: int = MAX_DESCRIPTION_CHARS, *, normalized: bool = False
                       ) -> tuple[list[str], Tensor]:
    """(normalised texts, (N, embed_dim) embeddings); refuses an encoder of the wrong width or embedding path, and
    bad text. Texts are pre-processed by the checkpoint's spec (normalize_description), never the encoder's own
    default. `normalized=True`: the caller passes that output already (the server, which hashed the same text for
    the cache key), so it is not normalised again."""
    if not descriptions:
        raise ValueError("need at least one description")
    if encoder.dim != checkpoint.config.embed_dim:
        raise ValueError(f"encoder {encoder.name!r} gives {encoder.dim}-d embeddings; the checkpoint expects "
                         f"{checkpoint.config.embed_dim}-d (made with {checkpoint.encoder!r})")
    spec = getattr(encoder, "spec", None)
    if isinstance(spec, EncoderSpec) and not spec.same_embedding(checkpoint.embedding):
        want, have = checkpoint.embedding.to_dict(), spec.to_dict()
        differ = ", ".join(f"{k} {have[k]!r} vs {want[k]!r}" for k in want if k != "name" and have[k] != want[k])
        raise ValueError(f"encoder {encoder.name!r} embeds differently from the checkpoint ({differ}); build it "
                         "with make_encoder(path, checkpoint.embedding)")
    texts = list(descriptions) if normalized else [normalize_description(d, max_chars, checkpoint.embedding)
                                                   for d in descriptions]
    return texts, embed_normalized(encoder, texts)


def adapters_from_embeddings(checkpoint: Checkpoint, texts: Sequence[str], embeddings: Tensor) -> list[Adapter]:
    """One HyperLoRA forward for all N embeddings -> N detached adapters carrying their description."""
    device = next(checkpoint.model.parameters()).device
    with torch.inference_mode():
        batch = checkpoint.model(embeddings.to(device))
    meta = [{"description": t, "checkpoint_digest": checkpoint.digest, "encoder": checkpoint.encoder}
            for t in texts]
    return Adapter.from_batch(batch, checkpoint.base_model, meta)


def generate_adapters(checkpoint: Checkpoint, encoder: TaskEncoder, descriptions: Sequence[str],
                      max_chars: int = MAX_DESCRIPTION_CHARS) -> list[Adapter]:
    """One adapter per description, all from a single encoder call and a single HyperLoRA forward."""
    texts, embeddings = embed_descriptions(checkpoint, encoder, descriptions, max_chars)
    return adapters_from_embeddings(checkpoint, texts, embeddings)
