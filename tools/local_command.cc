#include "tools/local_command.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <utility>
#include <variant>

#include "Peer.h"
#include "cluster/config_master.h"
#include "cluster/config_store.h"
#include "rpc/client.h"
#include "rpc/thrift_call.h"
#include "tools/local_cluster.h"
#include "tools/local_etcd.h"

namespace txcoord::local {

const char kLocalUsage[] =
    "       txcoord local up --data-dir DIR [--shards N] [--replicas R] [--tick-ms MS]\n"
    "                        [--base-port P] [--config-master static|etcd]\n"
    "                        [--etcd-members 1|3|5]\n"
    "       txcoord local status --data-dir DIR\n"
    "       txcoord local down --data-dir DIR\n"
    "\n"
    "`local up` starts a coordinator and N shards (1..64, default 3) of this binary on\n"
    "127.0.0.1 in the background, each a group of R replicas (1..9, default 1), with configs,\n"
    "logs and data in DIR, and prints the coordinator's address as its first line once every\n"
    "node serves. Ports are free ones, or, from P on, the client ports of the coordinator's\n"
    "replicas, then shard 0's, ..., then their peer ports in the same order (R = 1: P for the\n"
    "coordinator, P+1+i for shard i). A DIR that holds a cluster is restarted on its data.\n"
    "With --config-master etcd (default static: DIR/groups.yaml) the group configurations\n"
    "live in an etcd cluster of 1, 3 or 5 members (--etcd-members, default 1) that `local up`\n"
    "starts in DIR first (Debian's etcd-server; its ports follow the nodes' from P on).\n"
    "`local status` exits 0 when every node (and etcd member) serves; `local down` stops them.\n";

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
constexpr int kExitInterrupted = 130;
constexpr int kDefaultShards = 3;
constexpr int kMaxShards = 64;
constexpr int kLogTailLines = 20;
constexpr const char kLockFile[] = "local.lock";

volatile sig_atomic_t g_interrupted = 0;
extern "C" void OnInterrupt(int) { g_interrupted = 1; }

struct Options {
  std::string command;  // up | status | down
  std::string data_dir;
  std::optional<int> shards;
  std::optional<int> replicas;
  std::optional<uint32_t> tick_ms;
  std::optional<uint16_t> base_port;
  std::optional<std::string> config_master;  // static | etcd
  std::optional<int> etcd_members;           // 1, 3 or 5
};

int UsageError(const std::string& message) {
  std::cerr << "txcoord local: " << message << "\n"
            << "usage: txcoord local up|status|down ... (see `txcoord --help`)\n";
  return kExitUsage;
}

// A decimal integer in [min, max], the whole of `text`.
std::optional<int64_t> ParseInteger(const std::string& text, int64_t min, int64_t max) {
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < min || value > max) {
    return std::nullopt;
  }
  return value;
}

std::string Shards(int n) { return std::to_string(n) + (n == 1 ? " shard" : " shards"); }

