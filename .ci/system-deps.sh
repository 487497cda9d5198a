#!/bin/bash
# Debian packages the tests use: Open MPI (ipcluster mpiexec), OpenSSH server and
# client (ipcluster ssh), Slurm and munge (ipcluster slurm), iproute2 (network
# namespaces as extra hosts), procps (ps, used by the ssh launcher's stop).
# With arguments, installs those packages instead. Idempotent and
# non-interactive; needs root (or password-less sudo). Without either it lists
# what is missing and exits 0: the tests that need a missing package skip,
# saying why. Installing does not start any daemon the tests use: the tests
# start their own sshd, munged, slurmctld and slurmd in temporary directories.
set -euo pipefail
DEFAULT_PACKAGES=(openmpi-bin openssh-server openssh-client slurm-wlm munge iproute2 procps)
if [ $# -gt 0 ]; then WANTED=("$@"); else WANTED=("${DEFAULT_PACKAGES[@]}"); fi
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
PACKAGES=()
for pkg in "${WANTED[@]}"; do installed "$pkg" || PACKAGES+=("$pkg"); done
[ ${#PACKAGES[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
    echo "system-deps: no apt-get here; please install: ${PACKAGES[*]}" >&2
    exit 0
fi
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO=(sudo -n)
    else
        echo "system-deps: not root; the tests that need these will skip: ${PACKAGES[*]}" >&2
        exit 0
    fi
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${PACKAGES[@]}"
