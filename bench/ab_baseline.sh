#!/usr/bin/env bash
# A/B of this tree's `--replicas 1` against an earlier commit's txcoord (default f19e5d2, the last
# one before replica groups): does a group of one keep the old speed?
#
#   bench/ab_baseline.sh                      # BASE=f19e5d2, clients 1 and 64, 5 rounds of 6 s
#   BASE=<commit> ROUNDS=N DURATION=S CLIENTS="1 64" bench/ab_baseline.sh
#
# It builds the base commit's txcoord (a git worktree in a temporary directory, built into
# build/ab-<commit>, kept for the next run), then runs bank 2PC, 2 shards, closed loop, alternating
# base and new round by round (base, new, base, new, ...) so that a slow spell of the machine falls
# on both. Every run is a fresh cluster (`txcoord local up --shards 2 [--replicas 1]`) and the SAME
# txbench (this tree's) drives both, with the same flags; its checks (agreement, bank total) must
# hold. Prints every run and, per client count, the medians and new / base. This tree's binaries
# must be built (preset default, or TXCOORD_BUILD_DIR).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"
BASE=${BASE:-f19e5d2}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-6}
CLIENTS=${CLIENTS:-"1 64"}
NEW_BIN="${TXCOORD_BUILD_DIR:-$ROOT/build/default}/bin"
BASE_SHA=$(git rev-parse --short=7 "$BASE^{commit}")
BASE_BUILD="$ROOT/build/ab-$BASE_SHA"

for b in txcoord txbench; do
  [[ -x "$NEW_BIN/$b" ]] || { echo "ab_baseline: $NEW_BIN/$b is not built" >&2; exit 2; }
done
if [[ ! -x "$BASE_BUILD/bin/txcoord" ]]; then
  src=$(mktemp -d /tmp/ab-src.XXXXXX)
  trap 'git -C "$ROOT" worktree remove --force "$src" >/dev/null 2>&1 || true; rm -rf "$src"' EXIT
  echo "ab_baseline: building txcoord at $BASE_SHA into $BASE_BUILD" >&2
  git worktree add --force --detach "$src" "$BASE_SHA" >/dev/null
  cmake -S "$src" -B "$BASE_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$BASE_BUILD" -j "${JOBS:-$(nproc)}" --target txcoord >/dev/null
  git worktree remove --force "$src" >/dev/null 2>&1 || true
  rm -rf "$src"
  trap - EXIT
fi

cluster=""
results=$(mktemp /tmp/ab-run.XXXXXX)
cleanup() { rm -f "$results"; cleanup_cluster; }
cleanup_cluster() { if [[ -n "$cluster" ]]; then "$bin/txcoord" local down --data-dir "$cluster" >/dev/null 2>&1 || true; rm -rf "$cluster"; fi; }
trap 'cleanup' EXIT INT TERM

# One run: prints committed/s and p50 ms, or fails the script. Called in this shell (its output
# redirected, never in a subshell), so that the EXIT trap sees the cluster it started.
run() {  # variant clients
  local variant=$1 clients=$2 extra=()
  if [[ $variant == base ]]; then bin="$BASE_BUILD/bin"; else bin="$NEW_BIN"; extra=(--replicas 1); fi
  cluster=$(mktemp -d /tmp/ab.XXXXXX)
  local addr out
  addr=$(timeout 60 "$bin/txcoord" local up --shards 2 "${extra[@]}" --data-dir "$cluster" | head -n1)
  if ! out=$(timeout $((DURATION + 120)) "$NEW_BIN/txbench" --coordinator "$addr" --workload bank \
      --protocol 2pc --clients "$clients" --duration "$DURATION" --warmup 1 --no-floor 2>&1); then
    echo "ab_baseline: txbench failed against $variant:" >&2
    echo "$out" | tail -n 15 >&2
    exit 1
  fi
  timeout 60 "$bin/txcoord" local down --data-dir "$cluster" >/dev/null 2>&1 || true
  rm -rf "$cluster"
  cluster=""
  local tps p50
  tps=$(echo "$out" | sed -n 's/^  committed .*(\([0-9,]*\) txn\/s).*/\1/p' | tr -d ,)
  p50=$(echo "$out" | sed -n 's/^  latency ms  p50 \([0-9.]*\) .*/\1/p')
  [[ -n "$tps" && -n "$p50" ]] || { echo "ab_baseline: no summary from txbench" >&2; exit 1; }
  echo "$tps $p50"
}

median() { sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }

echo "base $BASE_SHA (build/ab-$BASE_SHA) vs new $(git rev-parse --short=7 HEAD)$(git diff --quiet HEAD || echo '+changes') --replicas 1;" \
  "bank 2pc, 2 shards, $DURATION s + 1 s warm-up, $ROUNDS rounds, alternated"
declare -A tps p50
for c in $CLIENTS; do tps[base,$c]=""; tps[new,$c]=""; p50[base,$c]=""; p50[new,$c]=""; done
for round in $(seq 1 "$ROUNDS"); do
  for c in $CLIENTS; do
    for v in base new; do
      run "$v" "$c" > "$results"
      read -r t l < "$results"
      echo "round $round, $c client(s), $v: $t txn/s, p50 $l ms"
      tps[$v,$c]+="$t "
      p50[$v,$c]+="$l "
    done
  done
done
echo
echo "| clients | base txn/s | new txn/s | new / base | base p50 ms | new p50 ms |"
echo "|---|---|---|---|---|---|"
for c in $CLIENTS; do
  bt=$(echo "${tps[base,$c]}" | tr ' ' '\n' | grep . | median)
  nt=$(echo "${tps[new,$c]}" | tr ' ' '\n' | grep . | median)
  bl=$(echo "${p50[base,$c]}" | tr ' ' '\n' | grep . | median)
  nl=$(echo "${p50[new,$c]}" | tr ' ' '\n' | grep . | median)
  echo "| $c | $bt | $nt | $(awk -v a="$nt" -v b="$bt" 'BEGIN {printf "%.2f", a / b}') | $bl | $nl |"
done