// Parses the arguments after "local"; an exit status when they are not usable.
std::variant<Options, int> ParseOptions(const std::vector<std::string>& args) {
  if (args.empty()) return UsageError("missing command: up, status or down");
  Options options;
  options.command = args[0];
  if (options.command != "up" && options.command != "status" && options.command != "down") {
    return UsageError("unknown command '" + options.command + "': expected up, status or down");
  }
  for (size_t i = 1; i < args.size(); i += 2) {
    const std::string& flag = args[i];
    const bool up_only =
        flag == "--shards" || flag == "--replicas" || flag == "--tick-ms" || flag == "--base-port" ||
        flag == "--config-master" || flag == "--etcd-members";
    if (flag != "--data-dir" && !up_only) return UsageError("unknown flag '" + flag + "'");
    if (up_only && options.command != "up") {
      return UsageError(flag + " is a flag of `local up` only");
    }
    if (i + 1 >= args.size()) return UsageError(flag + " needs a value");
    const std::string& value = args[i + 1];
    if (flag == "--data-dir") {
      if (value.empty()) return UsageError("--data-dir must not be empty");
      options.data_dir = value;
    } else if (flag == "--shards") {
      const std::optional<int64_t> n = ParseInteger(value, 1, kMaxShards);
      if (!n)
        return UsageError("--shards must be 1.." + std::to_string(kMaxShards) + ", not '" + value +
                          "'");
      options.shards = static_cast<int>(*n);
    } else if (flag == "--replicas") {
      const std::optional<int64_t> n = ParseInteger(value, 1, kMaxReplicas);
      if (!n) {
        return UsageError("--replicas must be 1.." + std::to_string(kMaxReplicas) + ", not '" +
                          value + "'");
      }
      options.replicas = static_cast<int>(*n);
    } else if (flag == "--tick-ms") {
      const std::optional<int64_t> n = ParseInteger(value, 1, 1000);
      if (!n) return UsageError("--tick-ms must be 1..1000, not '" + value + "'");
      options.tick_ms = static_cast<uint32_t>(*n);
    } else if (flag == "--config-master") {
      if (value != "static" && value != "etcd") {
        return UsageError("--config-master must be static or etcd, not '" + value + "'");
      }
      options.config_master = value;
    } else if (flag == "--etcd-members") {
      const std::optional<int64_t> n = ParseInteger(value, 1, 5);
      if (!n || *n % 2 == 0) {
        return UsageError("--etcd-members must be 1, 3 or 5, not '" + value + "'");
      }
      options.etcd_members = static_cast<int>(*n);
    } else {
      const std::optional<int64_t> n = ParseInteger(value, 1, 65535);
      if (!n) return UsageError("--base-port must be 1..65535, not '" + value + "'");
      options.base_port = static_cast<uint16_t>(*n);
    }
  }
  if (options.data_dir.empty()) return UsageError("--data-dir DIR is required");
  if (options.etcd_members && options.config_master.value_or("static") != "etcd") {
    return UsageError("--etcd-members needs --config-master etcd");
  }
  return options;
}

// An exclusive lock on DIR/local.lock for the life of the object: one `up` or `down` at a time.
class DirLock {
 public:
  static Result<std::unique_ptr<DirLock>> Acquire(const std::string& dir) {
    const std::string path = dir + "/" + kLockFile;
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return Status::IoError(path + ": cannot open: " + std::strerror(errno));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      ::close(fd);
      if (err == EWOULDBLOCK) {
        return Status::Unavailable("another `txcoord local` command is working on " + dir +
                                   " (it holds " + path + ")");
      }
      return Status::IoError(path + ": cannot lock: " + std::strerror(err));
    }
    return std::unique_ptr<DirLock>(new DirLock(fd));
  }
  ~DirLock() { ::close(fd_); }  // releases the lock
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

 private:
  explicit DirLock(int fd) : fd_(fd) {}
  int fd_;
};

// The pid in a node's pid file; nullopt when there is none or it does not hold a pid.
std::optional<pid_t> ReadPidFile(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  if (!(in >> text)) return std::nullopt;
  const std::optional<int64_t> pid = ParseInteger(text, 1, INT32_MAX);
  if (!pid) return std::nullopt;
  return static_cast<pid_t>(*pid);
}

// Written to a temporary file, then renamed: a reader sees the old pid file or the new one.
Status WritePidFile(const std::string& path, pid_t pid) {
  const std::string temp = path + ".tmp";
  {
    std::ofstream out(temp, std::ios::trunc);
    out << pid << "\n";
    out.close();
    if (!out) return Status::IoError(temp + ": cannot write");
  }
  std::error_code ec;
  std::filesystem::rename(temp, path, ec);
  if (ec) return Status::IoError(path + ": cannot write: " + ec.message());
  return Status::Ok();
}

void RemovePidFile(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove(path, ec);
}

// The node's process if its pid file names a pid that still runs it.
Result<std::optional<Process>> FindRunning(const ClusterDir& cluster, NodeId node) {
  const std::optional<pid_t> pid = ReadPidFile(cluster.PidPath(node));
  if (!pid) return std::optional<Process>();
  return cluster.FindNode(node, *pid);
}

// "a coordinator and 2 shards", and ", 3 replicas each" for groups of more than one.
std::string Nodes(const ClusterDir& c) {
  std::string text = "a coordinator and " + Shards(c.shards());
  if (c.replicas() > 1) text += ", " + std::to_string(c.replicas()) + " replicas each,";
  return text;
}

// The width of the node column: the longest name and two spaces (13 with one replica a group).
int NameWidth(const ClusterDir& cluster) {
  size_t width = NodeName(kCoordinator).size();
  for (const NodeId node : cluster.nodes()) width = std::max(width, cluster.Name(node).size());
  return static_cast<int>(width) + 2;
}

