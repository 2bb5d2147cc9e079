#include "tools/local_cluster.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>
#include <utility>

#include "Peer.h"
#include "cluster/config_store.h"
#include "cluster/config_master.h"
#include "common/check.h"
#include "common/fd.h"
#include "rpc/client.h"
#include "rpc/thrift_call.h"

extern char** environ;

namespace txcoord::local {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kConnectTimeout{1000};
constexpr milliseconds kServingPoll{20};
constexpr uintmax_t kMaxTailBytes = 64 * 1024;
constexpr std::string_view kCrashAtVariable = "TXCOORD_CRASH_AT";

// glibc 2.36's <sys/pidfd.h> declares these without C linkage; the system calls are stable.
int PidfdOpen(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }
int PidfdSendSignal(int pidfd, int signal) {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, signal, nullptr, 0));
}

std::string Errno(int err) { return std::strerror(err); }

int ExitStatus(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return Process::kExitUnknown;
}

// Milliseconds left until `deadline`, at least 0, for poll().
int RemainingMs(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<int64_t>(left, 0, 1'000'000));
}

std::string Seconds(milliseconds duration) {
  std::ostringstream out;
  out << static_cast<double>(duration.count()) / 1000.0 << " s";
  return out.str();
}

// The config store every node of a cluster of `replicas` replicas per group names: the shared
// DIR/groups.yaml, or, for one replica per group, the parser's default under the node's own data
// directory (so that the config does not need the field: it is what it was before replica groups).
std::string ConfigStoreOf(const std::string& dir, const std::string& data_dir, int replicas) {
  return replicas > 1 ? dir + "/groups.yaml" : data_dir + "/groups.yaml";
}

// The config of `node` in a cluster (in `dir`, `replicas` replicas per group) whose configs share
// `base`: every group's addresses and the tunables. REQUIRES: base lists `replicas` client and
// peer addresses for the coordinator group and for each shard group.
cluster::NodeConfig NodeConfigOf(const cluster::NodeConfig& base, NodeId node,
                                 const std::string& dir, const std::string& data_dir,
                                 int replicas) {
  cluster::NodeConfig config = base;
  const auto r = static_cast<size_t>(node.replica);
  config.data_dir = data_dir;
  config.replica = node.replica;
  if (node.group == kCoordinator) {
    config.role = cluster::Role::kCoordinator;
    config.shard = -1;
    config.listen = base.coordinators[r];
    config.peer_listen = base.coordinator_peers[r];
  } else {
    const auto g = static_cast<size_t>(node.group);
    config.role = cluster::Role::kShard;
    config.shard = node.group;
    config.listen = base.shard_replicas[g][r];
    config.peer_listen = base.shard_replica_peers[g][r];
  }
  // On etcd the group configurations are there, and the configs name no file.
  config.config_store =
      base.config_master == "etcd" ? std::string() : ConfigStoreOf(dir, data_dir, replicas);
  return config;
}

std::string AbsoluteDir(const std::string& dir) {
  std::filesystem::path path = std::filesystem::absolute(dir).lexically_normal();
  if (!path.has_filename() && path.has_parent_path() && path != path.root_path()) {
    path = path.parent_path();  // "/a/b/" -> "/a/b"
  }
  return path.string();
}

}  // namespace

std::string GroupName(int group) {
  return group == kCoordinator ? "coordinator" : "shard" + std::to_string(group);
}

std::string NodeName(NodeId node, int replicas) {
  if (replicas == 1) return GroupName(node.group);
  return GroupName(node.group) + ".r" + std::to_string(node.replica);
}

