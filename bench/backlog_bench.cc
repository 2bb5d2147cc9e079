// backlog_bench: how fast a new coordinator primary resolves a backlog of transactions left in
// doubt at the shards by a dead one, measured on real processes.
//
//   backlog_bench [--transactions N] [--clients N] [--in-flight N] [--replicas R] [--shards N]
//                 [--config-master static|etcd] [--etcd-members 1|3|5]
//                 [--data-dir DIR] [--json FILE] [--keep] [--txcoord PATH]
//
// Starts a local cluster (bench/bench_cluster.h) whose first coordinator replica, the primary,
// runs with the fault coordinator.withhold_outcomes (common/crash_point.h): it decides as usual
// (clients get COMMITTED once the decision is durable in its group) but sends the shards no
// COMMIT, ABORT or status answer, so every transaction stays prepared, in doubt, at both its
// participants. --clients clients, each with --in-flight transactions pipelined, run one-shot
// 2PC transactions that PUT one fresh key on shard 0 and one on shard 1 (fresh keys: a prepared
// transaction keeps its locks) until --transactions have come back COMMITTED. Once the shard
// primaries report them in doubt (Peer.replica_status: in_doubt), t0 = now and SIGKILL to the
// coordinator primary. From t0, polled every 10 ms:
//   promoted_ms  until the coordinator group's configuration names another primary;
//   resolved_ms  until every shard primary reports nothing in doubt;
//   ended_ms     until the new coordinator primary reports no transaction left to drive (every
//                participant acknowledged, END logged).
// Then every key a COMMITTED transaction wrote is read back (GETs in batches); a key missing or
// with another value fails the run. Each figure is bounded by 60 s from t0.
//
// The new primary resolves the backlog as soon as it is promoted, not on a retry timer: its
// restored log holds a COMMIT without END for each transaction, and it sends every COMMIT at
// once, many to a Peer.deliver call (node/peer_sender.h); the shards, told of the new primary,
// ask it at once about everything still in doubt (ParticipantCore::OnPeerMoved).
//
// Output: a line per phase and the figures; with --json FILE, the figures. The cluster lives in
// a fresh directory backlog_bench-XXXXXX under --data-dir (default $TMPDIR, else /tmp), removed
// at the end unless --keep. Exit status: 0 when the run succeeded, 1 when it failed, 2 on a
// usage or setup error, 130 on SIGINT or SIGTERM.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/bench_cluster.h"
#include "client/client.h"

