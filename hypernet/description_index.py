"""The description-quality signal: how close a description is to what the hypernetwork was trained on.

A checkpoint may carry `descriptions.safetensors` beside its weights: the encoder embeddings of its training
descriptions, one row each, with the task each row belongs to. For a new description's embedding e:

    similarity to row i  = cos(e - c, t_i - c)           c = the model's task_center (zeros when it does not centre)
    coverage score       = max_i similarity              (the nearest training description)
    nearest tasks        = the top-k distinct tasks by their best row's similarity
    in_distribution      = score >= threshold

Expected accuracy. A checkpoint may also carry `accuracy.json` (ACCURACY_FILE): the measured exact match of some
training tasks on held-out inputs under unseen wordings (from its evaluation; `t2l checkpoint accuracy`). A
description's expected accuracy is the similarity-weighted mean of that figure over its TOP_K nearest *measured*
tasks (weights max(similarity, 0)), so a client can tell "familiar and usually right" from "familiar and usually
wrong". It does not change the adapters, but the checkpoint's digest covers it (hypernet.checkpoint), as it covers
the index: figures cached with an adapter always belong to the checkpoint that made it.

Centring the same way the hypernetwork does makes the cosine compare what the task encoder actually reads. The
threshold is stored in the file (the `t2l checkpoint index` tooling calibrates it on held-out descriptions vs
random and unrelated text); a file written without one uses DEFAULT_THRESHOLD, calibrated on the shipped
checkpoint (checkpoints/t2l-smollm2-135m-sft-L/coverage.json). Embeddings are stored as int8 with one float32
scale per row (a quarter of float32; cosines move by < 1e-3). The file format is this module's alone; hypernet.checkpoint records its sha256 in the checkpoint JSON, so
the checkpoint digest covers it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor

INDEX_FILE = "descriptions.safetensors"
INDEX_FORMAT = "t2l-description-index/1"
DEFAULT_THRESHOLD = 0.514
"""Coverage at or above which a description counts as in distribution when the index file names no threshold: the
value `t2l checkpoint index` calibrated for the shipped checkpoint (all-MiniLM-L6-v2, centred)."""
TOP_K = 3
ACCURACY_FILE = "accuracy.json"
ACCURACY_FORMAT = "t2l-task-accuracy/1"


class DescriptionIndexError(ValueError):
    """An index that cannot be built or read (shapes, names, file format)."""


@dataclass(frozen=True)
class Neighbour:
    task: str
    similarity: float

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "similarity": round(self.similarity, 4)}


@dataclass(frozen=True)
class Expected:
    """Expected exact match (%) from the nearest measured training tasks (see the module doc)."""

    exact: float  # similarity-weighted mean exact match, percent
    tasks: tuple[Neighbour, ...]  # the measured tasks it came from, nearest first

    def to_dict(self) -> dict[str, Any]:
        return {"exact": round(self.exact, 1), "from": [n.to_dict() for n in self.tasks]}


@dataclass(frozen=True)
class Coverage:
    """How well a description is covered by the training descriptions (see the module doc)."""

    score: float
    threshold: float
    nearest: tuple[Neighbour, ...]
    expected: Expected | None = None  # None when the checkpoint carries no accuracy.json

    @property
    def in_distribution(self) -> bool:
        return self.score >= self.threshold

    def to_dict(self) -> dict[str, Any]:
        return {"score": round(self.score, 4), "threshold": self.threshold, "in_distribution": self.in_distribution,
                "nearest": [n.to_dict() for n in self.nearest],
                "expected_accuracy": self.expected.to_dict() if self.expected is not None else None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Coverage":
        neighbours = lambda rows: tuple(Neighbour(str(n["task"]), float(n["similarity"])) for n in rows)  # noqa: E731
        expected = data.get("expected_accuracy")
        return cls(float(data["score"]), float(data["threshold"]), neighbours(data.get("nearest", ())),
                   Expected(float(expected["exact"]), neighbours(expected["from"])) if expected else None)


def _centred_unit(x: Tensor, center: Tensor | None) -> Tensor:
    x = x.float()
    if center is not None:
        x = x - center.float().to(x.device)
    return torch.nn.functional.normalize(x, dim=-1)


class DescriptionIndex:
    """Training-description embeddings (rows) with the task of each row; answers coverage queries."""

    def __init__(self, names: Sequence[str], embeddings: Tensor, threshold: float | None = None,
                 center: Tensor | None = None) -> None:
        if embeddings.ndim != 2 or embeddings.shape[0] == 0:
            raise DescriptionIndexError(f"embeddings must be (rows, dim) with rows > 0, got {tuple(embeddings.shape)}")
        if len(names) != embeddings.shape[0]:
            raise DescriptionIndexError(f"{len(names)} task names for {embeddings.shape[0]} embedding rows")
        if any(not isinstance(n, str) or not n for n in names):
            raise DescriptionIndexError("every row needs a non-empty task name")
        if not torch.isfinite(embeddings).all():
            raise DescriptionIndexError("embeddings contain NaN or infinity")
        if center is not None and tuple(center.shape) != (embeddings.shape[1],):
            raise DescriptionIndexError(f"center must be ({embeddings.shape[1]},), got {tuple(center.shape)}")
        self.tasks = sorted(set(names))
        position = {t: i for i, t in enumerate(self.tasks)}
        self.row_task = torch.tensor([position[n] for n in names], dtype=torch.long)
        self.embeddings = embeddings.detach().float().cpu()
        self.threshold = DEFAULT_THRESHOLD if threshold is None else float(threshold)
        self.center = None if center is None or not center.any() else center.detach().float().cpu()
        self._unit = _centred_unit(self.embeddings, self.center)
        self.accuracy: dict[str, float] = {}  # task -> measured exact match (%); set_accuracy fills it
        self.extra: dict[str, Any] = {}  # what its writer recorded beside it (save's `extra`); load fills it
        self._measured = torch.zeros(len(self.tasks), dtype=torch.bool)

    def set_accuracy(self, accuracy: dict[str, float]) -> None:
        """Measured exact match (%) per training task; tasks the index does not hold are ignored."""
        held = set(self.tasks)
        self.accuracy = {t: float(v) for t, v in accuracy.items() if t in held}
        self._measured = torch.tensor([t in self.accuracy for t in self.tasks], dtype=torch.bool)

    @property
    def dim(self) -> int:
        return int(self.embeddings.shape[1])

    def __len__(self) -> int:
        return int(self.embeddings.shape[0])

    def similarities(self, queries: Tensor) -> Tensor:
        """(M, dim) embeddings -> (M, rows) cosine similarities after centring."""
        if queries.ndim != 2 or queries.shape[1] != self.dim:
            raise DescriptionIndexError(f"queries must be (M, {self.dim}), got {tuple(queries.shape)}")
        return _centred_unit(queries.detach().cpu(), self.center) @ self._unit.T

    def scores(self, queries: Tensor) -> Tensor:
        """(M,) coverage scores: the similarity to the nearest training description."""
        return self.similarities(queries).max(dim=1).values

    def coverage(self, queries: Tensor, k: int = TOP_K) -> list[Coverage]:
        """One Coverage per query row: score, threshold and the top-k distinct nearest tasks."""
        sims = self.similarities(queries)                                             # (M, rows)
        per_task = torch.full((sims.shape[0], len(self.tasks)), -2.0)
        per_task.scatter_reduce_(1, self.row_task.expand_as(sims), sims, reduce="amax")  # best row per task
        top = per_task.topk(min(k, len(self.tasks)), dim=1)
        measured = int(self._measured.sum())
        known = per_task.masked_fill(~self._measured, -3.0).topk(min(k, measured), dim=1) if measured else None
        out = []
        for row, (values, indices) in enumerate(zip(top.values.tolist(), top.indices.tolist())):
            nearest = tuple(Neighbour(self.tasks[i], v) for v, i in zip(values, indices))
            expected = None
            if known is not None:
                used = tuple(Neighbour(self.tasks[i], v) for v, i in
                             zip(known.values[row].tolist(), known.indices[row].tolist()))
                weights = [max(n.similarity, 0.0) + 1e-6 for n in used]  # epsilon: all-negative rows stay defined
                exact = sum(w * self.accuracy[n.task] for w, n in zip(weights, used)) / sum(weights)
                expected = Expected(exact, used)
            out.append(Coverage(values[0], self.threshold, nearest, expected))
        return out

    # ---- file ---------------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike, extra: dict[str, Any] | None = None) -> Path:
        target = Path(path)
        # One metadata entry: safetensors writes its metadata map in no fixed order, and the file's sha256 must be
        # the same for the same content (it enters the checkpoint digest).
        meta = {"t2l_index": json.dumps({"format": INDEX_FORMAT, "tasks": self.tasks, "threshold": self.threshold,
                                         "extra": extra or {}}, sort_keys=True)}
        tmp = target.with_name(f".{target.name}.tmp")
        scale = self.embeddings.abs().amax(dim=1).clamp(min=1e-12) / 127
        quantised = (self.embeddings / scale[:, None]).round().clamp(-127, 127).to(torch.int8)
        save_file({"embeddings_int8": quantised.contiguous(), "row_scale": scale.contiguous(),
                   "task_index": self.row_task.int().contiguous()}, str(tmp), metadata=meta)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
        return target

    @classmethod
    def load(cls, path: str | os.PathLike, center: Tensor | None = None) -> "DescriptionIndex":
        try:
            with safe_open(str(path), framework="pt") as f:
                meta = json.loads((f.metadata() or {}).get("t2l_index", "{}"))
                quantised, scale = f.get_tensor("embeddings_int8"), f.get_tensor("row_scale")
                rows = f.get_tensor("task_index")
            embeddings = quantised.float() * scale.float()[:, None]
            if meta.get("format") != INDEX_FORMAT:
                raise DescriptionIndexError(f"{path}: format {meta.get('format')!r}, expected {INDEX_FORMAT!r}")
            tasks = meta["tasks"]
            names = [tasks[i] for i in rows.tolist()]
            threshold = None if meta.get("threshold") is None else float(meta["threshold"])
        except DescriptionIndexError:
            raise
        except Exception as exc:  # safetensors, JSON and index errors all mean "not a usable index"
            raise DescriptionIndexError(f"{path} is not a readable description index: {exc}") from exc
        index = cls(names, embeddings, threshold, center)
        index.extra = dict(meta.get("extra") or {})
        return index


def write_accuracy(folder: str | os.PathLike, accuracy: dict[str, float], source: dict[str, Any]) -> Path:
    """folder/accuracy.json: measured exact match (%) per training task and where it came from."""
    path = Path(folder) / ACCURACY_FILE
    bad = {t: v for t, v in accuracy.items() if not 0.0 <= float(v) <= 100.0}
    if bad:
        raise DescriptionIndexError(f"accuracies must be percentages in [0, 100]: {dict(list(bad.items())[:3])}")
    path.write_text(json.dumps({"format": ACCURACY_FORMAT, "source": source,
                                "tasks": {t: round(float(v), 2) for t, v in sorted(accuracy.items())}}, indent=1) + "\n")
    return path


def read_accuracy(folder: str | os.PathLike) -> dict[str, float]:
    """The per-task accuracies of folder/accuracy.json ({} when there is none)."""
    path = Path(folder) / ACCURACY_FILE
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
        if data.get("format") != ACCURACY_FORMAT:
            raise DescriptionIndexError(f"format {data.get('format')!r}, expected {ACCURACY_FORMAT!r}")
        return {str(t): float(v) for t, v in data["tasks"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DescriptionIndexError(f"{path} is not a readable accuracy file: {exc}") from exc