bool Accepts(const cluster::Address& address) {
  addrinfo hints{};
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(address.host.c_str(), std::to_string(address.port).c_str(), &hints, &found) !=
      0) {
    return false;
  }
  const Fd fd(::socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  bool accepted = false;
  if (fd.get() >= 0) {
    if (::connect(fd.get(), found->ai_addr, found->ai_addrlen) == 0) {
      accepted = true;
    } else if (errno == EINPROGRESS) {
      pollfd waiting{.fd = fd.get(), .events = POLLOUT, .revents = 0};
      if (::poll(&waiting, 1, static_cast<int>(kConnectTimeout.count())) == 1) {
        int error = 0;
        socklen_t len = sizeof(error);
        accepted = ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &len) == 0 && error == 0;
      }
    }
  }
  ::freeaddrinfo(found);
  return accepted;
}

namespace {

// The lowest of the kernel's ephemeral ports (the local ports of outgoing connections), or
// 32768 (Linux's default) when it cannot be read.
int LowestEphemeralPort() {
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  int low = 0;
  int high = 0;
  if (in >> low >> high && 0 < low && low <= high && high <= 65535) return low;
  return 32768;
}

// Binds a socket to 127.0.0.1:port (0: the kernel picks one); -1 on failure. No SO_REUSEADDR,
// so a port that any socket holds, even one in TIME_WAIT, is refused.
Fd BindLoopback(uint16_t port, uint16_t* bound) {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return fd;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  socklen_t len = sizeof(addr);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return Fd(-1);
  }
  *bound = ntohs(addr.sin_port);
  return fd;
}

}  // namespace

Result<std::vector<uint16_t>> PickFreePorts(int count, const std::vector<uint16_t>& taken) {
  // Below the ephemeral range: a port the kernel may hand an outgoing connection (an etcd
  // member dialling its peers, a client) can be taken between this pick and the node's bind.
  // One run of ports from a start that differs from process to process (and call to call), so
  // that clusters started side by side (ctest -j) rarely probe the same ports; every probe
  // socket stays bound until all are picked, so no two are the same.
  constexpr int kLowest = 10000;
  const int ephemeral_low = LowestEphemeralPort();
  std::vector<Fd> held;
  std::vector<uint16_t> ports;
  const auto free_of = [&taken](int port) {
    return std::find(taken.begin(), taken.end(), port) == taken.end();
  };
  if (ephemeral_low - kLowest >= 4 * count + 1000) {
    const int span = ephemeral_low - kLowest;
    static std::atomic<uint64_t> calls{0};
    const uint64_t seed = (static_cast<uint64_t>(::getpid()) << 20) ^ (calls++ * 7919) ^
                          static_cast<uint64_t>(std::chrono::steady_clock::now()
                                                    .time_since_epoch().count());
    const int start = static_cast<int>(seed % static_cast<uint64_t>(span));
    for (int i = 0; i < span && static_cast<int>(ports.size()) < count; ++i) {
      const int port = kLowest + (start + i) % span;
      if (!free_of(port)) continue;
      uint16_t bound = 0;
      Fd fd = BindLoopback(static_cast<uint16_t>(port), &bound);
      if (fd.get() < 0) continue;
      held.push_back(std::move(fd));
      ports.push_back(bound);
    }
  }
  // A machine whose ephemeral range leaves too little room below it: the kernel picks.
  for (int tries = 0; static_cast<int>(ports.size()) < count; ++tries) {
    if (tries > 4 * count + 100) {
      return Status::IoError("cannot pick " + std::to_string(count) +
                             " free ports on 127.0.0.1: " + Errno(errno));
    }
    uint16_t bound = 0;
    Fd fd = BindLoopback(0, &bound);
    if (fd.get() < 0) {
      return Status::IoError("cannot pick a free port on 127.0.0.1: " + Errno(errno));
    }
    if (!free_of(bound)) continue;
    held.push_back(std::move(fd));
    ports.push_back(bound);
  }
  return ports;
}

uintmax_t FileSize(const std::string& path) {
  std::error_code ec;
  const uintmax_t size = std::filesystem::file_size(path, ec);
  return ec ? 0 : size;
}

