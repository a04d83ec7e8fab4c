"""`t2l serve` drains before it stops (server/serve.py): after SIGTERM /ready says 503 `draining` for T2L_DRAIN_S
while requests are still answered, then uvicorn's graceful shutdown; a second signal cuts the drain short."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.server.conftest import free_port

CHAT = {"model": "tiny", "max_tokens": 2, "temperature": 0, "task": "Answer with the antonym of the given word.",
        "messages": [{"role": "user", "content": "hot"}]}


def start(checkpoint: Path, tmp: Path, drain_s: float) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "T2L_CHECKPOINT": str(checkpoint), "T2L_ENGINE": "hf", "T2L_AUTH": "off",
           "T2L_PORT": str(port), "T2L_HOST": "127.0.0.1", "T2L_DRAIN_S": str(drain_s), "T2L_MAX_MODEL_LEN": "256",
           "T2L_ADAPTERS_DIR": str(tmp / "adapters"), "T2L_LOG_LEVEL": "warning"}
    env.pop("T2L_REDIS_URL", None)  # memory cache only: this is about the process, not the cache
    log = open(tmp / "serve.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "t2l.cli", "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert proc.poll() is None, (tmp / "serve.log").read_text()[-3000:]
        try:
            if httpx.get(url + "/ready", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise AssertionError("t2l serve did not get ready: " + (tmp / "serve.log").read_text()[-3000:])


def until_draining(url: str, within_s: float) -> httpx.Response:
    """/ready polled until it stops answering 200 (the signal is handled when the process gets to it, not after a
    fixed wait); the last answer."""
    deadline = time.monotonic() + within_s
    while True:
        ready = httpx.get(url + "/ready", timeout=5)
        if ready.status_code != 200 or time.monotonic() > deadline:
            return ready
        time.sleep(0.02)


@pytest.mark.slow
def test_sigterm_drains_then_shuts_down(tiny_checkpoint, tmp_path):
    drain_s = 4.0
    proc, url = start(tiny_checkpoint, tmp_path, drain_s)
    try:
        assert httpx.post(url + "/v1/chat/completions", json=CHAT, timeout=60).status_code == 200
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        ready = until_draining(url, drain_s)
        assert ready.status_code == 503 and ready.json()["status"] == "draining", ready.text
        assert httpx.get(url + "/health", timeout=5).status_code == 200  # alive: the orchestrator must not kill it
        served = httpx.post(url + "/v1/chat/completions", json=CHAT, timeout=60)
        assert served.status_code == 200 and served.json()["choices"][0]["message"]["content"] is not None
        assert time.monotonic() - t0 < drain_s and proc.poll() is None  # still serving inside the drain
        code = proc.wait(timeout=drain_s + 30)
        elapsed = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    # uvicorn re-raises the SIGTERM it caught once the shutdown is done (a clean stop, as in the container test)
    assert code in (0, -signal.SIGTERM), (code, (tmp_path / "serve.log").read_text()[-3000:])
    assert elapsed >= drain_s, f"stopped after {elapsed:.1f} s, before the {drain_s} s drain ended"
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/ready", timeout=2)


@pytest.mark.slow
def test_second_signal_cuts_the_drain_short(tiny_checkpoint, tmp_path):
    proc, url = start(tiny_checkpoint, tmp_path, drain_s=60.0)
    try:
        proc.send_signal(signal.SIGTERM)
        assert until_draining(url, 30).json()["status"] == "draining"
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        assert time.monotonic() - t0 < 30
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code in (0, -signal.SIGTERM), code
