#!/usr/bin/env bash
# Open loop at RATE/s, bank 2PC, unreplicated and replicated interleaved: p99 / p99.9 side by side.
set -u
RATE=${RATE:-2000}
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BIN="${TXCOORD_BUILD_DIR:-build/default}/bin"
for round in 1 2; do
  for r in 1 3; do
    dir=$(mktemp -d /tmp/tail.XXXXXX)
    addr=$($BIN/txcoord local up --shards 2 --replicas $r --data-dir "$dir" | head -n1)
    echo "round $round replicas $r rate $RATE: $($BIN/txbench --coordinator "$addr" --workload bank --rate "$RATE" --duration 8 --warmup 1 --no-floor 2>&1 | grep -E "latency ms" )"
    $BIN/txcoord local down --data-dir "$dir" >/dev/null 2>&1
    rm -rf "$dir"
  done
done