// Prints one row per node: name, pid ("-" when none), address, and `rest(node)`; the header row
// ends with `rest_header`. processes[cluster.index(node)] is the node's.
template <typename Rest>
void PrintNodes(const ClusterDir& cluster, const std::vector<std::optional<Process>>& processes,
                const std::string& rest_header, Rest rest) {
  const int width = NameWidth(cluster);
  std::cout << "  " << std::left << std::setw(width) << "node" << std::setw(9) << "pid"
            << std::setw(23) << "address" << rest_header << "\n";
  for (const NodeId node : cluster.nodes()) {
    const std::optional<Process>& p = processes[static_cast<size_t>(cluster.index(node))];
    std::cout << "  " << std::left << std::setw(width) << cluster.Name(node) << std::setw(9)
              << (p ? std::to_string(p->pid()) : "-") << std::setw(23)
              << cluster.address(node).ToString() << rest(node) << "\n";
  }
}

// The address clients are given first: the coordinator group's primary as the configuration store
// has it, else replica 0 (the bootstrap primary; the only one with one replica a group).
const cluster::Address& CoordinatorAddress(const ClusterDir& cluster) {
  if (cluster.replicas() > 1) {
    const Result<replication::GroupConfig> group = cluster.ReadGroup(kCoordinator);
    if (group.ok() && group.value().primary >= 0 && group.value().primary < cluster.replicas()) {
      return cluster.address(NodeId(kCoordinator, group.value().primary));
    }
  }
  return cluster.address(kCoordinator);
}


// "r0,r1,r2": replica ids.
std::string ReplicaList(const std::vector<int>& replicas) {
  std::string text;
  for (int r : replicas) text += (text.empty() ? "r" : ",r") + std::to_string(r);
  return text.empty() ? "-" : text;
}

// The local etcd of a cluster on etcd (nullopt for a static one); an error when the cluster names
// etcd but its members file is missing or unreadable.
Result<std::optional<LocalEtcd>> EtcdOf(const ClusterDir& cluster) {
  if (cluster.config(kCoordinator).config_master != "etcd") return std::optional<LocalEtcd>();
  Result<LocalEtcd> etcd = LocalEtcd::Open(cluster.dir());
  if (!etcd.ok()) return etcd.status();
  return std::optional<LocalEtcd>(std::move(etcd.value()));
}

// The etcd member's process if its pid file names a pid that still runs it.
Result<std::optional<Process>> FindRunningEtcd(const LocalEtcd& etcd, int i) {
  const std::optional<pid_t> pid = ReadPidFile(etcd.PidPath(i));
  if (!pid) return std::optional<Process>();
  return etcd.Find(i, *pid);
}

