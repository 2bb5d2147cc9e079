// Proves `txcoord local up|status|down` (tools/local_command.h) on the real binary, the way a
// person or a script uses it: each command runs as its own process, its stdout read through a
// pipe until EOF, so `ADDR=$(txcoord local up ...)` returning at all shows that no node holds the
// launcher's stdout.
//
//  - up --shards 2 in a new directory prints the coordinator's address first; the nodes are
//    detached (own session, stdin /dev/null, output in their logs); a transaction across both
//    shards commits through the client library; status exits 0 with every node serving.
//  - down stops every node (each exits 0, a clean stop), its ports refuse connections, status
//    exits non-zero; up again restarts on the same data (same address, the value still readable);
//    a second up while running says so and exits 0; down again stops it.
//  - A node that cannot start (its data directory is a file), or an address already taken, makes
//    up exit 1 naming the node, with its log tail, and leave no node running.
//  - Usage errors exit 2.
//  - up --replicas 3 --shards 2: nine nodes named GROUP.rR, every config listing every replica
//    of every group and the one configuration store DIR/groups.yaml, eighteen distinct ports;
//    status prints a line per node and per group; another --replicas is a usage error.
//  - A cluster directory written before replica groups existed (one replica per group) still
//    opens, and Create writes the same configs for it (nothing changes for existing clusters).
// The test makes itself a child subreaper, so the detached nodes, orphaned when `up` exits,
// become its children: it reaps them and sees their exit status. Every wait is bounded.

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "client/client.h"
#include "cluster/config_master.h"
#include "cluster/etcd_store.h"
#include "tests/integration/local_cluster.h"
#include "tests/unit/temp_dir.h"
#include "tools/local_cluster.h"
#include "tools/local_etcd.h"

