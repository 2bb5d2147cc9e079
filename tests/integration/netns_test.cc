// Three "machines" on this one: network namespaces made by the test, joined by veth pairs to a
// bridge in this (the test's) namespace, each holding one member of a 3-member etcd cluster and
// one replica of every group (replica r of the coordinator and of both shards in namespace r, at
// 10.R.0.(r+1)). A bank load runs from this namespace throughout. Then namespace 0, which holds
// every group's first primary, is cut off (its link to the bridge set down): the majority side
// (namespaces 1 and 2, two of the three etcd members) elects new primaries and goes on; the cut
// side can commit nothing (its primaries lost their in-sync backups) and change nothing (its etcd
// member has no majority). Then the link is healed: the cut replicas rejoin as backups. At the
// end, as in failover_test.cc: the balances read equal the acknowledged transfers (give or take
// calls that got no reply), the total is constant, and no two replicas of a group ever served
// in one epoch (from the nodes' logs).
//
// It needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN for `ip netns`); elsewhere it is skipped, saying
// why. Every namespace, link and process it made is removed at the end, also on failure.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "client/client.h"
#include "cluster/config.h"
#include "cluster/config_master.h"
#include "cluster/etcd_client.h"
#include "cluster/etcd_store.h"
#include "tests/integration/bank.h"
#include "tests/integration/local_cluster.h"
#include "tests/unit/temp_dir.h"
#include "tools/local_cluster.h"

namespace txcoord {
namespace {

using Clock = std::chrono::steady_clock;
using client::Client;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kMachines = 3;
constexpr int kShards = 2;
constexpr int kAccounts = 40;
constexpr int64_t kInitial = 1000;
constexpr int kClients = 4;
constexpr uint16_t kEtcdClientPort = 2379;
constexpr uint16_t kEtcdPeerPort = 2380;

using testing::Account;

// Runs a command (argv[0] found on PATH), its output to `log`; its exit status.
int Run(const std::vector<std::string>& argv, const std::string& log) {
  local::SpawnOptions o;
  o.name = argv[0];
  o.argv = argv;
  if (o.argv[0].find('/') == std::string::npos) o.argv[0] = "/usr/sbin/" + o.argv[0];
  o.log_path = log;
  Result<local::Process> p = local::Process::Spawn(o);
  if (!p.ok()) return -1;
  std::optional<int> status = p.value().WaitExit(seconds(10));
  if (!status) {
    p.value().Kill();
    return -1;
  }
  return *status;
}

// The namespaces, the bridge and the veth pairs, removed by the destructor.
class Machines {
 public:
  explicit Machines(std::string log) : log_(std::move(log)) {
    // Names unique to this process (interface names are at most 15 bytes).
    tag_ = std::to_string(::getpid() % 100000);
    subnet_ = 10 + static_cast<int>(::getpid() % 200);
  }
  ~Machines() {
    for (int r = 0; r < kMachines; ++r) {
      (void)Run({"ip", "link", "del", Veth(r, 'a')}, log_);
      (void)Run({"ip", "netns", "del", Netns(r)}, log_);
    }
    (void)Run({"ip", "link", "del", Bridge()}, log_);
  }
  // Makes them; false (with the failing command in the log) when this system does not let it.
  bool Make() {
    const std::vector<std::vector<std::string>> setup = [&] {
      std::vector<std::vector<std::string>> c;
      c.push_back({"ip", "link", "add", Bridge(), "type", "bridge"});
      c.push_back({"ip", "addr", "add", Subnet(254) + "/24", "dev", Bridge()});
      c.push_back({"ip", "link", "set", Bridge(), "up"});
      for (int r = 0; r < kMachines; ++r) {
        c.push_back({"ip", "netns", "add", Netns(r)});
        c.push_back({"ip", "link", "add", Veth(r, 'a'), "type", "veth", "peer", "name",
                     Veth(r, 'b')});
        c.push_back({"ip", "link", "set", Veth(r, 'b'), "netns", Netns(r)});
        c.push_back({"ip", "link", "set", Veth(r, 'a'), "master", Bridge()});
        c.push_back({"ip", "link", "set", Veth(r, 'a'), "up"});
        c.push_back({"ip", "netns", "exec", Netns(r), "ip", "addr", "add", Host(r) + "/24", "dev",
                     Veth(r, 'b')});
        c.push_back({"ip", "netns", "exec", Netns(r), "ip", "link", "set", Veth(r, 'b'), "up"});
        c.push_back({"ip", "netns", "exec", Netns(r), "ip", "link", "set", "lo", "up"});
      }
      return c;
    }();
    for (const std::vector<std::string>& command : setup) {
      if (Run(command, log_) != 0) {
        std::string text;
        for (const std::string& a : command) text += a + " ";
        failed_ = text;
        return false;
      }
    }
    return true;
  }
  // Cuts machine r off from every other one (and from this namespace), or heals it.
  bool SetLink(int r, bool up) {
    return Run({"ip", "link", "set", Veth(r, 'a'), up ? "up" : "down"}, log_) == 0;
  }
  std::string Host(int r) const { return Subnet(r + 1); }
  std::string Netns(int r) const { return "txm" + std::to_string(r) + "-" + tag_; }
  const std::string& failed() const { return failed_; }

