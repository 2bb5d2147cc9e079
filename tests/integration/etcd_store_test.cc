// The `etcd` configuration master (cluster/etcd_store.h) against a real etcd (Debian's
// etcd-server) on 127.0.0.1: compare-and-swap on the next version only, racing writers that
// lose no update, endpoints that are dead or stopped, values that do not parse, the cluster
// layout that keeps two clusters apart, and registrations under a lease. Then a real node
// pointed at a prefix that holds another cluster's layout refuses to join.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "cluster/config_master.h"
#include "cluster/etcd_client.h"
#include "cluster/etcd_store.h"
#include "cluster/etcd_watch.h"
#include "tests/integration/local_cluster.h"
#include "tools/local_cluster.h"
#include "tools/local_etcd.h"

namespace txcoord::cluster {
namespace {

using Clock = std::chrono::steady_clock;
using replication::GroupConfig;

GroupConfig Config(uint64_t version, replication::ReplicaId primary = 0) {
  GroupConfig c;
  c.version = version;
  c.epoch = version;
  c.primary = primary;
  c.members = {0, 1, 2};
  c.isr = {{primary, 7}};
  return c;
}

// One etcd member in a fresh directory, a child of this process, killed at the end.
class EtcdStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (std::filesystem::temp_directory_path() / "txcoord-etcd-XXXXXX").string();
    ASSERT_NE(::mkdtemp(dir_.data()), nullptr);
    Result<std::vector<uint16_t>> ports = local::PickFreePorts(3);
    ASSERT_TRUE(ports.ok());
    unused_port_ = ports.value()[2];
    Result<local::LocalEtcd> etcd =
        local::LocalEtcd::Create(dir_, 1, {ports.value()[0], ports.value()[1]});
    ASSERT_TRUE(etcd.ok()) << etcd.status().ToString();
    etcd_.emplace(std::move(etcd.value()));
    Result<local::Process> p = etcd_->Start(0, /*detach=*/false);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    process_.emplace(std::move(p.value()));
    ASSERT_TRUE(etcd_->WaitReady(std::chrono::seconds(15)).ok())
        << local::LogTail(etcd_->LogPath(0), 0, 20);
  }
  void TearDown() override {
    if (process_) {
      (void)process_->Signal(SIGCONT);
      process_->Kill();
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  EtcdClientOptions Options() const {
    EtcdClientOptions o;
    o.endpoints = etcd_->endpoints();
    return o;
  }
  EtcdConfigStore Store(const std::string& prefix = "/t/") const {
    return EtcdConfigStore(Options(), prefix);
  }

  std::string dir_;
  uint16_t unused_port_ = 0;
  std::optional<local::LocalEtcd> etcd_;
  std::optional<local::Process> process_;
};

TEST_F(EtcdStoreTest, CreateThenCompareAndSwapOnTheNextVersionOnly) {
  EtcdConfigStore store = Store();
  EXPECT_EQ(store.Read("g").status().code(), Status::Code::kNotFound);
  EXPECT_TRUE(store.ReadAll().value().empty());
  // Creating is version 1 only.
  EXPECT_FALSE(store.CompareAndSwap("g", Config(2)).value().swapped);
  Result<CasResult> created = store.CompareAndSwap("g", Config(1));
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_TRUE(created.value().swapped);
  EXPECT_FALSE(store.CompareAndSwap("g", Config(1)).value().swapped);
  EXPECT_TRUE(store.CompareAndSwap("g", Config(2, 1)).value().swapped);
  // Another process's view: a stale version loses, and it is told what is stored.
  EtcdConfigStore other = Store();
  Result<CasResult> stale = other.CompareAndSwap("g", Config(2, 2));
  ASSERT_TRUE(stale.ok());
  EXPECT_FALSE(stale.value().swapped);
  EXPECT_EQ(stale.value().current, Config(2, 1));
  EXPECT_TRUE(other.CompareAndSwap("g", Config(3, 2)).value().swapped);
  // The first store's remembered revision is stale now: its next try fails and reads.
  Result<CasResult> behind = store.CompareAndSwap("g", Config(3, 0));
  ASSERT_TRUE(behind.ok());
  EXPECT_FALSE(behind.value().swapped);
  EXPECT_EQ(behind.value().current, Config(3, 2));
  EXPECT_TRUE(store.CompareAndSwap("g", Config(4, 0)).value().swapped);
  EXPECT_EQ(other.Read("g").value(), Config(4, 0));
  // Prefixes keep clusters apart.
  EXPECT_TRUE(Store("/other/").ReadAll().value().empty());
  EXPECT_EQ(store.ReadAll().value().size(), 1u);
  // A malformed configuration is refused before anything is sent.
  GroupConfig bad = Config(5);
  bad.isr.clear();
  EXPECT_EQ(store.CompareAndSwap("g", bad).status().code(), Status::Code::kInvalidArgument);
}

TEST_F(EtcdStoreTest, RacingCompareAndSwapsLoseNoUpdate) {
  ASSERT_TRUE(Store().CompareAndSwap("g", Config(1)).value().swapped);
  constexpr int kWriters = 4, kEach = 20;
  std::atomic<int> failures{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      EtcdConfigStore store = Store();
      for (int done = 0; done < kEach;) {
        Result<GroupConfig> now = store.Read("g");
        if (!now.ok()) {
          ++failures;
          return;
        }
        GroupConfig next = now.value();
        ++next.version;
        ++next.epoch;
        next.primary = w % 3;
        next.isr = {{next.primary, static_cast<replication::DiskId>(w + 1)}};
        Result<CasResult> r = store.CompareAndSwap("g", next);
        if (!r.ok()) {
          ++failures;
          return;
        }
        if (r.value().swapped) ++done;
      }
    });
  }
  for (std::thread& t : writers) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(Store().Read("g").value().version, 1u + kWriters * kEach);
}