namespace txcoord {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Longer than any wait of the launcher (15 s to start, 10 + 5 s to stop).
constexpr seconds kCommandTimeout{40};

struct Ran {
  int status = -1;  // exit status; -1 when it had to be killed after kCommandTimeout
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs `txcoord ARGS...` with stdout through a pipe read until EOF, stderr to a file.
Ran Txcoord(const std::vector<std::string>& args, const std::string& scratch_dir) {
  const std::string err_path = scratch_dir + "/stderr.txt";
  std::filesystem::remove(err_path);
  int pipe_fds[2];
  TXC_CHECK(::pipe2(pipe_fds, O_CLOEXEC) == 0);
  local::SpawnOptions options;
  options.name = "txcoord local";
  options.argv.push_back(testing::TxcoordBinary());
  options.argv.insert(options.argv.end(), args.begin(), args.end());
  options.log_path = err_path;
  options.stdout_fd = pipe_fds[1];
  Result<local::Process> spawned = local::Process::Spawn(options);
  ::close(pipe_fds[1]);
  TXC_CHECK_MSG(spawned.ok(), spawned.status().ToString().c_str());
  local::Process& process = spawned.value();
  Ran ran;
  const auto deadline = std::chrono::steady_clock::now() + kCommandTimeout;
  char buffer[4096];
  while (std::chrono::steady_clock::now() < deadline) {  // bounded by the deadline
    pollfd readable{.fd = pipe_fds[0], .events = POLLIN, .revents = 0};
    if (::poll(&readable, 1, 100) <= 0) continue;
    const ssize_t n = ::read(pipe_fds[0], buffer, sizeof(buffer));
    if (n <= 0) break;  // EOF: nobody holds the pipe's write end any more
    ran.out.append(buffer, static_cast<size_t>(n));
  }
  ::close(pipe_fds[0]);
  const auto left =
      std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
  std::optional<int> status = process.WaitExit(std::max(left, milliseconds(0)));
  if (status) {
    ran.status = *status;
  } else {
    ADD_FAILURE() << "txcoord did not finish within " << kCommandTimeout.count() << " s";
    process.Kill();
  }
  std::ifstream err(err_path);
  std::ostringstream text;
  text << err.rdbuf();
  ran.err = text.str();
  return ran;
}

std::string FirstLine(const std::string& text) { return text.substr(0, text.find('\n')); }

std::string Describe(const Ran& ran) {
  return "exit " + std::to_string(ran.status) + "\n--- stdout ---\n" + ran.out +
         "--- stderr ---\n" + ran.err;
}

class LocalCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    dir_ = temp_.path() + "/cluster";
  }
  void TearDown() override {
    // Whatever a failed test left running: stopped by `down`, or killed here should `down` be
    // what is broken.
    Txcoord({"local", "down", "--data-dir", dir_}, temp_.path());
    if (Result<local::ClusterDir> cluster = local::ClusterDir::Open(dir_); cluster.ok()) {
      for (const auto& [node, pid] : started_) {
        Result<std::optional<local::Process>> left = cluster.value().FindNode(node, pid);
        if (left.ok() && left.value()) {
          ADD_FAILURE() << cluster.value().Name(node) << " still runs after `down`: killed";
          left.value()->Kill();
        }
      }
    }
    ReapNodes();
    if (HasFailure()) {
      std::error_code ec;
      for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
        if (entry.path().extension() != ".log") continue;
        std::ifstream log(entry.path());
        std::cerr << "---- " << entry.path().filename().string() << " ----\n"
                  << log.rdbuf() << "\n";
      }
    }
  }

  Ran Local(const std::vector<std::string>& args) {
    std::vector<std::string> all = {"local"};
    all.insert(all.end(), args.begin(), args.end());
    return Txcoord(all, temp_.path());
  }
  // `local up --shards 2` (and `extra` flags); remembers the nodes' pids for TearDown.
  Ran Up(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"up", "--shards", "2", "--data-dir", dir_};
    args.insert(args.end(), extra.begin(), extra.end());
    Ran ran = Local(args);
    if (Result<local::ClusterDir> cluster = local::ClusterDir::Open(dir_); cluster.ok()) {
      for (const local::NodeId node : cluster.value().nodes()) {
        const pid_t pid = PidOf(cluster.value().Name(node));
        if (pid > 0) started_.emplace(node, pid);
      }
    }
    return ran;
  }
  Ran Status() { return Local({"status", "--data-dir", dir_}); }
  Ran Down() { return Local({"down", "--data-dir", dir_}); }

  // Reaps the nodes orphaned to this process (a subreaper) that have exited, and returns their
  // exit statuses.
  std::vector<int> ReapNodes() {
    std::vector<int> statuses;
    for (int i = 0; i < 1000; ++i) {  // bounded: one per exited child
      int status = 0;
      if (::waitpid(-1, &status, WNOHANG) <= 0) break;
      statuses.push_back(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    }
    return statuses;
  }

  pid_t PidOf(const std::string& node) {
    std::ifstream in(dir_ + "/" + node + ".pid");
    pid_t pid = -1;
    in >> pid;
    return pid;
  }

  testing::TempDir temp_{"txcoord-local-cli"};
  std::string dir_;
  std::multimap<local::NodeId, pid_t> started_;  // every node pid seen after an `up`
};

std::unique_ptr<client::Client> Connect(const cluster::Address& address) {
  auto c = client::Client::Connect({.host = address.host, .port = address.port});
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? std::move(c.value()) : nullptr;
}

