// The local-cluster launcher: what `txcoord local up|status|down` (tools/local_command.h) and the
// integration tests' LocalCluster (tests/integration/local_cluster.h) share, so that there is one
// way to lay out, start, watch and stop the nodes of a cluster on 127.0.0.1.
//
// A cluster is a coordinator group and N shard groups of R replicas each (R = 1: one process per
// group, as before replica groups). A node is one replica of one group, NodeId{group, replica}:
// group kCoordinator or a shard id 0..N-1, replica 0..R-1. Its NAME is
//   R = 1: "coordinator", "shard0", "shard1", ...
//   R > 1: "coordinator.r0", "coordinator.r1", ..., "shard0.r0", "shard0.r1", ...
// A cluster directory DIR holds, for each node NAME:
//   DIR/NAME.yaml   its config (cluster/config.h), written once, when the cluster is created
//   DIR/NAME/       its data (RocksDB), made by the node itself
//   DIR/NAME.log    its stdout and stderr, appended to across restarts
//   DIR/NAME.pid    its pid while `txcoord local` runs it (the tests keep their pids in memory)
// and, when R > 1, DIR/groups.yaml: the configuration store (cluster/config_store.h) that every
// node's config names (`config_store`). The nodes create their groups' configurations in it
// themselves; the launcher only reads it. (With R = 1 each node keeps its own group's
// configuration under its data directory, the parser's default, so the configs are those written
// before replica groups existed.)
// Every config lists every replica of every group; every path in the configs is absolute, so a
// node does not depend on its working directory, and the config path on a node's command line
// identifies it (Process::Find).
//
// The nodes in order (ClusterDir::nodes()): the coordinator's replicas 0..R-1, then shard 0's
// replicas, then shard 1's, ...; node i of the (N + 1) * R in that order serves clients on port
// P + i and peers on port P + (N + 1) * R + i, with base port P (or free ports when none is given).
// For R = 1 that is: the coordinator on P, shard i on P + 1 + i, the coordinator's peer port
// P + N + 1 and shard i's P + N + 2 + i.
//
// A node is `BINARY ROLE --config DIR/NAME.yaml`. Process holds a pidfd (Linux 5.3 or later) to a
// node it started or found, so that a signal never reaches another process that reuses the pid,
// and waiting for an exit needs no polling loop. Every wait here is bounded by a timeout.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/config.h"
#include "common/status.h"
#include "txcoord_types.h"
#include "replication/core/replica_core.h"