TEST_F(EtcdStoreTest, AValueThatIsNotAConfigurationIsCorruptionNamingTheKey) {
  EtcdClient client(Options());
  ASSERT_TRUE(client.Txn({}, {{"/t/groups/g", "{\"version\": \"one\"}", 0}}, {}).value().succeeded);
  EtcdConfigStore store = Store();
  Result<std::map<std::string, GroupConfig>> all = store.ReadAll();
  ASSERT_EQ(all.status().code(), Status::Code::kCorruption);
  EXPECT_NE(all.status().message().find("/t/groups/g"), std::string::npos)
      << all.status().message();
  EXPECT_EQ(store.CompareAndSwap("g", Config(1)).status().code(), Status::Code::kCorruption);
}

TEST_F(EtcdStoreTest, ADeadEndpointIsSkippedForReadsAndWrites) {
  EtcdClientOptions o = Options();
  o.endpoints.insert(o.endpoints.begin(), Address{"127.0.0.1", unused_port_});  // refuses
  EtcdConfigStore store(o, "/t/");
  EXPECT_TRUE(store.CompareAndSwap("g", Config(1)).value().swapped);  // never sent: moved on
  EXPECT_EQ(store.Read("g").value(), Config(1));
  EXPECT_EQ(store.client().current_endpoint(), etcd_->member(0).client.ToString());
}

TEST_F(EtcdStoreTest, NoEndpointAnsweringIsUnavailableWithinTheTimeout) {
  EtcdClientOptions o;
  o.endpoints = {Address{"127.0.0.1", unused_port_}};
  EtcdConfigStore dead(o, "/t/");
  const auto start = Clock::now();
  Result<std::map<std::string, GroupConfig>> r = dead.ReadAll();
  EXPECT_EQ(r.status().code(), Status::Code::kUnavailable);
  EXPECT_NE(r.status().message().find("cannot connect"), std::string::npos)
      << r.status().message();
  EXPECT_LT(Clock::now() - start, o.timeout + std::chrono::milliseconds(500));
}

