#!/usr/bin/env bash
# Installs missing build dependencies (Debian 12), configures, builds and tests txcoord.
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
PACKAGES=(
  cmake ninja-build g++ libgtest-dev libgmock-dev libbenchmark-dev
  thrift-compiler libthrift-dev libboost-dev pkg-config python3-thrift librocksdb-dev
  libyaml-cpp-dev
)

step() { printf '\n=== %s\n' "$*"; }

step "Checking packages"
if command -v dpkg-query >/dev/null 2>&1; then
  missing=()
  for pkg in "${PACKAGES[@]}"; do
    status="$(dpkg-query -W -f='${Status}' "${pkg}" 2>/dev/null || true)"
    if [[ "${status}" != "install ok installed" ]]; then
      missing+=("${pkg}")
    fi
  done
  if ((${#missing[@]} > 0)); then
    sudo=()
    if [[ "$(id -u)" -ne 0 ]]; then
      sudo=(sudo)
    fi
    echo "installing: ${missing[*]}"
    "${sudo[@]}" apt-get update
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
  else
    echo "all ${#PACKAGES[@]} packages installed"
  fi
else
  echo "no dpkg-query: not Debian; install these yourself: ${PACKAGES[*]}"
fi

step "Configuring (preset ${PRESET})"
cmake --preset "${PRESET}"

step "Building (preset ${PRESET}, ${JOBS} jobs)"
cmake --build --preset "${PRESET}" -j "${JOBS}"

step "Testing (preset ${PRESET}${*:+, ctest args: $*})"
exec ctest --preset "${PRESET}" "$@"
