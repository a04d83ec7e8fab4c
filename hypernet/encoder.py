"""Task-description encoders. Text normalisation lives here: the cache key and the embedding see the same text."""

from __future__ import annotations

import re
import unicodedata
from typing import Protocol, Sequence, runtime_checkable

import torch
from torch import Tensor

MAX_DESCRIPTION_CHARS = 2000
"""Default limit; all-MiniLM-L6-v2 reads 256 word pieces (~1,000 characters), longer text is truncated by it."""

_SPACE = re.compile(r"\s+")


class DescriptionError(ValueError):
    """A task description that cannot be used (empty, too long, not text)."""


def normalize_description(text: object, max_chars: int = MAX_DESCRIPTION_CHARS) -> str:
    """NFKC, collapse whitespace, strip. Case and punctuation are kept: they can change the task."""
    if not isinstance(text, str):
        raise DescriptionError(f"task description must be a string, got {type(text).__name__}")
    clean = _SPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip()
    if not clean:
        raise DescriptionError("task description is empty")
    if len(clean) > max_chars:
        raise DescriptionError(f"task description is {len(clean)} characters long; the limit is {max_chars}")
    return clean


@runtime_checkable
class TaskEncoder(Protocol):
    """Turns descriptions into fixed-width embeddings, (N,) texts -> (N, dim) float32."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> Tensor: ...


class SentenceTransformerEncoder:
    """sentence-transformers model (local folder or hub id), unit-normalised embeddings, no gradients."""

    def __init__(self, name_or_path: str, device: str = "cpu", name: str | None = None,
                 max_chars: int = MAX_DESCRIPTION_CHARS) -> None:
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(name_or_path), device=device)
        self.name = name or str(name_or_path)
        self.dim = int(self.model.get_embedding_dimension() if hasattr(self.model, "get_embedding_dimension")
                       else self.model.get_sentence_embedding_dimension())
        self.max_chars = max_chars

    def embed(self, texts: Sequence[str]) -> Tensor:
        clean = [normalize_description(t, self.max_chars) for t in texts]
        with torch.inference_mode():
            out = self.model.encode(clean, convert_to_tensor=True, normalize_embeddings=True,
                                    show_progress_bar=False, batch_size=max(1, len(clean)))
        return out.float().cpu().clone()
