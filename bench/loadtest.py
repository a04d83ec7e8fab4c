"""Bounded loopback load test: a real `t2l serve` with its own redis-server, concurrency C for D seconds with a mix
of repeated and new tasks; run twice: steady, and with Redis stopped at D/3 and restarted at 2D/3.

    make loadtest            # or: python -m bench.loadtest --duration 120 --concurrency 32
Writes bench/results/loadtest.json: per run sent, succeeded, failed (by kind), lost (no response at all),
rejected_429 and latency percentiles. Only 127.0.0.1 is ever contacted; every loop is bounded in time and count.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(port: int, folder: Path) -> subprocess.Popen:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server not found: run `bash scripts/ensure_redis.sh` (it installs it)")
    return subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(folder)], stdout=subprocess.DEVNULL)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


async def run(url: str, name: str, duration: float, concurrency: int, max_requests: int, new_share: float,
              max_tokens: int, redis_control=None) -> dict:
    stats = {"sent": 0, "succeeded": 0, "failed": {}, "lost": 0, "rejected_429": 0}
    latencies: list[float] = []
    ready_states: list[str] = []
    rng = random.Random(name)
    repeated = [f"Load test task {i}: answer with the antonym of the given word." for i in range(20)]
    deadline = time.monotonic() + duration

    async def worker(client: httpx.AsyncClient, wid: int) -> None:
        n = 0
        while time.monotonic() < deadline and stats["sent"] < max_requests:
            n += 1
            task = f"Fresh task {name}-{wid}-{n}: reply in one word." if rng.random() < new_share \
                else rng.choice(repeated)
            stats["sent"] += 1
            started = time.perf_counter()
            try:
                r = await client.post("/v1/generate", json={"task": task, "prompt": rng.choice(["hot", "big", "up"]),
                                                            "max_tokens": max_tokens, "temperature": 0})
            except httpx.HTTPError as exc:
                stats["lost"] += 1
                stats["failed"][type(exc).__name__] = stats["failed"].get(type(exc).__name__, 0) + 1
                continue
            if r.status_code == 200:
                stats["succeeded"] += 1
                latencies.append((time.perf_counter() - started) * 1000)
            elif r.status_code == 429:
                stats["rejected_429"] += 1
                await asyncio.sleep(float(r.headers.get("retry-after", "1")))
            else:
                kind = f"http_{r.status_code}"
                stats["failed"][kind] = stats["failed"].get(kind, 0) + 1

    async def watch(client: httpx.AsyncClient) -> None:
        while time.monotonic() < deadline:
            try:
                ready_states.append((await client.get("/ready")).json().get("status", "?"))
            except httpx.HTTPError:
                ready_states.append("unreachable")
            await asyncio.sleep(2)

    started = time.monotonic()
    async with httpx.AsyncClient(base_url=url, timeout=180, limits=httpx.Limits(max_connections=concurrency + 4)) \
            as client:
        jobs = [worker(client, i) for i in range(concurrency)] + [watch(client)]
        if redis_control is not None:
            jobs.append(redis_control(duration))
        await asyncio.gather(*jobs)
    elapsed = time.monotonic() - started
    return {"name": name, "duration_s": round(elapsed, 1), "concurrency": concurrency, **stats,
            "failed_total": sum(stats["failed"].values()),
            "throughput_rps": round(stats["succeeded"] / elapsed, 2),
            "latency_ms": {"p50": percentile(latencies, 0.5), "p90": percentile(latencies, 0.9),
                           "p99": percentile(latencies, 0.99), "max": round(max(latencies), 1) if latencies else None,
                           "mean": round(statistics.fmean(latencies), 1) if latencies else None},
            "ready_states": sorted(set(ready_states))}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=120.0, help="seconds per run")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--max-requests", type=int, default=20_000, help="hard cap per run")
    parser.add_argument("--new-share", type=float, default=0.3, help="fraction of requests with a never-seen task")
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--max-cpu-loras", type=int, default=16,
                        help="engine adapter capacity; small, so that LRU unloading runs under load")
    parser.add_argument("--engine", default="auto", choices=["auto", "vllm", "hf"])
    parser.add_argument("--out", default="bench/results/loadtest.json")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="t2l-load-"))
    redis_port, port = free_port(), free_port()
    redis_proc = [start_redis(redis_port, tmp)]
    env = {**os.environ, "T2L_AUTH": "off", "T2L_PORT": str(port), "T2L_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
           "T2L_ADAPTERS_DIR": str(tmp / "adapters"), "T2L_ENGINE": args.engine, "T2L_LOG_LEVEL": "warning",
           "T2L_MAX_LORAS": str(min(8, args.max_cpu_loras)), "T2L_MAX_CPU_LORAS": str(args.max_cpu_loras)}
    log = open(tmp / "server.log", "w")
    server = subprocess.Popen([sys.executable, "-m", "t2l.cli", "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if server.poll() is not None:
                sys.exit(f"server exited; see {tmp / 'server.log'}")
            try:
                probe = httpx.get(url + "/ready", timeout=2)
                if probe.status_code == 200:
                    break
                if probe.json().get("status") == "failed":
                    sys.exit(f"server failed to start: {probe.json().get('error')}")
            except httpx.HTTPError:
                pass
            time.sleep(1)
        ready = httpx.get(url + "/ready").json()

        async def redis_outage(duration: float) -> None:
            await asyncio.sleep(duration / 3)
            redis_proc[0].terminate()
            redis_proc[0].wait(10)
            await asyncio.sleep(duration / 3)
            redis_proc[0] = start_redis(redis_port, tmp)

        runs = []
        for name, control in (("steady", None), ("redis_restart", redis_outage)):
            print(f"run {name}: {args.duration:.0f} s at concurrency {args.concurrency}", flush=True)
            result = asyncio.run(run(url, name, args.duration, args.concurrency, args.max_requests, args.new_share,
                                     args.max_tokens, control))
            print(json.dumps(result), flush=True)
            runs.append(result)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
        redis_proc[0].terminate()
        log.close()
    out = {"engine": ready["engine"]["engine"], "model": ready["model"], "checkpoint": ready["checkpoint"],
           "max_tokens": args.max_tokens, "new_share": args.new_share,
           "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "runs": runs}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(f"wrote {args.out}")
    if any(r["failed_total"] for r in runs):
        print(f"failures: server log kept at {tmp / 'server.log'}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