// Reads `key` in a one-shot transaction, retried (bounded, 5 s) while it conflicts with the locks
// of a transaction still finishing.
std::optional<std::string> ReadCommitted(client::Client& c, const std::string& key) {
  for (int attempt = 0; attempt < 250; ++attempt) {
    auto r = c.Execute(Protocol::kTwoPc, {Op{.type = Op::Type::kGet, .key = key}});
    if (r.ok() && r.value().result.outcome == Outcome::kCommitted && r.value().reads.size() == 1) {
      return r.value().reads[0].found ? std::optional(r.value().reads[0].value) : std::nullopt;
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
  ADD_FAILURE() << "could not read " << key;
  return std::nullopt;
}

TEST_F(LocalCliTest, UpCommitDownUpAgainOnTheSameData) {
  const Ran up = Up();
  ASSERT_EQ(up.status, 0) << Describe(up);
  const Result<cluster::Address> address = cluster::ParseAddress(FirstLine(up.out));
  ASSERT_TRUE(address.ok()) << "first line: " << FirstLine(up.out);
  EXPECT_EQ(address.value().host, "127.0.0.1");
  Result<local::ClusterDir> cluster = local::ClusterDir::Open(dir_);
  ASSERT_TRUE(cluster.ok()) << cluster.status().ToString();
  ASSERT_EQ(cluster.value().shards(), 2);
  EXPECT_EQ(cluster.value().address(local::kCoordinator), address.value());

  // Detached: a session of its own, stdin from /dev/null, stdout and stderr into its log.
  for (const local::NodeId node : cluster.value().nodes()) {
    const pid_t pid = PidOf(local::NodeName(node));
    ASSERT_GT(pid, 0) << local::NodeName(node);
    EXPECT_EQ(::getsid(pid), pid) << local::NodeName(node);
    const std::string fds = "/proc/" + std::to_string(pid) + "/fd/";
    EXPECT_EQ(std::filesystem::read_symlink(fds + "0"), "/dev/null");
    EXPECT_EQ(std::filesystem::read_symlink(fds + "1"), cluster.value().LogPath(node));
    EXPECT_EQ(std::filesystem::read_symlink(fds + "2"), cluster.value().LogPath(node));
  }

  // A transaction across both shards commits.
  std::unique_ptr<client::Client> c = Connect(address.value());
  ASSERT_NE(c, nullptr);
  std::vector<std::string> keys(2);
  for (int i = 0; keys[0].empty() || keys[1].empty(); ++i) {
    const std::string key = "k" + std::to_string(i);
    std::string& slot = keys[static_cast<size_t>(c->ShardOf(key))];
    if (slot.empty()) slot = key;
  }
  auto txn = c->Begin(Protocol::kTwoPc);
  ASSERT_TRUE(txn.ok()) << txn.status().ToString();
  ASSERT_TRUE(c->Write(txn.value(), keys[0], "v0").ok());
  ASSERT_TRUE(c->Write(txn.value(), keys[1], "v1").ok());
  auto committed = c->Commit(txn.value());
  ASSERT_TRUE(committed.ok()) << committed.status().ToString();
  ASSERT_EQ(committed.value().outcome, Outcome::kCommitted) << committed.value().detail;
  EXPECT_EQ(txn.value().touched().size(), 2u);
  c.reset();

  const Ran status = Status();
  EXPECT_EQ(status.status, 0) << Describe(status);

  // Down: every node stops cleanly, its port refuses connections, status says so.
  const Ran down = Down();
  ASSERT_EQ(down.status, 0) << Describe(down);
  for (const local::NodeId node : cluster.value().nodes()) {
    EXPECT_FALSE(local::Accepts(cluster.value().address(node))) << local::NodeName(node);
    EXPECT_FALSE(std::filesystem::exists(cluster.value().PidPath(node)));
  }
  EXPECT_EQ(ReapNodes(), std::vector<int>(3, 0)) << "every node exits 0 on SIGTERM";
  const Ran stopped = Status();
  EXPECT_NE(stopped.status, 0) << Describe(stopped);
  EXPECT_NE(stopped.out.find("not running"), std::string::npos) << Describe(stopped);

  // Up again: the same cluster on the same data.
  const Ran again = Up();
  ASSERT_EQ(again.status, 0) << Describe(again);
  EXPECT_EQ(FirstLine(again.out), FirstLine(up.out));
  c = Connect(address.value());
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(ReadCommitted(*c, keys[0]), std::optional<std::string>("v0"));
  EXPECT_EQ(ReadCommitted(*c, keys[1]), std::optional<std::string>("v1"));
  c.reset();

  // Up while running: nothing to do, said so.
  const Ran twice = Up();
  EXPECT_EQ(twice.status, 0) << Describe(twice);
  EXPECT_EQ(FirstLine(twice.out), FirstLine(up.out));
  EXPECT_NE(twice.out.find("already running"), std::string::npos) << Describe(twice);
  EXPECT_EQ(Status().status, 0);

  const Ran last = Down();
  EXPECT_EQ(last.status, 0) << Describe(last);
  EXPECT_NE(Status().status, 0);
  // Down with nothing running is fine too.
  EXPECT_EQ(Down().status, 0);
}

TEST_F(LocalCliTest, ANodeThatCannotStartFailsUpAndLeavesNothingRunning) {
  ASSERT_EQ(Up().status, 0);
  ASSERT_EQ(Down().status, 0);
  ReapNodes();
  // shard1 cannot open its log: its data directory is now a file.
  std::filesystem::remove_all(dir_ + "/shard1");
  std::ofstream(dir_ + "/shard1") << "not a directory\n";

  const Ran up = Up();
  EXPECT_EQ(up.status, 1) << Describe(up);
  EXPECT_EQ(up.out, "") << "no address is printed for a cluster that is not up";
  EXPECT_NE(up.err.find("shard1 exited with 2 while starting"), std::string::npos) << Describe(up);
  EXPECT_NE(up.err.find("not a directory"), std::string::npos) << "the log tail: " << up.err;
  const Ran status = Status();
  EXPECT_NE(status.status, 0);
  EXPECT_EQ(status.out.find("serving"), std::string::npos) << Describe(status);
  for (const char* node : {"coordinator", "shard0", "shard1"}) {
    EXPECT_FALSE(std::filesystem::exists(dir_ + "/" + node + ".pid")) << node;
  }
}

TEST_F(LocalCliTest, AnAddressTakenByAnotherProgramFailsUp) {
  // A listener on a port the kernel picked; the coordinator is asked to use it.
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string port = std::to_string(ntohs(addr.sin_port));
  if (ntohs(addr.sin_port) > 65533) GTEST_SKIP() << "no room for two shard ports above " << port;

  const Ran up = Local({"up", "--shards", "2", "--base-port", port, "--data-dir", dir_});
  ::close(fd);
  EXPECT_EQ(up.status, 1) << Describe(up);
  EXPECT_NE(up.err.find("coordinator's address 127.0.0.1:" + port + " is taken"), std::string::npos)
      << Describe(up);
  EXPECT_NE(Status().status, 0);
}

// Free ports for a cluster and its etcd: distinct, none of those a caller already holds for
// something else (the etcd members' ports, laid out before the nodes' are picked: CI once saw a
// node given an etcd member's peer port), and below the kernel's ephemeral range, where no
// outgoing connection (an etcd member dialling its peers) can be handed one before its server
// binds it.
TEST(PickFreePortsTest, PortsAreDistinctUntakenAndBelowTheEphemeralRange) {
  std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
  int ephemeral_low = 0;
  int ephemeral_high = 0;
  ASSERT_TRUE(range >> ephemeral_low >> ephemeral_high);
  if (ephemeral_low < 12000) GTEST_SKIP() << "ephemeral ports start at " << ephemeral_low;
  for (int round = 0; round < 20; ++round) {
    Result<std::vector<uint16_t>> first = local::PickFreePorts(10);
    ASSERT_TRUE(first.ok()) << first.status().ToString();
    Result<std::vector<uint16_t>> second = local::PickFreePorts(60, first.value());
    ASSERT_TRUE(second.ok()) << second.status().ToString();
    std::set<uint16_t> all(first.value().begin(), first.value().end());
    all.insert(second.value().begin(), second.value().end());
    EXPECT_EQ(all.size(), 70u) << "a port picked twice in round " << round;
    for (const uint16_t port : all) {
      EXPECT_LT(port, ephemeral_low) << "an ephemeral port";
      EXPECT_GE(port, 1024) << "a privileged port";
    }
  }
}

TEST_F(LocalCliTest, UsageErrorsExit2) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"local"},
           {"local", "start", "--data-dir", "x"},
           {"local", "up"},
           {"local", "up", "--data-dir"},
           {"local", "up", "--data-dir", "x", "--shards", "0"},
           {"local", "up", "--data-dir", "x", "--shards", "65"},
           {"local", "up", "--data-dir", "x", "--shards", "two"},
           {"local", "up", "--data-dir", "x", "--tick-ms", "0"},
           {"local", "up", "--data-dir", "x", "--base-port", "70000"},
           {"local", "status", "--data-dir", "x", "--shards", "2"},
           {"local", "down", "--data-dir", "x", "--verbose"},
       }) {
    const Ran ran = Txcoord(args, temp_.path());
    std::string command;
    for (const std::string& a : args) command += " " + a;
    EXPECT_EQ(ran.status, 2) << "txcoord" << command << "\n" << Describe(ran);
    EXPECT_NE(ran.err.find("txcoord local: "), std::string::npos) << command << ": " << ran.err;
  }
  EXPECT_FALSE(std::filesystem::exists(temp_.path() + "/x")) << "a usage error creates nothing";

  // Another --shards for an existing cluster is a usage error too, and leaves it as it was.
  ASSERT_EQ(Up().status, 0);
  const Ran other = Local({"up", "--shards", "3", "--data-dir", dir_});
  EXPECT_EQ(other.status, 2) << Describe(other);
  EXPECT_NE(other.err.find("holds a cluster of 2 shards"), std::string::npos) << other.err;
  EXPECT_EQ(Status().status, 0);
  EXPECT_EQ(Down().status, 0);
}