 private:
  std::string Subnet(int host) const {
    return "10." + std::to_string(subnet_) + ".0." + std::to_string(host);
  }
  std::string Bridge() const { return "txbr" + tag_; }
  std::string Veth(int r, char end) const {
    return "txv" + std::to_string(r) + end + tag_;
  }
  std::string log_;
  std::string tag_;
  int subnet_ = 10;
  std::string failed_;
};

class NetnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root for ip netns";
    if (!std::filesystem::exists("/usr/sbin/ip")) GTEST_SKIP() << "no /usr/sbin/ip (iproute2)";
    if (!local::LocalEtcd::Binary().ok()) GTEST_SKIP() << "no etcd (etcd-server)";
    machines_.emplace(temp_.path() + "/ip.log");
    if (!machines_->Make()) {
      GTEST_SKIP() << "this system does not allow network namespaces here: "
                   << machines_->failed() << "(" << local::LogTail(temp_.path() + "/ip.log", 0, 3)
                   << ")";
    }
    WriteConfigs();
    StartAll();
  }
  void TearDown() override {
    stop_ = true;
    for (std::thread& t : threads_) t.join();
    if (HasFailure()) std::cerr << Logs();
    for (auto& [name, p] : processes_) p.Kill();
    processes_.clear();
    machines_.reset();
  }