namespace txcoord::bench {
namespace {

using Clock = std::chrono::steady_clock;
using local::NodeId;
using std::chrono::milliseconds;

constexpr milliseconds kFigureTimeout{60'000};
constexpr milliseconds kPoll{10};
constexpr size_t kReadBatch = 500;  // GETs per read-back transaction

std::atomic<bool> g_interrupted{false};

double MsSince(Clock::time_point from) {
  return std::chrono::duration<double, std::milli>(Clock::now() - from).count();
}

struct Args {
  uint64_t transactions = 100000;
  int clients = 4;
  int in_flight = 64;
  int replicas = 3;
  int shards = 2;
  std::string config_master = "static";
  int etcd_members = 3;
  std::string data_dir;
  std::string json_path;
  bool keep = false;
  std::string txcoord;
};

// A fresh key on `shard`: "backlog/<client>/<seq>/<n>" with the first n that routes there.
std::string KeyOn(const client::Client& c, ShardId shard, int client, uint64_t seq) {
  for (int n = 0;; ++n) {
    std::string key = "backlog/" + std::to_string(client) + "/" + std::to_string(seq) + "/" +
                      std::to_string(n);
    if (c.ShardOf(key) == shard) return key;
  }
}

std::string ValueOf(int client, uint64_t seq) {
  return "v" + std::to_string(client) + "." + std::to_string(seq);
}

// One client's pipelined load: transactions seq 0, 1, ... with at most `in_flight` at once,
// until the shared count of COMMITTED ones reaches `target`. What each committed is recorded.
struct ClientLoad {
  int id = 0;
  std::unique_ptr<client::Client> client;
  std::mutex mu;
  std::condition_variable cv;
  int outstanding = 0;
  std::vector<uint64_t> committed;  // seqs, guarded by mu
  uint64_t other = 0;               // outcomes other than COMMITTED, and failed calls
};

void RunLoad(ClientLoad& load, int in_flight, std::atomic<uint64_t>& committed, uint64_t target) {
  for (uint64_t seq = 0; committed < target && !g_interrupted; ++seq) {
    std::vector<Op> ops = {
        {.type = Op::Type::kPut, .key = KeyOn(*load.client, 0, load.id, seq),
         .value = ValueOf(load.id, seq)},
        {.type = Op::Type::kPut, .key = KeyOn(*load.client, 1, load.id, seq),
         .value = ValueOf(load.id, seq)}};
    {
      std::unique_lock<std::mutex> lock(load.mu);
      load.cv.wait(lock, [&] { return load.outstanding < in_flight; });
      ++load.outstanding;
    }
    load.client->ExecuteAsync(
        Protocol::kTwoPc, std::move(ops), [&load, &committed, seq](Result<client::ExecuteOutcome> r) {
          std::lock_guard<std::mutex> lock(load.mu);
          if (r.ok() && r.value().result.outcome == Outcome::kCommitted) {
            load.committed.push_back(seq);
            ++committed;
          } else {
            ++load.other;
          }
          --load.outstanding;
          load.cv.notify_all();
        });
  }
  std::unique_lock<std::mutex> lock(load.mu);
  load.cv.wait(lock, [&] { return load.outstanding == 0; });
}

// What the serving primaries report now: the sum of the shards' in_doubt, whether every shard
// group had a serving primary that answered, and the coordinator primary's live transactions
// (nullopt when none answered as serving primary).
struct Snapshot {
  int64_t in_doubt = 0;
  int shards_answered = 0;
  std::optional<int64_t> coordinator_live;
};

Snapshot Poll(const local::ClusterDir& dir) {
  Snapshot s;
  const std::vector<NodeId> nodes = dir.nodes();
  const std::vector<Result<thrift::ReplicaStatus>> answers =
      local::AskReplicaStatus(dir, std::vector<bool>(nodes.size(), true));
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (!answers[i].ok() || answers[i].value().role != "primary") continue;
    const thrift::ReplicaStatus& r = answers[i].value();
    if (nodes[i].group == local::kCoordinator) {
      if (r.live_transactions >= 0) s.coordinator_live = r.live_transactions;
    } else if (r.in_doubt >= 0) {
      s.in_doubt += r.in_doubt;
      ++s.shards_answered;
    }
  }
  return s;
}

int Main(int argc, char** argv) {
  Args args;
  CLI::App app{"backlog_bench: time for a new coordinator primary to resolve an in-doubt backlog"};
  app.add_option("--transactions", args.transactions, "committed transactions left in doubt")
      ->check(CLI::Range(1ull, 10'000'000ull));
  app.add_option("--clients", args.clients, "clients")->check(CLI::Range(1, 64));
  app.add_option("--in-flight", args.in_flight, "transactions in flight per client")
      ->check(CLI::Range(1, 1024));
  app.add_option("--replicas", args.replicas, "replicas per group")->check(CLI::Range(2, 5));
  app.add_option("--shards", args.shards, "shard groups")->check(CLI::Range(2, 16));
  app.add_option("--config-master", args.config_master, "static or etcd")
      ->check(CLI::IsMember({"static", "etcd"}));
  app.add_option("--etcd-members", args.etcd_members, "etcd members (--config-master etcd)")
      ->check(CLI::IsMember({1, 3, 5}));
  app.add_option("--data-dir", args.data_dir, "where the cluster directory is made");
  app.add_option("--json", args.json_path, "write the figures here");
  app.add_flag("--keep", args.keep, "keep the cluster directory");
  app.add_option("--txcoord", args.txcoord, "the txcoord binary (default: beside this one)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  if (args.txcoord.empty()) {
    std::error_code ec;
    const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
    args.txcoord = ec ? "txcoord" : (self.parent_path() / "txcoord").string();
  }
  if (::access(args.txcoord.c_str(), X_OK) != 0) {
    std::cerr << "backlog_bench: " << args.txcoord << " is not an executable (--txcoord)\n";
    return 2;
  }
  std::string parent = args.data_dir;
  if (parent.empty()) {
    std::error_code ec;
    parent = std::filesystem::temp_directory_path(ec).string();
    if (ec) parent = "/tmp";
  }
  std::signal(SIGPIPE, SIG_IGN);
  struct sigaction sa {};
  sa.sa_handler = [](int) { g_interrupted = true; };
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);

