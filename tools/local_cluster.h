// The local-cluster launcher: what `txcoord local up|status|down` (tools/local_command.h) and the
// integration tests' LocalCluster (tests/integration/local_cluster.h) share, so that there is one
// way to lay out, start, watch and stop the nodes of a cluster on 127.0.0.1.
//
// A cluster directory DIR holds, for each node NAME ("coordinator", "shard0", "shard1", ...):
//   DIR/NAME.yaml   its config (cluster/config.h), written once, when the cluster is created
//   DIR/NAME/       its data (RocksDB), made by the node itself
//   DIR/NAME.log    its stdout and stderr, appended to across restarts
//   DIR/NAME.pid    its pid while `txcoord local` runs it (the tests keep their pids in memory)
// Every path in the configs is absolute, so a node does not depend on its working directory, and
// the config path on a node's command line identifies it (Process::Find).
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

namespace txcoord::local {

// Node numbers: the coordinator, then shard ids 0..N-1.
inline constexpr int kCoordinator = -1;

// The bounds of the launcher's waits: a node that does not accept connections this long after it
// was started has failed; one that does not exit this long after SIGTERM is killed; one that does
// not exit this long after SIGKILL cannot be stopped (it is stuck in the kernel).
inline constexpr std::chrono::milliseconds kStartTimeout{15'000};
inline constexpr std::chrono::milliseconds kStopTimeout{10'000};
inline constexpr std::chrono::milliseconds kKillTimeout{5'000};

// "coordinator" for kCoordinator, "shard<id>" for a shard.
std::string NodeName(int node);

// Whether something accepts TCP connections at `address` now. One connect, bounded by 1 s (a
// loopback connect is answered at once unless the listener's backlog is full). False for a host
// that is not a numeric IPv4 or IPv6 address.
bool Accepts(const cluster::Address& address);

// `count` distinct ports on 127.0.0.1 that nothing was bound to when this was called (the kernel
// picks them; they are released before returning, so a later bind can still lose a race for one).
Result<std::vector<uint16_t>> PickFreePorts(int count);

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

// The node configs of a cluster directory (see the top of this file).
class ClusterDir {
 public:
  // Creates a new cluster of `shards` shards in `dir` (created if missing): writes every node's
  // config. The coordinator serves clients on 127.0.0.1:base_port and shard i on
  // base_port + 1 + i; their peer ports follow, the coordinator's at base_port + shards + 1 and
  // shard i's at base_port + shards + 2 + i. Free ports when base_port is 0. Every field of
  // `tunables` but role, shard, data_dir, the addresses and shard_map.shards is copied into each
  // config (partitioning, split keys,
  // tick_ms, timeouts, ...). InvalidArgument for shards < 1 or a port above 65535; IoError when
  // a file cannot be written.
  static Result<ClusterDir> Create(const std::string& dir, int shards, uint16_t base_port,
                                   const cluster::NodeConfig& tunables);

  // Reads the cluster that Create wrote in `dir`. NotFound when dir holds no coordinator.yaml;
  // InvalidArgument (naming the file) when a config is missing, invalid, or not the one Create
  // would have written next to this coordinator.yaml (another cluster's, or a moved directory).
  static Result<ClusterDir> Open(const std::string& dir);

  const std::string& dir() const { return dir_; }  // absolute
  int shards() const { return static_cast<int>(configs_.size()) - 1; }
  std::vector<int> nodes() const;  // kCoordinator, 0, 1, ..., shards() - 1
  const cluster::NodeConfig& config(int node) const;
  const cluster::Address& address(int node) const { return config(node).listen; }

  std::string ConfigPath(int node) const { return Path(node, ".yaml"); }
  std::string LogPath(int node) const { return Path(node, ".log"); }
  std::string PidPath(int node) const { return Path(node, ".pid"); }
  std::string DataDir(int node) const { return Path(node, ""); }

  // A node's command-line arguments after the program: {ROLE, "--config", ConfigPath(node)}.
  std::vector<std::string> NodeArgs(int node) const;
  // Spawns `binary` as this node (Process::Spawn, with its log at LogPath). Returns at once; see
  // WaitServing.
  Result<Process> StartNode(int node, const std::string& binary,
                            const std::map<std::string, std::string>& env, bool detach) const;
  // The node's process if `pid` still runs it (Process::Find with NodeArgs). Both name the
  // Process NodeName(node).
  Result<std::optional<Process>> FindNode(int node, pid_t pid) const;

 private:
  ClusterDir(std::string dir, std::vector<cluster::NodeConfig> configs)
      : dir_(std::move(dir)), configs_(std::move(configs)) {}
  std::string Path(int node, std::string_view suffix) const;

  std::string dir_;
  std::vector<cluster::NodeConfig> configs_;  // [0] the coordinator, [1 + i] shard i
};

}  // namespace txcoord::local
