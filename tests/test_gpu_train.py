"""scripts/gpu_train.py end to end on CPU with a tiny configuration: pack into several parts, stage them one call
at a time, run (GGUF converted as on the GPU machine, precomputed embeddings, train, evaluate), fetch, load."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = [sys.executable, str(ROOT / "scripts" / "gpu_train.py")]


def _run(*args, check=True):
    proc = subprocess.run([*SCRIPT, *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.mark.slow
def test_pack_stage_run_fetch_on_cpu(tmp_path):
    from hypernet import load_checkpoint

    pack, stage, out = tmp_path / "pack", tmp_path / "stage", tmp_path / "out"
    _run("pack", "--config", "training/configs/tiny.yaml", "--out", pack, "--part-mib", 40,
         "--set", "steps=3", "eval_generate=1", "save_every=0", "--examples-per-task", 16)
    manifest = json.loads((pack / "manifest.json").read_text())
    parts = list(manifest["parts"])
    assert len(parts) >= 3  # the GGUF alone is 98 MB: several calls' worth
    assert all((pack / p).stat().st_size <= 40 * 2**20 for p in parts)
    for i, name in enumerate(parts[:-1]):
        report = json.loads(_run("stage", "--part", pack / name, "--stage", stage).stdout)
        assert report["staged"] == name and report["missing"] == parts[i + 1:]
    early = _run("run", "--stage", stage, "--out", out, check=False)  # the last part has not arrived
    assert early.returncode != 0 and parts[-1] in early.stderr
    _run("run", "--part", pack / parts[-1], "--stage", stage, "--out", out, "--set", "device=cpu")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 3 and summary["samples"] == 12 and summary["device"] == "cpu"
    assert "eval_exact_match" in summary["last"]
    fetched = json.loads(_run("fetch", out, "--to", tmp_path / "ckpt").stdout)
    checkpoint = load_checkpoint(tmp_path / "ckpt")  # the digest covers every joined file
    assert fetched["digest"] == checkpoint.digest and checkpoint.provenance["steps"] == 3


def test_split_and_join_round_trip(tmp_path):
    sys.path.insert(0, str(ROOT))
    from scripts.gpu_train import split_file, write_back

    src = tmp_path / "src"
    src.mkdir()
    (src / "big.bin").write_bytes(bytes(range(256)) * 1000)
    (src / "small.json").write_text("{}")
    names = write_back(src, tmp_path / "out", limit=100_000)
    assert names == ["big.bin.part-00", "big.bin.part-01", "big.bin.part-02", "small.json"]
    joined = b"".join((tmp_path / "out" / n).read_bytes() for n in names[:3])
    assert joined == (src / "big.bin").read_bytes()
    assert len(split_file(src / "big.bin", tmp_path, "x", 256_000)) == 1