  // etcd member r and replica r of every group in namespace r; one prefix for the cluster.
  void WriteConfigs() {
    std::string initial;
    for (int r = 0; r < kMachines; ++r) {
      initial += (r ? "," : "") + std::string("etcd") + std::to_string(r) + "=http://" +
                 machines_->Host(r) + ":" + std::to_string(kEtcdPeerPort);
      etcd_endpoints_.push_back({machines_->Host(r), kEtcdClientPort});
    }
    for (int r = 0; r < kMachines; ++r) {
      const std::string url = "http://" + machines_->Host(r) + ":";
      etcd_args_.push_back({"--name", "etcd" + std::to_string(r), "--data-dir",
                            temp_.path() + "/etcd" + std::to_string(r), "--listen-client-urls",
                            url + std::to_string(kEtcdClientPort), "--advertise-client-urls",
                            url + std::to_string(kEtcdClientPort), "--listen-peer-urls",
                            url + std::to_string(kEtcdPeerPort), "--initial-advertise-peer-urls",
                            url + std::to_string(kEtcdPeerPort), "--initial-cluster", initial,
                            "--initial-cluster-state", "new", "--initial-cluster-token",
                            "txcoord-netns-" + std::to_string(::getpid()), "--logger", "zap",
                            "--log-level", "warn"});
    }
    // Ports: each machine has its own, so every replica r uses the same numbers at its host.
    cluster::NodeConfig base;
    base.config_master = "etcd";
    base.etcd_endpoints = etcd_endpoints_;
    base.vote_timeout_ms = 1000;
    base.client_timeout_ms = 3000;
    base.config_store.clear();
    const auto address = [&](int machine, uint16_t port) -> cluster::Address {
      return {machines_->Host(machine), port};
    };
    for (int r = 0; r < kMachines; ++r) {
      base.coordinators.push_back(address(r, 7000));
      base.coordinator_peers.push_back(address(r, 7500));
    }
    base.shard_replicas.assign(kShards, {});
    base.shard_replica_peers.assign(kShards, {});
    for (int s = 0; s < kShards; ++s) {
      for (int r = 0; r < kMachines; ++r) {
        base.shard_replicas[s].push_back(address(r, static_cast<uint16_t>(7100 + s)));
        base.shard_replica_peers[s].push_back(address(r, static_cast<uint16_t>(7600 + s)));
      }
    }
    base.coordinator = base.coordinators[0];
    base.coordinator_peer = base.coordinator_peers[0];
    base.shard_map.shards.clear();
    base.shard_peers.clear();
    for (int s = 0; s < kShards; ++s) {
      base.shard_map.shards.push_back(
          {s, base.shard_replicas[s][0].host, base.shard_replicas[s][0].port});
      base.shard_peers.push_back(base.shard_replica_peers[s][0]);
    }
    for (int group = local::kCoordinator; group < kShards; ++group) {
      for (int r = 0; r < kMachines; ++r) {
        cluster::NodeConfig c = base;
        c.replica = r;
        c.role = group == local::kCoordinator ? cluster::Role::kCoordinator : cluster::Role::kShard;
        c.shard = group;
        c.listen = group == local::kCoordinator ? base.coordinators[r]
                                                : base.shard_replicas[group][r];
        c.peer_listen = group == local::kCoordinator ? base.coordinator_peers[r]
                                                     : base.shard_replica_peers[group][r];
        const std::string name = local::NodeName({group, r}, kMachines);
        c.data_dir = temp_.path() + "/" + name;
        const std::string path = temp_.path() + "/" + name + ".yaml";
        std::ofstream(path) << cluster::FormatNodeConfig(c);
        nodes_.push_back({name, group, r, path, c.listen});
      }
    }
    for (const cluster::Address& a : base.coordinators) client_.coordinators.push_back(a.ToString());
    client_.timeout = milliseconds(8000);
  }

  local::Process Spawn(const std::string& name, int machine, std::vector<std::string> argv) {
    local::SpawnOptions o;
    o.name = name;
    o.argv = {"/usr/sbin/ip", "netns", "exec", machines_->Netns(machine)};
    o.argv.insert(o.argv.end(), argv.begin(), argv.end());
    o.log_path = temp_.path() + "/" + name + ".log";
    Result<local::Process> p = local::Process::Spawn(o);
    TXC_CHECK_MSG(p.ok(), p.status().ToString().c_str());
    return std::move(p.value());
  }