TEST_F(EtcdStoreTest, AWriteWhoseAnswerIsLostIsUnknownAndAReadTells) {
  EtcdConfigStore store = Store();
  ASSERT_TRUE(store.CompareAndSwap("g", Config(1)).value().swapped);
  // A stopped member accepts the connection (the kernel does) and never answers.
  ASSERT_TRUE(process_->Signal(SIGSTOP).ok());
  Result<CasResult> lost = store.CompareAndSwap("g", Config(2));
  ASSERT_TRUE(process_->Signal(SIGCONT).ok());
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.status().code(), Status::Code::kUnavailable);
  EXPECT_NE(lost.status().message().find("outcome unknown"), std::string::npos)
      << lost.status().message();
  // What happened is read, never assumed: the member, once it runs again, applied the write or
  // dropped it with the closed connection; either way a read says which, and the store, which
  // forgot the revision it had, swaps on what it reads.
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  Result<GroupConfig> now = store.Read("g");
  while (!now.ok() && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    now = store.Read("g");
  }
  ASSERT_TRUE(now.ok()) << now.status().ToString();
  EXPECT_TRUE(now.value() == Config(1) || now.value() == Config(2))
      << replication::Describe(now.value());
  // The lost write may still land after that read (the member had it in its socket buffer):
  // then the swap on what was read fails its compare and says what is stored; the next works.
  bool swapped = false;
  for (int attempt = 0; attempt < 10 && !swapped; ++attempt) {
    Result<CasResult> next = store.CompareAndSwap("g", Config(now.value().version + 1));
    ASSERT_TRUE(next.ok()) << next.status().ToString();
    swapped = next.value().swapped;
    if (!swapped) {
      EXPECT_EQ(next.value().current, Config(2)) << "only the lost write can have moved it";
      now = next.value().current;
    }
  }
  EXPECT_TRUE(swapped);
  EXPECT_EQ(store.Read("g").value().version, now.value().version + 1);
}

TEST_F(EtcdStoreTest, TheFirstLayoutStaysAndRegistrationsLiveUnderALease) {
  EtcdConfigStore a = Store();
  EXPECT_EQ(a.CreateOrReadLayout("layout-a").value(), "layout-a");
  EXPECT_EQ(Store().CreateOrReadLayout("layout-b").value(), "layout-a");
  EXPECT_EQ(Store("/other/").CreateOrReadLayout("layout-b").value(), "layout-b");

  EtcdConfigStore node = Store();
  ASSERT_TRUE(node.KeepRegistered("shard0/1", "{\"pid\":1}", 5).ok());
  ASSERT_TRUE(node.KeepRegistered("shard0/1", "{\"pid\":1}", 5).ok());  // renews
  Result<std::map<std::string, std::string>> members = a.Members();
  ASSERT_TRUE(members.ok());
  EXPECT_EQ(members.value(), (std::map<std::string, std::string>{{"shard0/1", "{\"pid\":1}"}}));
  ASSERT_TRUE(node.KeepRegistered("shard0/1", "{\"pid\":2}", 5).ok());  // a new value
  EXPECT_EQ(a.Members().value().at("shard0/1"), "{\"pid\":2}");
  node.Deregister();
  EXPECT_TRUE(a.Members().value().empty());
}

