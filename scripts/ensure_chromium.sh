#!/usr/bin/env bash
# Make sure a headless Chromium is installed for the browser test (tests/server/test_playground_browser.py).
# Debian's `chromium` package, installed with apt (nothing downloads a browser at run time). Idempotent: does
# nothing when a chromium binary is already on PATH (or T2L_CHROMIUM names one). Needs root (or sudo) to install.
set -euo pipefail

for candidate in "${T2L_CHROMIUM:-}" chromium chromium-browser google-chrome; do
    if [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1; then
        echo "chromium: $(command -v "$candidate") ($("$candidate" --version 2>/dev/null || echo 'version unknown'))"
        exit 0
    fi
done

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_chromium: no chromium and no apt-get on this machine; the browser test will be skipped" >&2
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "ensure_chromium: not root and no sudo; install Debian's chromium package by hand" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
echo "chromium: $(command -v chromium) ($(chromium --version 2>/dev/null || echo 'version unknown'))"