  void StartAll() {
    const std::string etcd = local::LocalEtcd::Binary().value();
    for (int r = 0; r < kMachines; ++r) {
      std::vector<std::string> argv = {etcd};
      argv.insert(argv.end(), etcd_args_[r].begin(), etcd_args_[r].end());
      processes_.emplace("etcd" + std::to_string(r), Spawn("etcd" + std::to_string(r), r, argv));
    }
    cluster::EtcdClientOptions o;
    o.endpoints = etcd_endpoints_;
    cluster::EtcdClient client(o);
    const auto deadline = Clock::now() + seconds(20);
    bool ready = false;
    while (!ready && Clock::now() < deadline) {
      ready = client.Range("/probe").ok();
      if (!ready) std::this_thread::sleep_for(milliseconds(50));
    }
    ASSERT_TRUE(ready) << "etcd never answered" << Logs();
    for (const Node& n : nodes_) {
      processes_.emplace(n.name, Spawn(n.name, n.replica,
                                       {testing::TxcoordBinary(),
                                        n.group == local::kCoordinator ? "coordinator" : "shard",
                                        "--config", n.config}));
    }
    auto c = Client::Connect(client_);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    reader_ = std::move(c.value());
    std::vector<Op> puts;
    for (int i = 0; i < kAccounts; ++i) {
      puts.push_back({.type = Op::Type::kPut, .key = Account(i), .value = std::to_string(kInitial)});
      book_.ledger[Account(i)] = kInitial;
    }
    const auto seeded_by = Clock::now() + seconds(30);
    bool seeded = false;
    while (!seeded && Clock::now() < seeded_by) {
      auto r = reader_->Execute(Protocol::kTwoPc, puts);
      seeded = r.ok() && r.value().result.outcome == Outcome::kCommitted;
      if (!seeded) std::this_thread::sleep_for(milliseconds(100));
    }
    ASSERT_TRUE(seeded) << "the accounts could not be seeded" << Logs();
  }

  std::string Logs() const {
    std::string out;
    for (const auto& entry : std::filesystem::directory_iterator(temp_.path())) {
      if (entry.path().extension() != ".log") continue;
      out += "---- " + entry.path().filename().string() + " ----\n" +
             local::LogTail(entry.path().string(), 0, 30);
    }
    return out;
  }

  // The group's configuration as etcd has it (through any endpoint that answers).
  Result<replication::GroupConfig> ReadGroup(int group) {
    cluster::EtcdClientOptions o;
    o.endpoints = etcd_endpoints_;
    cluster::EtcdConfigStore store(o, "/txcoord/");
    return store.Read(local::GroupName(group));
  }

  void StartLoad() {
    for (int t = 0; t < kClients; ++t) {
      threads_.emplace_back([this, t] {
        auto c = Client::Connect(client_);
        if (!c.ok()) return;
        std::mt19937 rng(static_cast<uint32_t>(t) * 7919u + 1);
        while (!stop_) {
          int a = 0, b = 0;
          do {
            a = static_cast<int>(rng() % kAccounts);
            b = static_cast<int>(rng() % kAccounts);
          } while (c.value()->ShardOf(Account(a)) == c.value()->ShardOf(Account(b)));
          auto r = c.value()->Execute(
              Protocol::kTwoPc,
              {{.type = Op::Type::kAdd, .key = Account(a), .delta = -1, .min_result = 0},
               {.type = Op::Type::kAdd, .key = Account(b), .delta = 1}});
          if (!book_.Note(a, b, testing::Settle(*c.value(), r))) {
            std::this_thread::sleep_for(milliseconds(20));
          }
        }
      });
    }
  }
  bool Commits(uint64_t n, milliseconds timeout = seconds(20)) {
    const uint64_t before = book_.committed;
    const auto deadline = Clock::now() + timeout;
    while (book_.committed - before < n) {
      if (Clock::now() >= deadline) return false;
      std::this_thread::sleep_for(milliseconds(10));
    }
    return true;
  }

  struct Node {
    std::string name;
    int group = 0;
    int replica = 0;
    std::string config;
    cluster::Address address;
  };

  ::txcoord::testing::TempDir temp_{"txcoord-netns"};
  std::optional<Machines> machines_;
  std::vector<cluster::Address> etcd_endpoints_;
  std::vector<std::vector<std::string>> etcd_args_;
  std::vector<Node> nodes_;
  std::map<std::string, local::Process> processes_;
  client::ClientOptions client_;
  std::unique_ptr<Client> reader_;
  testing::Book book_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
};

