#!/usr/bin/env bash
# One command to see txcoord work, on a fresh Debian 12 machine: installs the missing packages
# (scripts/install-deps.sh), builds txcoord and txbench (preset default), starts a coordinator and
# three shards on 127.0.0.1 in a fresh temporary directory (`txcoord local up`), runs the bank
# workload against them with txbench, stops the cluster (`txcoord local down`) and prints a summary.
#
#   scripts/demo.sh                # 20 s of bank transfers by 16 clients
#   scripts/demo.sh --seconds 60   # run the workload longer
#   scripts/demo.sh --clients 32   # more concurrent clients
#   scripts/demo.sh --no-build     # no install, no build: use the binaries already built
#   scripts/demo.sh --keep         # keep the cluster's directory (configs, logs, data) on success
#
# Environment: TXCOORD_BUILD_DIR, the build directory to build and run (default build/default, the
# preset's); JOBS, the build parallelism (default nproc).
#
# The cluster is always brought down, whatever happens (a trap on EXIT, INT and TERM): no node is
# left running and its ports are free. Ctrl-C reaches the step running (txbench then stops early
# and prints its summary) and then this script; a SIGTERM sent to this script alone is handled
# once the running step ends. Its directory is removed after a successful run unless
# --keep is given, and kept (with the nodes' logs) otherwise.
# Exit status: txbench's (0 only when its checks held: the bank total is unchanged and every shard
# agrees with the coordinator; 1 when a check failed; 2 on a usage or connection error), 130 on
# Ctrl-C, 143 on SIGTERM, 2 on a usage error of this script, or the status of the step that failed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

RUN_SECONDS=20
CLIENTS=16
BUILD=1
KEEP=0
SHARDS=3

usage() {
  echo "usage: scripts/demo.sh [--seconds S] [--clients N] [--no-build] [--keep]"
}
usage_error() {
  echo "demo.sh: $*" >&2
  usage >&2
  exit 2
}
positive() {  # positive NAME VALUE: VALUE must be a positive integer
  [[ "$2" =~ ^[1-9][0-9]{0,5}$ ]] || usage_error "$1 must be a positive integer, not '$2'"
}

while (($# > 0)); do
  case "$1" in
    --seconds | --clients)
      (($# >= 2)) || usage_error "$1 needs a value"
      positive "$1" "$2"
      if [[ "$1" == --seconds ]]; then RUN_SECONDS="$2"; else CLIENTS="$2"; fi
      shift 2
      ;;
    --no-build) BUILD=0; shift ;;
    --keep) KEEP=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown option '$1'" ;;
  esac
done

BUILD_DIR="${TXCOORD_BUILD_DIR:-build/default}"
JOBS="${JOBS:-$(nproc)}"
TXCOORD="${BUILD_DIR}/bin/txcoord"
TXBENCH="${BUILD_DIR}/bin/txbench"

step() { printf '\n=== %s\n' "$*"; }

if ((BUILD)); then
  step "Installing missing packages (scripts/install-deps.sh)"
  bash scripts/install-deps.sh

  step "Configuring and building txcoord and txbench in ${BUILD_DIR} (preset default, ${JOBS} jobs)"
  if [[ -n "${TXCOORD_BUILD_DIR:-}" ]]; then
    cmake --preset default -B "${BUILD_DIR}"
    cmake --build "${BUILD_DIR}" --target txcoord txbench -j "${JOBS}"
  else
    cmake --preset default
    cmake --build --preset default --target txcoord txbench -j "${JOBS}"
  fi
else
  step "Using the binaries in ${BUILD_DIR} (--no-build)"
fi
for binary in "${TXCOORD}" "${TXBENCH}"; do
  if [[ ! -x "${binary}" ]]; then
    echo "demo.sh: ${binary} is missing: run without --no-build to build it" >&2
    exit 1
  fi
done

DATA_DIR="$(mktemp -d -t txcoord-demo-XXXXXX)"
CLUSTER_UP=0    # 1 from the moment `local up` may have started a node until `local down` succeeded
BENCH_STATUS="" # txbench's exit status, once it has run
IN_BENCH=0      # 1 while txbench runs
INTERRUPTED=""  # 130 after SIGINT, 143 after SIGTERM

# Runs once, on any exit: brings the cluster down, prints the summary, cleans up, exits `status`.
# shellcheck disable=SC2317  # reached through the trap only
finish() {
  local status=$?
  if [[ -n "${INTERRUPTED}" ]]; then status="${INTERRUPTED}"; fi
  trap - EXIT
  trap '' INT TERM # a second Ctrl-C must not cut `local down` short (it is bounded: 15 s)
  if ((CLUSTER_UP)); then
    step "Stopping the cluster (txcoord local down)"
    if "${TXCOORD}" local down --data-dir "${DATA_DIR}"; then
      CLUSTER_UP=0
    elif ((status == 0)); then
      status=1
    fi
  fi

  step "Summary"
  case "${BENCH_STATUS}" in
    "") echo "txbench:   did not run" ;;
    0) echo "txbench:   the checks held: the bank total is unchanged, every shard agrees with the coordinator" ;;
    1) echo "txbench:   a CHECK FAILED (exit 1): see its output above" ;;
    130) echo "txbench:   stopped early by Ctrl-C (exit 130)" ;;
    *) echo "txbench:   exit ${BENCH_STATUS}: see its output above" ;;
  esac
  if ((CLUSTER_UP)); then
    echo "cluster:   some node could NOT be stopped: ${TXCOORD} local status --data-dir ${DATA_DIR}"
  else
    echo "cluster:   stopped (no node left running, its ports are free)"
  fi
  if ((status == 0 && !KEEP && !CLUSTER_UP)); then
    rm -rf "${DATA_DIR}"
    echo "logs/data: removed (--keep keeps them)"
  else
    echo "logs/data: ${DATA_DIR} (one NAME.log per node; restart the cluster on this data with"
    echo "           ${TXCOORD} local up --data-dir ${DATA_DIR})"
  fi
  exit "${status}"
}
# Bash runs these once the foreground command has ended. txbench gets the same Ctrl-C, stops
# early and prints its summary: then its status is kept for the summary here.
# shellcheck disable=SC2317  # reached through the traps only
on_signal() {
  INTERRUPTED="$1"
  echo
  echo "demo.sh: interrupted"
  if ((!IN_BENCH)); then exit "$1"; fi
}
trap finish EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

step "Starting a coordinator and ${SHARDS} shards on 127.0.0.1 in ${DATA_DIR} (txcoord local up)"
CLUSTER_UP=1
UP_OUTPUT="$("${TXCOORD}" local up --shards "${SHARDS}" --data-dir "${DATA_DIR}")"
printf '%s\n' "${UP_OUTPUT}"
COORDINATOR="${UP_OUTPUT%%$'\n'*}"

step "Running the bank workload for ${RUN_SECONDS} s with ${CLIENTS} clients (txbench, 2PC)"
set +e
IN_BENCH=1
# --data-dir: txbench measures its fsync floor on the cluster's disk (and writes nothing here).
"${TXBENCH}" --coordinator "${COORDINATOR}" --workload bank --protocol 2pc \
  --clients "${CLIENTS}" --duration "${RUN_SECONDS}" --data-dir "${DATA_DIR}"
BENCH_STATUS=$?
IN_BENCH=0
set -e
exit "${BENCH_STATUS}"