// The line of `text` that starts with `prefix`; empty when none does.
std::string LineStartingWith(const std::string& text, const std::string& prefix) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) return line;
  }
  return "";
}

TEST_F(LocalCliTest, UpWithReplicaGroups) {
  const Ran up = Up({"--replicas", "3"});
  ASSERT_EQ(up.status, 0) << Describe(up);
  Result<local::ClusterDir> opened = local::ClusterDir::Open(dir_);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  const local::ClusterDir& cluster = opened.value();
  EXPECT_EQ(cluster.shards(), 2);
  ASSERT_EQ(cluster.replicas(), 3);

  // Names and files: GROUP.rR for each of the nine nodes, in order; no coordinator.yaml.
  std::vector<std::string> names;
  for (const local::NodeId node : cluster.nodes()) names.push_back(cluster.Name(node));
  EXPECT_EQ(names, (std::vector<std::string>{"coordinator.r0", "coordinator.r1", "coordinator.r2",
                                             "shard0.r0", "shard0.r1", "shard0.r2", "shard1.r0",
                                             "shard1.r1", "shard1.r2"}));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/coordinator.yaml"));
  for (const local::NodeId node : cluster.nodes()) {
    const std::string name = cluster.Name(node);
    EXPECT_EQ(cluster.ConfigPath(node), cluster.dir() + "/" + name + ".yaml");
    EXPECT_EQ(cluster.DataDir(node), cluster.dir() + "/" + name);
    EXPECT_TRUE(std::filesystem::exists(cluster.ConfigPath(node))) << name;
    EXPECT_TRUE(std::filesystem::exists(cluster.LogPath(node))) << name;
    EXPECT_GT(PidOf(name), 0) << name;
  }

  // Eighteen distinct ports: every node's client port, then every node's peer port.
  std::set<uint16_t> ports;
  for (const local::NodeId node : cluster.nodes()) {
    ports.insert(cluster.address(node).port);
    ports.insert(cluster.peer_address(node).port);
  }
  EXPECT_EQ(ports.size(), 18u);

  // Every config lists every replica of every group, names its own replica, and shares the one
  // configuration store.
  const cluster::NodeConfig& first = cluster.config(local::kCoordinator);
  for (const local::NodeId node : cluster.nodes()) {
    const std::string name = cluster.Name(node);
    Result<cluster::NodeConfig> loaded = cluster::LoadNodeConfig(cluster.ConfigPath(node));
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    const cluster::NodeConfig& c = loaded.value();
    EXPECT_EQ(c.replica, node.replica) << name;
    EXPECT_EQ(c.role, node.group == local::kCoordinator ? cluster::Role::kCoordinator
                                                        : cluster::Role::kShard)
        << name;
    EXPECT_EQ(c.shard, node.group) << name;
    EXPECT_EQ(c.config_store, cluster.dir() + "/groups.yaml") << name;
    EXPECT_EQ(c.data_dir, cluster.DataDir(node)) << name;
    ASSERT_EQ(c.coordinators.size(), 3u) << name;
    ASSERT_EQ(c.coordinator_peers.size(), 3u) << name;
    ASSERT_EQ(c.shard_replicas.size(), 2u) << name;
    ASSERT_EQ(c.shard_replica_peers.size(), 2u) << name;
    for (size_t shard = 0; shard < 2; ++shard) {
      EXPECT_EQ(c.shard_replicas[shard].size(), 3u) << name;
      EXPECT_EQ(c.shard_replica_peers[shard].size(), 3u) << name;
    }
    EXPECT_EQ(c.coordinators, first.coordinators) << name;
    EXPECT_EQ(c.coordinator_peers, first.coordinator_peers) << name;
    EXPECT_EQ(c.shard_replicas, first.shard_replicas) << name;
    EXPECT_EQ(c.shard_replica_peers, first.shard_replica_peers) << name;
    const size_t r = static_cast<size_t>(node.replica);
    const cluster::Address& listen = node.group == local::kCoordinator
                                         ? c.coordinators[r]
                                         : c.shard_replicas[static_cast<size_t>(node.group)][r];
    EXPECT_EQ(c.listen, listen) << name;
    EXPECT_EQ(c.listen, cluster.address(node)) << name;
  }
  // The first line: the address of one of the coordinator's replicas.
  bool a_coordinator = false;
  for (const cluster::Address& a : first.coordinators) {
    a_coordinator = a_coordinator || a.ToString() == FirstLine(up.out);
  }
  EXPECT_TRUE(a_coordinator) << "first line: " << FirstLine(up.out);

  // Status: one line per node (its address, serving) and one per group (its primary, epoch,
  // version and ISR as the configuration store has them, or not made yet).
  const Ran status = Status();
  EXPECT_EQ(status.status, 0) << Describe(status);
  for (const local::NodeId node : cluster.nodes()) {
    const std::string line = LineStartingWith(status.out, "  " + cluster.Name(node) + " ");
    EXPECT_NE(line.find(cluster.address(node).ToString()), std::string::npos)
        << cluster.Name(node) << "\n"
        << status.out;
    EXPECT_NE(line.find("serving"), std::string::npos) << cluster.Name(node) << "\n" << status.out;
    // Its log: a new cluster's starts at position 1 (nothing truncated yet).
    EXPECT_NE(line.find(" 1.."), std::string::npos) << cluster.Name(node) << "\n" << status.out;
  }
  for (int group : cluster.groups()) {
    const std::string line = LineStartingWith(status.out, "  " + local::GroupName(group) + " ");
    ASSERT_FALSE(line.empty()) << local::GroupName(group) << "\n" << status.out;
    Result<replication::GroupConfig> config = cluster.ReadGroup(group);
    if (config.ok()) {
      EXPECT_NE(line.find(cluster.Name(local::NodeId(group, config.value().primary))),
                std::string::npos)
          << line;
    } else {
      EXPECT_EQ(config.status().code(), txcoord::Status::Code::kNotFound)
          << config.status().ToString();
    }
  }

  // Another --replicas for this cluster is a usage error; up again says it runs.
  const Ran other = Up({"--replicas", "2"});
  EXPECT_EQ(other.status, 2) << Describe(other);
  EXPECT_NE(other.err.find("holds a cluster of 2 shards, 3 replicas per group"), std::string::npos)
      << other.err;
  EXPECT_NE(other.err.find("--replicas 2 asks for another"), std::string::npos) << other.err;
  const Ran twice = Up();
  EXPECT_EQ(twice.status, 0) << Describe(twice);
  EXPECT_NE(twice.out.find("already running"), std::string::npos) << Describe(twice);

  const Ran down = Down();
  ASSERT_EQ(down.status, 0) << Describe(down);
  for (const local::NodeId node : cluster.nodes()) {
    EXPECT_FALSE(local::Accepts(cluster.address(node))) << cluster.Name(node);
    EXPECT_FALSE(std::filesystem::exists(cluster.PidPath(node))) << cluster.Name(node);
  }
  EXPECT_EQ(ReapNodes(), std::vector<int>(9, 0)) << "every node exits 0 on SIGTERM";
  const Ran stopped = Status();
  EXPECT_NE(stopped.status, 0) << Describe(stopped);
}