// Loads DIR's cluster for `up`, or creates it. An exit status when neither can be done.
std::variant<ClusterDir, int> OpenOrCreate(const Options& options) {
  Result<ClusterDir> opened = ClusterDir::Open(options.data_dir);
  if (opened.ok()) {
    const ClusterDir& c = opened.value();
    const cluster::NodeConfig& coordinator = c.config(kCoordinator);
    const std::string held =
        c.dir() + " holds a cluster of " + Shards(c.shards()) +
        (c.replicas() > 1 ? ", " + std::to_string(c.replicas()) + " replicas per group" : "") +
        ", coordinator on " + coordinator.listen.ToString() + ", tick " +
        std::to_string(coordinator.tick_ms) + " ms";
    const std::string advice = ": leave the flag out to restart it, or use another --data-dir";
    if (options.shards && *options.shards != c.shards()) {
      return UsageError(held + "; --shards " + std::to_string(*options.shards) + " asks for " +
                        "another" + advice);
    }
    if (options.replicas && *options.replicas != c.replicas()) {
      return UsageError(held + "; --replicas " + std::to_string(*options.replicas) +
                        " asks for another" + advice);
    }
    if (options.tick_ms && *options.tick_ms != coordinator.tick_ms) {
      return UsageError(held + "; --tick-ms " + std::to_string(*options.tick_ms) +
                        " asks for another" + advice);
    }
    if (options.config_master && *options.config_master != coordinator.config_master) {
      return UsageError(held + " on config master " + coordinator.config_master +
                        "; --config-master " + *options.config_master + " asks for another" +
                        advice);
    }
    if (options.etcd_members &&
        static_cast<size_t>(*options.etcd_members) != coordinator.etcd_endpoints.size()) {
      return UsageError(held + " on " + std::to_string(coordinator.etcd_endpoints.size()) +
                        " etcd member(s); --etcd-members " + std::to_string(*options.etcd_members) +
                        " asks for another" + advice);
    }
    for (const NodeId node : c.nodes()) {
      if (options.base_port && c.address(node).port != *options.base_port + c.index(node)) {
        return UsageError(held + "; --base-port " + std::to_string(*options.base_port) +
                          " asks for other ports" + advice);
      }
    }
    return std::move(opened.value());
  }
  if (opened.status().code() != Status::Code::kNotFound) {
    std::cerr << "txcoord local up: " << opened.status().message() << "\n";
    return kExitFailure;
  }
  // A new cluster only in an empty directory (but for our lock): never strew configs and data
  // among someone else's files.
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(options.data_dir, ec)) {
    if (entry.path().filename() != kLockFile) {
      return UsageError(options.data_dir + " is not empty and holds no cluster (no " +
                        "coordinator.yaml): give a new or empty directory");
    }
  }
  cluster::NodeConfig tunables;
  if (options.tick_ms) tunables.tick_ms = *options.tick_ms;
  std::vector<uint16_t> etcd_ports;  // the nodes' free ports must not be these
  if (options.config_master.value_or("static") == "etcd") {
    // The etcd members' ports: after the nodes' when a base port is given, else free ones.
    const int members = options.etcd_members.value_or(1);
    const int node_ports =
        2 * (options.shards.value_or(kDefaultShards) + 1) * options.replicas.value_or(1);
    std::vector<uint16_t> ports;
    if (options.base_port) {
      if (*options.base_port + node_ports + 2 * members - 1 > 65535) {
        return UsageError("--base-port " + std::to_string(*options.base_port) +
                          ": the nodes' and etcd's ports do not fit below 65536");
      }
      for (int i = 0; i < 2 * members; ++i) {
        ports.push_back(static_cast<uint16_t>(*options.base_port + node_ports + i));
      }
    } else {
      Result<std::vector<uint16_t>> picked = PickFreePorts(2 * members);
      if (!picked.ok()) {
        std::cerr << "txcoord local up: " << picked.status().message() << "\n";
        return kExitFailure;
      }
      ports = picked.value();
    }
    etcd_ports = ports;
    Result<LocalEtcd> etcd = LocalEtcd::Create(options.data_dir, members, ports);
    if (!etcd.ok()) {
      std::cerr << "txcoord local up: " << etcd.status().message() << "\n";
      return kExitFailure;
    }
    tunables.config_master = "etcd";
    tunables.etcd_endpoints = etcd.value().endpoints();
  }
  Result<ClusterDir> created =
      ClusterDir::Create(options.data_dir, options.shards.value_or(kDefaultShards),
                         options.base_port.value_or(0), tunables, options.replicas.value_or(1),
                         etcd_ports);
  if (!created.ok()) {
    if (created.status().code() == Status::Code::kInvalidArgument) {
      return UsageError(created.status().message());
    }
    std::cerr << "txcoord local up: " << created.status().message() << "\n";
    return kExitFailure;
  }
  return std::move(created.value());
}

