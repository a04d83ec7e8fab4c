"""The package installs normally (issue #14): no run-time path into the source tree; the shipped checkpoint travels
as package data, so a wheel (what the image installs) serves it exactly like a source checkout."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ground.assets import SHIPPED_CHECKPOINTS, shipped_checkpoint, shipped_checkpoints

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("ground", "hypernet", "server", "training", "t2l")
# Best-effort provenance: training records the git commit of the tree it ran from (absent from an install).
ALLOWED_ESCAPES = {"training/state.py"}


def escapes(source: str, relative: str) -> list[str]:
    """`Path(__file__)...parents[k]` / `.parent.parent...` expressions in the module at `relative` (to the repo)
    that leave its top package."""
    depth = len(Path(relative).parts) - 1  # server/app.py: 1 (parents[0] is server/, parents[1] the repo)
    out = []
    for m in re.finditer(r"Path\(__file__\)(?:\.resolve\(\))?(\.parents\[(\d+)\]|(?:\.parent\b)+)", source):
        up = int(m.group(2)) + 1 if m.group(2) is not None else m.group(1).count(".parent")
        if up > depth:
            out.append(m.group(0))
    return out


def test_escape_detector():
    source = ("A = Path(__file__).resolve().parents[1] / 'x'\nB = Path(__file__).parent / 'static'\n"
              "C = Path(__file__).parent.parent / 'y'\nD = Path(__file__).resolve().parents[0]\n")
    assert escapes(source, "server/app.py") == ["Path(__file__).resolve().parents[1]", "Path(__file__).parent.parent"]
    assert escapes(source, "server/routes/x.py") == []


def test_no_run_time_path_into_the_source_tree():
    found = {str(f.relative_to(ROOT)): e for pkg in PACKAGES for f in sorted((ROOT / pkg).rglob("*.py"))
             if str(f.relative_to(ROOT)) not in ALLOWED_ESCAPES and (e := escapes(f.read_text(), str(f.relative_to(ROOT))))}
    assert not found


def test_shipped_checkpoint_is_found_through_the_package():
    found = shipped_checkpoint()
    assert found is not None and (found / "hypernet.json").is_file()
    assert found.parent == SHIPPED_CHECKPOINTS
    assert found.resolve() == (ROOT / "checkpoints" / found.name).resolve()  # the source tree's link


def test_shipped_checkpoint_none_when_empty(tmp_path):
    assert shipped_checkpoint(tmp_path) is None
    (tmp_path / "b").mkdir()
    (tmp_path / "a").mkdir()
    (tmp_path / "b" / "hypernet.json").write_text("{}")
    (tmp_path / "a" / "README.md").write_text("not a checkpoint")
    assert shipped_checkpoint(tmp_path) == tmp_path / "b"


@pytest.mark.slow
def test_wheel_carries_the_shipped_checkpoint(tmp_path):
    """Build the wheel the image installs; it holds the checkpoint's weights, config and index under t2l/."""
    had_build = (ROOT / "build").exists()
    try:  # pip builds in the tree: setuptools leaves build/ behind (ignored by git; removed unless it was there)
        done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                               str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=600)
    finally:
        if not had_build:
            shutil.rmtree(ROOT / "build", ignore_errors=True)
    assert done.returncode == 0, done.stderr[-2000:]
    wheel = next(tmp_path.glob("*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert shipped_checkpoint().name in shipped_checkpoints()
    for name in shipped_checkpoints():  # the default L and the optional M and S
        for needed in ("hypernet.json", "hypernet.safetensors", "descriptions.safetensors", "coverage.json"):
            assert f"ground/checkpoints/{name}/{needed}" in names
    assert not any(n.endswith(".png") for n in names if n.startswith("ground/checkpoints/"))
    assert "training/splits/suite.json" in names and "server/static/playground.js" in names
