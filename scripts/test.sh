#!/usr/bin/env bash
# Installs missing build dependencies (Debian 12, scripts/install-deps.sh), configures, builds and
# tests txcoord.
#
#   scripts/test.sh               # preset "default" into build/default, all tests
#   scripts/test.sh -L unit       # extra arguments go to ctest
#   PRESET=asan scripts/test.sh   # any preset of CMakePresets.json
#   JOBS=4 scripts/test.sh        # build parallelism (default: nproc)
#
# Exit status: non-zero if a step fails; otherwise ctest's.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PRESET="${PRESET:-default}"
JOBS="${JOBS:-$(nproc)}"

step() { printf '\n=== %s\n' "$*"; }

step "Checking packages"
bash scripts/install-deps.sh

step "Configuring (preset ${PRESET})"
cmake --preset "${PRESET}"

step "Building (preset ${PRESET}, ${JOBS} jobs)"
cmake --build --preset "${PRESET}" -j "${JOBS}"

step "Testing (preset ${PRESET}${*:+, ctest args: $*})"
exec ctest --preset "${PRESET}" "$@"