  BenchClusterSpec spec;
  spec.name = "backlog_bench";
  spec.shards = args.shards;
  spec.replicas = args.replicas;
  spec.config_master = args.config_master;
  spec.etcd_members = args.etcd_members;
  spec.txcoord = args.txcoord;
  spec.keep = args.keep;
  Result<std::unique_ptr<BenchCluster>> created = BenchCluster::Create(parent, spec, &g_interrupted);
  if (!created.ok()) {
    std::cerr << "backlog_bench: " << created.status().ToString() << "\n";
    return 2;
  }
  BenchCluster& cluster = *created.value();
  const NodeId victim{local::kCoordinator, 0};
  std::cout << "backlog_bench: " << args.transactions << " transactions in doubt at a dead "
            << "coordinator primary; " << args.shards << " shards, " << args.replicas
            << " replicas per group, config master " << args.config_master << "; in "
            << cluster.dir().dir() << std::endl;
  Status started = cluster.StartAll([victim](NodeId node) {
    std::map<std::string, std::string> env;
    if (node == victim) env["TXCOORD_FAULT"] = "coordinator.withhold_outcomes";
    return env;
  });
  if (!started.ok()) {
    std::cerr << "backlog_bench: starting the cluster: " << started.ToString() << "\n";
    return g_interrupted ? 130 : 2;
  }
  Result<NodeId> primary = cluster.Primary(local::kCoordinator);
  if (!primary.ok() || !(primary.value() == victim)) {
    std::cerr << "backlog_bench: the coordinator's primary is not its replica 0\n";
    return 2;
  }

  // The backlog.
  std::vector<std::unique_ptr<ClientLoad>> loads;
  for (int c = 0; c < args.clients; ++c) {
    Result<std::unique_ptr<client::Client>> connected =
        client::Client::Connect(cluster.ClientOptions());
    if (!connected.ok()) {
      std::cerr << "backlog_bench: " << connected.status().ToString() << "\n";
      return 2;
    }
    loads.push_back(std::make_unique<ClientLoad>());
    loads.back()->id = c;
    loads.back()->client = std::move(connected.value());
  }
  const auto load_start = Clock::now();
  std::atomic<uint64_t> committed{0};
  {
    std::vector<std::thread> threads;
    for (auto& load : loads) {
      threads.emplace_back([&, l = load.get()] {
        RunLoad(*l, args.in_flight, committed, args.transactions);
      });
    }
    for (std::thread& t : threads) t.join();
  }
  if (g_interrupted) return 130;
  const double load_ms = MsSince(load_start);
  uint64_t other = 0;
  for (const auto& load : loads) other += load->other;
  std::printf("backlog: %llu committed (%llu other outcomes) in %.0f ms, %.0f txn/s\n",
              static_cast<unsigned long long>(committed.load()),
              static_cast<unsigned long long>(other), load_ms,
              static_cast<double>(committed.load()) * 1000.0 / load_ms);
  // Every committed transaction in doubt at both its shards.
  const int64_t expected = static_cast<int64_t>(committed.load()) * 2;
  Snapshot before;
  const auto wait_start = Clock::now();
  while (!g_interrupted && MsSince(wait_start) < kFigureTimeout.count()) {
    before = Poll(cluster.dir());
    if (before.shards_answered == args.shards && before.in_doubt >= expected) break;
    std::this_thread::sleep_for(milliseconds(100));
  }
  std::printf("in doubt at the shard primaries: %lld (expected at least %lld)\n",
              static_cast<long long>(before.in_doubt), static_cast<long long>(expected));
  if (before.in_doubt < expected) {
    std::cout << "FAILED: the backlog did not form (is the fault armed?)\n";
    return 1;
  }

