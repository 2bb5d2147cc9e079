#!/usr/bin/python3
"""The data half of bench/results.sh: it records each txbench run, then writes RESULTS.md and the
plots from the recorded runs. Standard library only (run by Debian's /usr/bin/python3).

  results_report.py machine --data-root DIR --source-dir REPO      machine facts, as JSON, to stdout
  results_report.py record --runs-file F --experiment E --plan JSON --run R --status S
                           --seconds T --command CMD --json FILE --cluster-dir DIR
                           [--problem TEXT]...
      appends one JSON line for the run to F (what was asked: JSON protocol, clients,
      participants, shards, replicas; txbench's JSON as it wrote it, every node's WAL counters
      from its log, the exit status) and prints a one-line summary of it
  results_report.py report --runs-file F --machine F --static F --out DIR --work-dir DIR
                           --runs N --duration S --warmup S --started-at EPOCH --invocation CMD
                           --bank-shards N --fanout-shards N [--quick]
      writes DIR/RESULTS.md, DIR/plots/*.png (through gnuplot) and DIR/results/runs.jsonl

Every figure in RESULTS.md is computed here from the recorded runs: a point is the median, over
its successful runs, of each metric separately; the goals' verdicts ("met" / "not met") are
computed from those medians. Nothing in the text is written by hand but the explanations.
A point is (protocol, clients, participants, replicas); a run recorded before replica groups has
no "replicas" in its plan and counts as 1 (one process per group).
"""

import argparse
import datetime
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys

# ---- the goals --------------------------------------------------------------------------------

GOAL_TPS = 20000  # committed 2-shard transactions/s, bank 2PC, 64 clients
GOAL_TPS_CLIENTS = 64
GOAL_REPLICATED_TPS = 10000  # the same, bank 2PC, 64 clients, every group GOAL_REPLICAS processes
GOAL_REPLICAS = 3
GOAL_FLOOR_RATIO = 1.5  # p50 at 1 client / commit floor
GOAL_FANOUT_RATIO = 1.5  # p50 with 16 participants / p50 with 2
FANOUT_HIGH, FANOUT_LOW = 16, 2

WAL_STATS_RE = re.compile(r"^txcoord: wal stats: appends=(\d+) records=(\d+) syncs=(\d+)\s*$")
NET_STATS_RE = re.compile(r"^txcoord: net stats: writes=(\d+) ")
# A node's log in a cluster directory (tools/local_cluster.h): "coordinator.log", "shard0.log"
# (one replica per group) or "coordinator.r0.log", "shard1.r2.log" (R > 1).
NODE_LOG_RE = re.compile(r"^(coordinator|shard\d+)(\.r\d+)?\.log$")


def fail(message):
    print("results_report.py: " + message, file=sys.stderr)
    sys.exit(1)


def run_command(argv, strip=True):
    """stdout of argv (stripped unless told not to); empty when it cannot run."""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10,
                             check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.strip() if strip else out


# ---- machine ----------------------------------------------------------------------------------

def machine_facts(data_root, source_dir):
    facts = {"nproc": len(os.sched_getaffinity(0)), "kernel": os.uname().release}
    cpu = "unknown"
    memory_gib = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    memory_gib = round(int(line.split()[1]) / (1024 * 1024))
    except OSError:
        pass
    facts["cpu"] = cpu
    facts["memory_gib"] = memory_gib
    # The data directory's filesystem and the disk under it.
    source = run_command(["findmnt", "-no", "SOURCE", "-T", data_root]) or "unknown"
    fstype = run_command(["findmnt", "-no", "FSTYPE", "-T", data_root]) or "unknown"
    df = run_command(["df", "-h", "--output=size,avail", data_root]).splitlines()
    size, avail = (df[1].split() + ["?", "?"])[:2] if len(df) > 1 else ("?", "?")
    disk = ""
    if source.startswith("/dev/"):
        parent = run_command(["lsblk", "-no", "PKNAME", source]).splitlines()
        device = "/dev/" + parent[0] if parent and parent[0] else source
        fields = run_command(["lsblk", "-dno", "NAME,SIZE,MODEL", device]).split(None, 2)
        if fields:
            kind = "virtio disk" if fields[0].startswith("vd") else "disk"
            disk = f"{kind} {fields[0]}" + "".join(", " + f for f in fields[1:])
    facts["data_root"] = data_root
    facts["filesystem"] = {"source": source, "type": fstype, "size": size, "avail": avail,
                           "disk": disk}
    with open("/proc/loadavg") as f:
        facts["loadavg_start"] = " ".join(f.read().split()[:3])
    commit = run_command(["git", "-C", source_dir, "rev-parse", "--short=12", "HEAD"]) or "unknown"
    # Changed tracked files, but this script's own outputs (a previous run's report).
    dirty = run_command(["git", "-C", source_dir, "status", "--porcelain",
                         "--untracked-files=no"], strip=False)
    outputs = ("bench/RESULTS.md", "bench/plots/", "bench/results/")
    facts["commit"] = commit
    facts["dirty_files"] = [line[3:] for line in dirty.splitlines()
                            if len(line) > 3 and not line[3:].startswith(outputs)]
    facts["started"] = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    return facts


