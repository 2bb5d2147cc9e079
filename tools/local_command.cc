#include "tools/local_command.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <memory>
#include <optional>
#include <utility>
#include <variant>

#include "tools/local_cluster.h"

namespace txcoord::local {

const char kLocalUsage[] =
    "       txcoord local up --data-dir DIR [--shards N] [--tick-ms MS] [--base-port P]\n"
    "       txcoord local status --data-dir DIR\n"
    "       txcoord local down --data-dir DIR\n"
    "\n"
    "`local up` starts a coordinator and N shards (1..64, default 3) of this binary on\n"
    "127.0.0.1 in the background, with configs, logs and data in DIR, and prints the\n"
    "coordinator's address as its first line once every node serves. Ports are free ones,\n"
    "or P for the coordinator and P+1+i for shard i. A DIR that holds a cluster is restarted\n"
    "on its data. `local status` exits 0 when every node serves; `local down` stops them.\n";

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
  std::optional<uint32_t> tick_ms;
  std::optional<uint16_t> base_port;
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
    const bool up_only = flag == "--shards" || flag == "--tick-ms" || flag == "--base-port";
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
    } else if (flag == "--tick-ms") {
      const std::optional<int64_t> n = ParseInteger(value, 1, 1000);
      if (!n) return UsageError("--tick-ms must be 1..1000, not '" + value + "'");
      options.tick_ms = static_cast<uint32_t>(*n);
    } else {
      const std::optional<int64_t> n = ParseInteger(value, 1, 65535);
      if (!n) return UsageError("--base-port must be 1..65535, not '" + value + "'");
      options.base_port = static_cast<uint16_t>(*n);
    }
  }
  if (options.data_dir.empty()) return UsageError("--data-dir DIR is required");
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
Result<std::optional<Process>> FindRunning(const ClusterDir& cluster, int node) {
  const std::optional<pid_t> pid = ReadPidFile(cluster.PidPath(node));
  if (!pid) return std::optional<Process>();
  return cluster.FindNode(node, *pid);
}

// Prints one row per node: name, pid ("-" when none), address, and `state(node)`.
template <typename StateOf>
void PrintNodes(const ClusterDir& cluster, const std::vector<std::optional<Process>>& processes,
                StateOf state) {
  std::cout << "  " << std::left << std::setw(13) << "node" << std::setw(9) << "pid"
            << std::setw(23) << "address"
            << "state\n";
  for (int node : cluster.nodes()) {
    const std::optional<Process>& p = processes[static_cast<size_t>(node + 1)];
    std::cout << "  " << std::left << std::setw(13) << NodeName(node) << std::setw(9)
              << (p ? std::to_string(p->pid()) : "-") << std::setw(23)
              << cluster.address(node).ToString() << state(node) << "\n";
  }
}

