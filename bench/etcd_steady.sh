#!/usr/bin/env bash
# Steady-state cost of the etcd configuration master against the static one: etcd is off the
# commit path, so the same cluster should commit as fast on either.
#
#   bench/etcd_steady.sh                         # 5 rounds, 64 clients, 8 s each
#   ROUNDS=N DURATION=S CLIENTS=C ETCD_MEMBERS=M bench/etcd_steady.sh
#
# Each run is a fresh cluster of 2 shards and 3 replicas per group (`txcoord local up --shards 2
# --replicas 3`, and for etcd `--config-master etcd --etcd-members 3`: a local 3-member etcd),
# driven by txbench (bank 2PC, closed loop, 1 s warm-up; its checks must hold). Within a round the
# two run back to back, their order alternating from round to round, so that a slow spell of the
# machine falls on both; the figure is each round's etcd / static ratio of committed txn/s, and
# their median. Prints every run. The binaries must be built (preset default, or
# TXCOORD_BUILD_DIR).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-8}
CLIENTS=${CLIENTS:-64}
ETCD_MEMBERS=${ETCD_MEMBERS:-3}
BIN="${TXCOORD_BUILD_DIR:-$(pwd)/build/default}/bin"
for b in txcoord txbench; do
  [[ -x "$BIN/$b" ]] || { echo "etcd_steady: $BIN/$b is not built" >&2; exit 2; }
done

cluster=""
results=$(mktemp /tmp/etcd-steady.XXXXXX)
cleanup_cluster() {
  if [[ -n "$cluster" ]]; then
    "$BIN/txcoord" local down --data-dir "$cluster" >/dev/null 2>&1 || true
    rm -rf "$cluster"
    cluster=""
  fi
}
trap 'rm -f "$results"; cleanup_cluster' EXIT INT TERM

# One run: prints committed/s and p50 ms, or fails the script. Called in this shell (output
# redirected to a file, never in a subshell), so that the EXIT trap sees the cluster it started.
run() {  # static | etcd
  local master=$1 extra=()
  [[ $master == etcd ]] && extra=(--config-master etcd --etcd-members "$ETCD_MEMBERS")
  cluster=$(mktemp -d /tmp/etcd-steady-c.XXXXXX)
  local addr out
  addr=$(timeout 90 "$BIN/txcoord" local up --shards 2 --replicas 3 "${extra[@]}" \
      --data-dir "$cluster" | head -n1)
  if ! out=$(timeout $((DURATION + 120)) "$BIN/txbench" --coordinator "$addr" --workload bank \
      --protocol 2pc --clients "$CLIENTS" --duration "$DURATION" --warmup 1 --replicas 3 \
      --data-dir "$cluster" 2>&1); then
    echo "etcd_steady: txbench failed on $master:" >&2
    echo "$out" | tail -n 15 >&2
    exit 1
  fi
  cleanup_cluster
  local tps p50
  tps=$(echo "$out" | sed -n 's/^  committed .*(\([0-9,]*\) txn\/s).*/\1/p' | tr -d ,)
  p50=$(echo "$out" | sed -n 's/^  latency ms  p50 \([0-9.]*\) .*/\1/p')
  [[ -n "$tps" && -n "$p50" ]] || { echo "etcd_steady: no summary from txbench" >&2; exit 1; }
  echo "$tps $p50"
}

echo "etcd ($ETCD_MEMBERS members) vs static, $(git rev-parse --short=7 HEAD)$(git diff --quiet HEAD || echo '+changes');" \
  "bank 2pc, 2 shards x 3 replicas, $CLIENTS clients, $DURATION s + 1 s warm-up, $ROUNDS rounds"
ratios=()
for round in $(seq 1 "$ROUNDS"); do
  order=(static etcd)
  (( round % 2 == 0 )) && order=(etcd static)
  declare -A tps=()
  for m in "${order[@]}"; do
    run "$m" > "$results"
    read -r t p < "$results"
    tps[$m]=$t
    echo "round $round $m: $t txn/s, p50 $p ms"
  done
  r=$(awk -v a="${tps[etcd]}" -v b="${tps[static]}" 'BEGIN {printf "%.3f", a / b}')
  ratios+=("$r")
  echo "round $round etcd/static: $r"
done
median=$(printf '%s\n' "${ratios[@]}" | sort -n |
  awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}')
echo "etcd/static per round: ${ratios[*]}; median $median"