def machine_line(m):
    """One line naming the machine, for every figure."""
    fs = m["filesystem"]
    memory = f", {m['memory_gib']} GiB" if m.get("memory_gib") else ""
    disk = f" [{fs['disk']}]" if fs.get("disk") else ""
    return (f"nproc {m['nproc']}, {m['cpu']}{memory}; data on {fs['source']} ({fs['type']}"
            f"{disk}); kernel {m['kernel']}")


# ---- record -----------------------------------------------------------------------------------

def load_txbench_json(path):
    """txbench's JSON, or None. Its numbers are printf %g: inf and nan become JSON's spelling."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return None
    text = re.sub(r"(?<=[:\s])-?inf\b", "Infinity", text)
    text = re.sub(r"(?<=[:\s])-?nan\b", "NaN", text)
    try:
        return json.loads(text)
    except ValueError:
        return None


def wal_stats(cluster_dir):
    """Per node, every replica of every group (NAME "shard0" or "shard0.r2"): the last
    'txcoord: wal stats' line of DIR/NAME.log (printed on a clean stop), None when it has none."""
    nodes = {}
    try:
        names = sorted(n for n in os.listdir(cluster_dir) if NODE_LOG_RE.match(n))
    except OSError:
        return nodes
    for name in names:
        found = None
        net_writes = None
        with open(os.path.join(cluster_dir, name), errors="replace") as f:
            for line in f:
                m = WAL_STATS_RE.match(line)
                if m:
                    found = {"appends": int(m[1]), "records": int(m[2]), "syncs": int(m[3])}
                m = NET_STATS_RE.match(line)
                if m:
                    net_writes = int(m[1])
        if found is not None and net_writes is not None:
            found["net_writes"] = net_writes
        nodes[name[:-4]] = found
    return nodes


def fmt_int(v):
    return f"{v:,.0f}" if is_num(v) else "n/a"


def fmt(v, digits=2):
    return f"{v:.{digits}f}" if is_num(v) else "n/a"


def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def record(args):
    result = load_txbench_json(args.json)
    nodes = wal_stats(args.cluster_dir)
    entry = {
        "experiment": args.experiment,
        "plan": json.loads(args.plan),
        "run": args.run,
        "status": args.status,
        "seconds": round(args.seconds, 1),
        "command": args.run_command,
        "txbench": result,
        "wal": nodes,
    }
    problems = list(args.problem)
    if args.status != 0 and result is not None:
        problems.append(f"txbench exit {args.status}")
    if result is None:
        problems.append("no JSON from txbench")
    elif not result.get("check", {}).get("ok", False):
        problems.append("txbench checks failed")
    missing = sorted(n for n, s in nodes.items() if s is None)
    if not nodes:
        problems.append("no node logs")
    elif missing:
        problems.append("no wal stats line (not a clean stop?) from " + ", ".join(missing))
    entry["ok"] = not problems
    entry["problems"] = problems
    with open(args.runs_file, "a") as f:
        f.write(json.dumps(entry, sort_keys=True) + "\n")
    metrics = run_metrics(entry)
    if entry["ok"]:
        print(f"{fmt_int(metrics['tps'])} txn/s, p50 {fmt(metrics['p50'])} ms, "
              f"p99 {fmt(metrics['p99'])} ms, {fmt(metrics['fsyncs_per_txn'])} fsyncs/txn, "
              f"{fmt(metrics['aborted_pct'], 1)}% aborted ({args.seconds:.0f} s)")
    else:
        print("FAILED: " + "; ".join(problems))


# ---- report -----------------------------------------------------------------------------------

def run_metrics(entry):
    """The figures of one run (None where it has none)."""
    r = entry.get("txbench") or {}
    lat = r.get("latency_ms", {})
    floor = r.get("floor", {})
    committed = r.get("committed", 0)
    attempts = committed + r.get("aborted", 0) + r.get("unknown", 0)
    syncs = None
    nodes = entry.get("wal") or {}
    if nodes and all(s is not None for s in nodes.values()):
        syncs = sum(s["syncs"] for s in nodes.values())
    net_writes = None
    if nodes and all(s is not None and "net_writes" in s for s in nodes.values()):
        net_writes = sum(s["net_writes"] for s in nodes.values())
    committed_all = r.get("committed_all", 0)
    return {
        "tps": r.get("throughput_tps"),
        "p50": lat.get("p50"),
        "p99": lat.get("p99"),
        "p999": lat.get("p999"),
        "aborted_pct": 100.0 * r.get("aborted", 0) / attempts if attempts else None,
        "fsyncs_per_txn": syncs / committed_all if syncs is not None and committed_all else None,
        "net_writes_per_txn": (net_writes / committed_all
                               if net_writes is not None and committed_all else None),
        "floor_ratio": floor.get("p50_over_floor"),
        "floor_commit_us": floor.get("commit_us"),
        "floor_fsync_us": floor.get("fsync_us"),
        "floor_parallel_fsync_us": floor.get("parallel_fsync_us"),
        "floor_rtt_us": floor.get("rtt_us"),
        "syncs": syncs,
        "committed_all": committed_all,
    }


class Point:
    """The runs of one configuration and the medians of their figures."""

    def __init__(self):
        self.entries = []

    def ok(self):
        return [e for e in self.entries if e["ok"]]

    def median(self, metric):
        values = [run_metrics(e)[metric] for e in self.ok()]
        values = [v for v in values if is_num(v)]
        return statistics.median(values) if values else None

    def values(self, metric):
        return [run_metrics(e)[metric] for e in self.ok()]

    def runs_cell(self):
        return f"{len(self.ok())}/{len(self.entries)}"


def load_runs(path):
    runs = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if line:
                try:
                    runs.append(json.loads(line))
                except ValueError as e:
                    fail(f"{path}:{n}: not JSON: {e}")
    return runs


def replicas_of(plan):
    """The processes per group a run asked for: 1 when its plan predates replica groups."""
    r = plan.get("replicas")
    return r if isinstance(r, int) and not isinstance(r, bool) and r >= 1 else 1


def group(runs):
    """experiment -> {(protocol, clients, participants, replicas): Point}, by what each run asked
    (so a point whose every run failed before txbench wrote JSON still shows)."""
    groups = {}
    for e in runs:
        plan = e["plan"]
        key = (plan.get("protocol"), plan.get("clients"), plan.get("participants"),
               replicas_of(plan))
        groups.setdefault(e["experiment"], {}).setdefault(key, Point()).entries.append(e)
    return groups


def bank_order(key):
    """Bank points in table order: protocol, then clients."""
    return (key[0] or "", key[1] or 0)


def each_run(bank, keys):
    """The line listing the committed/s of every successful run of each bank point in keys."""
    return "Committed/s of each run: " + "; ".join(
        f"{k[0]}, {k[1]} client{'' if k[1] == 1 else 's'}: "
        + " / ".join(fmt_int(v) for v in bank[k].values("tps")) for k in keys) + "."


def quotient(a, b):
    return a / b if is_num(a) and is_num(b) and b > 0 else None


def verdict(value, limit, higher_is_better, planned=True):
    """"met" / "not met"; `planned`: whether the points it needs were among those run."""
    if not planned:
        return "not measured (its points were not run)"
    if not is_num(value):
        return "not measured (no successful run)"
    met = value >= limit if higher_is_better else value <= limit
    return "**met**" if met else "**not met**"


def gnuplot_escape(s):
    return s.replace("\\", "\\\\").replace('"', '\\"')


def write_dat(path, header, rows):
    with open(path, "w") as f:
        f.write("# " + " ".join(header) + "\n")
        for row in rows:
            f.write(" ".join("NaN" if not is_num(v) else repr(float(v)) for v in row) + "\n")


def plot(work_dir, out_png, title, command, machine, body):
    """Runs gnuplot on `body` with a common frame naming the command and the machine."""
    script = os.path.join(work_dir, os.path.basename(out_png).replace(".png", ".gp"))
    with open(script, "w") as f:
        f.write(f"""set terminal pngcairo size 1000,620 font "sans,10" noenhanced
