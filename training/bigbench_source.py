"""BIG-bench 1.0.0 task JSON, read straight out of its PyPI sdist into a compact local cache.

The `bigbench==1.0.0` sdist (358 MB) carries every JSON task of BIG-bench. Installing it would pull tensorflow, so we
only download the archive and read `benchmark_tasks/<family>[/<subtask>]/task.json` out of it with `tarfile`.

Layout under `$T2L_HOME/data` (T2L_HOME defaults to ~/.cache/t2l):
    bigbench-1.0.0.tar.gz          the sdist, checked against SDIST_SHA256 before use
    tools/pip-25.0.1-*.whl         the pip that downloads it (see `download_sdist` for why not the venv's pip)
    bigbench/index.json            the stamp: source digest, cache parameters, per-family and per-task metadata
    bigbench/tasks/<name>.json.gz  one normalised task each (`family` or `family:subtask`; ':' -> '__' on disk)

A task record (the contract with training/tasks.py; bump CACHE_FORMAT when it changes):
    name, family, subtask, description, keywords, task_prefix, metric, kind ("generative" | "multiple_choice"),
    n_source_examples, examples: [{"input", "targets", "choices"?, "scores"?}]
Each example's "input" is what the model is shown: the task's example_input_prefix + input (+ the choices, for a
multiple-choice task, each after the task's choice_prefix) + example_output_prefix. Choices are shuffled with a
seed, because BIG-bench files often list the right answer first. "targets" lists every acceptable answer, best
first; for a multiple-choice example these are the top-scoring choices. The data carries BIG-bench's canary string: it is never to be committed
or republished, which is why it lives in the user's cache only.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib
from pathlib import Path
from typing import IO, Any, Iterator

from ground.assets import sha256_file

SDIST = "bigbench-1.0.0.tar.gz"
SDIST_SHA256 = "1bb398a5512c6d798cdebe0dfa0ac03f67f6033fa6b39c6ef71df978c7cbc5c2"
# pip >= 26 refuses to download this sdist at all (its metadata names a direct-URL dependency, bleurt), so the
# download runs a pinned older pip from its wheel; pip supports being run as `python pip-X.whl/pip`.
PIP_WHEEL = "pip-25.0.1-py3-none-any.whl"
PIP_REQUIREMENT = "pip==25.0.1"
PIP_SHA256 = "c46efd13b6aa8279f33f2864459c8ce587ea6a1a59ee20de055868d8f7688f7f"
CACHE_FORMAT = 1
TASKS_ROOT = "bigbench/benchmark_tasks/"
GENERATIVE, MULTIPLE_CHOICE = "generative", "multiple_choice"
DEFAULT_CHOICE_PREFIX = "\n  choice: "  # BIG-bench's own default when a task shows its choices
_ASCII_NON_LETTERS = bytes(b for b in range(128) if not chr(b).isalpha())


class BigBenchError(RuntimeError):
    """The BIG-bench data cannot be prepared or read: download failed, archive corrupt, cache incomplete."""


class BigBenchUnavailable(BigBenchError):
    """The pinned sdist is not on this machine and the package index would not give it."""


def unavailable_message(target: Path, why: str) -> str:
    """What to tell a user whose index will not give the sdist (PyPI stopped serving bigbench 1.0.0: on 2026-12-06
    it listed only 0.0.1, which holds no task data), and how to go on with a copy of their own."""
    return (f"{why}. PyPI no longer serves bigbench 1.0.0 (seen 2026-12-06: it lists only 0.0.1, which has no task "
            f"data). With a copy of {SDIST} (sha256 {SDIST_SHA256}), run `t2l data prepare --sdist PATH` or put it at "
            f"{target}")


def verify_sdist(path: Path, expected: str = SDIST_SHA256) -> None:
    """Raise BigBenchError unless `path` exists and has the pinned sha256."""
    if not path.is_file():
        raise BigBenchError(f"BIG-bench archive {path} is missing; run prepare_bigbench() to download it")
    digest = sha256_file(path)
    if digest != expected:
        raise BigBenchError(f"BIG-bench archive {path} is corrupt or not {SDIST} (sha256 {digest[:16]}..., expected "
                            f"{expected[:16]}...); delete it and run prepare_bigbench() again")


def _pip(args: list[str], runner: list[str]) -> None:
    cmd = [*runner, *args]
    # pip's own progress bar goes straight to the terminal; only the exit code is ours to judge.
    done = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=sys.stderr, check=False)
    if done.returncode != 0:
        raise BigBenchError(f"download failed (pip exit {done.returncode}): {' '.join(cmd)}; see pip's output above")


def download_sdist(data_dir: Path, sdist_sha256: str = SDIST_SHA256) -> Path:
    """Download the pinned sdist into `data_dir` with pip (hash-checked by pip and again by us); returns its path."""
    data_dir.mkdir(parents=True, exist_ok=True)
    target = data_dir / SDIST
    with tempfile.TemporaryDirectory(dir=data_dir, prefix=".download-") as tmp:
        staging = Path(tmp)
        pip_wheel = data_dir / "tools" / PIP_WHEEL
        if not pip_wheel.is_file() or sha256_file(pip_wheel) != PIP_SHA256:
            (staging / "pip.txt").write_text(f"{PIP_REQUIREMENT} --hash=sha256:{PIP_SHA256}\n")
            _pip(["download", "--no-deps", "--only-binary", ":all:", "--require-hashes", "-r",
                  str(staging / "pip.txt"), "-d", str(staging)], [sys.executable, "-m", "pip"])
            pip_wheel.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(staging / PIP_WHEEL, pip_wheel)
        (staging / "bigbench.txt").write_text(f"bigbench==1.0.0 --hash=sha256:{sdist_sha256}\n")
        try:
            _pip(["download", "--no-deps", "--no-binary", ":all:", "--require-hashes", "-r",
                  str(staging / "bigbench.txt"), "-d", str(staging)], [sys.executable, str(pip_wheel / "pip")])
        except BigBenchError as exc:
            raise BigBenchUnavailable(unavailable_message(target, str(exc).rstrip("."))) from exc
        downloaded = staging / SDIST
        verify_sdist(downloaded, sdist_sha256)
        # Only a verified archive ever appears under its final name, so a killed download leaves no trap behind.
        os.replace(downloaded, target)
    return target


class _CountingReader:
    """File wrapper that reports bytes read, so a streamed tar.gz can drive a progress bar."""

    def __init__(self, f: IO[bytes], on_read) -> None:
        self._f, self._on_read = f, on_read

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        self._on_read(len(data))
        return data


def iter_task_files(archive: Path, on_bytes=lambda n: None) -> Iterator[tuple[str, dict]]:
    """(relative task dir, parsed task.json) for every JSON task in the archive, streamed in archive order."""
    try:
        with archive.open("rb") as raw, tarfile.open(fileobj=_CountingReader(raw, on_bytes), mode="r|gz") as tar:
            for member in tar:
                _, _, rel = member.name.partition(TASKS_ROOT)
                if not member.isfile() or not rel.endswith("/task.json"):
                    continue
                yield rel[: -len("/task.json")], json.load(tar.extractfile(member))
    except (tarfile.TarError, EOFError, zlib.error, OSError, ValueError) as exc:
        raise BigBenchError(f"BIG-bench archive {archive} is truncated or corrupt ({type(exc).__name__}: {exc}); "
                            "delete it and run prepare_bigbench() again") from exc


def _text_targets(value: Any) -> tuple[str, ...]:
    values = value if isinstance(value, list) else [value]
    out = [str(v).strip() for v in values if v is not None and not isinstance(v, (dict, list))]
    return tuple(dict.fromkeys(v for v in out if v))  # de-duplicated, order kept


def task_kind(raw: dict) -> str:
    """Multiple choice when the task scores by choice (or has nothing else); generative otherwise."""
    examples = raw.get("examples") or []
    with_scores = any(isinstance(e.get("target_scores"), dict) for e in examples)
    with_target = any("target" in e for e in examples)
    if with_scores and (raw.get("preferred_score") == "multiple_choice_grade" or not with_target):
        return MULTIPLE_CHOICE
    return GENERATIVE


def _choice_prefix(raw: dict) -> str:
    prefix = raw.get("choice_prefix") or ""
    return prefix if prefix.strip() else DEFAULT_CHOICE_PREFIX


def _shown_length(ex: dict, raw: dict, kind: str) -> int:
    """Upper bound on the rendered input's length, computed without rendering it (this runs on every example)."""
    n = len(raw.get("example_input_prefix") or "") + len(ex["input"]) + len(raw.get("example_output_prefix") or "")
    if kind == MULTIPLE_CHOICE:
        choices = ex["target_scores"]
        n += len(_choice_prefix(raw)) * len(choices) + sum(map(len, map(str, choices)))
    return n


