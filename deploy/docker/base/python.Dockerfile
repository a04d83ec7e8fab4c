# The app's base image built from Debian packages alone (no registry): Python 3.11 from Debian bookworm on the
# minbase root filesystem that deploy/docker/local_bases.sh made with debootstrap. It stands in for
# python:3.11-slim-bookworm: `python` and `python3` are on PATH, venv works, apt-get works in later stages.
ARG DEBIAN_BASE=t2l-local/debian:bookworm-minbase
FROM ${DEBIAN_BASE}
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# Versions follow the bookworm mirror of the day (recorded in bench/results/docker.json by make docker-test).
# hadolint ignore=DL3008
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        python3 python3-venv python-is-python3 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
ENV LANG=C.UTF-8
CMD ["python3"]
