"""Property-based fuzzing of every operation in our OpenAPI schema: no input may cause a 5xx."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.server.conftest import serving


@pytest.fixture(scope="module")
def fuzzed(tiny_checkpoint, redis_client, tmp_path_factory):
    """The live service with a refine queue of its own (no worker: jobs stay queued) and a short request timeout,
    which also ends a queued job's event stream (it follows a job until it ends or for the request timeout)."""
    from rq import Queue

    queue = f"t2l-refine-fuzz-{tmp_path_factory.getbasetemp().name}"
    with serving(tmp_path_factory.mktemp("fuzz"), tiny_checkpoint, refine_queue=queue, request_timeout_s=5.0) as server:
        yield server
    Queue(queue, connection=redis_client).empty()


@pytest.mark.slow
def test_no_server_errors_for_any_generated_input(fuzzed, tmp_path):
    live = fuzzed
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
