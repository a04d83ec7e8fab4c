"""`make scale-test`: several app replicas behind HAProxy, one Redis and a `vllm serve` resolver replica, for real
(deploy/docker/compose.scale.yml over docker-compose.yml), checked from the host through the balancer on 127.0.0.1.

Steps (each timed; results in bench/results/scale.json):
  1. engine, bases (+ HAProxy: public LB_IMAGE, else built from Debian packages), wheelhouse and the cpu image with
     the layer cache: the same steps as `make docker-test` (scripts/docker_test.py), which CI runs first with KEEP=1
  2. `up` with --scale t2l-cpu=N (default 2) and no refine worker, until every container is healthy and HAProxy has
     every replica up
  3. checks through the balancer:
     - one new description sent to every replica at once -> exactly one hypernetwork pass in all (summed from each
       replica's /metrics, read inside its container) and every replica answered some of them
     - an adapter generated through one replica is answered by another with `cached: true`
     - the vllm serve replica answers `model: t2l-<id>` for an adapter it never saw generated (resolved from Redis)
     - a bounded, paced load (at most R requests/s, at most C in flight, for at least D s) during which one app
       replica is stopped with SIGTERM (it drains: HAProxy takes it out), started again, then Redis is restarted:
       0 failed, 0 lost, p50/p99 per phase. The rate cap leaves CPU for the restarted replica's engine start: an
       unpaced concurrency-32 load kept both cores of a 2-core host busy and the restart took 868 s (once over 900)
  4. tear down: containers, network, volumes; the images it built (all of them with --clean); a dockerd it started
Standard library only. Exit status 0 only when every check passed and no request was lost.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import http.client
import re
import shutil
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from docker_harness import (DOCKER_DIR, LOCAL_BASES, ROOT, TASK, Client, Recorder, Stack,  # noqa: E402
                            checkpoints_snapshot, compose_default, container_state, free_port, log, percentile, run)
from docker_images import APP_IMAGE, Images  # noqa: E402

PROJECT = "t2l-scale-test"
APP, REDIS, LB, RESOLVER = "t2l-cpu", "redis", "lb", "vllm-resolver"
SCALE_FILE = DOCKER_DIR / "compose.scale.yml"
MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
METRIC = re.compile(r'^(t2l_hypernet_batch_size_count|t2l_cache_lookups_total\{source="(\w+)"\}|'
                    r't2l_requests_total\{route="([^"]+)",status="(\d+)"\})\s+(\S+)$')
REQUIRED = ("lb_sees_every_replica", "one_hypernet_pass_across_replicas", "cached_on_another_replica",
            "vllm_resolver_serves_by_id", "load_replica_sigterm_restart_redis_restart")


class Pacer:
    """Start times for the load's requests across threads: one every 1/rate s at most (rate 0: no cap)."""

    def __init__(self, rate: float):
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.next = time.monotonic()
        self.lock = threading.Lock()

    def wait(self, stop: threading.Event) -> bool:
        """Block until this caller's turn; False once `stop` is set (the caller ends)."""
        with self.lock:
            turn = max(self.next, time.monotonic())
            self.next = turn + self.interval
        delay = turn - time.monotonic()
        return not (stop.wait(delay) if delay > 0 else stop.is_set())