def _usable(ex: dict, raw: dict, kind: str, max_input_chars: int) -> bool:
    if not isinstance(ex.get("input"), str):
        return False
    scores = ex.get("target_scores")
    has_choices = isinstance(scores, dict) and len(scores) >= 2
    if kind == MULTIPLE_CHOICE:
        ok = has_choices
    else:
        ok = bool(ex["input"].strip()) and (bool(_text_targets(ex.get("target"))) or has_choices)
    return ok and _shown_length(ex, raw, kind) <= max_input_chars


def _example(ex: dict, raw: dict, kind: str, rng: random.Random) -> dict | None:
    out: dict[str, Any] = {}
    scores = ex.get("target_scores") if isinstance(ex.get("target_scores"), dict) else None
    if scores:
        pairs = [(str(c).strip(), float(s)) for c, s in scores.items()]
        rng.shuffle(pairs)
        out["choices"], out["scores"] = [c for c, _ in pairs], [s for _, s in pairs]
    targets = _text_targets(ex.get("target")) if kind == GENERATIVE else ()
    if not targets and scores:
        best = max(out["scores"])
        targets = tuple(dict.fromkeys(c for c, s in zip(out["choices"], out["scores"]) if s == best and c))
    if not targets:
        return None
    text = (raw.get("example_input_prefix") or "") + ex["input"]
    if kind == MULTIPLE_CHOICE:
        # Always shown, even where BIG-bench hides them (it scores those by likelihood only): our models answer by
        # generating, and cannot name a label such as `add_to_playlist` they were never shown.
        text += "".join(_choice_prefix(raw) + c for c in out["choices"])
    text += raw.get("example_output_prefix") or ""
    out["input"], out["targets"] = text.strip(), list(targets)
    return out