  // The kill, and the resolution.
  const auto t0 = Clock::now();
  if (!cluster.Kill(victim)) {
    std::cout << "FAILED: cannot kill " << cluster.dir().Name(victim) << "\n";
    return 1;
  }
  std::optional<double> promoted_ms, resolved_ms, ended_ms;
  int64_t last_in_doubt = before.in_doubt;
  while (!g_interrupted && MsSince(t0) < kFigureTimeout.count() && !(resolved_ms && ended_ms)) {
    const double now = MsSince(t0);
    if (!promoted_ms) {
      Result<NodeId> p = cluster.Primary(local::kCoordinator);
      if (p.ok() && !(p.value() == victim)) promoted_ms = now;
    }
    const Snapshot s = Poll(cluster.dir());
    if (s.shards_answered == args.shards) {
      last_in_doubt = s.in_doubt;
      if (!resolved_ms && s.in_doubt == 0) resolved_ms = MsSince(t0);
    }
    if (promoted_ms && !ended_ms && s.coordinator_live && *s.coordinator_live == 0) {
      ended_ms = MsSince(t0);
    }
    std::this_thread::sleep_for(kPoll);
  }
  if (g_interrupted) return 130;
  const auto figure = [](const std::optional<double>& v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f ms", v.value_or(-1));
    return v ? std::string(buf) : std::string("not reached");
  };
  std::cout << "promoted " << figure(promoted_ms) << ", resolved " << figure(resolved_ms)
            << ", ended " << figure(ended_ms) << " after the kill (" << last_in_doubt
            << " still in doubt at the end)" << std::endl;

  // Nothing acknowledged is lost.
  Result<std::unique_ptr<client::Client>> reader = client::Client::Connect(cluster.ClientOptions());
  if (!reader.ok()) {
    std::cerr << "backlog_bench: " << reader.status().ToString() << "\n";
    return 1;
  }
  uint64_t checked = 0, wrong = 0;
  std::string first_wrong;
  for (const auto& load : loads) {
    for (size_t from = 0; from < load->committed.size(); from += kReadBatch / 2) {
      std::vector<Op> gets;
      std::vector<std::string> want;
      for (size_t i = from; i < std::min(load->committed.size(), from + kReadBatch / 2); ++i) {
        const uint64_t seq = load->committed[i];
        for (ShardId shard : {0, 1}) {
          gets.push_back({.type = Op::Type::kGet, .key = KeyOn(*reader.value(), shard, load->id, seq)});
          want.push_back(ValueOf(load->id, seq));
        }
      }
      Result<client::ExecuteOutcome> r = reader.value()->Execute(Protocol::kTwoPc, gets);
      if (!r.ok() || r.value().result.outcome != Outcome::kCommitted ||
          r.value().reads.size() != gets.size()) {
        std::cout << "FAILED: reading back: "
                  << (r.ok() ? r.value().result.detail : r.status().ToString()) << "\n";
        return 1;
      }
      for (size_t i = 0; i < gets.size(); ++i) {
        ++checked;
        const OpResult& read = r.value().reads[i];
        if (!read.found || read.value != want[i]) {
          if (wrong++ == 0) first_wrong = gets[i].key;
        }
      }
    }
  }
  std::cout << "read back " << checked << " keys: " << wrong << " missing or wrong"
            << (wrong ? " (first: " + first_wrong + ")" : "") << std::endl;

  const bool ok = promoted_ms && resolved_ms && ended_ms && wrong == 0 && checked == 2 * committed;
  if (!args.json_path.empty()) {
    nlohmann::json j;
    j["transactions"] = committed.load();
    j["in_doubt_before"] = before.in_doubt;
    j["load_ms"] = load_ms;
    j["promoted_ms"] = promoted_ms ? nlohmann::json(*promoted_ms) : nlohmann::json();
    j["resolved_ms"] = resolved_ms ? nlohmann::json(*resolved_ms) : nlohmann::json();
    j["ended_ms"] = ended_ms ? nlohmann::json(*ended_ms) : nlohmann::json();
    j["keys_checked"] = checked;
    j["keys_wrong"] = wrong;
    j["config_master"] = args.config_master;
    std::ofstream out(args.json_path);
    out << j.dump(2) << "\n";
    if (!out) {
      std::cerr << "backlog_bench: cannot write " << args.json_path << "\n";
      return 1;
    }
  }
  std::cout << (ok ? "ok" : "FAILED") << std::endl;
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace txcoord::bench

int main(int argc, char** argv) { return txcoord::bench::Main(argc, argv); }