// Loads DIR's cluster for `up`, or creates it. An exit status when neither can be done.
std::variant<ClusterDir, int> OpenOrCreate(const Options& options) {
  Result<ClusterDir> opened = ClusterDir::Open(options.data_dir);
  if (opened.ok()) {
    const ClusterDir& c = opened.value();
    const cluster::NodeConfig& coordinator = c.config(kCoordinator);
    const std::string held = c.dir() + " holds a cluster of " + Shards(c.shards()) +
                             ", coordinator on " + coordinator.listen.ToString() + ", tick " +
                             std::to_string(coordinator.tick_ms) + " ms";
    const std::string advice = ": leave the flag out to restart it, or use another --data-dir";
    if (options.shards && *options.shards != c.shards()) {
      return UsageError(held + "; --shards " + std::to_string(*options.shards) + " asks for " +
                        "another" + advice);
    }
    if (options.tick_ms && *options.tick_ms != coordinator.tick_ms) {
      return UsageError(held + "; --tick-ms " + std::to_string(*options.tick_ms) +
                        " asks for another" + advice);
    }
    for (int node : c.nodes()) {
      if (options.base_port && c.address(node).port != *options.base_port + node + 1) {
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
  Result<ClusterDir> created =
      ClusterDir::Create(options.data_dir, options.shards.value_or(kDefaultShards),
                         options.base_port.value_or(0), tunables);
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

  // processes[node + 1]: the node's process, running before or started here.
  std::vector<std::optional<Process>> processes(static_cast<size_t>(cluster.shards()) + 1);
  std::vector<int> started;
  std::vector<uintmax_t> log_start(processes.size(), 0);
  std::vector<Clock::time_point> started_at(processes.size(), Clock::now());

  // Stops the nodes started here, names the node that failed (with its log since it started),
  // and returns the exit status.
  auto fail = [&](int node, const std::string& message) {
    std::cerr << "txcoord local up: " << message << "\n";
    const bool started_here = std::find(started.begin(), started.end(), node) != started.end();
    const std::string tail = started_here
                                 ? LogTail(cluster.LogPath(node),
                                           log_start[static_cast<size_t>(node + 1)], kLogTailLines)
                                 : "";
    if (!tail.empty()) {
      std::cerr << "---- last lines of " << cluster.LogPath(node) << " ----\n" << tail;
    }
    std::vector<Process*> to_stop;
    for (int n : started) {
      std::optional<Process>& p = processes[static_cast<size_t>(n + 1)];
      if (p) to_stop.push_back(&*p);
    }
    const std::vector<Result<int>> stopped = StopAll(to_stop, kStopTimeout);
    for (size_t i = 0; i < stopped.size(); ++i) {
      if (!stopped[i].ok())
        std::cerr << "txcoord local up: " << stopped[i].status().message() << "\n";
    }
    for (int n : started) RemovePidFile(cluster.PidPath(n));
    if (!started.empty()) std::cerr << "txcoord local up: stopped the nodes it had started\n";
    return g_interrupted ? kExitInterrupted : kExitFailure;
  };

  for (int node : cluster.nodes()) {
    const size_t slot = static_cast<size_t>(node + 1);
    Result<std::optional<Process>> running = FindRunning(cluster, node);
    if (!running.ok()) return fail(node, running.status().message());
    if (running.value()) {
      processes[slot] = std::move(running.value());
      continue;
    }
    if (g_interrupted) return fail(node, "interrupted");
    if (Accepts(cluster.address(node))) {
      return fail(node, NodeName(node) + "'s address " + cluster.address(node).ToString() +
                            " is taken by a process that is not this cluster's " + NodeName(node));
    }
    log_start[slot] = FileSize(cluster.LogPath(node));
    started_at[slot] = Clock::now();
    Result<Process> spawned = cluster.StartNode(node, binary, {}, /*detach=*/true);
    if (!spawned.ok()) return fail(node, NodeName(node) + ": " + spawned.status().message());
    processes[slot] = std::move(spawned.value());
    started.push_back(node);
    if (Status s = WritePidFile(cluster.PidPath(node), processes[slot]->pid()); !s.ok()) {
      return fail(node, s.message());
    }
  }
  for (int node : cluster.nodes()) {
    const size_t slot = static_cast<size_t>(node + 1);
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        started_at[slot] + kStartTimeout - Clock::now());
    Status serving = WaitServing(*processes[slot], cluster.address(node),
                                 std::max(left, std::chrono::milliseconds(0)),
                                 [] { return g_interrupted != 0; });
    if (!serving.ok()) return fail(node, serving.message());
  }

  std::cout << cluster.address(kCoordinator).ToString() << "\n";
  if (started.empty()) {
    std::cout << "already running: ";
  } else if (static_cast<int>(started.size()) == cluster.shards() + 1) {
    std::cout << "started ";
  } else {
    std::cout << "started";
    for (int node : started) std::cout << " " << NodeName(node);
    std::cout << " (the other nodes were running): ";
  }
  std::cout << "a coordinator and " << Shards(cluster.shards()) << " on 127.0.0.1; configs, "
            << "logs and data in " << cluster.dir() << "\n";
  PrintNodes(cluster, processes, [](int) { return "serving"; });
  std::cout << "stop with: txcoord local down --data-dir " << cluster.dir() << "\n";
  std::cout.flush();  // a closed stdout (`| head -n1`) is not an error: the nodes serve
  return 0;
}

int StatusCommand(const Options& options) {
  Result<ClusterDir> opened = ClusterDir::Open(options.data_dir);
  if (!opened.ok()) {
    std::cerr << "txcoord local status: " << opened.status().message() << "\n";
    return kExitFailure;
  }
  const ClusterDir& cluster = opened.value();
  std::vector<std::optional<Process>> processes;
  std::vector<std::string> states;
  bool all_serving = true;
  for (int node : cluster.nodes()) {
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
    processes.push_back(std::move(running.value()));
    states.push_back(std::move(state));
  }
  std::cout << cluster.dir() << ": coordinator " << cluster.address(kCoordinator).ToString() << ", "
            << cluster.shards() << " shard(s)\n";
  PrintNodes(cluster, processes, [&](int node) { return states[static_cast<size_t>(node + 1)]; });
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
  std::vector<int> running_nodes;
  std::vector<Process> processes;
  for (int node : cluster.nodes()) {
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
  if (processes.empty()) {
    std::cout << "no node of " << cluster.dir() << " was running\n";
    return 0;
  }
  std::vector<Process*> to_stop;
  for (Process& p : processes) to_stop.push_back(&p);
  const std::vector<Result<int>> stopped = StopAll(to_stop, kStopTimeout);
  bool all_stopped = true;
  for (size_t i = 0; i < stopped.size(); ++i) {
    const int node = running_nodes[i];
    if (stopped[i].ok()) {
      std::cout << NodeName(node) << " (pid " << processes[i].pid() << "): stopped\n";
    } else if (stopped[i].status().code() == Status::Code::kTimeout) {
      std::cout << stopped[i].status().message() << "\n";
    } else {
      std::cerr << "txcoord local down: " << stopped[i].status().message() << "\n";
      all_stopped = false;
      continue;  // keep its pid file: it still runs
    }
    RemovePidFile(cluster.PidPath(node));
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