std::string LogTail(const std::string& path, uintmax_t from, int max_lines) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  const uintmax_t size = FileSize(path);
  from = std::max(from, size > kMaxTailBytes ? size - kMaxTailBytes : 0);
  in.seekg(static_cast<std::streamoff>(from));
  std::deque<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {  // bounded: at most kMaxTailBytes are read
    lines.push_back(std::move(line));
    if (static_cast<int>(lines.size()) > max_lines) lines.pop_front();
  }
  std::string tail;
  for (const std::string& l : lines) tail += l + "\n";
  return tail;
}

// ---- Process ----

Result<Process> Process::Spawn(const SpawnOptions& options) {
  TXC_CHECK(!options.argv.empty());
  TXC_CHECK(options.stdout_fd < 0 || options.stdout_fd > 2);
  // Everything the child needs is built before fork: the child calls only async-signal-safe
  // functions until exec, because this process may have other threads (holding malloc's lock).
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view entry(*e);
    const std::string_view name = entry.substr(0, entry.find('='));
    if (name == kCrashAtVariable || options.env.count(std::string(name))) continue;
    env_strings.emplace_back(entry);
  }
  for (const auto& [name, value] : options.env) env_strings.push_back(name + "=" + value);
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_strings = options.argv;
  std::vector<char*> argv;
  for (std::string& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  const Fd log(::open(options.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (log.get() < 0) return Status::IoError(options.log_path + ": cannot open: " + Errno(errno));
  const Fd null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (null.get() < 0) return Status::IoError("/dev/null: cannot open: " + Errno(errno));
  // The child reports a failed exec through this pipe; a successful exec closes it (CLOEXEC).
  int report_fds[2];
  if (::pipe2(report_fds, O_CLOEXEC) != 0) return Status::IoError("pipe2: " + Errno(errno));
  Fd report_read(report_fds[0]);
  Fd report_write(report_fds[1]);
  const int stdout_fd = options.stdout_fd >= 0 ? options.stdout_fd : log.get();

  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return Status::IoError("fork: " + Errno(errno));
  if (pid == 0) {
    if (options.detach) {
      ::setsid();
    } else {
      // A child that is not detached dies with the thread that started it: a test process that
      // crashes or is killed (a timeout, a sanitizer) leaves no node running behind it.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);  // it was already gone
    }
    ::dup2(null.get(), 0);
    ::dup2(stdout_fd, 1);
    ::dup2(log.get(), 2);
    // Every other descriptor closes at exec (the report pipe must stay open until then).
    ::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction default_action {};
    default_action.sa_handler = SIG_DFL;
    ::sigaction(SIGPIPE, &default_action, nullptr);
    if (options.detach && ::chdir("/") != 0) ::_exit(127);
    ::execve(argv[0], argv.data(), envp.data());
    const int err = errno;
    [[maybe_unused]] const ssize_t n = ::write(report_write.get(), &err, sizeof(err));
    ::_exit(127);
  }
  ::close(report_write.release());  // else the read below never sees the end of the pipe
  int exec_error = 0;
  ssize_t n = -1;
  // Bounded: the child execs or exits at once, and either closes the pipe.
  do {
    n = ::read(report_read.get(), &exec_error, sizeof(exec_error));
  } while (n < 0 && errno == EINTR);
  if (n == sizeof(exec_error)) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    return Status::IoError("cannot run " + options.argv[0] + ": " + Errno(exec_error));
  }
  const int pidfd = PidfdOpen(pid);
  if (pidfd < 0) {
    const int err = errno;
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    return Status::IoError("pidfd_open: " + Errno(err) + " (Linux 5.3 or later is needed)");
  }
  return Process(options.name.empty() ? options.argv[0] : options.name, pid, pidfd,
                 /*child=*/true);
}

Result<std::optional<Process>> Process::Find(pid_t pid, const std::vector<std::string>& args,
                                             std::string name) {
  if (pid <= 0) return std::optional<Process>();
  const int pidfd = PidfdOpen(pid);
  if (pidfd < 0) {
    if (errno == ESRCH) return std::optional<Process>();
    return Status::IoError("pidfd_open(" + std::to_string(pid) + "): " + Errno(errno) +
                           " (Linux 5.3 or later is needed)");
  }
  Process process(std::move(name), pid, pidfd, /*child=*/false);
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::vector<std::string> cmdline;
  std::string arg;
  while (cmdline.size() <= args.size() + 1 && std::getline(in, arg, '\0')) {
    cmdline.push_back(arg);
  }
  const bool same = cmdline.size() == args.size() + 1 &&
                    std::equal(args.begin(), args.end(), cmdline.begin() + 1);
  // The pidfd was opened before the command line was read: if the process still runs now, the
  // command line read was its own, not that of a later process given the same pid.
  if (!same || !process.Running()) return std::optional<Process>();
  return std::optional<Process>(std::move(process));
}

Process::Process(Process&& other) noexcept
    : name_(std::move(other.name_)),
      pid_(other.pid_),
      pidfd_(std::exchange(other.pidfd_, -1)),
      child_(other.child_),
      exit_status_(other.exit_status_) {}

Process& Process::operator=(Process&& other) noexcept {
  if (this != &other) {
    Close();
    name_ = std::move(other.name_);
    pid_ = other.pid_;
    pidfd_ = std::exchange(other.pidfd_, -1);
    child_ = other.child_;
    exit_status_ = other.exit_status_;
  }
  return *this;
}

Process::~Process() { Close(); }

void Process::Close() {
  if (pidfd_ >= 0) ::close(pidfd_);
  pidfd_ = -1;
}

bool Process::Running() {
  if (exit_status_) return false;
  TXC_CHECK(pidfd_ >= 0);
  pollfd exited{.fd = pidfd_, .events = POLLIN, .revents = 0};
  if (::poll(&exited, 1, 0) != 1) return true;
  // The pidfd is readable once the process is a zombie: a child can be reaped without blocking.
  if (child_) {
    int status = 0;
    exit_status_ = ::waitpid(pid_, &status, 0) == pid_ ? ExitStatus(status) : kExitUnknown;
  } else {
    exit_status_ = kExitUnknown;
  }
  return false;
}

std::optional<int> Process::WaitExit(milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Running()) {  // bounded: poll waits until the deadline at most
    if (Clock::now() >= deadline) return std::nullopt;
    pollfd exited{.fd = pidfd_, .events = POLLIN, .revents = 0};
    if (::poll(&exited, 1, RemainingMs(deadline)) < 0 && errno != EINTR) {
      TXC_CHECK_MSG(false, "poll on a pidfd failed");
    }
  }
  return exit_status_;
}

