#!/bin/bash
# Debian packages some tests use. Idempotent; needs root (apt-get).
set -euo pipefail
PACKAGES=()
missing() { ! dpkg -s "$1" >/dev/null 2>&1; }
for pkg in "$@"; do missing "$pkg" && PACKAGES+=("$pkg"); done
if [ ${#PACKAGES[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}"
fi