// What `txcoord local up --shards 2 --base-port 23100 --data-dir DIR` wrote before replica groups
// existed (DIR stands for the directory).
const std::map<std::string, std::string> kClusterBeforeReplicaGroups = {
    {"coordinator.yaml",
     "# txcoord node config; the schema is in cluster/config.h\n"
     "role: coordinator\n"
     "data_dir: DIR/coordinator\n"
     "coordinator: 127.0.0.1:23100\n"
     "coordinator_peer: 127.0.0.1:23103\n"
     "partitioning: hash\n"
     "shards:\n"
     "  - 127.0.0.1:23101\n"
     "  - 127.0.0.1:23102\n"
     "shard_peers:\n"
     "  - 127.0.0.1:23104\n"
     "  - 127.0.0.1:23105\n"
     "tick_ms: 10\n"
     "wal_sync: sync\n"
     "vote_timeout_ms: 2000\n"
     "client_timeout_ms: 5000\n"
     "idle_timeout_ms: 10000\n"
     "retain_finished: 100000\n"
     "max_frame_bytes: 16777216\n"},
    {"shard0.yaml",
     "# txcoord node config; the schema is in cluster/config.h\n"
     "role: shard\n"
     "shard: 0\n"
     "data_dir: DIR/shard0\n"
     "coordinator: 127.0.0.1:23100\n"
     "coordinator_peer: 127.0.0.1:23103\n"
     "partitioning: hash\n"
     "shards:\n"
     "  - 127.0.0.1:23101\n"
     "  - 127.0.0.1:23102\n"
     "shard_peers:\n"
     "  - 127.0.0.1:23104\n"
     "  - 127.0.0.1:23105\n"
     "tick_ms: 10\n"
     "wal_sync: sync\n"
     "vote_timeout_ms: 2000\n"
     "client_timeout_ms: 5000\n"
     "idle_timeout_ms: 10000\n"
     "retain_finished: 100000\n"
     "max_frame_bytes: 16777216\n"},
    {"shard1.yaml",
     "# txcoord node config; the schema is in cluster/config.h\n"
     "role: shard\n"
     "shard: 1\n"
     "data_dir: DIR/shard1\n"
     "coordinator: 127.0.0.1:23100\n"
     "coordinator_peer: 127.0.0.1:23103\n"
     "partitioning: hash\n"
     "shards:\n"
     "  - 127.0.0.1:23101\n"
     "  - 127.0.0.1:23102\n"
     "shard_peers:\n"
     "  - 127.0.0.1:23104\n"
     "  - 127.0.0.1:23105\n"
     "tick_ms: 10\n"
     "wal_sync: sync\n"
     "vote_timeout_ms: 2000\n"
     "client_timeout_ms: 5000\n"
     "idle_timeout_ms: 10000\n"
     "retain_finished: 100000\n"
     "max_frame_bytes: 16777216\n"},
};