namespace txcoord::local {

// Group numbers: the coordinator, then shard ids 0..N-1.
inline constexpr int kCoordinator = -1;

// The most replicas a group of a local cluster has (as txsim's --replicas).
inline constexpr int kMaxReplicas = 9;

// One node of a cluster: replica `replica` (0..R-1) of group `group` (kCoordinator or a shard id).
// Ordered by group, then replica: the order of ClusterDir::nodes().
struct NodeId {
  int group = kCoordinator;
  int replica = 0;
  // Not explicit, on purpose: an int (kCoordinator or a shard id) is replica 0 of that group, so
  // code written for clusters of one replica per group (`config(kCoordinator)`, `Stop(1)`) keeps
  // compiling and means what it meant.
  constexpr NodeId(int group_id = kCoordinator, int replica_id = 0)  // NOLINT: implicit by design
      : group(group_id), replica(replica_id) {}
  auto operator<=>(const NodeId&) const = default;
  bool operator==(const NodeId&) const = default;
};

// The bounds of the launcher's waits: a node that does not accept connections this long after it
// was started has failed; one that does not exit this long after SIGTERM is killed; one that does
// not exit this long after SIGKILL cannot be stopped (it is stuck in the kernel).
inline constexpr std::chrono::milliseconds kStartTimeout{15'000};
inline constexpr std::chrono::milliseconds kStopTimeout{10'000};
inline constexpr std::chrono::milliseconds kKillTimeout{5'000};

// A group's name, also its name in the configuration store: "coordinator" for kCoordinator,
// "shard<id>" for a shard.
std::string GroupName(int group);
// A node's name in a cluster of `replicas` replicas per group: GroupName(node.group) when
// replicas is 1, GroupName(node.group) + ".r<replica>" otherwise ("shard1.r2").
std::string NodeName(NodeId node, int replicas = 1);

// Whether something accepts TCP connections at `address` now. One connect, bounded by 1 s (a
// loopback connect is answered at once unless the listener's backlog is full). False for a host
// that is not a numeric IPv4 or IPv6 address.
bool Accepts(const cluster::Address& address);

// `count` distinct ports on 127.0.0.1, none in `taken`, that no socket held when this was called:
// a run of ports below the kernel's ephemeral range (so no outgoing connection is given one
// before its server binds it) from a start that varies by process and call, or ports the kernel
// picks when that range leaves too little room. They are released before returning, so a later
// bind can still lose a race for one (to another program that binds ports of its own choosing).
Result<std::vector<uint16_t>> PickFreePorts(int count, const std::vector<uint16_t>& taken = {});

// The last `max_lines` lines of a file from byte `from` on (at most its last 64 KiB): what a node
// logged since it was started. Empty when the file cannot be read.
std::string LogTail(const std::string& path, uintmax_t from, int max_lines);

// The size of a file, 0 when it does not exist: where a node's log tail starts.
uintmax_t FileSize(const std::string& path);

struct SpawnOptions {
  std::string name;                        // what messages call it ("shard1"); empty: argv[0]
  std::vector<std::string> argv;           // argv[0] is the program's path; REQUIRES non-empty
  std::string log_path;                    // stderr (and stdout) are appended to this file
  int stdout_fd = -1;                      // when > 2: the child's stdout instead of the log
  std::map<std::string, std::string> env;  // added to this process's environment
  // Own session (setsid) and working directory "/": no signal from this process's terminal
  // (Ctrl-C, hang-up) reaches the child, and it keeps running after this process exits.
  // Otherwise the child is killed (SIGKILL) when the thread that spawned it exits.
  bool detach = false;
};

// A process this program started (a child: its exit status is known) or found by its pid (not a
// child: only whether it still runs is known). Owns a pidfd; destroying a Process neither signals
// nor waits for it. Not thread-safe.
class Process {
 public:
  // What WaitExit reports for a process that is not our child: it exited, status unknown.
  static constexpr int kExitUnknown = -1;

  // Forks and execs options.argv. The child's stdin is /dev/null; it inherits no file descriptor
  // above 2, no blocked signal and no ignored SIGPIPE; its environment is this process's with
  // options.env added and TXCOORD_CRASH_AT removed unless options.env sets it (a crash point meant
  // for one node never reaches every node). IoError when the log cannot be opened or the program
  // cannot be executed (the reason, e.g. "No such file or directory", is in the message).
  static Result<Process> Spawn(const SpawnOptions& options);

  // The process `pid` if it still runs with the command-line arguments `args` after argv[0]
  // (read from /proc/PID/cmdline; argv[0] is not compared, so a rebuilt binary still matches);
  // nullopt if no such process runs (gone, a zombie, or the pid now belongs to another program).
  // An error only when the system cannot tell (e.g. no pidfd support).
  static Result<std::optional<Process>> Find(pid_t pid, const std::vector<std::string>& args,
                                             std::string name);

  Process(Process&& other) noexcept;
  Process& operator=(Process&& other) noexcept;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  ~Process();

  pid_t pid() const { return pid_; }
  const std::string& name() const { return name_; }  // for messages

  // Whether it still runs. A child that exited is reaped here.
  bool Running();
  // Waits up to `timeout` for it to exit: its exit status (or 128 + the signal that killed it;
  // kExitUnknown for a process that is not our child), or nullopt if it still runs.
  std::optional<int> WaitExit(std::chrono::milliseconds timeout);
  // Sends `signal` through the pidfd; Ok also when it had already exited.
  Status Signal(int signal);
  // SIGKILL, then waits up to kKillTimeout: true once it is gone.
  bool Kill();

 private:
  Process(std::string name, pid_t pid, int pidfd, bool child)
      : name_(std::move(name)), pid_(pid), pidfd_(pidfd), child_(child) {}
  void Close();

  std::string name_;
  pid_t pid_ = -1;
  int pidfd_ = -1;
  bool child_ = false;
  std::optional<int> exit_status_;  // set once it is known to have exited
};

// Stops processes: SIGTERM to each, then up to `grace` in all for them to exit, then SIGKILL to
// those still running and up to kKillTimeout for them. One result per process, in order: its exit
// status when it exited after SIGTERM (or had exited before), Timeout when it had to be killed,
// IoError when it still ran after SIGKILL (the messages name the process and its pid).
std::vector<Result<int>> StopAll(std::span<Process* const> processes,
                                 std::chrono::milliseconds grace);

// Waits until `address` accepts connections (Ok) while `process` runs. Unavailable when the
// process exits first ("shard1 exited with 2 while starting"), Timeout after `timeout`, Aborted as
// soon as `cancelled` (optional, asked every 20 ms) returns true.
Status WaitServing(Process& process, const cluster::Address& address,
                   std::chrono::milliseconds timeout,
                   const std::function<bool()>& cancelled = nullptr);

// How long a node's answer to Peer.replica_status is awaited.
inline constexpr std::chrono::milliseconds kReplicaStatusTimeout{500};

// Asks each node with ask[index] set for Peer.replica_status() on its peer port, all at once,
// each answer awaited at most kReplicaStatusTimeout. One result per node, in the order of
// ClusterDir::nodes(): the answer, or why there is none (Timeout, Unavailable: not listening;
// InvalidArgument: the server does not know the call; Aborted: not asked).
class ClusterDir;
std::vector<Result<thrift::ReplicaStatus>> AskReplicaStatus(const ClusterDir& cluster,
                                                            const std::vector<bool>& ask);
// Waits until each of `groups` (kCoordinator or shard ids) has a replica that says it serves as
// primary: a node that accepts connections may still be electing or reconciling, and answers
// NotPrimary until then. Timeout naming the groups still without one; Aborted as soon as
// `cancelled` (optional, asked between rounds) returns true.
Status WaitGroupsServing(const ClusterDir& cluster, const std::vector<int>& groups,
                         std::chrono::milliseconds timeout,
                         const std::function<bool()>& cancelled = nullptr);

// The node configs of a cluster directory (see the top of this file).
class ClusterDir {
 public:
  // Creates a new cluster of `shards` shard groups and a coordinator group, `replicas` replicas
  // each, in `dir` (created if missing): writes every node's config. Ports as at the top of this
  // file: from base_port on, or free ones (none in `taken`: the ports of a local etcd laid out
  // before) when base_port is 0. Every field of `tunables` but
  // role, shard, replica, data_dir, the addresses, shard_map.shards and config_store is copied
  // into each config (partitioning, split keys, tick_ms, timeouts, min_insync, heartbeat_ms,
  // lag_timeout_ms, lease_ms, grace_ms, ...; the last four, when all are left at their defaults,
  // are stretched for a tick_ms above the default heartbeat as the config parser stretches
  // absent ones). REQUIRES: tunables make a valid config (the parser's bounds: FormatNodeConfig
  // stops the process otherwise). InvalidArgument for shards < 1, replicas outside
  // 1..kMaxReplicas or a port above 65535; IoError when a file cannot be written.
  static Result<ClusterDir> Create(const std::string& dir, int shards, uint16_t base_port,
                                   const cluster::NodeConfig& tunables, int replicas = 1,
                                   const std::vector<uint16_t>& taken = {});

  // Reads the cluster that Create wrote in `dir`, of either layout: it finds coordinator.yaml
  // (one replica per group) or coordinator.r0.yaml (more). NotFound when dir holds neither;
  // InvalidArgument (naming the file) when both are there, or a config is missing, invalid, or
  // not the one Create would have written next to the coordinator's first config (another
  // cluster's, a moved directory, groups of unequal sizes).
  static Result<ClusterDir> Open(const std::string& dir);

  const std::string& dir() const { return dir_; }  // absolute
  int shards() const { return shards_; }
  int replicas() const { return replicas_; }  // per group
  // Every node, in the order of the top of this file: {kCoordinator, 0}, ..., {kCoordinator,
  // R-1}, {0, 0}, ..., {N-1, R-1}.
  std::vector<NodeId> nodes() const;
  // kCoordinator, 0, 1, ..., shards() - 1.
  std::vector<int> groups() const;
  // The nodes of one group: {group, 0}, ..., {group, R-1}.
  std::vector<NodeId> group_nodes(int group) const;
  // REQUIRES (checked): node is one of nodes().
  const cluster::NodeConfig& config(NodeId node) const;
  const cluster::Address& address(NodeId node) const { return config(node).listen; }
  const cluster::Address& peer_address(NodeId node) const { return config(node).peer_listen; }
  // The node's index in nodes(): its client port is base + index (see the top of this file).
  int index(NodeId node) const;

  std::string Name(NodeId node) const { return NodeName(node, replicas_); }
  std::string ConfigPath(NodeId node) const { return Path(node, ".yaml"); }
  std::string LogPath(NodeId node) const { return Path(node, ".log"); }
  std::string PidPath(NodeId node) const { return Path(node, ".pid"); }
  std::string DataDir(NodeId node) const { return Path(node, ""); }
  // The configuration store every node of `group` uses (config_store of its configs): DIR/
  // groups.yaml when replicas() > 1, else under the group's one data directory.
  const std::string& ConfigStorePath(int group) const { return config(NodeId(group)).config_store; }

  // The group's current configuration {version, epoch, primary, members, isr}, read from its
  // configuration store (cluster::FileConfigStore::Read(GroupName(group))). NotFound until the
  // group's nodes have created it; IoError or Corruption when the store cannot be read.
  Result<replication::GroupConfig> ReadGroup(int group) const;

  // A node's command-line arguments after the program: {ROLE, "--config", ConfigPath(node)}.
  std::vector<std::string> NodeArgs(NodeId node) const;
  // Spawns `binary` as this node (Process::Spawn, with its log at LogPath). Returns at once; see
  // WaitServing.
  Result<Process> StartNode(NodeId node, const std::string& binary,
                            const std::map<std::string, std::string>& env, bool detach) const;
  // The node's process if `pid` still runs it (Process::Find with NodeArgs). Both name the
  // Process Name(node).
  Result<std::optional<Process>> FindNode(NodeId node, pid_t pid) const;

 private:
  ClusterDir(std::string dir, int shards, int replicas)
      : dir_(std::move(dir)), shards_(shards), replicas_(replicas) {}
  std::string Path(NodeId node, std::string_view suffix) const;

  std::string dir_;
  int shards_ = 0;
  int replicas_ = 1;
  std::vector<cluster::NodeConfig> configs_;  // in the order of nodes()
};

}  // namespace txcoord::local
