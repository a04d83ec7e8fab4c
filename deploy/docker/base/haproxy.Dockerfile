# The HAProxy image built from Debian packages alone (no registry): bookworm's haproxy (2.6 LTS) on the minbase root
# filesystem that deploy/docker/local_bases.sh made with debootstrap. It stands in for haproxy:2.6 in
# deploy/docker/compose.scale.yml (LB_IMAGE): the same config path (/usr/local/etc/haproxy/haproxy.cfg, mounted)
# and the same command line, run as the package's unprivileged haproxy user (it binds ports above 1024 only).
ARG DEBIAN_BASE=t2l-local/debian:bookworm-minbase
FROM ${DEBIAN_BASE}
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# hadolint ignore=DL3008
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends haproxy \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /usr/local/etc/haproxy
USER haproxy
EXPOSE 8000 8001 8404
STOPSIGNAL SIGUSR1
CMD ["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]