int Up(const Options& options) {
  std::signal(SIGPIPE, SIG_IGN);  // `txcoord local up | head -n1` must not kill us mid-way
  struct sigaction interrupt {};
  interrupt.sa_handler = OnInterrupt;
  for (int signal : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(signal, &interrupt, nullptr);

  std::error_code ec;
  const std::string binary = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  if (ec) {
    std::cerr << "txcoord local up: /proc/self/exe: " << ec.message() << "\n";
    return kExitFailure;
  }
  std::filesystem::create_directories(options.data_dir, ec);
  if (ec) {
    std::cerr << "txcoord local up: " << options.data_dir << ": cannot create: " << ec.message()
              << "\n";
    return kExitFailure;
  }
  Result<std::unique_ptr<DirLock>> lock = DirLock::Acquire(options.data_dir);
  if (!lock.ok()) {
    std::cerr << "txcoord local up: " << lock.status().message() << "\n";
    return kExitFailure;
  }
  std::variant<ClusterDir, int> opened = OpenOrCreate(options);
  if (const int* status = std::get_if<int>(&opened)) return *status;
  const ClusterDir& cluster = std::get<ClusterDir>(opened);

  // processes[cluster.index(node)]: the node's process, running before or started here.
  const std::vector<NodeId> nodes = cluster.nodes();
  std::vector<std::optional<Process>> processes(nodes.size());
  std::vector<NodeId> started;
  std::vector<uintmax_t> log_start(processes.size(), 0);
  std::vector<Clock::time_point> started_at(processes.size(), Clock::now());
  // On etcd: the local etcd, and the members of it started here.
  Result<std::optional<LocalEtcd>> etcd = EtcdOf(cluster);
  std::vector<std::pair<int, Process>> etcd_started;

  // Stops the nodes started here, names the node that failed (with its log since it started),
  // and returns the exit status.
  auto fail = [&](NodeId node, const std::string& message) {
    std::cerr << "txcoord local up: " << message << "\n";
    const bool started_here = std::find(started.begin(), started.end(), node) != started.end();
    const std::string tail =
        started_here ? LogTail(cluster.LogPath(node),
                               log_start[static_cast<size_t>(cluster.index(node))], kLogTailLines)
                     : "";
    if (!tail.empty()) {
      std::cerr << "---- last lines of " << cluster.LogPath(node) << " ----\n" << tail;
    }
    std::vector<Process*> to_stop;
    for (const NodeId n : started) {
      std::optional<Process>& p = processes[static_cast<size_t>(cluster.index(n))];
      if (p) to_stop.push_back(&*p);
    }
    const std::vector<Result<int>> stopped = StopAll(to_stop, kStopTimeout);
    for (size_t i = 0; i < stopped.size(); ++i) {
      if (!stopped[i].ok())
        std::cerr << "txcoord local up: " << stopped[i].status().message() << "\n";
    }
    for (const NodeId n : started) RemovePidFile(cluster.PidPath(n));
    if (!started.empty()) std::cerr << "txcoord local up: stopped the nodes it had started\n";
    // The etcd members started here go last: a node being stopped may still renew its lease.
    std::vector<Process*> etcd_to_stop;
    for (auto& [i, p] : etcd_started) etcd_to_stop.push_back(&p);
    (void)StopAll(etcd_to_stop, kStopTimeout);
    for (const auto& [i, p] : etcd_started) RemovePidFile(etcd.value()->PidPath(i));
    if (!etcd_started.empty()) {
      std::cerr << "txcoord local up: stopped the etcd members it had started\n";
    }
    return g_interrupted ? kExitInterrupted : kExitFailure;
  };

  // On etcd: its members first (the nodes wait for it to join their cluster).
  if (!etcd.ok()) return fail(nodes.front(), etcd.status().message());
  const auto fail_etcd = [&](const std::string& message) { return fail(nodes.front(), message); };
  if (etcd.value()) {
    const LocalEtcd& e = *etcd.value();
    for (int i = 0; i < e.size(); ++i) {
      Result<std::optional<Process>> running = FindRunningEtcd(e, i);
      if (!running.ok()) return fail_etcd(running.status().message());
      if (running.value()) continue;
      if (Accepts(e.member(i).client)) {
        return fail_etcd(e.member(i).name + "'s address " + e.member(i).client.ToString() +
                         " is taken by a process that is not this cluster's etcd");
      }
      Result<Process> spawned = e.Start(i, /*detach=*/true);
      if (!spawned.ok()) return fail_etcd(e.member(i).name + ": " + spawned.status().message());
      const pid_t pid = spawned.value().pid();
      etcd_started.emplace_back(i, std::move(spawned.value()));
      if (Status s = WritePidFile(e.PidPath(i), pid); !s.ok()) return fail_etcd(s.message());
    }
    if (Status s = e.WaitReady(kStartTimeout); !s.ok()) {
      return fail_etcd(s.message() + " (its logs: " + e.LogPath(0) + ", ...)");
    }
  }

  // Every node is started before any is waited for: a replica may need its group's other
  // replicas before it serves.
  for (const NodeId node : nodes) {
    const size_t slot = static_cast<size_t>(cluster.index(node));
    Result<std::optional<Process>> running = FindRunning(cluster, node);
    if (!running.ok()) return fail(node, running.status().message());
    if (running.value()) {
      processes[slot] = std::move(running.value());
      continue;
    }
    if (g_interrupted) return fail(node, "interrupted");
    if (Accepts(cluster.address(node))) {
      return fail(node, cluster.Name(node) + "'s address " + cluster.address(node).ToString() +
                            " is taken by a process that is not this cluster's " +
                            cluster.Name(node));
    }
    log_start[slot] = FileSize(cluster.LogPath(node));
    started_at[slot] = Clock::now();
    Result<Process> spawned = cluster.StartNode(node, binary, {}, /*detach=*/true);
    if (!spawned.ok()) return fail(node, cluster.Name(node) + ": " + spawned.status().message());
    processes[slot] = std::move(spawned.value());
    started.push_back(node);
    if (Status s = WritePidFile(cluster.PidPath(node), processes[slot]->pid()); !s.ok()) {
      return fail(node, s.message());
    }
  }
  for (const NodeId node : nodes) {
    const size_t slot = static_cast<size_t>(cluster.index(node));
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        started_at[slot] + kStartTimeout - Clock::now());
    Status serving = WaitServing(*processes[slot], cluster.address(node),
                                 std::max(left, std::chrono::milliseconds(0)),
                                 [] { return g_interrupted != 0; });
    if (!serving.ok()) return fail(node, serving.message());
  }
  // Accepting connections is not serving: each group elects (or re-confirms) its primary first.
  if (Status s = WaitGroupsServing(cluster, cluster.groups(), kStartTimeout,
                                   [] { return g_interrupted != 0; });
      !s.ok()) {
    return fail(nodes.front(), s.message());
  }

  std::cout << CoordinatorAddress(cluster).ToString() << "\n";
  if (started.empty()) {
    std::cout << "already running: ";
  } else if (started.size() == nodes.size()) {
    std::cout << "started ";
  } else {
    std::cout << "started";
    for (const NodeId node : started) std::cout << " " << cluster.Name(node);
    std::cout << " (the other nodes were running): ";
  }
  std::cout << Nodes(cluster) << " on 127.0.0.1; configs, logs and data in " << cluster.dir()
            << "\n";
  PrintNodes(cluster, processes, "state", [](NodeId) { return "serving"; });
  if (etcd.value()) {
    std::cout << "configuration master: etcd ("
              << cluster::DescribeEndpoints(etcd.value()->endpoints()) << ", prefix "
              << cluster.config(kCoordinator).etcd_prefix << ")\n";
  }
  std::cout << "stop with: txcoord local down --data-dir " << cluster.dir() << "\n";
  std::cout.flush();  // a closed stdout (`| head -n1`) is not an error: the nodes serve
  return 0;
}

