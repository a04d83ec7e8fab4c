#!/usr/bin/env bash
# Base images from Debian packages alone, for hosts that cannot pull from a container registry (air-gapped sites,
# these CI machines): debootstrap a bookworm minbase root filesystem from a Debian mirror, `docker import` it, then
# build on it
#   $PYTHON_BASE  (default t2l-local/python:3.11-bookworm)  Python 3.11: the Dockerfile's PYTHON_IMAGE
#   $REDIS_BASE   (default t2l-local/redis:7-bookworm)      redis-server: docker-compose.yml's REDIS_IMAGE
#   $HAPROXY_BASE (default t2l-local/haproxy:2.6-bookworm)  HAProxy: deploy/docker/compose.scale.yml's LB_IMAGE
# An image that already exists is kept (FORCE=1 rebuilds). Needs root (debootstrap) and a running dockerd.
# Usage: deploy/docker/local_bases.sh [python] [redis] [haproxy]   (python and redis when no argument)
set -euo pipefail
cd "$(dirname "$0")/../.."

MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SUITE="${DEBIAN_SUITE:-bookworm}"
DEBIAN_BASE="${DEBIAN_BASE:-t2l-local/debian:${SUITE}-minbase}"
PYTHON_BASE="${PYTHON_BASE:-t2l-local/python:3.11-bookworm}"
REDIS_BASE="${REDIS_BASE:-t2l-local/redis:7-bookworm}"
HAPROXY_BASE="${HAPROXY_BASE:-t2l-local/haproxy:2.6-bookworm}"
FORCE="${FORCE:-0}"
wanted=("$@")
[ ${#wanted[@]} -gt 0 ] || wanted=(python redis)

have() { [ "$FORCE" != "1" ] && docker image inspect "$1" >/dev/null 2>&1; }

# A CLI whose `docker build` uses BuildKit: one with buildx, else a 20.10-22.x client (BuildKit built in), such as
# Debian's /usr/bin/docker; Docker 23+ without buildx refuses. DOCKER_BUILD_CLI overrides.
build_cli="${DOCKER_BUILD_CLI:-}"
if [ -z "$build_cli" ]; then
    if docker buildx version >/dev/null 2>&1; then
        build_cli=docker
    else
        for cli in docker /usr/bin/docker; do
            version=$("$cli" version --format '{{.Client.Version}}' 2>/dev/null || true)
            if [ -n "$version" ] && [ "${version%%.*}" -lt 23 ]; then
                build_cli="$cli"
                break
            fi
        done
    fi
fi

if ! have "$DEBIAN_BASE"; then
    if [ "$(id -u)" != "0" ]; then
        echo "local_bases: debootstrap needs root" >&2
        exit 1
    fi
    command -v debootstrap >/dev/null || { echo "local_bases: apt-get install debootstrap" >&2; exit 1; }
    rootfs="$(mktemp -d /var/tmp/t2l-rootfs.XXXXXX)"
    trap 'rm -rf "$rootfs"' EXIT
    echo "local_bases: debootstrap --variant=minbase $SUITE from $MIRROR" >&2
    debootstrap --variant=minbase "$SUITE" "$rootfs" "$MIRROR" >/dev/null
    # A container never starts services from package scripts; apt in later stages should not try.
    printf '#!/bin/sh\nexit 101\n' > "$rootfs/usr/sbin/policy-rc.d"
    chmod 755 "$rootfs/usr/sbin/policy-rc.d"
    # The suite's updates and security archives beside the main one, like Debian's own images.
    cat > "$rootfs/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb ${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security} $SUITE-security main
EOF
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/log/*.log "$rootfs"/tmp/*
    tar -C "$rootfs" --numeric-owner -c . \
        | docker import --change 'CMD ["/bin/bash"]' --change 'ENV LANG=C.UTF-8' \
            --message "debootstrap --variant=minbase $SUITE $MIRROR" - "$DEBIAN_BASE" >/dev/null
    rm -rf "$rootfs"
    trap - EXIT
fi

for what in "${wanted[@]}"; do
    case "$what" in
        python) image="$PYTHON_BASE" ;;
        redis) image="$REDIS_BASE" ;;
        haproxy) image="$HAPROXY_BASE" ;;
        *) echo "local_bases: unknown image $what (python, redis, haproxy)" >&2; exit 2 ;;
    esac
    if have "$image"; then
        continue
    fi
    echo "local_bases: building $image on $DEBIAN_BASE" >&2
    if [ -z "$build_cli" ]; then
        echo "local_bases: no docker CLI that builds with BuildKit (install buildx or Debian's docker.io)" >&2
        exit 1
    fi
    DOCKER_BUILDKIT=1 "$build_cli" build -q --build-arg "DEBIAN_BASE=$DEBIAN_BASE" -t "$image" \
        -f "deploy/docker/base/$what.Dockerfile" deploy/docker/base >/dev/null
done
echo "$PYTHON_BASE $REDIS_BASE"
