#!/usr/bin/env bash
# Make sure a Docker engine answers on this host; install and start one if none does (make docker-test calls this).
#
# When `docker info` already answers, nothing happens. Otherwise, AS ROOT ONLY, this installs Debian's `docker.io`
# (dockerd 20.10, containerd, runc) and `debootstrap` with apt, and starts `dockerd` in the background with its log
# in $DOCKERD_LOG. dockerd inherits this script's CPU affinity and niceness: run the caller under
# `taskset -c N nice -n 5` and every build and container stays on those CPUs. It prints `started` when it started
# a daemon, with its pid (the caller may stop it afterwards), and `running` when one was already there.
set -euo pipefail

DOCKERD_LOG="${DOCKERD_LOG:-/var/log/t2l-dockerd.log}"

if docker info >/dev/null 2>&1; then
    echo running
    exit 0
fi

if [ "$(id -u)" != "0" ]; then
    echo "ensure_dockerd: no Docker engine answers and this is not root: start one (or run as root to install" \
         "Debian's docker.io here)" >&2
    exit 1
fi

if ! command -v dockerd >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1; then
    echo "ensure_dockerd: installing docker.io and debootstrap from Debian (apt, as root)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # The package's init scripts cannot start a service without an init system; dockerd is started below.
    apt-get install -y -qq --no-install-recommends docker.io debootstrap iptables ca-certificates >&2
fi

echo "ensure_dockerd: starting dockerd as root (log: $DOCKERD_LOG)" >&2
# setsid: the daemon outlives this script (and the make that called it) until someone stops it.
setsid dockerd >>"$DOCKERD_LOG" 2>&1 < /dev/null &
pid=$!
for _ in $(seq 1 60); do
    if docker info >/dev/null 2>&1; then
        echo "started $pid"
        exit 0
    fi
    sleep 1
done
echo "ensure_dockerd: dockerd did not answer within 60 s; see $DOCKERD_LOG" >&2
tail -n 20 "$DOCKERD_LOG" >&2 || true
exit 1