// One row per etcd member: name, pid, address, and its state (leader, follower, not running,
// unreachable). False when a member is not running or does not answer.
bool PrintEtcd(const LocalEtcd& etcd, int width) {
  bool healthy = true;
  Result<int> leader = etcd.Leader();
  std::cout << "  " << std::left << std::setw(width) << "etcd" << std::setw(9) << "pid"
            << std::setw(23) << "address" << "state\n";
  for (int i = 0; i < etcd.size(); ++i) {
    Result<std::optional<Process>> running = FindRunningEtcd(etcd, i);
    std::string state = "not running";
    std::string pid = "-";
    if (!running.ok()) {
      state = running.status().message();
    } else if (running.value()) {
      pid = std::to_string(running.value()->pid());
      state = !Accepts(etcd.member(i).client) ? "running, not accepting connections"
              : leader.ok() && leader.value() == i ? "leader"
              : leader.ok()                          ? "follower"
                                                     : "no leader agreed on";
    }
    healthy = healthy && (state == "leader" || state == "follower");
    std::cout << "  " << std::left << std::setw(width) << etcd.member(i).name << std::setw(9) << pid
              << std::setw(23) << etcd.member(i).client.ToString() << state << "\n";
  }
  return healthy;
}

int StatusCommand(const Options& options) {
  Result<ClusterDir> opened = ClusterDir::Open(options.data_dir);
  if (!opened.ok()) {
    std::cerr << "txcoord local status: " << opened.status().message() << "\n";
    return kExitFailure;
  }
  const ClusterDir& cluster = opened.value();
  const std::vector<NodeId> nodes = cluster.nodes();
  std::vector<std::optional<Process>> processes;
  std::vector<std::string> states;
  std::vector<bool> running_nodes;
  bool all_serving = true;
  for (const NodeId node : nodes) {
    Result<std::optional<Process>> running = FindRunning(cluster, node);
    if (!running.ok()) {
      std::cerr << "txcoord local status: " << running.status().message() << "\n";
      return kExitFailure;
    }
    std::string state = "not running";
    if (running.value()) {
      state = Accepts(cluster.address(node)) ? "serving" : "running, not accepting connections";
    }
    all_serving = all_serving && state == "serving";
    running_nodes.push_back(running.value().has_value());
    processes.push_back(std::move(running.value()));
    states.push_back(std::move(state));
  }
  std::cout << cluster.dir() << ": coordinator " << cluster.address(kCoordinator).ToString() << ", "
            << cluster.shards() << " shard(s)";
  Result<std::optional<LocalEtcd>> etcd = EtcdOf(cluster);
  if (!etcd.ok()) {
    std::cerr << "\ntxcoord local status: " << etcd.status().message() << "\n";
    return kExitFailure;
  }
  if (cluster.replicas() == 1 && !etcd.value()) {
    std::cout << "\n";
    PrintNodes(cluster, processes, "state",
               [&](NodeId node) { return states[static_cast<size_t>(cluster.index(node))]; });
    return all_serving ? 0 : kExitFailure;
  }
  std::cout << ", " << cluster.replicas() << " replicas per group; configuration master ";
  if (etcd.value()) {
    std::cout << "etcd (" << cluster::DescribeEndpoints(etcd.value()->endpoints()) << ", prefix "
              << cluster.config(kCoordinator).etcd_prefix << ")\n";
  } else {
    std::cout << cluster.ConfigStorePath(kCoordinator) << "\n";
  }

  // Each group's configuration, as the store has it.
  std::map<int, Result<replication::GroupConfig>> groups;
  for (int group : cluster.groups()) groups.emplace(group, cluster.ReadGroup(group));
  // Each running node's own view (Peer.replica_status), for its role, its log (the positions
  // it holds: from its log start, past what it truncated, to its durable end) and its lag: how far
  // its durable log is behind the last position of its group's primary (the store's), when both
  // answered.
  const std::vector<Result<thrift::ReplicaStatus>> answers =
      AskReplicaStatus(cluster, running_nodes);
  auto answer_of = [&](NodeId node) -> const Result<thrift::ReplicaStatus>& {
    return answers[static_cast<size_t>(cluster.index(node))];
  };
  std::ostringstream header;
  header << std::left << std::setw(21) << "role" << std::setw(8) << "epoch" << std::setw(8) << "lag"
         << std::setw(22) << "log" << std::setw(8) << "master" << "state";
  PrintNodes(cluster, processes, header.str(), [&](NodeId node) {
    const size_t slot = static_cast<size_t>(cluster.index(node));
    std::string role = "-";
    std::string epoch = "-";
    std::string lag = "-";
    std::string log = "-";
    std::string master = "-";  // whether its last read of the configuration master worked
    const Result<thrift::ReplicaStatus>& answer = answer_of(node);
    if (!running_nodes[slot]) {
      // not running: nothing to ask
    } else if (!answer.ok()) {
      role = "unreachable";
    } else {
      role = answer.value().role.empty() ? "unknown" : answer.value().role;
      epoch = std::to_string(answer.value().epoch);
      log = std::to_string(answer.value().log_start) + ".." +
            std::to_string(answer.value().durable_position);
      master = answer.value().config_master_reachable ? "ok" : "lost";
      const Result<replication::GroupConfig>& group = groups.at(node.group);
      if (group.ok() && group.value().primary >= 0 && group.value().primary < cluster.replicas()) {
        const Result<thrift::ReplicaStatus>& primary =
            answer_of(NodeId(node.group, group.value().primary));
        if (primary.ok()) {
          lag = std::to_string(std::max<int64_t>(
              0, primary.value().last_position - answer.value().durable_position));
        }
      }
    }
    std::ostringstream row;
    row << std::left << std::setw(21) << role << std::setw(8) << epoch << std::setw(8) << lag
        << std::setw(22) << log << std::setw(8) << master << states[slot];
    return row.str();
  });
  const int width = NameWidth(cluster);
  std::cout << "  " << std::left << std::setw(width) << "group" << std::setw(width) << "primary"
            << std::setw(8) << "epoch" << std::setw(9) << "version"
            << "isr\n";
  for (const auto& [group, config] : groups) {
    std::cout << "  " << std::left << std::setw(width) << GroupName(group);
    if (!config.ok()) {
      if (config.status().code() == Status::Code::kNotFound) {
        std::cout << "no configuration yet (its nodes create it)\n";
      } else {
        std::cout << "unknown: " << config.status().message() << "\n";
      }
      continue;
    }
    const replication::GroupConfig& c = config.value();
    std::vector<int> isr;
    for (const auto& [replica, disk] : c.isr) isr.push_back(replica);
    const std::string primary = c.primary >= 0 && c.primary < cluster.replicas()
                                    ? cluster.Name(NodeId(group, c.primary))
                                    : "none";
    std::cout << std::setw(width) << primary << std::setw(8) << c.epoch << std::setw(9) << c.version
              << ReplicaList(isr) << "\n";
  }
  if (etcd.value() && !PrintEtcd(*etcd.value(), width)) all_serving = false;
  return all_serving ? 0 : kExitFailure;
}