TEST_F(NetnsTest, TheMajoritySideGoesOnAndTheCutSideChangesNothing) {
  StartLoad();
  ASSERT_TRUE(Commits(20)) << Logs();
  std::map<int, replication::GroupConfig> before;
  for (int g = local::kCoordinator; g < kShards; ++g) {
    Result<replication::GroupConfig> c = ReadGroup(g);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    before[g] = c.value();
  }
  // Cut off the machine holding the first primaries (the bootstrap makes replica 0 primary; the
  // test asks which it is rather than assume).
  const int cut = before[0].primary;
  ASSERT_TRUE(machines_->SetLink(cut, false));
  // Every group whose primary was on the cut machine gets one on the majority side.
  const auto deadline = Clock::now() + seconds(20);
  bool moved = false;
  while (!moved && Clock::now() < deadline) {
    moved = true;
    for (int g = local::kCoordinator; g < kShards; ++g) {
      Result<replication::GroupConfig> c = ReadGroup(g);
      if (!c.ok() || c.value().primary == cut) moved = false;
    }
    if (!moved) std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_TRUE(moved) << "a group kept its primary on the cut machine";
  EXPECT_TRUE(Commits(20)) << "the majority side does not go on";
  ASSERT_TRUE(machines_->SetLink(cut, true));
  // The cut replicas come back as backups: every group's ISR holds all three again.
  const auto healed_by = Clock::now() + seconds(30);
  bool healed = false;
  while (!healed && Clock::now() < healed_by) {
    healed = true;
    for (int g = local::kCoordinator; g < kShards; ++g) {
      Result<replication::GroupConfig> c = ReadGroup(g);
      if (!c.ok() || c.value().isr.size() != kMachines) healed = false;
    }
    if (!healed) std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_TRUE(healed) << "the cut replicas never rejoined";
  EXPECT_TRUE(Commits(20));
  stop_ = true;
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  EXPECT_EQ(book_.unresolved.load(), 0u);

  // The balances: the acknowledged transfers, plus some subset of the unanswered ones.
  std::vector<Op> gets;
  for (int i = 0; i < kAccounts; ++i) gets.push_back({.type = Op::Type::kGet, .key = Account(i)});
  std::optional<client::ExecuteOutcome> read;
  const auto read_by = Clock::now() + seconds(30);
  while (!read && Clock::now() < read_by) {
    auto r = reader_->Execute(Protocol::kTwoPc, gets);
    if (r.ok() && r.value().result.outcome == Outcome::kCommitted) read = r.value();
    if (!read) std::this_thread::sleep_for(milliseconds(50));
  }
  ASSERT_TRUE(read.has_value()) << "the accounts could not be read";
  std::map<std::string, int64_t> balances;
  int64_t total = 0;
  for (int i = 0; i < kAccounts; ++i) {
    ASSERT_TRUE(read->reads[i].found);
    balances[Account(i)] = std::stoll(read->reads[i].value);
    total += balances[Account(i)];
  }
  EXPECT_EQ(total, kInitial * kAccounts);
  ASSERT_LE(book_.maybe.size(), 16u);
  EXPECT_TRUE(testing::Explain(book_.ledger, book_.maybe, balances).has_value())
      << "the balances are not the acknowledged transfers plus a subset of the "
      << book_.maybe.size() << " unanswered ones";

  // No two replicas of a group served in one epoch (the cut side's old primaries kept their
  // epoch and could not start another: no in-sync backup, no etcd majority).
  std::map<std::pair<int, std::string>, std::set<int>> served;
  for (const Node& n : nodes_) {
    std::ifstream in(temp_.path() + "/" + n.name + ".log");
    const std::string prefix = "txcoord " + local::GroupName(n.group) + " replica " +
                               std::to_string(n.replica) + ": serving (epoch ";
    for (std::string line; std::getline(in, line);) {
      if (line.rfind(prefix, 0) != 0) continue;
      served[{n.group, line.substr(prefix.size(), line.find(',', prefix.size()) - prefix.size())}]
          .insert(n.replica);
    }
  }
  for (const auto& [key, replicas] : served) {
    EXPECT_EQ(replicas.size(), 1u) << local::GroupName(key.first) << " epoch " << key.second;
  }
}

}  // namespace
}  // namespace txcoord
