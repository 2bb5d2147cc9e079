#!/usr/bin/env bash
# One command that regenerates bench/RESULTS.md and the plots bench/plots/*.png from fresh
# measurements of the whole system on this machine.
#
#   bench/results.sh                # the full run: 3 runs of 10 s (+ 2 s warm-up) per point, ~17 min
#   bench/results.sh --quick        # 1 run of 2 s per point (~2 min), into a temporary directory
#   bench/results.sh --no-build     # use the binaries already built
#   bench/results.sh --out DIR      # write DIR/RESULTS.md, DIR/plots/, DIR/results/ (default bench/)
#   bench/results.sh --runs N --duration S --warmup S   # or RUNS, DURATION, WARMUP in the environment
#   bench/results.sh --keep         # keep every cluster's directory (configs, logs, data)
#
# What it does: builds txcoord, txbench, wal_bench and rpc_bench (preset default), then runs every
# point of the experiments below RUNS times, interleaved (every point once, then every point
# again, ...), each run on a FRESH cluster in a new directory: `txcoord local up --shards N
# --replicas R --data-dir DIR` (every shard and the coordinator a group of R processes; its first
# line is the coordinator's, its primary's, address), one `txbench ... --json FILE --data-dir DIR`,
# `txcoord local down --data-dir DIR`, and the nodes' "txcoord: wal stats" log lines (printed on a
# clean stop, DIR/NAME.log, every replica's) for fsyncs per transaction. bench/results_report.py
# records each run, then writes RESULTS.md (every figure, ratio and goal verdict computed from the
# runs; the hand-run WAL and RPC sections are bench/RESULTS.static.md, included verbatim), the
# plots (gnuplot) and results/runs.jsonl (one line per run).
#
# Experiments (each list can be set in the environment):
#   bank    BANK_SHARDS=2 shards (each transfer spans the cluster), BANK_PROTOCOLS="2pc 3pc",
#           closed loop, BANK_CLIENTS="1 8 64", BANK_REPLICAS="1 3" processes per group (1: one
#           process per shard and for the coordinator; 3: (BANK_SHARDS + 1) x 3 processes); the
#           replicated points are interleaved with the unreplicated ones (same protocol and
#           clients one after the other) so that their ratio is measured under the same load
#   fanout  FANOUT_SHARDS=16 shards, 2PC, FANOUT_K="1 2 4 8 16" participants,
#           FANOUT_CLIENTS="1 8", one replica per group
# Environment: TXCOORD_BUILD_DIR, the build directory (default build/default, the preset's); JOBS,
# the build parallelism (default nproc); TMPDIR, where the cluster directories go (default /tmp):
# its disk is the one measured, and the report names it.
#
# Every wait is bounded: `local up` and `local down` 60 s each; txbench WARMUP + DURATION + 120 s,
# then SIGINT (it prints its summary), then SIGKILL 10 s later. A failed run is reported at once
# (with the tail of txbench's output), left out of the medians, named in the report, and its
# directory kept; three failed runs in a row stop the script (something is broken). Whatever
# happens, the running cluster is brought down (a trap on EXIT, INT and TERM).
# Exit status: 0 when every run succeeded and the report is written; 1 when a run failed (the
# report is still written, naming it) or a step failed; 2 on a usage error; 130 on Ctrl-C, 143 on
# SIGTERM (no report then).
set -euo pipefail

CALLER_DIR="$(pwd)"  # a relative --out is relative to it
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"
INVOCATION="bench/results.sh${*:+ $*}"

# Settings that were given in the environment, for the report's invocation line.
ENV_GIVEN=""
for name in RUNS DURATION WARMUP BANK_SHARDS BANK_PROTOCOLS BANK_CLIENTS BANK_REPLICAS \
  FANOUT_SHARDS FANOUT_K FANOUT_CLIENTS; do
  if [[ -n "${!name:-}" ]]; then ENV_GIVEN+="${name}=\"${!name}\" "; fi
done
INVOCATION="${ENV_GIVEN}${INVOCATION}"

