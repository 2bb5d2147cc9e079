#include "tests/integration/local_cluster.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/check.h"

namespace txcoord::testing {

namespace {

// A port nothing listens on now. The probe socket stays bound (in `held`) until the caller closes
// it, so that two calls never return the same port.
uint16_t FreePort(std::vector<int>& held) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  TXC_CHECK(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  TXC_CHECK(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  socklen_t len = sizeof(addr);
  TXC_CHECK(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  held.push_back(fd);
  return ntohs(addr.sin_port);
}

bool Accepts(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

int ExitCode(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

const char* TxcoordBinary() { return TXCOORD_BINARY; }

LocalCluster::LocalCluster(ClusterOptions options) : options_(std::move(options)) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "txcoord-it-XXXXXX").string();
  TXC_CHECK(::mkdtemp(tmpl.data()) != nullptr);
  dir_ = tmpl;
  std::vector<int> held;
  config_.role = cluster::Role::kCoordinator;
  config_.coordinator = {"127.0.0.1", FreePort(held)};
  config_.listen = config_.coordinator;
  config_.data_dir = dir_ + "/coordinator";
  config_.shard_map.partitioning = options_.partitioning == "range" ? cluster::Partitioning::kRange
                                                                    : cluster::Partitioning::kHash;
  config_.shard_map.split_keys = options_.range_split_keys;
  for (int i = 0; i < options_.shards; ++i) {
    config_.shard_map.shards.push_back({i, "127.0.0.1", FreePort(held)});
  }
  for (int fd : held) ::close(fd);
  config_.tick_ms = options_.tick_ms;
  config_.vote_timeout_ms = options_.vote_timeout_ms;
  config_.client_timeout_ms = options_.client_timeout_ms;
  config_.idle_timeout_ms = options_.idle_timeout_ms;
  config_.retain_finished = options_.retain_finished;
  config_.max_frame_bytes = options_.max_frame_bytes;
  for (int node = kCoordinator; node < options_.shards; ++node) {
    std::ofstream(dir_ + "/" + Name(node) + ".yaml") << cluster::FormatNodeConfig(ConfigOf(node));
  }
}

LocalCluster::~LocalCluster() {
  for (auto& [node, pid] : pids_) {
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
  }
  std::error_code ec;
  if (std::getenv("TXCOORD_KEEP_TEST_DIRS") == nullptr) std::filesystem::remove_all(dir_, ec);
}

std::string LocalCluster::Name(int node) const {
  return node == kCoordinator ? "coordinator" : "shard" + std::to_string(node);
}

cluster::NodeConfig LocalCluster::ConfigOf(int node) const {
  cluster::NodeConfig c = config_;
  if (node != kCoordinator) {
    c.role = cluster::Role::kShard;
    c.shard = node;
    c.listen = {"127.0.0.1", config_.shard_map.shards[static_cast<size_t>(node)].port};
    c.data_dir = data_dir(node);
  }
  return c;
}

uint16_t LocalCluster::port(int node) const { return ConfigOf(node).listen.port; }

std::string LocalCluster::data_dir(int node) const { return dir_ + "/" + Name(node); }

Status LocalCluster::StartAll() {
  for (int node = kCoordinator; node < options_.shards; ++node) {
    if (Status s = Start(node); !s.ok()) return s;
  }
  return Status::Ok();
}

Status LocalCluster::Start(int node, const std::map<std::string, std::string>& env) {
  TXC_CHECK(!pids_.count(node));
  const std::string role = node == kCoordinator ? "coordinator" : "shard";
  const std::string config = dir_ + "/" + Name(node) + ".yaml";
  const std::string log = dir_ + "/" + Name(node) + ".log";
  const pid_t pid = ::fork();
  TXC_CHECK(pid >= 0);
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 2);
      ::close(fd);
    }
    ::unsetenv("TXCOORD_CRASH_AT");
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    ::execl(TxcoordBinary(), TxcoordBinary(), role.c_str(), "--config", config.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  pids_[node] = pid;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (std::chrono::steady_clock::now() < deadline) {
    if (Accepts(port(node))) return Status::Ok();
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      pids_.erase(node);
      return Status::Unavailable(Name(node) + " exited with " + std::to_string(ExitCode(status)) +
                                 " while starting");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return Status::Timeout(Name(node) + " did not accept connections within 15 s");
}

Status LocalCluster::Stop(int node) {
  auto it = pids_.find(node);
  if (it == pids_.end()) return Status::NotFound(Name(node) + " is not running");
  ::kill(it->second, SIGTERM);
  std::optional<int> code = WaitExit(node, std::chrono::seconds(10));
  if (!code) {
    Kill(node);
    return Status::Timeout(Name(node) + " did not stop within 10 s of SIGTERM");
  }
  if (*code != 0) return Status::Aborted(Name(node) + " exited with " + std::to_string(*code));
  return Status::Ok();
}

void LocalCluster::Kill(int node) {
  auto it = pids_.find(node);
  if (it == pids_.end()) return;
  ::kill(it->second, SIGKILL);
  int status = 0;
  ::waitpid(it->second, &status, 0);
  pids_.erase(it);
}

std::optional<int> LocalCluster::WaitExit(int node, std::chrono::milliseconds timeout) {
  auto it = pids_.find(node);
  if (it == pids_.end()) return std::nullopt;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int status = 0;
    if (::waitpid(it->second, &status, WNOHANG) == it->second) {
      pids_.erase(it);
      return ExitCode(status);
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

bool LocalCluster::Running(int node) {
  auto it = pids_.find(node);
  if (it == pids_.end()) return false;
  int status = 0;
  if (::waitpid(it->second, &status, WNOHANG) == it->second) {
    pids_.erase(it);
    return false;
  }
  return true;
}

std::string LocalCluster::Logs() const {
  std::ostringstream out;
  for (int node = kCoordinator; node < options_.shards; ++node) {
    std::ifstream in(dir_ + "/" + Name(node) + ".log");
    out << "---- " << Name(node) << " ----\n" << in.rdbuf() << "\n";
  }
  return out.str();
}

}  // namespace txcoord::testing