class ScaleTest:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.rec = Recorder("make scale-test", REQUIRED, replicas=args.replicas)
        self.result = self.rec.result
        # the image steps are docker-test's (always the reduced kind: a matching wheelhouse and the layer cache)
        self.images = Images(argparse.Namespace(**{**vars(args), "reuse": True}), self.rec)
        self.stack = Stack(PROJECT)
        self.dc, self.containers = self.stack.dc, self.stack.containers
        self.lb: Client | None = None
        self.snapshot: Path | None = None

    def wait_healthy(self, cids: list[str], timeout: float) -> float:
        return max(self.stack.wait_healthy(cids, timeout).values(), default=0.0)

    def wait_lb(self, backend: str, up: int, timeout: float = 120) -> float:
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            try:
                if sum(s == "UP" for s in self.lb.servers(backend).values()) == up:
                    return round(time.monotonic() - start, 1)
            except (OSError, http.client.HTTPException, KeyError, IndexError):
                pass
            time.sleep(0.5)
        raise TimeoutError(f"HAProxy backend {backend}: not {up} servers UP within {timeout:.0f} s: "
                           f"{self.lb.servers(backend)}")

    def replica_metrics(self) -> dict[str, dict[str, float]]:
        """Each app replica's /metrics, read inside its container (the replicas publish no port): container ->
        hypernet passes, cache lookups by source, requests by route."""
        probe = ("import urllib.request as u; "
                 "print(u.urlopen('http://127.0.0.1:8000/metrics', timeout=10).read().decode())")
        out = {}
        for cid in self.containers(APP):
            if not container_state(cid).startswith("running"):
                continue
            text = run(["docker", "exec", cid, "python", "-c", probe], timeout=60).stdout
            values: dict[str, float] = {}
            for line in text.splitlines():
                m = METRIC.match(line)
                if not m:
                    continue
                key = ("hypernet_passes" if m.group(2) is None and m.group(3) is None else
                       f"lookups_{m.group(2)}" if m.group(2) else f"requests {m.group(3)}")
                values[key] = values.get(key, 0.0) + float(m.group(5))
            out[cid[:12]] = values
        return out

    # -- 2. the stack
    def stack_up(self) -> None:
        bases, stack = self.images.bases_chosen, self.stack
        ports = {"app": free_port(), "vllm": free_port(), "stats": free_port()}
        self.lb = Client(ports["app"], vllm=ports["vllm"], stats=ports["stats"])
        self.snapshot = checkpoints_snapshot(PROJECT)
        stack.client = self.images.compose
        stack.env.update(T2L_HOST_PORT=str(ports["app"]), T2L_RESOLVER_HOST_PORT=str(ports["vllm"]),
                         LB_STATS_HOST_PORT=str(ports["stats"]), T2L_BIND="127.0.0.1", T2L_AUTH="off",
                         REDIS_IMAGE=bases["redis"]["image"], LB_IMAGE=bases["haproxy"]["image"],
                         T2L_CHECKPOINTS_DIR=str(self.snapshot))
        stack.env.pop("COMPOSE_PROFILES", None)
        stack.files = [ROOT / "docker-compose.yml", SCALE_FILE]
        if self.images.api_before_25():
            stack.files.append(DOCKER_DIR / "compose.engine-pre25.yml")  # Docker Engine < 25: no start_interval
        self.result["compose"] = {"project": PROJECT, "files": [str(f.relative_to(ROOT)) for f in stack.files],
                                  "published": {k: f"127.0.0.1:{v}" for k, v in ports.items()},
                                  "lb_image": stack.env["LB_IMAGE"], "redis_image": stack.env["REDIS_IMAGE"]}
        start = time.monotonic()
        stack.up = True
        self.dc("up", "-d", "--no-build", "--scale", f"{APP}={self.args.replicas}", "--scale", "worker-cpu=0",
                timeout=900)
        apps = self.containers(APP)
        assert len(apps) == self.args.replicas, apps
        healthy = self.wait_healthy([*apps, *self.containers(RESOLVER), *self.containers(REDIS)],
                                    self.args.healthy_timeout)
        lb_s = self.wait_lb("t2l", self.args.replicas)
        self.wait_lb("vllm", 1)
        self.result["time_to_healthy_s"] = {"containers": healthy, "lb_all_up_after": lb_s}
        self.rec.step("compose_up_to_healthy", start)

    # -- 3. checks
    def checks(self) -> None:
        lb, state = self.lb, {}

        def lb_sees_every_replica():
            servers = lb.servers("t2l")
            assert sum(s == "UP" for s in servers.values()) == self.args.replicas, servers
            status, out, headers = lb.call("GET", "/ready")
            assert status == 200 and out["cache"]["state"] == "redis", out
            return {"t2l": servers, "vllm": lb.servers("vllm"), "answered_by": headers.get("x-t2l-backend")}

        def single_flight_across_replicas():
            task = f"{TASK} (scale test {time.time_ns()})"
            before = self.replica_metrics()
            n = 4 * self.args.replicas
            with cf.ThreadPoolExecutor(n) as pool:
                answers = list(pool.map(lambda _: lb.call("POST", "/v1/adapters", {"task": task}), range(n)))
            after = self.replica_metrics()
            assert all(a[0] == 200 for a in answers), [a[:2] for a in answers if a[0] != 200]
            ids = {a[1]["id"] for a in answers}
            backends = {a[2].get("x-t2l-backend") for a in answers}
            passes = sum(after[c].get("hypernet_passes", 0) - before[c].get("hypernet_passes", 0) for c in after)
            served = {c: after[c].get("requests /v1/adapters", 0) - before[c].get("requests /v1/adapters", 0)
                      for c in after}
            state["id"] = ids.pop() if len(ids) == 1 else None
            assert state["id"] and not ids, ids
            assert all(v >= 1 for v in served.values()) and len(backends) == self.args.replicas, (served, backends)
            assert passes == 1, f"{passes} hypernetwork passes for one description across replicas"
            return {"requests": n, "id": state["id"], "hypernet_passes": passes, "answered_per_replica": served,
                    "backends": sorted(backends),
                    "lookups": {c: {k: after[c].get(k, 0) - before[c].get(k, 0) for k in after[c]
                                    if k.startswith("lookups_")} for c in after}}

        def cached_on_another_replica():
            task = f"Spell the word backwards. (scale test {time.time_ns()})"
            status, first, h1 = lb.call("POST", "/v1/adapters", {"task": task})
            assert status == 200 and first["cached"] is False, (status, first)
            for _ in range(4 * self.args.replicas):
                status, other, h2 = lb.call("POST", "/v1/adapters", {"task": task})
                if h2.get("x-t2l-backend") != h1.get("x-t2l-backend"):
                    break
            else:
                raise AssertionError(f"every answer came from {h1.get('X-T2L-Backend')}")
            assert status == 200 and other["cached"] is True and other["id"] == first["id"], other
            status, chat, h3 = lb.call("POST", "/v1/chat/completions", {
                "model": first["id"], "max_tokens": 4, "temperature": 0,
                "messages": [{"role": "user", "content": "lamp"}]})
            assert status == 200 and chat["model"] == first["id"], (status, chat)
            return {"id": first["id"], "generated_by": h1.get("x-t2l-backend"),
                    "cached_from": h2.get("x-t2l-backend"), "chat_by": h3.get("x-t2l-backend")}

        def resolver_serves_by_id():
            adapter = state.get("id")
            assert adapter, "no adapter from the single-flight check"
            status, out, headers = lb.call("POST", "/v1/completions", {
                "model": adapter, "prompt": "Ohio", "max_tokens": 4, "temperature": 0}, port="vllm")
            assert status == 200 and out["model"] == adapter, (status, out)
            missing = "t2l-" + "0" * 16
            status_missing, body, _ = lb.call("POST", "/v1/completions", {
                "model": missing, "prompt": "Ohio", "max_tokens": 4}, port="vllm")
            assert status_missing == 404, (status_missing, body)
            return {"model": out["model"], "text": out["choices"][0]["text"], "by": headers.get("x-t2l-backend"),
                    "unknown_id_status": status_missing}

        def load_with_restarts():
            return self.load()

        self.rec.check("lb_sees_every_replica", lb_sees_every_replica)
        self.rec.check("one_hypernet_pass_across_replicas", single_flight_across_replicas)
        self.rec.check("cached_on_another_replica", cached_on_another_replica)
        self.rec.check("vllm_resolver_serves_by_id", resolver_serves_by_id)
        self.rec.check("load_replica_sigterm_restart_redis_restart", load_with_restarts)

    def load(self) -> dict:
        """Chat completions on a few cached descriptions, paced to R/s with at most C in flight, while the phases
        run in order."""
        lb = self.lb
        tasks = [f"Load task {i}: answer with the antonym of the given word." for i in range(4)]
        for task in tasks:  # generated once before the load: the load measures serving, not the hypernetwork
            assert lb.call("POST", "/v1/adapters", {"task": task})[0] == 200
        phase = {"name": "steady"}
        records: list[tuple[str, float, int | None]] = []  # (phase, ms, status or None when lost)
        stop = threading.Event()
        rec_lock = threading.Lock()
        pace = Pacer(self.args.rate)
        in_flight = [0]

        def worker(wid: int) -> None:
            i = 0
            while pace.wait(stop):
                body = {"model": MODEL, "task": tasks[(wid + i) % len(tasks)], "max_tokens": 4, "temperature": 0,
                        "messages": [{"role": "user", "content": ["hot", "tall", "early", "open"][i % 4]}]}
                name, t = phase["name"], time.monotonic()
                with rec_lock:
                    in_flight[0] += 1
                try:
                    status = lb.call("POST", "/v1/chat/completions", body, timeout=120)[0]
                except (OSError, http.client.HTTPException):
                    status = None
                with rec_lock:
                    in_flight[0] -= 1
                    records.append((name, (time.monotonic() - t) * 1000, status))
                i += 1

        threads = [threading.Thread(target=worker, args=(w,), daemon=True) for w in range(self.args.concurrency)]
        start = time.monotonic()
        for t in threads:
            t.start()
        events: dict = {}
        target = self.containers(APP)[0]
        try:
            time.sleep(self.args.steady_s)
            phase["name"] = "replica_sigterm"
            events["in_flight_at_sigterm"] = in_flight[0]
            t = time.monotonic()
            stopper = threading.Thread(target=lambda: events.update(
                stop_rc=run(["docker", "stop", "-t", "60", target], check=False, timeout=180).returncode))
            stopper.start()
            events["lb_marked_down_s"] = self.wait_lb("t2l", self.args.replicas - 1, timeout=60)
            stopper.join(200)
            events["stop_s"] = round(time.monotonic() - t, 1)
            events["exit_code"] = run(["docker", "inspect", "--format", "{{.State.ExitCode}}", target]).stdout.strip()
            phase["name"] = "replica_down"
            time.sleep(5)
            phase["name"] = "replica_restart"
            t = time.monotonic()
            run(["docker", "start", target], timeout=120)
            self.wait_healthy([target], self.args.healthy_timeout)
            events["lb_back_up_s"] = round(self.wait_lb("t2l", self.args.replicas) + time.monotonic() - t, 1)
            phase["name"] = "redis_restart"
            t = time.monotonic()
            self.dc("restart", REDIS, timeout=120)
            self.wait_healthy(self.containers(REDIS), 120)
            events["redis_restart_s"] = round(time.monotonic() - t, 1)
            phase["name"] = "after"
            remaining = self.args.load_s - (time.monotonic() - start)
            time.sleep(max(10.0, remaining))
        finally:
            stop.set()
            for t in threads:
                t.join(150)
        phases = {}
        for name in dict.fromkeys(r[0] for r in records):
            rows = [r for r in records if r[0] == name]
            ok = [ms for _, ms, status in rows if status == 200]
            failed: dict[str, int] = {}
            for _, _, status in rows:
                if status not in (200, None):
                    failed[str(status)] = failed.get(str(status), 0) + 1
            phases[name] = {"sent": len(rows), "ok": len(ok), "failed": failed,
                            "lost": sum(status is None for _, _, status in rows),
                            "p50_ms": percentile(ok, 0.5), "p99_ms": percentile(ok, 0.99)}
        total_failed = sum(sum(p["failed"].values()) for p in phases.values())
        total_lost = sum(p["lost"] for p in phases.values())
        latencies = [ms for _, ms, status in records if status == 200]
        detail = {"concurrency": self.args.concurrency, "rate_per_s": self.args.rate,
                  "seconds": round(time.monotonic() - start, 1),
                  "requests": len(records), "failed": total_failed, "lost": total_lost,
                  "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
                  "phases": phases, "events": events}
        self.result["load"] = detail
        assert events.get("stop_rc") == 0 and events.get("exit_code") in ("0", "143"), events
        assert total_failed == 0 and total_lost == 0, detail
        return detail

    # -- 4. teardown
    def teardown(self) -> None:
        start = time.monotonic()
        done = self.stack.down()
        if self.snapshot is not None:
            shutil.rmtree(self.snapshot, ignore_errors=True)
        # CI: docker-test kept its images for this run (KEEP=1); with --clean they all go now
        also = [APP_IMAGE, *LOCAL_BASES.values(), "t2l-local/debian:bookworm-minbase"] if self.args.clean else []
        self.images.remove(done, also)
        self.result["teardown"] = done
        self.rec.step("teardown", start)

    def main(self) -> int:
        def steps():
            self.images.engine()
            self.images.bases(extra={"haproxy": compose_default("LB_IMAGE", SCALE_FILE)})
            self.images.wheelhouse()
            self.images.image_build()
            self.stack_up()
            self.checks()

        status = self.rec.run(steps, self.teardown, self.stack, lambda: self.lb, tail_lines=30)
        self.rec.write(Path(self.args.out))
        return status


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "scale.json"))
    p.add_argument("--replicas", type=int, default=2, help="app replicas behind the balancer (2-8)")
    p.add_argument("--concurrency", type=int, default=32, help="at most this many load requests in flight")
    p.add_argument("--rate", type=float, default=2.0,
                   help="load requests started per second in all (0: no cap, as fast as the concurrency allows)")
    p.add_argument("--load-s", type=float, default=60, help="the load lasts at least this long")
    p.add_argument("--steady-s", type=float, default=15, help="load before the replica is stopped")
    p.add_argument("--keep", action="store_true", help="keep the images it built (and a dockerd it started)")
    p.add_argument("--clean", action="store_true",
                   help="also remove the app image and local bases that were there before (CI, after docker-test)")
    p.add_argument("--local-bases", action="store_true", help="do not try the public bases")
    p.add_argument("--pull-timeout", type=float, default=60, help="seconds for each public base pull (0: skip)")
    p.add_argument("--healthy-timeout", type=float, default=900)
    args = p.parse_args()
    if not 2 <= args.replicas <= 8:
        p.error("--replicas must be 2-8 (HAProxy's server-template has 8 slots)")
    return ScaleTest(args).main()


if __name__ == "__main__":
    sys.exit(main())