// `local up --config-master etcd --etcd-members 3`: the launcher starts a 3-member etcd in DIR
// first, the nodes keep their groups' configurations there (and register), a commit goes
// through, `status` shows the etcd members and each node's reach of it, `down` stops the etcd
// members too, and `up` again restarts everything on the same data.
TEST_F(LocalCliTest, UpOnEtcd) {
  const Ran up = Up({"--replicas", "3", "--config-master", "etcd", "--etcd-members", "3"});
  ASSERT_EQ(up.status, 0) << Describe(up);
  EXPECT_NE(up.out.find("configuration master: etcd ("), std::string::npos) << up.out;
  Result<local::ClusterDir> opened = local::ClusterDir::Open(dir_);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  const local::ClusterDir& cluster = opened.value();
  Result<local::LocalEtcd> etcd = local::LocalEtcd::Open(dir_);
  ASSERT_TRUE(etcd.ok()) << etcd.status().ToString();
  ASSERT_EQ(etcd.value().size(), 3);
  std::vector<pid_t> etcd_pids;
  for (int i = 0; i < 3; ++i) {
    const pid_t pid = PidOf(etcd.value().member(i).name);
    ASSERT_GT(pid, 0) << etcd.value().member(i).name;
    etcd_pids.push_back(pid);
  }
  for (const local::NodeId node : cluster.nodes()) {
    const cluster::NodeConfig& c = cluster.config(node);
    EXPECT_EQ(c.config_master, "etcd") << cluster.Name(node);
    EXPECT_EQ(c.etcd_endpoints, etcd.value().endpoints()) << cluster.Name(node);
    EXPECT_EQ(c.config_store, "") << cluster.Name(node);
  }
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/groups.yaml"));
  // The groups' configurations and the nodes' registrations are in etcd.
  cluster::EtcdConfigStore store(cluster::EtcdOptionsOf(cluster.config(local::kCoordinator)),
                                 "/txcoord/");
  Result<std::map<std::string, replication::GroupConfig>> groups = store.ReadAll();
  ASSERT_TRUE(groups.ok()) << groups.status().ToString();
  EXPECT_EQ(groups.value().size(), 3u);
  Result<std::map<std::string, std::string>> members = store.Members();
  ASSERT_TRUE(members.ok()) << members.status().ToString();
  EXPECT_EQ(members.value().size(), 9u);
  EXPECT_EQ(members.value().count("shard1/2"), 1u);

  auto c = Connect(cluster::ParseAddress(FirstLine(up.out)).value());
  ASSERT_NE(c, nullptr);
  auto put = c->Execute(Protocol::kTwoPc, {Op{.type = Op::Type::kPut, .key = "k", .value = "v"}});
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  EXPECT_EQ(put.value().result.outcome, Outcome::kCommitted);

  const Ran status = Status();
  EXPECT_EQ(status.status, 0) << Describe(status);
  EXPECT_NE(status.out.find("configuration master etcd ("), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("leader"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("master"), std::string::npos) << status.out;
  EXPECT_EQ(status.out.find("lost"), std::string::npos) << status.out;

  const Ran down = Down();
  ASSERT_EQ(down.status, 0) << Describe(down);
  EXPECT_NE(down.out.find("etcd2 (pid"), std::string::npos) << down.out;
  ReapNodes();
  for (int i = 0; i < 3; ++i) {
    Result<std::optional<local::Process>> left = etcd.value().Find(i, etcd_pids[i]);
    ASSERT_TRUE(left.ok());
    EXPECT_FALSE(left.value().has_value()) << "etcd" << i << " still runs after `down`";
    if (left.value()) left.value()->Kill();
  }
  // Restarted on the same data: the commit is still there.
  const Ran again = Up();
  ASSERT_EQ(again.status, 0) << Describe(again);
  auto c2 = Connect(cluster::ParseAddress(FirstLine(again.out)).value());
  ASSERT_NE(c2, nullptr);
  EXPECT_EQ(ReadCommitted(*c2, "k"), std::optional<std::string>("v"));
  // Asking the cluster for another configuration master is a usage error.
  const Ran other = Up({"--config-master", "static"});
  EXPECT_EQ(other.status, 2) << Describe(other);
}

TEST_F(LocalCliTest, AClusterMadeBeforeReplicaGroupsOpensAndIsWhatCreateWrites) {
  const std::string old_dir = temp_.path() + "/old";
  std::filesystem::create_directories(old_dir);
  for (const auto& [file, text] : kClusterBeforeReplicaGroups) {
    std::string content = text;
    for (size_t at = content.find("DIR"); at != std::string::npos; at = content.find("DIR", at)) {
      content.replace(at, 3, old_dir);
    }
    std::ofstream(old_dir + "/" + file) << content;
  }
  Result<local::ClusterDir> old_cluster = local::ClusterDir::Open(old_dir);
  ASSERT_TRUE(old_cluster.ok()) << old_cluster.status().ToString();
  EXPECT_EQ(old_cluster.value().shards(), 2);
  EXPECT_EQ(old_cluster.value().replicas(), 1);

  // The same cluster created now: the same files and, but for the directory, the same configs.
  Result<local::ClusterDir> created =
      local::ClusterDir::Create(dir_, 2, 23100, cluster::NodeConfig{});
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  std::set<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    files.insert(entry.path().filename().string());
  }
  EXPECT_EQ(files, (std::set<std::string>{"coordinator.yaml", "shard0.yaml", "shard1.yaml"}));
  Result<local::ClusterDir> reopened = local::ClusterDir::Open(dir_);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  ASSERT_EQ(reopened.value().nodes().size(), 3u);
  for (const local::NodeId node : reopened.value().nodes()) {
    const std::string name = reopened.value().Name(node);
    EXPECT_EQ(name, local::GroupName(node.group));
    cluster::NodeConfig now = reopened.value().config(node);
    const cluster::NodeConfig& before = old_cluster.value().config(node);
    EXPECT_EQ(now.config_store, now.data_dir + "/groups.yaml") << name;
    EXPECT_EQ(now.data_dir, reopened.value().DataDir(node)) << name;
    now.data_dir = before.data_dir;
    now.config_store = before.config_store;
    EXPECT_TRUE(now == before) << name << ": now\n"
                               << cluster::FormatNodeConfig(reopened.value().config(node))
                               << "before\n"
                               << cluster::FormatNodeConfig(before);
  }
}

}  // namespace
}  // namespace txcoord
