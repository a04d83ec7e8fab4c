"""Property-based fuzzing of every operation in our OpenAPI schema: no input may cause a 5xx."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_no_server_errors_for_any_generated_input(live, tmp_path):
    st = shutil.which("st") or str(Path(sys.executable).parent / "st")
    assert Path(st).exists(), "schemathesis is part of the dev extra"
    report = tmp_path / "junit.xml"
    proc = subprocess.run(
        [st, "run", f"{live.url}/openapi.json", "--checks", "not_a_server_error", "--max-examples", "25",
         "--generation-deterministic", "--request-timeout", "60", "--report", "junit",
         "--report-junit-path", str(report), "--no-color"],
        capture_output=True, text=True, timeout=900)
    tail = (proc.stdout + proc.stderr)[-4000:]
    print(tail)
    assert proc.returncode == 0, tail
    assert "not_a_server_error" in tail or report.exists(), tail
