"""Cold (never-seen task) vs warm (cached) latency of one /v1/generate request against a running service, with
the split of the cold overhead (embed, hypernet, write + engine load). Medians over N distinct new tasks.

    t2l serve &                      # or make serve
    python -m bench.cold_warm --url http://127.0.0.1:8000 --n 9 --out bench/results/cold_warm-cpu.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
import uuid
from pathlib import Path

import httpx


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--n", type=int, default=9, help="distinct new tasks (each measured cold, then warm)")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    ready = httpx.get(args.url + "/ready", timeout=10).json()
    run = uuid.uuid4().hex[:6]
    rows = []
    for i in range(args.n):
        body = {"task": f"Answer with the antonym of the given word ({run}-{i}).", "prompt": "hot",
                "max_tokens": args.max_tokens, "temperature": 0}
        for phase in ("cold", "warm"):
            started = time.perf_counter()
            r = httpx.post(args.url + "/v1/generate", json=body, timeout=300)
            r.raise_for_status()
            out = r.json()
            rows.append({"task": i, "phase": phase, "client_ms": (time.perf_counter() - started) * 1000,
                         "completion_tokens": out["usage"]["completion_tokens"], **out["timings"]})

    def median(phase: str, field: str) -> float | None:
        values = [r[field] for r in rows if r["phase"] == phase and field in r]
        return round(statistics.median(values), 2) if values else None

    cold_overhead = [r["embed_ms"] + r["hypernet_ms"] + r["load_ms"] for r in rows if r["phase"] == "cold"]
    summary = {
        "engine": ready["engine"]["engine"], "model": ready["model"], "checkpoint": ready["checkpoint"],
        "n": args.n, "max_tokens": args.max_tokens,
        "cold_total_ms": median("cold", "total_ms"), "warm_total_ms": median("warm", "total_ms"),
        "cold_adapter_ms": median("cold", "adapter_ms"), "warm_adapter_ms": median("warm", "adapter_ms"),
        "cold_embed_ms": median("cold", "embed_ms"), "cold_hypernet_ms": median("cold", "hypernet_ms"),
        "cold_load_ms": median("cold", "load_ms"), "warm_cache_ms": median("warm", "cache_ms"),
        "cold_overhead_ms": round(statistics.median(cold_overhead), 2),
        "cold_overhead_spread_ms": [round(min(cold_overhead), 2), round(max(cold_overhead), 2)],
        "generation_ms_cold": median("cold", "generation_ms"), "generation_ms_warm": median("warm", "generation_ms"),
    }
    result = {"summary": summary, "host": platform.node(), "machine": platform.machine(),
              "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "rows": rows}
    print(json.dumps(summary, indent=2))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