def normalise_task(rel_dir: str, raw: dict, max_examples: int, max_input_chars: int, seed: int) -> dict | None:
    """One task.json -> a cache record (see module doc); None for a task with no usable example."""
    family, _, subtask = rel_dir.partition("/")
    name = f"{family}:{subtask}" if subtask else family
    source = raw.get("examples") or []
    kind = task_kind(raw)
    usable = [i for i, ex in enumerate(source) if isinstance(ex, dict) and _usable(ex, raw, kind, max_input_chars)]
    if len(usable) > max_examples:
        # A seeded subset in file order: the first N of a big file are often one class or one difficulty.
        usable = sorted(random.Random(f"{seed}:subset:{name}").sample(usable, max_examples))
    examples = [e for i in usable if (e := _example(source[i], raw, kind, random.Random(f"{seed}:{name}:{i}")))]
    if not examples:
        return None
    default_metric = "multiple_choice_grade" if kind == MULTIPLE_CHOICE else "exact_str_match"
    return {
        "name": name, "family": family, "subtask": subtask or None,
        "description": " ".join(str(raw.get("description") or "").split()),
        "keywords": [k.strip() for k in raw.get("keywords") or [] if isinstance(k, str) and k.strip()],
        "task_prefix": (raw.get("task_prefix") or "").strip(),
        "metric": raw.get("preferred_score") or default_metric,
        "kind": kind, "n_source_examples": len(source), "examples": examples,
    }


def task_stats(record: dict) -> dict:
    """Index entry for a task: what selection and filtering need, without loading its examples."""
    examples = record["examples"]
    texts = "".join(e["input"] + "".join(e["targets"]) for e in examples)
    ascii_text = texts.encode("ascii", "ignore")
    non_ascii = len(texts) - len(ascii_text)
    ascii_letters = len(ascii_text.translate(None, _ASCII_NON_LETTERS))
    return {
        "family": record["family"], "subtask": record["subtask"], "kind": record["kind"], "metric": record["metric"],
        "description": record["description"], "keywords": record["keywords"], "task_prefix": record["task_prefix"],
        "n_examples": len(examples), "n_source_examples": record["n_source_examples"],
        "median_input_chars": statistics.median(len(e["input"]) for e in examples),
        "median_target_chars": statistics.median(len(e["targets"][0]) for e in examples),
        "median_choices": statistics.median(len(e.get("choices") or ()) for e in examples),
        # Non-ASCII characters per (ASCII letter + non-ASCII character): catches tasks in other scripts that carry
        # no language keyword. Counted with bytes.translate: a per-character loop over the archive costs ~20 s.
        "non_ascii_letters": round(non_ascii / max(ascii_letters + non_ascii, 1), 4),
    }


def task_file(cache_dir: Path, name: str) -> Path:
    return cache_dir / "tasks" / (name.replace(":", "__") + ".json.gz")


