#!/usr/bin/env bash
# Installs the Debian 12 packages that building, testing and demonstrating txcoord need, when
# missing: each is checked with dpkg-query, and only the missing ones are installed with apt-get
# (through sudo when not root). Nothing else is downloaded.
#
#   scripts/install-deps.sh        # check, install what is missing
#
# On a system without dpkg-query (not Debian) it prints the list to install by hand and exits 0.
# Exit status: non-zero when apt-get fails.
set -euo pipefail

PACKAGES=(
  cmake ninja-build g++ libgtest-dev libgmock-dev libbenchmark-dev
  thrift-compiler libthrift-dev libboost-dev pkg-config python3-thrift librocksdb-dev
  libyaml-cpp-dev libjemalloc-dev gnuplot-nox libcli11-dev nlohmann-json3-dev
  etcd-server etcd-client iproute2
)

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "no dpkg-query: not Debian; install these yourself: ${PACKAGES[*]}"
  exit 0
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  status="$(dpkg-query -W -f='${Status}' "${pkg}" 2>/dev/null || true)"
  if [[ "${status}" != "install ok installed" ]]; then
    missing+=("${pkg}")
  fi
done
if ((${#missing[@]} == 0)); then
  echo "all ${#PACKAGES[@]} packages installed"
  exit 0
fi

sudo=()
if [[ "$(id -u)" -ne 0 ]]; then
  sudo=(sudo)
fi
echo "installing: ${missing[*]}"
"${sudo[@]}" apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
