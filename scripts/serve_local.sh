#!/usr/bin/env bash
# `make serve`: the service on the embedded default with what refine jobs need beside it. A Redis on 127.0.0.1
# (the machine's, else one started or installed by scripts/ensure_redis.sh) holds the adapter cache and the rq
# queue, and one `rq worker` runs refine jobs until the service stops. Without a Redis the service still starts:
# cache in process, and POST /v1/adapters/refine answers 503 saying what it needs.
set -euo pipefail
bin="${BIN:-.venv/bin}"
if [ -z "${T2L_REDIS_URL:-}" ] && bash scripts/ensure_redis.sh; then
    export T2L_REDIS_URL="redis://127.0.0.1:${T2L_TEST_REDIS_PORT:-6379}/0"
fi
if [ -n "${T2L_REDIS_URL:-}" ]; then
    OMP_NUM_THREADS=1 "$bin/rq" worker -w server.refine_worker.RefineWorker --url "$T2L_REDIS_URL" --quiet \
        "${T2L_REFINE_QUEUE:-t2l-refine}" &
    worker=$!
    trap 'kill "$worker" 2>/dev/null || true' EXIT INT TERM
    echo "serve: Redis at $T2L_REDIS_URL, refine worker pid $worker"
else
    echo "serve: no Redis: in-process cache, refine unavailable (set T2L_REDIS_URL)"
fi
T2L_AUTH="${T2L_AUTH:-off}" "$bin/t2l" serve