Status Process::Signal(int signal) {
  if (!Running()) return Status::Ok();
  if (PidfdSendSignal(pidfd_, signal) != 0 && errno != ESRCH) {
    return Status::IoError("cannot signal " + name_ + " (pid " + std::to_string(pid_) +
                           "): " + Errno(errno));
  }
  return Status::Ok();
}

bool Process::Kill() {
  (void)Signal(SIGKILL);
  return WaitExit(kKillTimeout).has_value();
}

std::vector<Result<int>> StopAll(std::span<Process* const> processes, milliseconds grace) {
  for (Process* p : processes) (void)p->Signal(SIGTERM);
  const auto deadline = Clock::now() + grace;
  std::vector<Result<int>> results;
  for (Process* p : processes) {
    const std::optional<int> status =
        p->WaitExit(std::chrono::duration_cast<milliseconds>(deadline - Clock::now()));
    if (status) {
      results.emplace_back(*status);
      continue;
    }
    const std::string who = p->name() + " (pid " + std::to_string(p->pid()) + ")";
    if (p->Kill()) {
      results.emplace_back(
          Status::Timeout(who + " did not stop within " + Seconds(grace) + " of SIGTERM; killed"));
    } else {
      results.emplace_back(
          Status::IoError(who + " still runs " + Seconds(kKillTimeout) + " after SIGKILL"));
    }
  }
  return results;
}

