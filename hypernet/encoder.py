"""Task-description encoders. Text normalisation lives here: the cache key and the embedding see the same text.

Two ways to embed, recorded in every checkpoint as an `EncoderSpec` so serving reproduces what training saw:
  - sentence-transformers (our default, all-MiniLM-L6-v2): the model's own mean pooling, unit-normalised;
  - the reference's path (SakanaAI/text-to-lora, utils.embed_texts): add a full stop to a description that ends in
    a letter, run the HF encoder (gte-large-en-v1.5: CLS pooling), L2-normalise and multiply by sqrt(d), so every
    embedding has norm sqrt(d) like a unit-variance vector.
Before either, a description is pre-processed as the checkpoint's spec says (`normalize_description`): ours NFKC
and collapses whitespace; the reference does neither (it only strips the ends, in its add_full_stop), so an imported
checkpoint's spec turns both off. The cache key hashes that same text, so the key follows the spec too; the full
stop is part of the embedding path only.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol, Sequence, runtime_checkable

import torch
from torch import Tensor

MAX_DESCRIPTION_CHARS = 2000
"""Default limit; all-MiniLM-L6-v2 reads 256 word pieces (~1,000 characters), longer text is truncated by it."""

_SPACE = re.compile(r"\s+")


class DescriptionError(ValueError):
    """A task description that cannot be used (empty, too long, not text)."""


def normalize_description(text: object, max_chars: int = MAX_DESCRIPTION_CHARS,
                          spec: "EncoderSpec | None" = None) -> str:
    """The text a description is hashed and embedded as, by `spec`'s pre-processing (None: ours, NFKC and collapsed
    whitespace); always stripped. Case and punctuation are kept: they can change the task."""
    if not isinstance(text, str):
        raise DescriptionError(f"task description must be a string, got {type(text).__name__}")
    form, collapse = (spec.unicode_form, spec.collapse_whitespace) if spec is not None else ("NFKC", True)
    clean = unicodedata.normalize(form, text) if form != "none" else text
    clean = (_SPACE.sub(" ", clean) if collapse else clean).strip()
    if not clean:
        raise DescriptionError("task description is empty")
    if len(clean) > max_chars:
        raise DescriptionError(f"task description is {len(clean)} characters long; the limit is {max_chars}")
    return clean


Pooling = Literal["mean", "cls", "last_token"]
Normalization = Literal["l2", "l2_sqrt_d", "none"]
UnicodeForm = Literal["NFKC", "none"]


@dataclass(frozen=True)
class EncoderSpec:
    """How descriptions become embeddings; stored in the checkpoint JSON next to the encoder's name."""

    name: str
    """Model id or folder (e.g. sentence-transformers/all-MiniLM-L6-v2, Alibaba-NLP/gte-large-en-v1.5)."""
    pooling: Pooling = "mean"
    """Token states -> one vector: mean over tokens (sentence-transformers' MiniLM), cls (gte), last_token."""
    add_full_stop: bool = False
    """Append '.' to a description ending in a letter before embedding (the reference's add_full_stop)."""
    normalize: Normalization = "l2"
    """'l2' unit vectors; 'l2_sqrt_d' unit vectors x sqrt(dim) (the reference); 'none' raw pooled states."""
    backend: Literal["sentence-transformers", "transformers"] = "sentence-transformers"
    """sentence-transformers (its own pooling, must be 'mean') or plain transformers AutoModel (trust_remote_code)."""
    unicode_form: UnicodeForm = "NFKC"
    """Unicode normalisation before hashing and embedding: NFKC (ours; folds ligatures, full-width letters, '…')
    or 'none' (the reference embeds the text as given). Absent from older checkpoints: NFKC, as they were made."""
    collapse_whitespace: bool = True
    """Runs of whitespace -> one space before hashing and embedding (ours); False keeps inner whitespace (the
    reference). Absent from older checkpoints: True, as they were made."""

    def __post_init__(self) -> None:
        if self.pooling not in ("mean", "cls", "last_token"):
            raise ValueError(f"pooling must be mean, cls or last_token, got {self.pooling!r}")
        if self.normalize not in ("l2", "l2_sqrt_d", "none"):
            raise ValueError(f"normalize must be l2, l2_sqrt_d or none, got {self.normalize!r}")
        if self.unicode_form not in ("NFKC", "none"):
            raise ValueError(f"unicode_form must be NFKC or none, got {self.unicode_form!r}")
        if self.backend == "sentence-transformers" and self.pooling != "mean":
            raise ValueError("the sentence-transformers backend pools with the model's own (mean) pooling; "
                             f"use backend 'transformers' for {self.pooling!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "EncoderSpec":
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def reference(cls, name: str) -> "EncoderSpec":
        """The reference's embedding path for `name` (model_loading.get_emb_model_and_fns): gte -> CLS pooling,
        anything else (the base LLM itself) -> last-token pooling; always add_full_stop and L2 x sqrt(d), and the
        text as given (utils.embed_texts: no Unicode normalisation, inner whitespace kept)."""
        if "SFR" in name:
            raise ValueError(f"{name}: the reference wraps SFR queries in an instruction template; not supported")
        pooling: Pooling = "cls" if "gte" in name else "last_token"
        return cls(name, pooling=pooling, add_full_stop=True, normalize="l2_sqrt_d", backend="transformers",
                   unicode_form="none", collapse_whitespace=False)

    def same_embedding(self, other: "EncoderSpec") -> bool:
        """Whether `other` turns text into the same vectors (everything but the name, which may be a local copy)."""
        return {**self.to_dict(), "name": ""} == {**other.to_dict(), "name": ""}


def add_full_stop(text: str) -> str:
    """'Sort the list' -> 'Sort the list.'; text ending in punctuation, a digit or a symbol is kept as is. The
    reference's rule exactly (preprocessing.add_full_stop: strip, then '.' after a final str.isalpha character)."""
    text = text.strip()
    return text + "." if text and text[-1].isalpha() else text


def normalize_embeddings(x: Tensor, how: Normalization) -> Tensor:
    """x (N, d): 'l2' -> unit rows; 'l2_sqrt_d' -> rows of norm sqrt(d) (reference utils.embed_tokens); 'none'."""
    if how == "none":
        return x
    unit = torch.nn.functional.normalize(x, dim=-1)
    return unit * math.sqrt(x.shape[-1]) if how == "l2_sqrt_d" else unit


@runtime_checkable
class TaskEncoder(Protocol):
    """Turns descriptions into fixed-width embeddings, (N,) texts -> (N, dim) float32."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> Tensor: ...


class SentenceTransformerEncoder:
    """sentence-transformers model (local folder or hub id), no gradients. Unit-normalised embeddings unless a
    spec says otherwise (its add_full_stop and normalize are applied; pooling is the model's own)."""

    def __init__(self, name_or_path: str, device: str = "cpu", name: str | None = None,
                 max_chars: int = MAX_DESCRIPTION_CHARS, spec: EncoderSpec | None = None) -> None:
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(name_or_path), device=device)
        self.name = name or str(name_or_path)
        self.spec = spec or EncoderSpec(self.name)
        self.dim = int(self.model.get_embedding_dimension() if hasattr(self.model, "get_embedding_dimension")
                       else self.model.get_sentence_embedding_dimension())
        self.max_chars = max_chars

    def embed(self, texts: Sequence[str]) -> Tensor:
        return self.embed_normalized([normalize_description(t, self.max_chars, self.spec) for t in texts])

    def embed_normalized(self, texts: Sequence[str]) -> Tensor:
        """`embed` for texts the caller has normalised already (normalize_description with this spec)."""
        clean = [add_full_stop(t) for t in texts] if self.spec.add_full_stop else list(texts)
        with torch.inference_mode():
            out = self.model.encode(clean, convert_to_tensor=True, normalize_embeddings=False,
                                    show_progress_bar=False, batch_size=max(1, len(clean)))
        return normalize_embeddings(out.float().cpu(), self.spec.normalize).clone()


class TransformersEncoder:
    """Any HF encoder through transformers' AutoModel (the reference's path; gte-large needs trust_remote_code):
    (full stop) -> tokens (right padding) -> last hidden states (N, T, d) -> pooling -> normalisation, fp32."""

    def __init__(self, name_or_path: str, spec: EncoderSpec, device: str = "cpu", name: str | None = None,
                 max_chars: int = MAX_DESCRIPTION_CHARS, max_tokens: int = 8192) -> None:
        from transformers import AutoModel, AutoTokenizer

        self.spec, self.device, self.max_chars, self.max_tokens = spec, device, max_chars, max_tokens
        self.name = name or spec.name
        self.tokenizer = AutoTokenizer.from_pretrained(str(name_or_path), trust_remote_code=True)
        self.tokenizer.padding_side = "right"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token_id = self.tokenizer.eos_token_id
        self.model = AutoModel.from_pretrained(str(name_or_path), trust_remote_code=True,
                                               torch_dtype=torch.float32).to(device).eval()
        self.dim = int(self.model.config.hidden_size)

    def embed(self, texts: Sequence[str]) -> Tensor:
        return self.embed_normalized([normalize_description(t, self.max_chars, self.spec) for t in texts])

    def embed_normalized(self, texts: Sequence[str]) -> Tensor:
        """`embed` for texts the caller has normalised already (normalize_description with this spec)."""
        clean = [add_full_stop(t) for t in texts] if self.spec.add_full_stop else list(texts)
        batch = self.tokenizer(clean, padding=True, truncation=True, max_length=self.max_tokens,
                               return_tensors="pt").to(self.device)
        with torch.inference_mode():
            states = self.model(**batch).last_hidden_state.float()                 # (N, T, d)
        mask = batch["attention_mask"]                                              # (N, T), right padded
        if self.spec.pooling == "cls":
            pooled = states[:, 0]
        elif self.spec.pooling == "last_token":
            pooled = states[torch.arange(states.shape[0], device=states.device), mask.sum(1) - 1]
        else:
            pooled = (states * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
        return normalize_embeddings(pooled, self.spec.normalize).cpu().clone()


def embed_normalized(encoder: TaskEncoder, texts: Sequence[str]) -> Tensor:
    """Embed descriptions already normalised by the caller (who hashed that same text for a cache key): encoders
    with an `embed_normalized` method skip their own normalisation; any other TaskEncoder gets `embed`, whose second
    normalisation changes nothing (it is idempotent) but costs a pass."""
    direct = getattr(encoder, "embed_normalized", None)
    return direct(texts) if callable(direct) else encoder.embed(texts)


def make_encoder(name_or_path: str, spec: EncoderSpec, device: str = "cpu",
                 max_chars: int = MAX_DESCRIPTION_CHARS) -> TaskEncoder:
    """The encoder a checkpoint's spec asks for; `name_or_path` may be a local copy of spec.name."""
    if spec.backend == "transformers":
        return TransformersEncoder(name_or_path, spec, device, spec.name, max_chars)
    return SentenceTransformerEncoder(name_or_path, device, spec.name, max_chars, spec)
