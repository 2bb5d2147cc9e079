#!/usr/bin/env bash
# Where the CPU goes under load: one cluster, one closed-loop bank run, and during it `perf record`
# of the whole machine and `perf stat` of the cluster's syscalls and context switches.
#
#   bench/cpu_profile.sh                       # 3 replicas per group, 2PC, 64 clients
#   REPLICAS=1 CLIENTS=64 PROTOCOL=2pc SECONDS_PROFILED=5 bench/cpu_profile.sh
#
# Prints (1) the share of all CPU time (both CPUs, idle included) by process role (coordinator
# primary, coordinator backups, shard primaries, shard backups, txbench, other, idle), (2) for the
# cluster's processes, the split by where the time is spent (kernel, txcoord's own code, RocksDB,
# libc, the allocator, ...), (3) the cluster's top user-space functions, and (4) per committed
# transaction: context switches, futex calls, socket sends and receives, writes and fdatasyncs,
# summed over every process of the cluster (txbench's are not counted). Needs `perf`
# (linux-perf) and root or perf_event_paranoid <= 0; this tree's txcoord and txbench built
# (preset default, or TXCOORD_BUILD_DIR). Profiles are sampled (perf's default 4 kHz per CPU,
# no call graphs): shares under 1% are noise.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BIN="${TXCOORD_BUILD_DIR:-build/default}/bin"
REPLICAS=${REPLICAS:-3}
CLIENTS=${CLIENTS:-64}
PROTOCOL=${PROTOCOL:-2pc}
SECONDS_PROFILED=${SECONDS_PROFILED:-5}
command -v perf >/dev/null || { echo "cpu_profile: perf is not installed (apt-get install linux-perf)" >&2; exit 2; }

work=$(mktemp -d /tmp/cpu_profile.XXXXXX)
cluster="$work/cluster"
cleanup() { "$BIN/txcoord" local down --data-dir "$cluster" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT INT TERM

addr=$(timeout 60 "$BIN/txcoord" local up --shards 2 --replicas "$REPLICAS" --data-dir "$cluster" | head -n1)
"$BIN/txcoord" local status --data-dir "$cluster" > "$work/status"
# Role of every node process: "pid role" (coordinator-primary, shard-backup, ...).
awk '$1 ~ /^(coordinator|shard[0-9]+)(\.r[0-9]+)?$/ && $2 ~ /^[0-9]+$/ {
       group = ($1 ~ /^coordinator/) ? "coordinator" : "shard";
       role = ($4 == "backup") ? "backups" : "primaries";
       if (group == "coordinator" && role == "primaries") role = "primary";
       print $2, group " " role }' "$work/status" > "$work/roles"
pids=$(awk '{print $1}' "$work/roles" | paste -sd,)
for p in $(awk '{print $1}' "$work/roles"); do
  for t in /proc/"$p"/task/*; do echo "$(basename "$t") $p"; done
done > "$work/threads"

warmup=2
timeout $((warmup + SECONDS_PROFILED + 120)) "$BIN/txbench" --coordinator "$addr" --workload bank \
  --protocol "$PROTOCOL" --clients "$CLIENTS" --duration $((SECONDS_PROFILED + 2)) --warmup "$warmup" \
  --no-floor > "$work/txbench.out" 2>&1 &
bench=$!
sleep $((warmup + 1))
perf stat -x, -e context-switches,syscalls:sys_enter_futex,syscalls:sys_enter_sendmsg,syscalls:sys_enter_recvfrom,syscalls:sys_enter_write,syscalls:sys_enter_fdatasync,syscalls:sys_enter_epoll_wait \
  -p "$pids" -o "$work/stat" -- perf record -q -a -o "$work/perf.data" -- sleep "$SECONDS_PROFILED" 2>/dev/null
wait "$bench" || { echo "cpu_profile: txbench failed:" >&2; tail -n 15 "$work/txbench.out" >&2; exit 1; }
# The measured window (SECONDS_PROFILED + 2 s) holds the profiled one.
tps=$(sed -n 's/^  committed .*(\([0-9,]*\) txn\/s).*/\1/p' "$work/txbench.out" | tr -d ,)

perf report -i "$work/perf.data" --no-children --sort pid,dso -F overhead,pid,dso --stdio 2>/dev/null \
  | grep -v '^#' | grep -v '^$' > "$work/by_thread_dso"
# The cluster's threads only (another txcoord on the machine is not counted).
tids=$(awk '{print $1}' "$work/threads" | paste -sd,)
(perf report -i "$work/perf.data" --no-children --tid "$tids" --sort sym --stdio 2>/dev/null \
  | grep -v '^#' | grep -v '^$' | grep -v '\[k\]' | head -n 15 || true) > "$work/top_user"

python3 - "$work" "$tps" "$REPLICAS" "$CLIENTS" "$PROTOCOL" "$SECONDS_PROFILED" <<'EOF'
import collections, re, sys
work, tps, replicas, clients, protocol, seconds = sys.argv[1:]
tps = float(tps) if tps else 0.0
roles = dict(l.split(maxsplit=1) for l in open(f"{work}/roles"))
roles = {k: v.strip() for k, v in roles.items()}
thread_pid = dict(l.split() for l in open(f"{work}/threads"))
by_role = collections.Counter()
by_dso = collections.Counter()
cluster_total = 0.0
for line in open(f"{work}/by_thread_dso"):
    m = re.match(r"\s*([\d.]+)%\s+(\d+):(\S+)\s+(.*)$", line)
    if not m:
        continue
    pct, tid, comm, dso = float(m[1]), m[2], m[3], m[4].strip()
    pid = thread_pid.get(tid)
    if pid in roles:
        by_role[roles[pid]] += pct
        cluster_total += pct
        name = {"[kernel.kallsyms]": "kernel"}.get(dso, re.sub(r"\.so.*$", "", dso))
        by_dso[name] += pct
    elif tid == "0":
        by_role["idle"] += pct
    elif comm == "txbench":
        by_role["txbench"] += pct
    else:
        by_role["other"] += pct
print(f"cluster: {replicas} replica(s) per group, bank {protocol}, {clients} clients; "
      f"{seconds} s profiled, {tps:,.0f} committed txn/s (txbench's measured window, which holds it)")
print()
print("| where | share of all CPU time |")
print("|---|---|")
order = ["coordinator primary", "coordinator backups", "shard primaries", "shard backups",
         "txbench", "other", "idle"]
for k in order:
    if k in by_role:
        print(f"| {k} | {by_role[k]:.1f}% |")
print()
print("| in the cluster's processes | share of their CPU time |")
print("|---|---|")
for name, pct in by_dso.most_common(8):
    print(f"| {name} | {100 * pct / cluster_total:.1f}% |")
print()
print("Top user-space functions (share of all CPU time):")
for line in open(f"{work}/top_user").read().splitlines()[:12]:
    print("    " + line.strip()[:140])
print()
counts = {}
for line in open(f"{work}/stat"):
    parts = line.strip().split(",")
    if len(parts) > 2 and parts[0].replace(".", "").isdigit():
        counts[parts[2].replace("syscalls:sys_enter_", "")] = float(parts[0])
if tps > 0:
    txns = tps * float(seconds)
    print("| per committed transaction (whole cluster) | count |")
    print("|---|---|")
    for k in ["context-switches", "futex", "sendmsg", "recvfrom", "epoll_wait", "write", "fdatasync"]:
        if k in counts:
            print(f"| {k} | {counts[k] / txns:.2f} |")
EOF