set output "{gnuplot_escape(out_png)}"
set title "{gnuplot_escape(title)}" font "sans,12"
set bmargin 7
set label 1 "{gnuplot_escape(command)}" at screen 0.01, screen 0.055 font "sans,8"
set label 2 "{gnuplot_escape(machine)}" at screen 0.01, screen 0.025 font "sans,8"
set grid
set key top left box opaque
{body}
""")
    proc = subprocess.run(["gnuplot", script], capture_output=True, text=True, timeout=60,
                          check=False)
    if proc.returncode != 0:
        fail(f"gnuplot {script} failed: {proc.stderr.strip()}")


def report(args):
    with open(args.machine) as f:
        machine = json.load(f)
    with open("/proc/loadavg") as f:
        loadavg_end = " ".join(f.read().split()[:3])
    elapsed_s = datetime.datetime.now().timestamp() - args.started_at
    runs = load_runs(args.runs_file)
    if not runs:
        fail(f"{args.runs_file}: no runs recorded")
    groups = group(runs)
    bank = groups.get("bank", {})
    fanout = groups.get("fanout", {})

    out = args.out
    plots_dir = os.path.join(out, "plots")
    os.makedirs(plots_dir, exist_ok=True)
    os.makedirs(os.path.join(out, "results"), exist_ok=True)
    work_dir = args.work_dir
    shutil.copyfile(args.runs_file, os.path.join(out, "results", "runs.jsonl"))

    s = {"runs": args.runs, "duration": args.duration, "warmup": args.warmup,
         "bank_shards": args.bank_shards, "fanout_shards": args.fanout_shards}
    quick = " (--quick: short runs, for trying the script; not figures to compare)" \
        if args.quick else ""
    fs = machine["filesystem"]
    runner = (f"bench/results.sh: RUNS={s['runs']}, DURATION={s['duration']} s, "
              f"WARMUP={s['warmup']} s; median of {s['runs']} run(s) per point")
    mline = (machine_line(machine) + f"; commit {machine['commit']}"
             + ("+changes" if machine["dirty_files"] else "") + f", {machine['started']}")
    lines = []
    w = lines.append

    w("# Benchmark results")
    w("")
    w("<!-- Generated by bench/results.sh (bench/results_report.py): do not edit by hand. The "
      "sections after the line \"Component benchmarks\" are bench/RESULTS.static.md, included "
      "verbatim. -->")
    w("")
    minutes, seconds = divmod(round(elapsed_s), 60)
    w(f"Generated by `{args.invocation}` on {machine['started']} in "
      f"{minutes} min {seconds:02d} s{quick}, at commit `{machine['commit']}`"
      + (f", with uncommitted changes in {', '.join(machine['dirty_files'])}"
         if machine["dirty_files"] else "") + ".")
    w("")
    w(f"Machine: `nproc` = {machine['nproc']}, {machine['cpu']}"
      + (f", {machine['memory_gib']} GiB" if machine.get("memory_gib") else "")
      + f", kernel {machine['kernel']}. Each cluster in a fresh directory under "
      f"`{machine['data_root']}` on {fs['source']} ({fs['type']}, {fs['size']}, {fs['avail']} free"
      + (f"; disk: {fs['disk']}" if fs.get("disk") else "") + "). "
      f"Load average {machine['loadavg_start']} at the start and {loadavg_end} at the end: "
      "the machine is shared and noisy, so compare figures measured in one run of the script, "
      "not across runs.")
    w("")
    w(f"Method: every run starts a fresh cluster (`txcoord local up --shards N --replicas R "
      f"--data-dir <fresh dir>`; R = 1: one process per shard and one coordinator), runs one "
      f"`txbench` against it for {s['warmup']} s of warm-up and {s['duration']} s measured "
      "(`--json FILE --data-dir <that dir>`: txbench measures its fsync floor on the cluster's "
      "disk), then stops it (`txcoord local down`). "
      + (f"Each point is the median of {s['runs']} runs, metric by metric, over the runs that "
         "succeeded" if s["runs"] > 1 else "Each point is one run, if it succeeded")
      + " (exit 0, txbench's checks held: shards agree with the coordinator and, for bank, the "
      "total is unchanged); the runs of all points are interleaved (every point once, then "
      "again) so that a slow spell of the machine does not fall on one point. Latency is that of "
      "committed transactions, from the intended start to the outcome. Raw runs: "
      "`results/runs.jsonl` (one line per run: its command, txbench's JSON, each node's WAL "
      "counters).")
    w("")
    w("fsyncs/txn = the syncs of every node's WAL over the cluster's whole life (the `txcoord: wal "
      "stats: ... syncs=S` line each node logs on a clean stop, summed over the coordinator and "
      "the shards, every replica of each when R > 1) / `committed_all` of txbench's JSON (every "
      "transaction the run committed, the warm-up and the measured window included). The "
      "numerator also counts the loading of the initial data, aborted transactions and the "
      "checks at the end, so the figure is a little high, the more so the shorter the run; the "
      "last sync of each log, at close, is not counted. net writes/txn = the same sum of the "
      "`txcoord: net stats: writes=W` lines (every gather write a node issued on a socket: "
      "protocol and replication messages to its peers, replies to its callers) over the same "
      "denominator; txbench's own writes are not in it.")
    w("")

    # ---- goals ----
    tps_point = bank.get(("2pc", GOAL_TPS_CLIENTS, 2, 1))
    tps = tps_point.median("tps") if tps_point else None
    rep_point = bank.get(("2pc", GOAL_TPS_CLIENTS, 2, GOAL_REPLICAS))
    rep_tps = rep_point.median("tps") if rep_point else None
    floor_point = bank.get(("2pc", 1, 2, 1))
    floor_ratio = floor_point.median("floor_ratio") if floor_point else None
    fan_hi = fanout.get(("2pc", 1, FANOUT_HIGH, 1))
    fan_lo = fanout.get(("2pc", 1, FANOUT_LOW, 1))
    p50_hi = fan_hi.median("p50") if fan_hi else None
    p50_lo = fan_lo.median("p50") if fan_lo else None
    fan_ratio = p50_hi / p50_lo if is_num(p50_hi) and is_num(p50_lo) and p50_lo > 0 else None

    w("## Goals")
    w("")
    w("| goal | measured | verdict |")
    w("|---|---|---|")
    w(f"| at least {GOAL_TPS:,} committed 2-shard transactions/s with {GOAL_TPS_CLIENTS} clients "
      f"(bank, {s['bank_shards']} shards, 2PC) | "
      f"{fmt_int(tps) + ' txn/s' if is_num(tps) else 'n/a'} | "
      f"{verdict(tps, GOAL_TPS, True, tps_point is not None)} |")
    w(f"| replicated: at least {GOAL_REPLICATED_TPS:,} committed 2-shard transactions/s with "
      f"{GOAL_TPS_CLIENTS} clients, every group {GOAL_REPLICAS} replicas (bank, "
      f"{s['bank_shards']} shards, 2PC, {(s['bank_shards'] + 1) * GOAL_REPLICAS} processes) | "
      f"{fmt_int(rep_tps) + ' txn/s' if is_num(rep_tps) else 'n/a'} | "
      f"{verdict(rep_tps, GOAL_REPLICATED_TPS, True, rep_point is not None)} |")
    w(f"| p50 at 1 client at most {GOAL_FLOOR_RATIO} x the commit floor (bank, 2PC) | "
      f"p50 / floor = {fmt(floor_ratio)} | "
      f"{verdict(floor_ratio, GOAL_FLOOR_RATIO, False, floor_point is not None)} |")
    w(f"| p50 with {FANOUT_HIGH} participants at most {GOAL_FANOUT_RATIO} x p50 with "
      f"{FANOUT_LOW} (fanout, 16 shards, 2PC, 1 client) | p50({FANOUT_HIGH}) / p50({FANOUT_LOW}) "
      f"= {fmt(p50_hi, 3)} / {fmt(p50_lo, 3)} ms = {fmt(fan_ratio)} | "
      f"{verdict(fan_ratio, GOAL_FANOUT_RATIO, False, bool(fan_hi and fan_lo))} |")
    w("")

    # ---- bank ----
    bank_cmd = (f"txbench --workload bank --protocol 2pc|3pc --clients N --duration "
                f"{s['duration']} --warmup {s['warmup']} --json FILE --data-dir DIR "
                f"(cluster: txcoord local up --shards {s['bank_shards']} --replicas 1)")
    protocols = " and ".join(sorted({k[0].upper() for k in bank if k[0]}))
    w(f"## Bank workload: {s['bank_shards']} shards, {protocols}, closed loop")
    w("")
    w(f"Command (each run): `{bank_cmd}`. Every transaction moves money between two accounts on "
      "different shards (two participants). Closed loop: each client issues its next "
      "transaction when the last one ends.")
    w("")
    bank_keys = sorted((k for k in bank if k[3] == 1), key=bank_order)
    if bank_keys:
        w("| protocol | clients | committed/s | p50 ms | p99 ms | p99.9 ms | fsyncs/txn "
          "| net writes/txn | aborted % | runs ok |")
        w("|---|---|---|---|---|---|---|---|---|---|")
        for key in bank_keys:
            p = bank[key]
            w(f"| {key[0]} | {key[1]} | {fmt_int(p.median('tps'))} | {fmt(p.median('p50'))} | "
              f"{fmt(p.median('p99'))} | {fmt(p.median('p999'))} | "
              f"{fmt(p.median('fsyncs_per_txn'))} | {fmt(p.median('net_writes_per_txn'), 1)} | "
              f"{fmt(p.median('aborted_pct'), 1)} | "
              f"{p.runs_cell()} |")
        w("")
        w(each_run(bank, bank_keys))
    else:
        w("No point with one replica per group was run (BANK_REPLICAS).")
    w("")
    for replicas in sorted({k[3] for k in bank if k[3] > 1}):
        keys = sorted((k for k in bank if k[3] == replicas), key=bank_order)
        processes = (s["bank_shards"] + 1) * replicas
        w(f"### Bank, {replicas} replicas per group ({processes} processes)")
        w("")
        interleaved = (", each interleaved with the unreplicated run of the same protocol and "
                       "clients" if bank_keys else "")
        w(f"The same runs on `txcoord local up --shards {s['bank_shards']} --replicas {replicas}`"
          f"{interleaved}: the coordinator and each shard a group of {replicas} processes, a "
          f"primary and {replicas - 1} backups, all on this machine's {machine['nproc']} CPUs "
          "and one disk. A primary counts a record durable once it is fsynced on itself and on "
          "every in-sync replica, so every record the protocol needs durable (a prepare, a "
          "decision) also waits for a round trip to the backups and their fsyncs. fsyncs/txn "
          f"sums the syncs of all {processes} processes. vs 1 replica = this median / the median "
          "of the same protocol and clients with one replica per group, from the same run of "
          "the script.")
        w("")
        w("| protocol | clients | committed/s | vs 1 replica | p50 ms | vs 1 replica | p99 ms | "
          "fsyncs/txn | net writes/txn | aborted % | runs ok |")
        w("|---|---|---|---|---|---|---|---|---|---|---|")
        for key in keys:
            p = bank[key]
            base = bank.get(key[:3] + (1,))
            tps_ratio = quotient(p.median("tps"), base.median("tps")) if base else None
            p50_ratio = quotient(p.median("p50"), base.median("p50")) if base else None
            w(f"| {key[0]} | {key[1]} | {fmt_int(p.median('tps'))} | {fmt(tps_ratio)} | "
              f"{fmt(p.median('p50'))} | {fmt(p50_ratio)} | {fmt(p.median('p99'))} | "
              f"{fmt(p.median('fsyncs_per_txn'))} | {fmt(p.median('net_writes_per_txn'), 1)} | "
              f"{fmt(p.median('aborted_pct'), 1)} | "
              f"{p.runs_cell()} |")
        w("")
        w(each_run(bank, keys))
        w("")
    w("![throughput against clients](plots/bank_throughput.png)")
    w("")
    w("![latency against clients](plots/bank_latency.png)")
    w("")

    # ---- floor ----
    w("## The floor: bank, 2PC, 1 client")
    w("")
    w("txbench measures, before each run, on the cluster's disk: the median 4 KiB append + "
      "`fdatasync` (fsync), the same made at once in K files from K threads, K the transaction's "
      "participants (K fsyncs: what the participants' prepare records cost when they all sync on "
      "this one disk at the same moment), and the median 64-byte TCP round trip over loopback "
      "between two processes (rtt). The commit floor is 2 x rtt + K fsyncs + fsync: the client's "
      "call and the prepare round trip, the participants' prepare records, the coordinator's "
      "decision record. p50 / floor is that run's p50 over that run's floor (the median of the "
      "runs' ratios below). The naive floor, 2 x rtt + 2 x fsync, assumes the participants' "
      "fsyncs overlap; this disk serialises most of them (compare the two fsync columns), so that "
      "ratio is given too.")
    w("")
    w("| p50 ms | floor us | fsync us | K fsyncs us | rtt us | p50 / floor | goal | "
      "p50 / naive floor | runs ok |")
    w("|---|---|---|---|---|---|---|---|---|")
    if floor_point:
        p = floor_point
        naive = None
        if is_num(p.median("floor_fsync_us")) and is_num(p.median("floor_rtt_us")):
            naive = 2 * p.median("floor_rtt_us") + 2 * p.median("floor_fsync_us")
        naive_ratio = p.median("p50") * 1000 / naive if naive and is_num(p.median("p50")) else None
        w(f"| {fmt(p.median('p50'), 3)} | {fmt_int(p.median('floor_commit_us'))} | "
          f"{fmt_int(p.median('floor_fsync_us'))} | "
          f"{fmt_int(p.median('floor_parallel_fsync_us'))} | {fmt_int(p.median('floor_rtt_us'))} | "
          f"{fmt(floor_ratio)} | at most {GOAL_FLOOR_RATIO}: "
          f"{verdict(floor_ratio, GOAL_FLOOR_RATIO, False)} | {fmt(naive_ratio)} | "
          f"{p.runs_cell()} |")
    else:
        w("| n/a | n/a | n/a | n/a | n/a | n/a | not measured | n/a | 0/0 |")
    w("")

    # ---- fanout ----
    fan_cmd = (f"txbench --workload fanout --participants K --protocol 2pc --clients N "
               f"--duration {s['duration']} --warmup {s['warmup']} --json FILE --data-dir DIR "
               f"(cluster: txcoord local up --shards {s['fanout_shards']})")
    w(f"## Latency against participants: fanout, {s['fanout_shards']} shards, 2PC")
    w("")
    w(f"Command (each run): `{fan_cmd}`. Every transaction writes one key on each of K distinct "
      "shards chosen at random.")
    w("")
    w("| clients | K | committed/s | p50 ms | p99 ms | fsyncs/txn | floor us | K fsyncs us | "
      "runs ok |")
    w("|---|---|---|---|---|---|---|---|---|")
    fan_keys = sorted(fanout, key=lambda k: (k[1] or 0, k[2] or 0))  # all of replicas 1
    for key in fan_keys:
        p = fanout[key]
        w(f"| {key[1]} | {key[2]} | {fmt_int(p.median('tps'))} | {fmt(p.median('p50'))} | "
          f"{fmt(p.median('p99'))} | {fmt(p.median('fsyncs_per_txn'))} | "
          f"{fmt_int(p.median('floor_commit_us'))} | "
          f"{fmt_int(p.median('floor_parallel_fsync_us'))} | {p.runs_cell()} |")
    w("")
    for clients in sorted({k[1] for k in fan_keys if k[1] is not None}):
        hi = fanout.get(("2pc", clients, FANOUT_HIGH, 1))
        lo = fanout.get(("2pc", clients, FANOUT_LOW, 1))
        a = hi.median("p50") if hi else None
        b = lo.median("p50") if lo else None
        ratio = a / b if is_num(a) and is_num(b) and b > 0 else None
        goal = (f" (goal: at most {GOAL_FANOUT_RATIO}: {verdict(ratio, GOAL_FANOUT_RATIO, False)})"
                if clients == 1 else "")
        fa = hi.median("floor_commit_us") if hi else None
        fb = lo.median("floor_commit_us") if lo else None
        floor_ratio_k = fa / fb if is_num(fa) and is_num(fb) and fb > 0 else None
        w(f"- {clients} client(s): p50({FANOUT_HIGH}) / p50({FANOUT_LOW}) = {fmt(a, 3)} / "
          f"{fmt(b, 3)} ms = {fmt(ratio)}{goal}; the floors' ratio on this disk is "
          f"{fmt_int(fa)} / {fmt_int(fb)} us = {fmt(floor_ratio_k)}.")
    w("")
    w("![latency against participants](plots/fanout_latency.png)")
    w("")

    # ---- failures ----
    failed = [e for e in runs if not e["ok"]]
    if failed:
        w("## Failed runs")
        w("")
        w("Left out of the medians above:")
        w("")
        for e in failed:
            plan = e["plan"]
            what = f"{e['experiment']} {plan['protocol']}, {plan['clients']} client(s)" + (
                f", K={plan['participants']}" if e["experiment"] == "fanout" else "") + (
                f", {replicas_of(plan)} replicas" if replicas_of(plan) > 1 else "")
            w(f"- {what}, run {e['run']}: {'; '.join(e['problems'])}; command "
              f"`{e['command']}`")
        w("")

    w("## Regenerating")
    w("")
    w("`bench/results.sh` builds `txcoord txbench wal_bench rpc_bench` (preset default; "
      "`--no-build` uses what is built), runs every point above and rewrites this file, "
      "`plots/*.png` and `results/runs.jsonl`; `bench/results.sh --help` lists its options "
      "(`--quick`: one short run per point, written to a temporary directory unless `--out DIR`). "
      "The text above is generated from the runs, verdicts included.")
    w("")
    w("---")
    w("")
    w("# Component benchmarks")
    w("")
    with open(args.static) as f:
        lines.append(f.read().rstrip("\n"))
    with open(os.path.join(out, "RESULTS.md"), "w") as f:
        f.write("\n".join(lines) + "\n")

    # ---- plots ----
    write_plots(plots_dir, work_dir, "command: " + runner, mline, s, bank, fanout, p50_lo)


def log_range(values):
    """A y range for a log axis holding `values` (a fixed one when there are none)."""
    finite = [v for v in values if is_num(v) and v > 0]
    if not finite:
        return "set yrange [0.1:100]"
    return f"set yrange [{min(finite) / 1.6!r}:{max(finite) * 1.6!r}]"


def x_axis(points, pad):
    """Log-2 x axis with a tic at each point, padded so the first and last tics show."""
    points = sorted(points) or [1]
    return (f"set logscale x 2\nset xtics ({', '.join(str(p) for p in points)})\n"
            f"set xrange [{points[0] / pad!r}:{points[-1] * pad!r}]")


NO_DATA = 'set label 3 "no successful run" at graph 0.5, graph 0.5 center font "sans,14"'


def write_plots(plots_dir, work_dir, command, mline, s, bank, fanout, p50_lo):
    """The three plots. Every axis range is fixed from the data (gnuplot refuses to autoscale a
    series without a single number, e.g. when every run of it failed). The bank plots have a line
    per protocol and replicas per group: "2PC", "3PC" (one replica), "2PC x3", ..."""
    bank_keys = sorted(bank, key=bank_order)
    protocols = sorted({k[0] for k in bank_keys if k[0]})
    replica_counts = sorted({k[3] for k in bank_keys})
    clients_axis = x_axis({k[1] for k in bank_keys if k[1] is not None}, 1.4)
    tps_series, latency_series, tps_all, latency_all = [], [], [], []
    for n, proto in enumerate(protocols):
        for m, replicas in enumerate(replica_counts):
            rows = [(k[1], bank[k].median("tps"), bank[k].median("p50"), bank[k].median("p99"))
                    for k in bank_keys if k[0] == proto and k[3] == replicas]
            if not rows:
                continue
            suffix = "" if replicas == 1 else f"_r{replicas}"
            path = os.path.join(work_dir, f"bank_{proto}{suffix}.dat")
            write_dat(path, ["clients", "tps", "p50_ms", "p99_ms"], rows)
            d = gnuplot_escape(path)
            name = proto.upper() + ("" if replicas == 1 else f" x{replicas}")
            # A colour per protocol and replicas; a point type per protocol (filled circle for
            # 2PC, filled square for 3PC), hollow when replicated.
            style = (f"lw 2 pt {7 - 2 * n - (1 if replicas > 1 else 0)} "
                     f"lc {n * len(replica_counts) + m + 1}")
            tps_series.append(f'"{d}" using 1:2 with linespoints {style} title "{name}"')
            latency_series.append(f'"{d}" using 1:3 with linespoints {style} '
                                  f'title "{name} p50"')
            latency_series.append(f'"{d}" using 1:4 with linespoints {style} dt 2 '
                                  f'title "{name} p99"')
            tps_all += [r[1] for r in rows]
            latency_all += [v for r in rows for v in r[2:]]
    finite_tps = [v for v in tps_all if is_num(v)]
    tps_series.append(f'{GOAL_TPS} with lines dt 2 lw 2 lc rgb "gray30" '
                      f'title "goal: {GOAL_TPS:,}/s (2PC, {GOAL_TPS_CLIENTS} clients)"')
    if GOAL_REPLICAS in replica_counts:
        tps_series.append(f'{GOAL_REPLICATED_TPS} with lines dt 3 lw 2 lc rgb "gray50" '
                          f'title "goal: {GOAL_REPLICATED_TPS:,}/s (2PC x{GOAL_REPLICAS}, '
                          f'{GOAL_TPS_CLIENTS} clients)"')
    bank_title = f"Bank, {s['bank_shards']} shards"
    if replica_counts != [1]:
        bank_title += ", " + " and ".join(str(r) for r in replica_counts) + " replicas per group"
    bank_command = command + "; txbench --workload bank --protocol 2pc|3pc --clients N"
    if replica_counts != [1]:
        bank_command += " (local up --replicas R)"
    plot(work_dir, os.path.join(plots_dir, "bank_throughput.png"),
         f"{bank_title}: committed transactions/s against clients", bank_command, mline,
         f"""{clients_axis}
