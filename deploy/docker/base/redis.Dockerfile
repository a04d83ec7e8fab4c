# The Redis image built from Debian packages alone (no registry): bookworm's redis-server on the minbase root
# filesystem that deploy/docker/local_bases.sh made with debootstrap. It stands in for redis:7.4.2-alpine in
# docker-compose.yml (REDIS_IMAGE): redis-server and redis-cli on PATH, data in /data owned by the redis user
# (uid 999).
ARG DEBIAN_BASE=t2l-local/debian:bookworm-minbase
FROM ${DEBIAN_BASE}
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# The redis user first, with the official image's ids (999), so USER can be numeric; the package reuses it.
# hadolint ignore=DL3008
RUN groupadd --system --gid 999 redis \
 && useradd --system --uid 999 --gid 999 --home-dir /var/lib/redis --shell /usr/sbin/nologin redis \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data && chown 999:999 /data
VOLUME /data
WORKDIR /data
USER 999:999
EXPOSE 6379
CMD ["redis-server", "--dir", "/data"]