Status WaitServing(Process& process, const cluster::Address& address, milliseconds timeout,
                   const std::function<bool()>& cancelled) {
  const std::string& name = process.name();
  const auto deadline = Clock::now() + timeout;
  while (true) {  // bounded by the deadline
    // Running() is asked after Accepts(): a node that accepted and then died has not started.
    const bool accepts = Accepts(address);
    if (!process.Running()) {
      const std::optional<int> status = process.WaitExit(milliseconds(0));
      return Status::Unavailable(name + " exited with " +
                                 std::to_string(status.value_or(Process::kExitUnknown)) +
                                 " while starting");
    }
    if (accepts) return Status::Ok();
    if (cancelled && cancelled()) {
      return Status::Aborted(name + ": interrupted while starting");
    }
    if (Clock::now() >= deadline) {
      return Status::Timeout(name + " did not accept connections on " + address.ToString() +
                             " within " + Seconds(timeout));
    }
    (void)process.WaitExit(kServingPoll);
  }
}

// ---- ClusterDir ----

Result<ClusterDir> ClusterDir::Create(const std::string& dir, int shards, uint16_t base_port,
                                      const cluster::NodeConfig& tunables, int replicas,
                                      const std::vector<uint16_t>& taken) {
  if (shards < 1) {
    return Status::InvalidArgument("a cluster needs at least one shard, not " +
                                   std::to_string(shards));
  }
  if (replicas < 1 || replicas > kMaxReplicas) {
    return Status::InvalidArgument("a group has 1.." + std::to_string(kMaxReplicas) +
                                   " replicas, not " + std::to_string(replicas));
  }
  // Two ports a node: its client port, then (after every node's client port) its peer port.
  const int nodes = (shards + 1) * replicas;
  std::vector<uint16_t> ports;
  if (base_port == 0) {
    Result<std::vector<uint16_t>> picked = PickFreePorts(2 * nodes, taken);
    if (!picked.ok()) return picked.status();
    ports = picked.value();
  } else {
    if (static_cast<int>(base_port) + 2 * nodes - 1 > 65535) {
      return Status::InvalidArgument("ports " + std::to_string(base_port) + ".." +
                                     std::to_string(base_port + 2 * nodes - 1) +
                                     " do not fit below 65536");
    }
    for (int i = 0; i < 2 * nodes; ++i) ports.push_back(static_cast<uint16_t>(base_port + i));
  }
  const std::string abs_dir = AbsoluteDir(dir);
  std::error_code ec;
  std::filesystem::create_directories(abs_dir, ec);
  if (ec) return Status::IoError(abs_dir + ": cannot create: " + ec.message());

  ClusterDir cluster(abs_dir, shards, replicas);
  auto client = [&](NodeId node) -> cluster::Address {
    return {"127.0.0.1", ports[static_cast<size_t>(cluster.index(node))]};
  };
  auto peer = [&](NodeId node) -> cluster::Address {
    return {"127.0.0.1", ports[static_cast<size_t>(nodes + cluster.index(node))]};
  };
  cluster::NodeConfig base = tunables;
  // Replication periods left at their defaults are stretched as the parser stretches absent ones
  // (cluster/config.cc), so that a tick above the default heartbeat still makes a valid config.
  const cluster::NodeConfig defaults;
  if (base.heartbeat_ms == defaults.heartbeat_ms &&
      base.lag_timeout_ms == defaults.lag_timeout_ms && base.lease_ms == defaults.lease_ms &&
      base.grace_ms == defaults.grace_ms && base.tick_ms > defaults.heartbeat_ms) {
    for (uint32_t* period :
         {&base.heartbeat_ms, &base.lag_timeout_ms, &base.lease_ms, &base.grace_ms}) {
      *period = static_cast<uint32_t>(uint64_t{*period} * base.tick_ms / defaults.heartbeat_ms);
    }
  }
  base.coordinators.clear();
  base.coordinator_peers.clear();
  base.shard_replicas.assign(static_cast<size_t>(shards), {});
  base.shard_replica_peers.assign(static_cast<size_t>(shards), {});
  for (const NodeId node : cluster.nodes()) {
    if (node.group == kCoordinator) {
      base.coordinators.push_back(client(node));
      base.coordinator_peers.push_back(peer(node));
    } else {
      base.shard_replicas[static_cast<size_t>(node.group)].push_back(client(node));
      base.shard_replica_peers[static_cast<size_t>(node.group)].push_back(peer(node));
    }
  }
  // The derived fields: replica 0 of each group.
  base.coordinator = base.coordinators[0];
  base.coordinator_peer = base.coordinator_peers[0];
  base.shard_map.shards.clear();
  base.shard_peers.clear();
  for (int i = 0; i < shards; ++i) {
    const cluster::Address& first = base.shard_replicas[static_cast<size_t>(i)][0];
    base.shard_map.shards.push_back({i, first.host, first.port});
    base.shard_peers.push_back(base.shard_replica_peers[static_cast<size_t>(i)][0]);
  }
  for (const NodeId node : cluster.nodes()) {
    cluster.configs_.push_back(
        NodeConfigOf(base, node, cluster.dir(), cluster.DataDir(node), replicas));
  }
  // The coordinator's first config last: Open() takes a directory without it for one with no
  // cluster, so an interrupted Create leaves nothing half-made that Open would accept.
  const std::vector<NodeId> all = cluster.nodes();
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    const std::string path = cluster.ConfigPath(*it);
    std::ofstream out(path, std::ios::trunc);
    out << cluster::FormatNodeConfig(cluster.config(*it));
    out.close();
    if (!out) return Status::IoError(path + ": cannot write");
  }
  return cluster;
}