usage() {
  echo "usage: bench/results.sh [--quick] [--no-build] [--out DIR] [--runs N] [--duration S]"
  echo "                        [--warmup S] [--keep]    (details: the top of bench/results.sh)"
}
usage_error() {
  echo "results.sh: $*" >&2
  usage >&2
  exit 2
}

QUICK=0
BUILD=1
KEEP=0
OUT=""
FLAG_RUNS=""
FLAG_DURATION=""
FLAG_WARMUP=""
while (($# > 0)); do
  case "$1" in
    --quick) QUICK=1; shift ;;
    --no-build) BUILD=0; shift ;;
    --keep) KEEP=1; shift ;;
    --out | --runs | --duration | --warmup)
      (($# >= 2)) || usage_error "$1 needs a value"
      case "$1" in
        --out) if [[ "$2" == /* ]]; then OUT="$2"; else OUT="${CALLER_DIR}/$2"; fi ;;
        --runs) FLAG_RUNS="$2" ;;
        --duration) FLAG_DURATION="$2" ;;
        --warmup) FLAG_WARMUP="$2" ;;
      esac
      shift 2
      ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown option '$1'" ;;
  esac
done

# A flag wins over the environment, which wins over --quick's and the full run's defaults.
if ((QUICK)); then
  RUNS="${FLAG_RUNS:-${RUNS:-1}}"
  DURATION="${FLAG_DURATION:-${DURATION:-2}}"
  WARMUP="${FLAG_WARMUP:-${WARMUP:-0.5}}"
else
  RUNS="${FLAG_RUNS:-${RUNS:-3}}"
  DURATION="${FLAG_DURATION:-${DURATION:-10}}"
  WARMUP="${FLAG_WARMUP:-${WARMUP:-2}}"
fi
BANK_SHARDS="${BANK_SHARDS:-2}"
BANK_PROTOCOLS="${BANK_PROTOCOLS:-2pc 3pc}"
BANK_CLIENTS="${BANK_CLIENTS:-1 8 64}"
BANK_REPLICAS="${BANK_REPLICAS:-1 3}"
FANOUT_SHARDS="${FANOUT_SHARDS:-16}"
FANOUT_K="${FANOUT_K:-1 2 4 8 16}"
FANOUT_CLIENTS="${FANOUT_CLIENTS:-1 8}"

[[ "${RUNS}" =~ ^[1-9][0-9]?$ ]] || usage_error "RUNS must be 1 to 99, not '${RUNS}'"
for pair in "DURATION:${DURATION}" "WARMUP:${WARMUP}"; do
  [[ "${pair#*:}" =~ ^[0-9]{1,4}(\.[0-9]+)?$ ]] ||
    usage_error "${pair%%:*} must be a number of seconds, not '${pair#*:}'"
done
awk "BEGIN { exit !(${DURATION} >= 0.1) }" || usage_error "DURATION must be at least 0.1 s"
for n in ${BANK_SHARDS} ${FANOUT_SHARDS} ${BANK_CLIENTS} ${FANOUT_CLIENTS} ${FANOUT_K}; do
  [[ "${n}" =~ ^[1-9][0-9]{0,4}$ ]] || usage_error "'${n}' in the experiment lists is not a count"
done
for r in ${BANK_REPLICAS}; do
  [[ "${r}" =~ ^[1-9]$ ]] || usage_error "BANK_REPLICAS: '${r}' is not 1 to 9 replicas"
done
for k in ${FANOUT_K}; do
  ((k <= FANOUT_SHARDS)) || usage_error "FANOUT_K: ${k} participants but ${FANOUT_SHARDS} shards"
done
((FANOUT_SHARDS <= 64 && BANK_SHARDS <= 64)) || usage_error "at most 64 shards"
for p in ${BANK_PROTOCOLS}; do
  [[ "${p}" == 2pc || "${p}" == 3pc ]] || usage_error "BANK_PROTOCOLS: '${p}' is not 2pc or 3pc"
done

BUILD_DIR="${TXCOORD_BUILD_DIR:-build/default}"
JOBS="${JOBS:-$(nproc)}"
TXCOORD="${BUILD_DIR}/bin/txcoord"
TXBENCH="${BUILD_DIR}/bin/txbench"
PYTHON=/usr/bin/python3  # Debian's: the python3 on PATH may be a pyenv shim
REPORT="${ROOT}/bench/results_report.py"
STATIC="${ROOT}/bench/RESULTS.static.md"

step() { printf '\n=== %s\n' "$*"; }

# Everything the run needs, checked before minutes of measuring.
for tool in gnuplot timeout findmnt awk; do
  if ! command -v "${tool}" >/dev/null; then
    echo "results.sh: '${tool}' is missing: run scripts/install-deps.sh (gnuplot comes from" \
      "gnuplot-nox)" >&2
    exit 1
  fi
done
[[ -x "${PYTHON}" ]] || { echo "results.sh: ${PYTHON} is missing (Debian's python3)" >&2; exit 1; }
[[ -f "${STATIC}" ]] || { echo "results.sh: ${STATIC} is missing" >&2; exit 1; }

if ((BUILD)); then
  step "Building txcoord txbench wal_bench rpc_bench in ${BUILD_DIR} (preset default, ${JOBS} jobs)"
  if [[ -n "${TXCOORD_BUILD_DIR:-}" ]]; then
    cmake --preset default -B "${BUILD_DIR}" >/dev/null
    cmake --build "${BUILD_DIR}" --target txcoord txbench wal_bench rpc_bench -j "${JOBS}"
  else
    cmake --preset default >/dev/null
    cmake --build --preset default --target txcoord txbench wal_bench rpc_bench -j "${JOBS}"
  fi
else
  step "Using the binaries in ${BUILD_DIR} (--no-build)"
fi
for binary in "${TXCOORD}" "${TXBENCH}"; do
  if [[ ! -x "${binary}" ]]; then
    echo "results.sh: ${binary} is missing: run without --no-build to build it" >&2
    exit 1
  fi
done

if [[ -z "${OUT}" ]]; then
  if ((QUICK)); then OUT="$(mktemp -d -t txcoord-results-quick-XXXXXX)"; else OUT="${ROOT}/bench"; fi
fi
mkdir -p "${OUT}"
OUT="$(cd "${OUT}" && pwd)"
WORK="$(mktemp -d -t txcoord-results-XXXXXX)"  # clusters, logs, runs.jsonl, gnuplot's files
mkdir -p "${WORK}/clusters" "${WORK}/logs" "${WORK}/plot"
RUNS_FILE="${WORK}/runs.jsonl"
: >"${RUNS_FILE}"
STARTED_AT="$(date +%s)"

CURRENT_CLUSTER=""  # the directory of a cluster that may be running, until `local down` succeeded
IN_BENCH=0          # 1 while txbench runs
INTERRUPTED=""      # 130 after SIGINT, 143 after SIGTERM
FAILED_RUNS=0

down() {  # down DIR LOG: stops the cluster in DIR (bounded); its output appended to LOG
  timeout --foreground -k 5 60 "${TXCOORD}" local down --data-dir "$1" >>"$2" 2>&1
}

# Runs once, on any exit: brings a running cluster down, says where things are, exits `status`.
# shellcheck disable=SC2317  # reached through the trap only
finish() {
  local status=$?
  if [[ -n "${INTERRUPTED}" ]]; then status="${INTERRUPTED}"; fi
  trap - EXIT
  trap '' INT TERM  # a second Ctrl-C must not cut `local down` short (it is bounded)
  if [[ -n "${CURRENT_CLUSTER}" ]]; then
    echo "results.sh: stopping the cluster in ${CURRENT_CLUSTER}"
    if ! down "${CURRENT_CLUSTER}" "${WORK}/logs/final-down.log"; then
      echo "results.sh: some node could NOT be stopped: see ${WORK}/logs/final-down.log;" \
        "${TXCOORD} local status --data-dir ${CURRENT_CLUSTER}" >&2
      ((status != 0)) || status=1
      KEEP=1
    fi
  fi
  if ((status == 0 && !KEEP)); then
    rm -rf "${WORK}"
  else
    echo "results.sh: logs, runs and kept cluster directories in ${WORK}"
  fi
  exit "${status}"
}
# Bash runs these once the foreground command has ended; txbench gets the same Ctrl-C, stops
# early and exits 130, then the loop below stops.
# shellcheck disable=SC2317  # reached through the traps only
on_signal() {
  INTERRUPTED="$1"
  echo
  echo "results.sh: interrupted: no report is written"
  if ((!IN_BENCH)); then exit "$1"; fi
}
trap finish EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

"${PYTHON}" "${REPORT}" machine --data-root "$(dirname "${WORK}")" --source-dir "${ROOT}" \
  >"${WORK}/machine.json"

# The points: "experiment shards protocol clients participants replicas".
POINTS=()
for protocol in ${BANK_PROTOCOLS}; do
  for clients in ${BANK_CLIENTS}; do
    for replicas in ${BANK_REPLICAS}; do
      POINTS+=("bank ${BANK_SHARDS} ${protocol} ${clients} 2 ${replicas}")
    done
  done
done
for clients in ${FANOUT_CLIENTS}; do
  for k in ${FANOUT_K}; do POINTS+=("fanout ${FANOUT_SHARDS} 2pc ${clients} ${k} 1"); done
done
TOTAL=$((${#POINTS[@]} * RUNS))
BENCH_LIMIT_S="$(awk "BEGIN { print int(${WARMUP} + ${DURATION} + 120) }")"

elapsed() {  # elapsed SECONDS: "4m05s"
  printf '%dm%02ds' $(($1 / 60)) $(($1 % 60))
}

step "Running ${#POINTS[@]} points x ${RUNS} run(s) = ${TOTAL} runs of ${WARMUP} s warm-up +" \
  "${DURATION} s, each on a fresh cluster under ${WORK}/clusters"
echo "machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)," \
  "data on $(findmnt -no SOURCE,FSTYPE -T "${WORK}" | tr -s ' ' ' '), load average" \
  "$(cut -d' ' -f1-3 /proc/loadavg)"

DONE=0
FAILS_IN_A_ROW=0
for ((run = 1; run <= RUNS; run++)); do
  for point in "${POINTS[@]}"; do
    read -r experiment shards protocol clients participants replicas <<<"${point}"
    name="${experiment}-${protocol}-c${clients}-k${participants}-r${replicas}-run${run}"
    dir="${WORK}/clusters/${name}"
    log="${WORK}/logs/${name}"
    json="${WORK}/logs/${name}.json"
    DONE=$((DONE + 1))
    label="${experiment} ${protocol}, ${clients} client(s)"
    if [[ "${experiment}" == fanout ]]; then label+=", K=${participants}"; fi
    if [[ "${experiment}" == bank ]]; then label+=", ${replicas} replica(s)"; fi
    printf '[%3d/%d %s] %s, run %d/%d: ' "${DONE}" "${TOTAL}" \
      "$(elapsed $(($(date +%s) - STARTED_AT)))" "${label}" "${run}" "${RUNS}"
    problems=()
    status=-1
    run_started="$(date +%s.%N)"
    bench=("${TXBENCH}" --workload "${experiment}" --protocol "${protocol}" --clients "${clients}")
    if [[ "${experiment}" == fanout ]]; then bench+=(--participants "${participants}"); fi
    # The floor txbench reports is the replicated one for R > 1 (a replication round trip and R
    # fsyncs per group per durable step).
    if ((replicas > 1)); then bench+=(--replicas "${replicas}"); fi
    bench+=(--duration "${DURATION}" --warmup "${WARMUP}")
    # As recorded: the same command with placeholders for this machine's temporary paths.
    shown="txcoord local up --shards ${shards} --replicas ${replicas} --data-dir DIR;"
    shown+=" txbench --coordinator ADDR"
    shown+=" ${bench[*]:1} --json FILE --data-dir DIR"
    bench+=(--json "${json}" --data-dir "${dir}")

    CURRENT_CLUSTER="${dir}"
    if timeout --foreground -k 5 60 "${TXCOORD}" local up --shards "${shards}" \
      --replicas "${replicas}" --data-dir "${dir}" >"${log}.up" 2>&1; then
      address="$(head -n 1 "${log}.up")"
      if [[ "${address}" =~ ^[0-9.]+:[0-9]+$ ]]; then
        set +e
        IN_BENCH=1
        timeout --foreground -k 10 -s INT "${BENCH_LIMIT_S}" "${bench[0]}" --coordinator "${address}" \
          "${bench[@]:1}" >"${log}.txbench" 2>&1
        status=$?
        IN_BENCH=0
        set -e
        if ((status == 124)); then problems+=("txbench did not end within ${BENCH_LIMIT_S} s"); fi
      else
        problems+=("txcoord local up printed no address first: '${address}'")
      fi
    else
      problems+=("txcoord local up failed (exit $?): $(tail -n 1 "${log}.up")")
    fi
    if down "${dir}" "${log}.down"; then
      CURRENT_CLUSTER=""
    else
      problems+=("txcoord local down failed: $(tail -n 1 "${log}.down")")
    fi
    if [[ -n "${INTERRUPTED}" ]]; then exit "${INTERRUPTED}"; fi
    if [[ -n "${CURRENT_CLUSTER}" ]]; then
      echo
      echo "results.sh: cannot stop the cluster in ${dir}: $(tail -n 1 "${log}.down")" >&2
      exit 1  # finish tries once more, then keeps it for a look
    fi

    problem_args=()
    for p in "${problems[@]}"; do problem_args+=(--problem "${p}"); done
    summary="$("${PYTHON}" "${REPORT}" record --runs-file "${RUNS_FILE}" \
      --experiment "${experiment}" --run "${run}" --status "${status}" \
      --plan "{\"protocol\": \"${protocol}\", \"clients\": ${clients}, \"participants\": ${participants}, \"shards\": ${shards}, \"replicas\": ${replicas}}" \
      --seconds "$(awk "BEGIN { print $(date +%s.%N) - ${run_started} }")" \
      --command "${shown}" \
      --json "${json}" --cluster-dir "${dir}" "${problem_args[@]}")"
    echo "${summary}"
    if [[ "${summary}" == FAILED* ]]; then
      FAILED_RUNS=$((FAILED_RUNS + 1))
      FAILS_IN_A_ROW=$((FAILS_IN_A_ROW + 1))
      echo "    kept: ${dir} (node logs); txbench's output ends:"
      tail -n 12 "${log}.txbench" 2>/dev/null | sed 's/^/    | /' || true
      KEEP=1
      if ((FAILS_IN_A_ROW >= 3)); then
        echo "results.sh: three runs in a row failed: stopping, no report written" >&2
        exit 1
      fi
    else
      FAILS_IN_A_ROW=0
      if ((!KEEP)); then rm -rf "${dir}"; fi
    fi
  done
done

QUICK_FLAG=()
if ((QUICK)); then QUICK_FLAG=(--quick); fi
step "Writing ${OUT}/RESULTS.md, ${OUT}/plots/*.png and ${OUT}/results/runs.jsonl"
"${PYTHON}" "${REPORT}" report --runs-file "${RUNS_FILE}" --machine "${WORK}/machine.json" \
  --static "${STATIC}" --out "${OUT}" --work-dir "${WORK}/plot" --runs "${RUNS}" \
  --duration "${DURATION}" --warmup "${WARMUP}" --started-at "${STARTED_AT}" \
  --invocation "${INVOCATION}" --bank-shards "${BANK_SHARDS}" --fanout-shards "${FANOUT_SHARDS}" \
  "${QUICK_FLAG[@]}"
sed -n '/^## Goals/,/^## Bank/p' "${OUT}/RESULTS.md" | sed '$d'
for png in "${OUT}"/plots/*.png; do echo "plot: ${png}"; done
echo "done in $(elapsed $(($(date +%s) - STARTED_AT)))"
if ((FAILED_RUNS > 0)); then
  echo "results.sh: ${FAILED_RUNS} run(s) failed: named in ${OUT}/RESULTS.md, kept in ${WORK}" >&2
  exit 1
fi
