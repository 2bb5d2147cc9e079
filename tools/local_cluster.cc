#include "tools/local_cluster.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include "common/check.h"
#include "common/fd.h"

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

// The config of `node` in a cluster whose coordinator config is `coordinator`, in `dir`.
cluster::NodeConfig NodeConfigOf(const cluster::NodeConfig& coordinator, int node,
                                 const std::string& data_dir) {
  cluster::NodeConfig config = coordinator;
  config.data_dir = data_dir;
  if (node != kCoordinator) {
    const cluster::ShardEndpoint& endpoint =
        coordinator.shard_map.shards[static_cast<size_t>(node)];
    config.role = cluster::Role::kShard;
    config.shard = node;
    config.listen = {endpoint.host, endpoint.port};
    config.peer_listen = coordinator.shard_peers[static_cast<size_t>(node)];
  }
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

std::string NodeName(int node) {
  return node == kCoordinator ? "coordinator" : "shard" + std::to_string(node);
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

Result<std::vector<uint16_t>> PickFreePorts(int count) {
  // Every probe socket stays bound until all ports are picked, so no two are the same.
  std::vector<Fd> held;
  std::vector<uint16_t> ports;
  for (int i = 0; i < count; ++i) {
    held.emplace_back(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (held.back().get() < 0) return Status::IoError("socket: " + Errno(errno));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof(addr);
    if (::bind(held.back().get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::getsockname(held.back().get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return Status::IoError("cannot pick a free port on 127.0.0.1: " + Errno(errno));
    }
    ports.push_back(ntohs(addr.sin_port));
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

  const pid_t pid = ::fork();
  if (pid < 0) return Status::IoError("fork: " + Errno(errno));
  if (pid == 0) {
    if (options.detach) ::setsid();
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
                                      const cluster::NodeConfig& tunables) {
  if (shards < 1) {
    return Status::InvalidArgument("a cluster needs at least one shard, not " +
                                   std::to_string(shards));
  }
  // Two ports a node: its client port, then (after every node's client port) its peer port.
  const int nodes = shards + 1;
  std::vector<uint16_t> ports;
  if (base_port == 0) {
    Result<std::vector<uint16_t>> picked = PickFreePorts(2 * nodes);
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

  cluster::NodeConfig coordinator = tunables;
  coordinator.role = cluster::Role::kCoordinator;
  coordinator.shard = -1;
  coordinator.coordinator = {"127.0.0.1", ports[0]};
  coordinator.coordinator_peer = {"127.0.0.1", ports[static_cast<size_t>(nodes)]};
  coordinator.listen = coordinator.coordinator;
  coordinator.peer_listen = coordinator.coordinator_peer;
  coordinator.shard_map.shards.clear();
  coordinator.shard_peers.clear();
  for (int i = 0; i < shards; ++i) {
    coordinator.shard_map.shards.push_back({i, "127.0.0.1", ports[static_cast<size_t>(i) + 1]});
    coordinator.shard_peers.push_back({"127.0.0.1", ports[static_cast<size_t>(nodes + i + 1)]});
  }
  ClusterDir cluster(abs_dir, {});
  for (int node = kCoordinator; node < shards; ++node) {
    cluster.configs_.push_back(NodeConfigOf(coordinator, node, cluster.DataDir(node)));
  }
  // The coordinator's config last: Open() takes a directory without it for one with no cluster,
  // so an interrupted Create leaves nothing half-made that Open would accept.
  for (int node = shards - 1; node >= kCoordinator; --node) {
    const std::string path = cluster.ConfigPath(node);
    std::ofstream out(path, std::ios::trunc);
    out << cluster::FormatNodeConfig(cluster.config(node));
    out.close();
    if (!out) return Status::IoError(path + ": cannot write");
  }
  return cluster;
}

Result<ClusterDir> ClusterDir::Open(const std::string& dir) {
  ClusterDir cluster(AbsoluteDir(dir), {});
  const std::string coordinator_path = cluster.ConfigPath(kCoordinator);
  if (!std::filesystem::exists(coordinator_path)) {
    return Status::NotFound(cluster.dir() + " holds no cluster (no coordinator.yaml)");
  }
  Result<cluster::NodeConfig> coordinator = cluster::LoadNodeConfig(coordinator_path);
  if (!coordinator.ok()) return coordinator.status();
  const int shards = static_cast<int>(coordinator.value().shard_map.shards.size());
  for (int node = kCoordinator; node < shards; ++node) {
    const std::string path = cluster.ConfigPath(node);
    Result<cluster::NodeConfig> loaded =
        node == kCoordinator ? coordinator : cluster::LoadNodeConfig(path);
    if (!loaded.ok()) return loaded.status();
    if (loaded.value().data_dir != cluster.DataDir(node)) {
      return Status::InvalidArgument(path + ": data_dir is " + loaded.value().data_dir +
                                     ", expected " + cluster.DataDir(node) +
                                     " (was the directory moved?)");
    }
    if (loaded.value() != NodeConfigOf(coordinator.value(), node, cluster.DataDir(node))) {
      return Status::InvalidArgument(path + ": not the " + NodeName(node) + " of the cluster in " +
                                     coordinator_path);
    }
    cluster.configs_.push_back(loaded.value());
  }
  return cluster;
}

std::vector<int> ClusterDir::nodes() const {
  std::vector<int> all;
  for (int node = kCoordinator; node < shards(); ++node) all.push_back(node);
  return all;
}

const cluster::NodeConfig& ClusterDir::config(int node) const {
  TXC_CHECK(node >= kCoordinator && node < shards());
  return configs_[static_cast<size_t>(node + 1)];
}

std::string ClusterDir::Path(int node, std::string_view suffix) const {
  return dir_ + "/" + NodeName(node) + std::string(suffix);
}

std::vector<std::string> ClusterDir::NodeArgs(int node) const {
  return {cluster::ToString(config(node).role), "--config", ConfigPath(node)};
}

Result<Process> ClusterDir::StartNode(int node, const std::string& binary,
                                      const std::map<std::string, std::string>& env,
                                      bool detach) const {
  SpawnOptions options;
  options.name = NodeName(node);
  options.argv.push_back(binary);
  for (std::string& arg : NodeArgs(node)) options.argv.push_back(std::move(arg));
  options.log_path = LogPath(node);
  options.env = env;
  options.detach = detach;
  return Process::Spawn(options);
}

Result<std::optional<Process>> ClusterDir::FindNode(int node, pid_t pid) const {
  return Process::Find(pid, NodeArgs(node), NodeName(node));
}

}  // namespace txcoord::local
