#!/usr/bin/env bash
# deploy/mistral/prepare.sh [COMMAND...] - assets for serving the paper's published T2L for Mistral-7B, then exec
# COMMAND (e.g. `t2l serve`). Idempotent; every file lives under T2L_HOME (a volume):
#   1. fetch, when the hub is reachable (HF_HUB_OFFLINE=0) and something is missing:
#        SakanaAI/text-to-lora  trained_t2l/mistral_7b_t2l/{hypermod.pt,args.yaml,adapter_config.json}
#                               -> $T2L_REFERENCE_DIR (default $T2L_HOME/reference/trained_t2l/mistral_7b_t2l)
#        mistralai/Mistral-7B-Instruct-v0.2 (gated: accept its license, give HF_TOKEN), Alibaba-NLP/gte-large-en-v1.5
#        and its remote code Alibaba-NLP/new-impl -> the Hugging Face cache ($HF_HOME)
#      With HF_HUB_OFFLINE=1 nothing is fetched: mount those files there instead (same layout; `hf download` on a
#      machine that can reach the hub fills an HF_HOME you then mount).
#   2. import: `t2l checkpoint import-reference` -> $T2L_CHECKPOINT (default $T2L_HOME/checkpoints/mistral_7b_t2l),
#      checked against the base model's config (every target shape) when that config is in the cache.
set -euo pipefail

home="${T2L_HOME:-/var/lib/t2l}"
export HF_HOME="${HF_HOME:-$home/hf}"
ref="${T2L_REFERENCE_DIR:-$home/reference/trained_t2l/mistral_7b_t2l}"
out="${T2L_CHECKPOINT:-$home/checkpoints/mistral_7b_t2l}"
base="${T2L_REFERENCE_BASE_MODEL:-mistralai/Mistral-7B-Instruct-v0.2}"
encoder="Alibaba-NLP/gte-large-en-v1.5"

if [ "${HF_HUB_OFFLINE:-0}" != "1" ]; then
    echo "t2l prepare: fetching (or verifying) $ref, $base, $encoder into $HF_HOME" >&2
    python - "$ref" "$base" "$encoder" <<'PY'
import shutil
import sys
from pathlib import Path

from huggingface_hub import hf_hub_download, snapshot_download

ref, base, encoder = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
for name in ("hypermod.pt", "args.yaml", "adapter_config.json"):
    if not (ref / name).is_file():
        got = Path(hf_hub_download("SakanaAI/text-to-lora", f"trained_t2l/mistral_7b_t2l/{name}"))
        ref.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(got, ref / name)
snapshot_download(base, allow_patterns=["*.json", "*.safetensors", "tokenizer.model"])
snapshot_download(encoder, allow_patterns=["*.json", "*.safetensors", "*.txt"])
snapshot_download("Alibaba-NLP/new-impl", allow_patterns=["*.py", "*.json"])
PY
fi

for name in hypermod.pt args.yaml adapter_config.json; do
    if [ ! -f "$ref/$name" ]; then
        echo "t2l prepare: $ref/$name is missing; mount it or set HF_HUB_OFFLINE=0 to fetch it" >&2
        exit 1
    fi
done

if [ ! -f "$out/hypernet.json" ]; then
    check=()
    if python -c "import sys; from transformers import AutoConfig; AutoConfig.from_pretrained(sys.argv[1])" \
        "$base" >/dev/null 2>&1; then
        check=(--base-config "$base")
    fi
    t2l checkpoint import-reference "$ref/hypermod.pt" --out "$out" --base-model "$base" "${check[@]}" >&2
fi
t2l checkpoint info "$out" >&2

if [ "$#" -gt 0 ]; then
    exec "$@"
fi