Result<ClusterDir> ClusterDir::Open(const std::string& dir) {
  const std::string abs_dir = AbsoluteDir(dir);
  // The coordinator's first config names the layout: coordinator.yaml for one replica per group,
  // coordinator.r0.yaml for more.
  const std::string single_path = abs_dir + "/" + NodeName(kCoordinator, 1) + ".yaml";
  const std::string multi_path = abs_dir + "/" + NodeName(kCoordinator, 2) + ".yaml";
  const bool single = std::filesystem::exists(single_path);
  const bool multi = std::filesystem::exists(multi_path);
  if (!single && !multi) {
    return Status::NotFound(abs_dir + " holds no cluster (no coordinator.yaml or " +
                            "coordinator.r0.yaml)");
  }
  if (single && multi) {
    return Status::InvalidArgument(abs_dir + " holds both coordinator.yaml and " +
                                   "coordinator.r0.yaml: two clusters' files, or a broken one");
  }
  const std::string first_path = single ? single_path : multi_path;
  Result<cluster::NodeConfig> first = cluster::LoadNodeConfig(first_path);
  if (!first.ok()) return first.status();
  const cluster::NodeConfig& base = first.value();
  const int replicas = static_cast<int>(base.coordinators.size());
  const int shards = static_cast<int>(base.shard_replicas.size());
  if (single != (replicas == 1)) {
    return Status::InvalidArgument(first_path + ": lists " + std::to_string(replicas) +
                                   " coordinator replica(s), but is named for " +
                                   (single ? "one" : "more than one") +
                                   ": not a config `txcoord local` wrote");
  }
  if (replicas > kMaxReplicas) {
    return Status::InvalidArgument(first_path + ": lists " + std::to_string(replicas) +
                                   " coordinator replicas; a local cluster has at most " +
                                   std::to_string(kMaxReplicas));
  }
  // Every group as large as the coordinator's (NodeConfigOf indexes them all).
  bool uniform = static_cast<int>(base.coordinator_peers.size()) == replicas &&
                 static_cast<int>(base.shard_replica_peers.size()) == shards;
  for (size_t i = 0; uniform && i < static_cast<size_t>(shards); ++i) {
    uniform = static_cast<int>(base.shard_replicas[i].size()) == replicas &&
              static_cast<int>(base.shard_replica_peers[i].size()) == replicas;
  }
  if (!uniform) {
    return Status::InvalidArgument(first_path + ": its groups do not all have " +
                                   std::to_string(replicas) +
                                   " replicas: not a config `txcoord local` wrote");
  }
  ClusterDir cluster(abs_dir, shards, replicas);
  for (const NodeId node : cluster.nodes()) {
    const std::string path = cluster.ConfigPath(node);
    Result<cluster::NodeConfig> loaded = path == first_path ? first : cluster::LoadNodeConfig(path);
    if (!loaded.ok()) return loaded.status();
    if (loaded.value().data_dir != cluster.DataDir(node)) {
      return Status::InvalidArgument(path + ": data_dir is " + loaded.value().data_dir +
                                     ", expected " + cluster.DataDir(node) +
                                     " (was the directory moved?)");
    }
    if (loaded.value() !=
        NodeConfigOf(base, node, cluster.dir(), cluster.DataDir(node), replicas)) {
      return Status::InvalidArgument(path + ": not the " + cluster.Name(node) +
                                     " of the cluster in " + first_path);
    }
    cluster.configs_.push_back(loaded.value());
  }
  return cluster;
}