def build_cache(archive: Path, cache_dir: Path, params: dict, sdist_sha256: str) -> dict:
    """Read every task out of `archive` into `cache_dir` (replacing it); returns the index written last."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

    cache_dir.parent.mkdir(parents=True, exist_ok=True)
    # A private staging folder renamed into place at the end: a reader never sees a half-built cache.
    staging = Path(tempfile.mkdtemp(dir=cache_dir.parent, prefix=f".{cache_dir.name}.partial-"))
    (staging / "tasks").mkdir()
    families: dict[str, dict] = {}
    tasks: dict[str, dict] = {}
    started = time.perf_counter()
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeElapsedColumn(),
                  transient=False) as bar:
        step = bar.add_task(f"reading BIG-bench tasks out of {archive.name}", total=archive.stat().st_size)
        for rel_dir, raw in iter_task_files(archive, lambda n: bar.update(step, advance=n)):
            family = rel_dir.partition("/")[0]
            if "/" not in rel_dir:  # the top-level file describes the whole family
                families[family] = {"description": " ".join(str(raw.get("description") or "").split()),
                                    "keywords": [k for k in raw.get("keywords") or [] if isinstance(k, str)]}
            record = normalise_task(rel_dir, raw, **params)
            if record is None:
                continue
            # json.dumps (C encoder) then one write: json.dump's streaming encoder is several times slower here.
            payload = json.dumps(record, ensure_ascii=False).encode("utf-8")
            task_file(staging, record["name"]).write_bytes(gzip.compress(payload, compresslevel=3))
            tasks[record["name"]] = task_stats(record)
    index = {"format": CACHE_FORMAT, "source": SDIST, "sdist_sha256": sdist_sha256, "params": params,
             "built_seconds": round(time.perf_counter() - started, 1),
             "families": dict(sorted(families.items())), "tasks": dict(sorted(tasks.items()))}
    (staging / "index.json").write_text(json.dumps(index, indent=1, ensure_ascii=False))
    shutil.rmtree(cache_dir, ignore_errors=True)
    staging.rename(cache_dir)
    return index


def read_index(cache_dir: Path) -> dict:
    try:
        return json.loads((cache_dir / "index.json").read_text())
    except (OSError, ValueError) as exc:
        raise BigBenchError(f"no readable BIG-bench cache at {cache_dir}; run prepare_bigbench() first") from exc


def cache_is_current(cache_dir: Path, params: dict, sdist_sha256: str) -> bool:
    """The stamp matches (format, source digest, parameters) and every task file is there."""
    try:
        index = read_index(cache_dir)
    except BigBenchError:
        return False
    if (index.get("format"), index.get("sdist_sha256"), index.get("params")) != (CACHE_FORMAT, sdist_sha256, params):
        return False
    return all(task_file(cache_dir, name).is_file() for name in index.get("tasks", {}))


def add_sdist(data_dir: Path, path: Path, expected: str | None = None) -> Path:
    """Copy a user's own copy of the sdist into `data_dir` (checked first: a wrong file is refused and nothing is
    copied); returns where it now lies."""
    expected = expected or SDIST_SHA256
    if not path.is_file():
        raise BigBenchError(f"--sdist {path}: no such file")
    digest = sha256_file(path)
    if digest != expected:
        raise BigBenchError(f"--sdist {path} is not {SDIST} (sha256 {digest[:16]}..., expected {expected[:16]}...)")
    data_dir.mkdir(parents=True, exist_ok=True)
    target = data_dir / SDIST
    with tempfile.NamedTemporaryFile(dir=data_dir, prefix=".copy-", delete=False) as tmp:
        with path.open("rb") as src:
            shutil.copyfileobj(src, tmp)
    os.replace(tmp.name, target)  # only a complete copy gets the final name
    return target


def ensure_cache(home: Path, params: dict, sdist_sha256: str | None = None, sdist: Path | None = None) -> Path:
    """The cache folder for `params` under `home`, downloading and reading the archive only when needed; `sdist` is
    a local copy of the archive to use instead of the download."""
    expected = sdist_sha256 or SDIST_SHA256  # resolved per call so tests can pin a fake archive's digest
    data_dir = home / "data"
    cache_dir, archive = data_dir / "bigbench", data_dir / SDIST
    if sdist is not None and not archive.exists():
        add_sdist(data_dir, Path(sdist), expected)
    if cache_is_current(cache_dir, params, expected):
        return cache_dir
    if archive.exists():
        verify_sdist(archive, expected)
    else:
        download_sdist(data_dir, expected)  # verifies before the archive gets its final name
    build_cache(archive, cache_dir, params, expected)
    return cache_dir


def read_task_record(cache_dir: Path, name: str) -> dict:
    path = task_file(cache_dir, name)
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            return json.load(f)
    except (OSError, EOFError, ValueError, zlib.error) as exc:
        raise BigBenchError(f"cached task {name!r} at {path} is missing or corrupt ({exc}); "
                            "run prepare_bigbench() to rebuild the cache") from exc