set xlabel "clients (closed loop)"
set ylabel "committed transactions/s"
set yrange [0:{max(finite_tps + [GOAL_TPS]) * 1.15!r}]
set format y "%.0f"
{NO_DATA if not finite_tps else ""}
plot {", ".join(tps_series)}
""")
    plot(work_dir, os.path.join(plots_dir, "bank_latency.png"),
         f"{bank_title}: p50 and p99 latency of committed transactions", bank_command, mline,
         f"""{clients_axis}
set logscale y
set xlabel "clients (closed loop)"
set ylabel "latency (ms, log scale)"
{log_range(latency_all)}
{NO_DATA if not any(is_num(v) for v in latency_all) else ""}
plot {", ".join(latency_series) or "NaN notitle"}
""")

    fan_keys = sorted(fanout, key=lambda k: (k[1] or 0, k[2] or 0))
    series, latency_all = [], []
    for n, clients in enumerate(sorted({k[1] for k in fan_keys if k[1] is not None})):
        rows = [(k[2], fanout[k].median("p50"), fanout[k].median("p99"))
                for k in fan_keys if k[1] == clients]
        path = os.path.join(work_dir, f"fanout_{clients}.dat")
        write_dat(path, ["participants", "p50_ms", "p99_ms"], rows)
        d = gnuplot_escape(path)
        series.append(f'"{d}" using 1:2 with linespoints lw 2 pt 7 lc {n + 1} '
                      f'title "{clients} client(s) p50"')
        series.append(f'"{d}" using 1:3 with linespoints lw 2 pt 7 lc {n + 1} dt 2 '
                      f'title "{clients} client(s) p99"')
        latency_all += [v for r in rows for v in r[1:]]
    if is_num(p50_lo):
        goal = GOAL_FANOUT_RATIO * p50_lo
        latency_all.append(goal)
        series.append(f'{goal!r} with lines dt 2 lw 2 lc rgb "gray30" '
                      f'title "goal: p50({FANOUT_HIGH}) at most {GOAL_FANOUT_RATIO} x '
                      f'p50({FANOUT_LOW}), 1 client"')
    plot(work_dir, os.path.join(plots_dir, "fanout_latency.png"),
         f"Fanout, {s['fanout_shards']} shards, 2PC: latency against participants per "
         "transaction",
         command + "; txbench --workload fanout --participants K --protocol 2pc --clients N",
         mline,
         f"""{x_axis({k[2] for k in fan_keys if k[2] is not None}, 1.3)}