// The watch reports every put under its prefix, in order, and none outside it; when its member
// dies it is made again once the member is back, from the revision after the last put it
// reported, so the puts made meanwhile still arrive. Stop returns while it waits for events.
TEST_F(EtcdStoreTest, TheWatchReportsEveryPutAndResumesAfterItsMemberReturns) {
  std::mutex mu;
  std::vector<std::pair<std::string, std::string>> seen;
  EtcdWatch watch(Options(), "/t/groups/", [&](const EtcdKv& kv) {
    std::lock_guard<std::mutex> lock(mu);
    seen.emplace_back(kv.key, kv.value);
  });
  watch.Start();
  const auto wait_for = [&](size_t n) {
    const auto deadline = Clock::now() + std::chrono::seconds(15);
    while (Clock::now() < deadline) {
      {
        std::lock_guard<std::mutex> lock(mu);
        if (seen.size() >= n) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  };
  // Made before the first put: wait until etcd has it.
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (watch.watches() == 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EtcdConfigStore store = Store();
  ASSERT_TRUE(store.CompareAndSwap("g", Config(1)).value().swapped);
  ASSERT_TRUE(store.CompareAndSwap("g", Config(2)).value().swapped);
  ASSERT_TRUE(store.CreateOrReadLayout("not under groups/").ok());
  ASSERT_TRUE(store.CompareAndSwap("h", Config(1)).value().swapped);
  ASSERT_TRUE(wait_for(3));
  {
    std::lock_guard<std::mutex> lock(mu);
    ASSERT_EQ(seen.size(), 3u);
    EXPECT_EQ(seen[0].first, "/t/groups/g");
    EXPECT_EQ(GroupConfigFromJson(seen[1].second, "k").value(), Config(2));
    EXPECT_EQ(seen[2].first, "/t/groups/h");
  }
  // The member dies; a put is made after it returns, and one while the watch was away is not
  // possible with one member, so: restart, then put.
  process_->Kill();
  process_.reset();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  Result<local::Process> again = etcd_->Start(0, /*detach=*/false);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  process_.emplace(std::move(again.value()));
  ASSERT_TRUE(etcd_->WaitReady(std::chrono::seconds(15)).ok());
  EtcdConfigStore after = Store();
  ASSERT_TRUE(after.CompareAndSwap("g", Config(3)).value().swapped);
  ASSERT_TRUE(wait_for(4)) << "no put after the member returned (" << watch.watches()
                           << " watches made)";
  EXPECT_GE(watch.watches(), 2u);
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_EQ(GroupConfigFromJson(seen[3].second, "k").value(), Config(3));
    EXPECT_EQ(seen.size(), 4u) << "a put reported twice";
  }
  const auto stop_start = Clock::now();
  watch.Stop();
  EXPECT_LT(Clock::now() - stop_start, std::chrono::seconds(2));
  EXPECT_EQ(watch.puts(), 4u);
}

// A node whose etcd prefix holds another cluster's layout exits 2, saying so, and changes
// nothing there.
TEST_F(EtcdStoreTest, ANodeRefusesToJoinAPrefixHoldingAnotherClustersLayout) {
  NodeConfig tunables;
  tunables.config_master = "etcd";
  tunables.etcd_endpoints = etcd_->endpoints();
  tunables.etcd_prefix = "/taken/";
  Result<local::ClusterDir> cluster =
      local::ClusterDir::Create(dir_ + "/cluster", 1, 0, tunables, 3);
  ASSERT_TRUE(cluster.ok()) << cluster.status().ToString();
  ASSERT_EQ(Store("/taken/").CreateOrReadLayout("{\"another\":\"cluster\"}").value(),
            "{\"another\":\"cluster\"}");
  const local::NodeId node{local::kCoordinator, 0};
  Result<local::Process> p = cluster.value().StartNode(node, testing::TxcoordBinary(), {}, false);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  const std::optional<int> status = p.value().WaitExit(std::chrono::seconds(15));
  ASSERT_TRUE(status.has_value()) << "the node kept running";
  EXPECT_EQ(*status, 2);
  const std::string log = local::LogTail(cluster.value().LogPath(node), 0, 20);
  EXPECT_NE(log.find("holds another cluster's layout"), std::string::npos) << log;
  EXPECT_TRUE(Store("/taken/").ReadAll().value().empty()) << "it created its group anyway";
  EXPECT_TRUE(Store("/taken/").Members().value().empty()) << "it registered anyway";
}

}  // namespace
}  // namespace txcoord::cluster