int Down(const Options& options) {
  Result<ClusterDir> opened = ClusterDir::Open(options.data_dir);
  if (!opened.ok()) {
    if (opened.status().code() == Status::Code::kNotFound) {
      std::cout << opened.status().message() << ": nothing to stop\n";
      return 0;
    }
    std::cerr << "txcoord local down: " << opened.status().message() << "\n";
    return kExitFailure;
  }
  const ClusterDir& cluster = opened.value();
  Result<std::unique_ptr<DirLock>> lock = DirLock::Acquire(cluster.dir());
  if (!lock.ok()) {
    std::cerr << "txcoord local down: " << lock.status().message() << "\n";
    return kExitFailure;
  }
  std::vector<NodeId> running_nodes;
  std::vector<Process> processes;
  for (const NodeId node : cluster.nodes()) {
    Result<std::optional<Process>> running = FindRunning(cluster, node);
    if (!running.ok()) {
      std::cerr << "txcoord local down: " << running.status().message() << "\n";
      return kExitFailure;
    }
    if (running.value()) {
      running_nodes.push_back(node);
      processes.push_back(std::move(*running.value()));
    } else {
      RemovePidFile(cluster.PidPath(node));  // none, or left by a node that is gone
    }
  }
  // A cluster on etcd: its members are stopped after the nodes (which give their leases up).
  Result<std::optional<LocalEtcd>> etcd = EtcdOf(cluster);
  if (!etcd.ok()) {
    std::cerr << "txcoord local down: " << etcd.status().message() << "\n";
    return kExitFailure;
  }
  const size_t nodes_running = processes.size();
  std::vector<std::string> pid_paths;  // processes[i]'s pid file
  for (const NodeId node : running_nodes) pid_paths.push_back(cluster.PidPath(node));
  for (int i = 0; etcd.value() && i < etcd.value()->size(); ++i) {
    Result<std::optional<Process>> running = FindRunningEtcd(*etcd.value(), i);
    if (!running.ok()) {
      std::cerr << "txcoord local down: " << running.status().message() << "\n";
      return kExitFailure;
    }
    if (running.value()) {
      processes.push_back(std::move(*running.value()));
      pid_paths.push_back(etcd.value()->PidPath(i));
    } else {
      RemovePidFile(etcd.value()->PidPath(i));
    }
  }
  if (processes.empty()) {
    std::cout << "no node of " << cluster.dir() << " was running\n";
    return 0;
  }
  std::vector<Process*> to_stop;
  for (size_t i = 0; i < nodes_running; ++i) to_stop.push_back(&processes[i]);
  std::vector<Result<int>> stopped = StopAll(to_stop, kStopTimeout);
  std::vector<Process*> etcd_to_stop;
  for (size_t i = nodes_running; i < processes.size(); ++i) etcd_to_stop.push_back(&processes[i]);
  for (Result<int>& r : StopAll(etcd_to_stop, kStopTimeout)) stopped.push_back(std::move(r));
  bool all_stopped = true;
  for (size_t i = 0; i < stopped.size(); ++i) {
    if (stopped[i].ok()) {
      std::cout << processes[i].name() << " (pid " << processes[i].pid() << "): stopped\n";
    } else if (stopped[i].status().code() == Status::Code::kTimeout) {
      std::cout << stopped[i].status().message() << "\n";
    } else {
      std::cerr << "txcoord local down: " << stopped[i].status().message() << "\n";
      all_stopped = false;
      continue;  // keep its pid file: it still runs
    }
    RemovePidFile(pid_paths[i]);
  }
  if (!all_stopped) return kExitFailure;
  std::cout << "stopped; configs, logs and data kept in " << cluster.dir() << "\n";
  return 0;
}

}  // namespace

int RunLocalCommand(const std::vector<std::string>& args) {
  std::variant<Options, int> parsed = ParseOptions(args);
  if (const int* status = std::get_if<int>(&parsed)) return *status;
  const Options& options = std::get<Options>(parsed);
  if (options.command == "up") return Up(options);
  if (options.command == "status") return StatusCommand(options);
  return Down(options);
}

}  // namespace txcoord::local