set logscale y
set xlabel "participants per transaction (K)"
set ylabel "latency (ms, log scale)"
{log_range(latency_all)}
{NO_DATA if not any(is_num(v) for v in latency_all) else ""}
plot {", ".join(series) or "NaN notitle"}
""")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    m = sub.add_parser("machine")
    m.add_argument("--data-root", required=True)
    m.add_argument("--source-dir", required=True)
    r = sub.add_parser("record")
    r.add_argument("--runs-file", required=True)
    r.add_argument("--experiment", required=True)
    r.add_argument("--plan", required=True,
                   help="JSON: protocol, clients, participants, shards, replicas")
    r.add_argument("--run", type=int, required=True)
    r.add_argument("--status", type=int, required=True)
    r.add_argument("--seconds", type=float, required=True)
    r.add_argument("--command", dest="run_command", required=True)
    r.add_argument("--json", required=True)
    r.add_argument("--cluster-dir", required=True)
    r.add_argument("--problem", action="append", default=[],
                   help="what went wrong around txbench (repeatable)")
    p = sub.add_parser("report")
    p.add_argument("--runs-file", required=True)
    p.add_argument("--machine", required=True)
    p.add_argument("--static", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--work-dir", required=True, help="for gnuplot's data and scripts")
    p.add_argument("--runs", type=int, required=True)
    p.add_argument("--duration", required=True)
    p.add_argument("--warmup", required=True)
    p.add_argument("--started-at", type=float, required=True, help="epoch seconds")
    p.add_argument("--invocation", required=True)
    p.add_argument("--bank-shards", type=int, required=True)
    p.add_argument("--fanout-shards", type=int, required=True)
    p.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.action == "machine":
        print(json.dumps(machine_facts(args.data_root, args.source_dir), indent=1))
    elif args.action == "record":
        record(args)
    else:
        report(args)


if __name__ == "__main__":
    main()
