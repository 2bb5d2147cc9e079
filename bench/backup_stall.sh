#!/usr/bin/env bash
# One shard backup stops acknowledging (SIGSTOP: its disk stalls, or the process hangs) for 2 s in
# the middle of an open-loop run at RATE/s on a 3-replica cluster; txbench's latency tail shows
# how long the group waited for it before the lag timeout (300 ms) dropped it from the ISR.
set -u
RATE=${RATE:-1000}
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BIN="${TXCOORD_BUILD_DIR:-build/default}/bin"
dir=$(mktemp -d /tmp/stall.XXXXXX)
addr=$($BIN/txcoord local up --shards 2 --replicas 3 --data-dir "$dir" | head -n1)
primary=$(awk '/shard0:/{f=1} f&&/primary:/{print $2; exit}' "$dir/groups.yaml")
backup=$(( (primary + 1) % 3 ))
pid=$(cat "$dir/shard0.r${backup}.pid")
( sleep 4; kill -STOP "$pid"; sleep 2; kill -CONT "$pid" ) &
$BIN/txbench --coordinator "$addr" --workload bank --rate "$RATE" --duration 8 --warmup 1 --replicas 3 --data-dir "$dir" 2>&1 | grep -E "^\[|latency|committed  |floor  "
wait
$BIN/txcoord local down --data-dir "$dir" >/dev/null 2>&1
rm -rf "$dir"