std::vector<NodeId> ClusterDir::nodes() const {
  std::vector<NodeId> all;
  for (int group : groups()) {
    for (int r = 0; r < replicas_; ++r) all.push_back({group, r});
  }
  return all;
}

std::vector<int> ClusterDir::groups() const {
  std::vector<int> all;
  for (int group = kCoordinator; group < shards_; ++group) all.push_back(group);
  return all;
}

std::vector<NodeId> ClusterDir::group_nodes(int group) const {
  TXC_CHECK(group >= kCoordinator && group < shards_);
  std::vector<NodeId> all;
  for (int r = 0; r < replicas_; ++r) all.push_back({group, r});
  return all;
}

int ClusterDir::index(NodeId node) const {
  TXC_CHECK(node.group >= kCoordinator && node.group < shards_);
  TXC_CHECK(node.replica >= 0 && node.replica < replicas_);
  return (node.group + 1) * replicas_ + node.replica;
}

const cluster::NodeConfig& ClusterDir::config(NodeId node) const {
  return configs_[static_cast<size_t>(index(node))];
}

Result<replication::GroupConfig> ClusterDir::ReadGroup(int group) const {
  return cluster::OpenConfigMaster(config(NodeId(group)))->Read(GroupName(group));
}

std::string ClusterDir::Path(NodeId node, std::string_view suffix) const {
  return dir_ + "/" + Name(node) + std::string(suffix);
}

std::vector<std::string> ClusterDir::NodeArgs(NodeId node) const {
  return {cluster::ToString(config(node).role), "--config", ConfigPath(node)};
}

Result<Process> ClusterDir::StartNode(NodeId node, const std::string& binary,
                                      const std::map<std::string, std::string>& env,
                                      bool detach) const {
  SpawnOptions options;
  options.name = Name(node);
  options.argv.push_back(binary);
  for (std::string& arg : NodeArgs(node)) options.argv.push_back(std::move(arg));
  options.log_path = LogPath(node);
  options.env = env;
  options.detach = detach;
  return Process::Spawn(options);
}

Result<std::optional<Process>> ClusterDir::FindNode(NodeId node, pid_t pid) const {
  return Process::Find(pid, NodeArgs(node), Name(node));
}

// Asks each node with ask[index] set for Peer.replica_status() on its peer port, all at once, each
// answer awaited at most kReplicaStatusTimeout. One result per node, in the order of nodes():
// the answer, or why there is none (Timeout, Unavailable: not listening; InvalidArgument: the
// server does not know the call; Aborted: not asked).
std::vector<Result<thrift::ReplicaStatus>> AskReplicaStatus(const ClusterDir& cluster,
                                                            const std::vector<bool>& ask) {
  // Shared with the callbacks, which run on the io thread (and, should the wait below ever give
  // up first, after this function returned).
  struct Answers {
    std::mutex mu;
    std::condition_variable changed;
    int pending = 0;
    std::vector<std::optional<Result<thrift::ReplicaStatus>>> of;
  };
  const std::vector<NodeId> nodes = cluster.nodes();
  auto answers = std::make_shared<Answers>();
  answers->of.resize(nodes.size());
  boost::asio::io_context io(1);
  auto work = boost::asio::make_work_guard(io);
  std::thread io_thread([&io] { io.run(); });
  std::vector<std::unique_ptr<rpc::Client>> clients;
  const rpc::Deadline deadline = rpc::Clock::now() + kReplicaStatusTimeout;
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (!ask[i]) continue;
    rpc::ClientOptions options;
    options.host = cluster.peer_address(nodes[i]).host;
    options.port = cluster.peer_address(nodes[i]).port;
    options.max_frame_bytes = cluster.config(nodes[i]).max_frame_bytes;
    options.reconnect_first_delay = kReplicaStatusTimeout;  // one connection attempt
    clients.push_back(std::make_unique<rpc::Client>(io, options));
    {
      std::lock_guard<std::mutex> lock(answers->mu);
      ++answers->pending;
    }
    rpc::CallMethod<thrift::PeerClient>(
        *clients.back(), deadline, [](thrift::PeerClient& c) { c.send_replica_status(); },
        [](thrift::PeerClient& c) {
          thrift::ReplicaStatus status;
          c.recv_replica_status(status);
          return status;
        },
        [answers, i](Result<thrift::ReplicaStatus> answer) {
          std::lock_guard<std::mutex> lock(answers->mu);
          answers->of[i] = std::move(answer);
          --answers->pending;
          answers->changed.notify_all();
        });
  }
  {
    // Every callback runs once, by the deadline (rpc/client.h): the extra second only bounds the
    // wait should that ever not hold.
    std::unique_lock<std::mutex> lock(answers->mu);
    answers->changed.wait_until(lock, deadline + std::chrono::seconds(1),
                                [&] { return answers->pending == 0; });
  }
  for (auto& c : clients) c->Close();
  work.reset();
  io.stop();
  io_thread.join();
  clients.clear();
  std::vector<Result<thrift::ReplicaStatus>> results;
  std::lock_guard<std::mutex> lock(answers->mu);
  for (std::optional<Result<thrift::ReplicaStatus>>& answer : answers->of) {
    if (answer) {
      results.push_back(std::move(*answer));
    } else {
      results.emplace_back(Status::Aborted("not asked"));
    }
  }
  return results;
}

Status WaitGroupsServing(const ClusterDir& cluster, const std::vector<int>& groups,
                         std::chrono::milliseconds timeout,
                         const std::function<bool()>& cancelled) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const std::vector<NodeId> nodes = cluster.nodes();
  for (;;) {
    std::vector<bool> ask(nodes.size(), false);
    for (size_t i = 0; i < nodes.size(); ++i) {
      ask[i] = std::find(groups.begin(), groups.end(), nodes[i].group) != groups.end();
    }
    const std::vector<Result<thrift::ReplicaStatus>> answers = AskReplicaStatus(cluster, ask);
    std::vector<int> waiting;
    for (int g : groups) {
      bool serving = false;
      for (size_t i = 0; i < nodes.size(); ++i) {
        serving = serving || (nodes[i].group == g && answers[i].ok() &&
                              answers[i].value().role == "primary");
      }
      if (!serving) waiting.push_back(g);
    }
    if (waiting.empty()) return Status::Ok();
    if (cancelled && cancelled()) return Status::Aborted("stopped waiting for primaries");
    if (std::chrono::steady_clock::now() >= deadline) {
      std::string names;
      for (int g : waiting) names += (names.empty() ? "" : ", ") + GroupName(g);
      return Status::Timeout("no serving primary after " + std::to_string(timeout.count()) +
                             " ms in: " + names);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace txcoord::local
