// failover_bench: how long a replica group takes to fail over, measured on real processes. Starts
// one local cluster (tools/local_cluster.h: a coordinator group and --shards shard groups of
// --replicas replicas each, `txcoord` processes on 127.0.0.1 with the configs' default timeouts),
// and then, --runs times, kills -9 the primary of one group under a bank load and times what
// follows.
//
//   failover_bench --group shard|coordinator [--runs N] [--clients N] [--replicas R] [--shards N]
//                  [--config-master static|etcd] [--etcd-members 1|3|5]
//                  [--data-dir DIR] [--json FILE] [--keep] [--txcoord PATH]
//
// With --config-master etcd the cluster's configuration master is a local etcd of
// --etcd-members members (default 3; tools/local_etcd.h, Debian's etcd-server), started first in
// the cluster's directory and stopped last.
//
// One run: --clients threads, each with its own client, run transfers in a closed loop (an
// Execute of two ADDs, -1 and +1, on accounts "acct/0".."acct/39" of different shards: 2PC with
// two participants). After 1 s of load, t0 = now and SIGKILL to the group's primary as its
// configuration names it (--group shard: shard 0's). From t0:
//   new_primary_ms   until the group's configuration (ClusterDir::ReadGroup) names another
//                    primary, polled every 5 ms;
//   first_commit_ms  until the end of the first transfer that started after the victim was gone
//                    (so that it cannot have been served by it) and came back COMMITTED;
//   settled_ms       until a read-only audit (an Execute of GETs of all 40 accounts) commits. A
//                    transaction left in doubt keeps its locks, so the audit commits only once
//                    nothing touching the accounts is in doubt any more. The audit cannot commit
//                    while the load runs: under no-wait locking (participant/core/lock_table.h)
//                    it needs all 40 accounts free at once, and closed-loop clients on 40
//                    accounts always hold some (tried from t0 on with 8 clients: 30 s of
//                    attempts every 10 ms, some 2,600 a run, all aborted with lock conflicts,
//                    and each attempt held the locks it got until its abort, aborting transfers
//                    in turn). So the load stops once first_commit is measured, and from then on
//                    a thread of its own tries the audit every 10 ms: settled_ms is never below
//                    first_commit_ms, and is above it when a transaction left in doubt by the
//                    kill is resolved later than the first new transfer commits. The audit's
//                    total must be 40 x 1000: a run whose audit reads another total fails loudly.
// Each figure is bounded by 30 s from t0; one not reached then fails the run. The cluster is
// reused: after a run the load stops, the victim is restarted on its data once it is out of its
// group's ISR, and the next run begins only when it is back in the ISR and every group serves
// again. So the primary moves from run to run, and each run kills the current one.
//
// Output: a line per run, a summary (median, p99 by nearest rank, and max of each figure over
// the runs that measured it), and a markdown table (header and one row) ready to paste into bench/RESULTS.static.md;
// with --json FILE, every run's figures and counts. The cluster lives in a fresh directory
// failover_bench-XXXXXX under --data-dir (default $TMPDIR, else /tmp), removed at the end unless
// --keep; every node is stopped at the end, also after an error or SIGINT. Exit status: 0 when
// every run succeeded, 1 when one failed, 2 on a usage or setup error, 130 on SIGINT or SIGTERM.
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/bench_cluster.h"
#include "client/client.h"
#include "common/check.h"
#include "tools/local_cluster.h"
#include "tools/local_etcd.h"

namespace txcoord::bench {
namespace {

using Clock = std::chrono::steady_clock;
using local::NodeId;
using std::chrono::milliseconds;

constexpr int kAccounts = 40;
constexpr int64_t kInitial = 1000;
constexpr milliseconds kLoadBeforeKill{1000};
constexpr milliseconds kFigureTimeout{30'000};  // each figure of a run, from t0
constexpr milliseconds kPrimaryPoll{5};
constexpr milliseconds kAuditRetry{10};
constexpr milliseconds kIsrTimeout{30'000};  // the victim leaving, then rejoining, its ISR
constexpr milliseconds kSeedTimeout{20'000};

std::atomic<bool> g_interrupted{false};

std::string Account(int i) { return "acct/" + std::to_string(i); }

double MsBetween(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

// Sleeps `d` unless interrupted first; false when interrupted.
bool SleepFor(Clock::duration d) {
  const auto until = Clock::now() + d;
  while (!g_interrupted) {
    const auto now = Clock::now();
    if (now >= until) return true;
    std::this_thread::sleep_for(std::min<Clock::duration>(until - now, milliseconds(20)));
  }
  return false;
}

// ---- options ----------------------------------------------------------------------------------

struct Args {
  std::string group;  // "shard" or "coordinator"
  int runs = 20;
  int clients = 8;
  int replicas = 3;
  int shards = 2;
  std::string data_dir;  // empty: $TMPDIR (std::filesystem::temp_directory_path)
  std::string json_path;
  bool keep = false;
  std::string txcoord;  // empty: txcoord beside this executable
  std::string config_master = "static";
  int etcd_members = 3;
  int victim_group() const { return group == "coordinator" ? local::kCoordinator : 0; }
};

using Cluster = BenchCluster;

// ---- the load ---------------------------------------------------------------------------------

// One transfer as its client saw it.
struct Completion {
  Clock::time_point start;
  Clock::time_point end;
  Outcome outcome = Outcome::kUnknown;  // also kUnknown when the call itself failed
  bool called = true;                   // false: the call failed (no primary reached in time)
};

// The bank load: `clients` threads, each with its own Client, running transfers between accounts
// of different shards in a closed loop until Stop(). Every completion is recorded.
class Load {
 public:
  Load(client::ClientOptions options, std::vector<std::pair<int, int>> pairs, int clients,
       uint32_t seed)
      : options_(std::move(options)), pairs_(std::move(pairs)), clients_(clients), seed_(seed) {}
  ~Load() { Stop(); }
  Load(const Load&) = delete;
  Load& operator=(const Load&) = delete;

  // Starts the threads and waits until each has connected (bounded by the client timeout).
  Status Start() {
    for (int t = 0; t < clients_; ++t) threads_.emplace_back([this, t] { Loop(t); });
    const auto deadline = Clock::now() + options_.timeout + milliseconds(1000);
    while (connected_ + failed_ < clients_ && Clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(5));
    }
    if (connected_ < clients_) {
      return Status::Unavailable(std::to_string(clients_ - connected_.load()) + " of " +
                                 std::to_string(clients_) + " load clients did not connect");
    }
    return Status::Ok();
  }
  // Asks every thread to stop after its current transfer; returns at once.
  void RequestStop() { stop_ = true; }
  // Stops and waits for every thread (a transfer in flight ends within the client's timeout).
  void Stop() {
    stop_ = true;
    for (std::thread& t : threads_) t.join();
    threads_.clear();
  }

  uint64_t committed() const { return committed_; }
  // Whether a transfer that started after `after` has come back COMMITTED yet.
  bool CommittedSince(Clock::time_point after) const {
    std::lock_guard<std::mutex> lock(mu_);
    // Recorded in the order they ended, and a transfer ends after it starts.
    for (auto it = completions_.rbegin(); it != completions_.rend() && it->end > after; ++it) {
      if (it->outcome == Outcome::kCommitted && it->start > after) return true;
    }
    return false;
  }
  // Every completion so far (a copy).
  std::vector<Completion> completions() const {
    std::lock_guard<std::mutex> lock(mu_);
    return completions_;
  }

 private:
  void Loop(int t) {
    Result<std::unique_ptr<client::Client>> c = client::Client::Connect(options_);
    if (!c.ok()) {
      ++failed_;
      return;
    }
    ++connected_;
    std::mt19937 rng(seed_ * 7919u + static_cast<uint32_t>(t));
    while (!stop_) {
      const auto [a, b] = pairs_[rng() % pairs_.size()];
      const std::vector<Op> ops = {
          {.type = Op::Type::kAdd, .key = Account(a), .delta = -1, .min_result = 0},
          {.type = Op::Type::kAdd, .key = Account(b), .delta = 1}};
      Completion done;
      done.start = Clock::now();
      Result<client::ExecuteOutcome> r = c.value()->Execute(Protocol::kTwoPc, ops);
      done.end = Clock::now();
      done.called = r.ok();
      if (r.ok()) done.outcome = r.value().result.outcome;
      if (done.outcome == Outcome::kCommitted) ++committed_;
      {
        std::lock_guard<std::mutex> lock(mu_);
        completions_.push_back(done);
      }
      // Nothing was done (no primary reachable in time): do not spin on a group without one.
      if (!r.ok()) std::this_thread::sleep_for(milliseconds(20));
    }
  }

  const client::ClientOptions options_;
  const std::vector<std::pair<int, int>> pairs_;  // (from, to) accounts on different shards
  const int clients_;
  const uint32_t seed_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  std::atomic<int> connected_{0}, failed_{0};
  std::atomic<uint64_t> committed_{0};
  mutable std::mutex mu_;
  std::vector<Completion> completions_;  // guarded by mu_
};

// ---- the audit --------------------------------------------------------------------------------

// The read-only audit of every account, tried every kAuditRetry from Start() on, in a thread of
// its own, until one commits or `deadline` passes. (Auditing only from when the load stops also
// keeps the audit from perturbing first_commit: a one-shot read keeps the shared locks it got at
// one shard until the decision, and every transfer touching them meanwhile aborts.)
class Audit {
 public:
  explicit Audit(client::Client& client) : client_(client) {}
  ~Audit() { Join(); }
  Audit(const Audit&) = delete;
  Audit& operator=(const Audit&) = delete;

  void Start(Clock::time_point deadline) {
    thread_ = std::thread([this, deadline] { Loop(deadline); });
  }
  void Join() {
    if (thread_.joinable()) thread_.join();
  }
  bool done() const { return done_; }

  // After Join(): when the committed audit came back (nullopt: none did), the total it read,
  // how many attempts were made, and the last failed attempt's outcome.
  std::optional<Clock::time_point> committed_at() const { return committed_at_; }
  std::optional<int64_t> total() const { return total_; }
  int attempts() const { return attempts_; }
  const std::string& last_failure() const { return last_failure_; }

 private:
  void Loop(Clock::time_point deadline) {
    std::vector<Op> gets;
    for (int i = 0; i < kAccounts; ++i) gets.push_back({.type = Op::Type::kGet, .key = Account(i)});
    while (Clock::now() < deadline && !g_interrupted) {
      ++attempts_;
      Result<client::ExecuteOutcome> r = client_.Execute(Protocol::kTwoPc, gets);
      if (r.ok() && r.value().result.outcome == Outcome::kCommitted) {
        committed_at_ = Clock::now();
        int64_t total = 0;
        for (const OpResult& read : r.value().reads) {
          if (read.found) total += std::stoll(read.value);
        }
        // A missing account or a missing read shows as a wrong total.
        if (r.value().reads.size() != static_cast<size_t>(kAccounts)) total = -1;
        total_ = total;
        break;
      }
      last_failure_ = r.ok() ? std::string(ToString(r.value().result.outcome)) + " " +
                                   ToString(r.value().result.reason) + " " + r.value().result.detail
                             : r.status().ToString();
      std::this_thread::sleep_for(kAuditRetry);
    }
    done_ = true;
  }

  client::Client& client_;
  std::thread thread_;
  std::atomic<bool> done_{false};
  // Written by the thread, read after Join().
  std::optional<Clock::time_point> committed_at_;
  std::optional<int64_t> total_;
  int attempts_ = 0;
  std::string last_failure_;
};

// ---- one run ----------------------------------------------------------------------------------

struct RunResult {
  bool killed = false;      // the victim was killed (and is to be brought back)
  std::string victim;       // the node killed ("shard0.r1")
  std::string new_primary;  // the node that took over
  std::optional<double> kill_ms, new_primary_ms, first_commit_ms, settled_ms;
  std::optional<int64_t> audit_total;
  int audit_attempts = 0;
  // The load from t0 to the end of the run.
  uint64_t committed = 0, aborted = 0, unknown = 0, failed_calls = 0;
  std::string error;  // empty: the run succeeded
  bool ok() const { return error.empty(); }
};

std::string Figure(const std::optional<double>& ms) {
  return ms ? std::to_string(static_cast<int64_t>(*ms + 0.5)) + " ms" : "-";
}

// One failover under load; the victim is left dead (Recover restarts it).
RunResult RunOnce(Cluster& cluster, client::Client& auditor,
                  const std::vector<std::pair<int, int>>& pairs, const Args& args, int run,
                  NodeId& victim) {
  RunResult result;
  const int group = args.victim_group();
  Load load(cluster.ClientOptions(), pairs, args.clients, static_cast<uint32_t>(run));
  if (Status s = load.Start(); !s.ok()) {
    result.error = s.ToString();
    return result;
  }
  if (!SleepFor(kLoadBeforeKill)) {
    result.error = "interrupted";
    return result;
  }
  if (load.committed() == 0) {
    result.error = "no transfer committed in the second of load before the kill";
    return result;
  }
  Result<NodeId> primary = cluster.Primary(group);
  if (!primary.ok()) {
    result.error = primary.status().ToString();
    return result;
  }
  victim = primary.value();
  result.victim = cluster.dir().Name(victim);

  const Clock::time_point t0 = Clock::now();
  if (!cluster.Kill(victim)) {
    result.error = result.victim + " still runs after SIGKILL";
    return result;
  }
  result.killed = true;
  // The victim is gone from here on: nothing that starts now can be served by it.
  const Clock::time_point dead = Clock::now();
  result.kill_ms = MsBetween(t0, dead);
  const Clock::time_point deadline = t0 + kFigureTimeout;
  Audit audit(auditor);
  bool auditing = false;  // from the first commit after the kill on (see the top of this file)

  std::optional<Clock::time_point> new_primary_at;
  while (Clock::now() < deadline && !g_interrupted) {
    if (!new_primary_at) {
      Result<NodeId> now_primary = cluster.Primary(group);
      if (now_primary.ok() && now_primary.value() != victim) {
        new_primary_at = Clock::now();
        result.new_primary = cluster.dir().Name(now_primary.value());
      }
    }
    if (!auditing && load.CommittedSince(dead)) {
      load.RequestStop();
      audit.Start(deadline);
      auditing = true;
    }
    if (new_primary_at && auditing && audit.done()) break;
    std::this_thread::sleep_for(kPrimaryPoll);
  }
  audit.Join();
  load.Stop();

  if (new_primary_at) result.new_primary_ms = MsBetween(t0, *new_primary_at);
  std::optional<Clock::time_point> first_commit;
  for (const Completion& c : load.completions()) {
    if (c.end < t0) continue;
    if (!c.called) {
      ++result.failed_calls;
    } else if (c.outcome == Outcome::kCommitted) {
      ++result.committed;
      if (c.start > dead && (!first_commit || c.end < *first_commit)) first_commit = c.end;
    } else if (c.outcome == Outcome::kAborted) {
      ++result.aborted;
    } else {
      ++result.unknown;
    }
  }
  if (first_commit && *first_commit <= deadline) {
    result.first_commit_ms = MsBetween(t0, *first_commit);
  }
  if (audit.committed_at()) result.settled_ms = MsBetween(t0, *audit.committed_at());
  result.audit_total = audit.total();
  result.audit_attempts = audit.attempts();

  // The failures, the worst first.
  std::vector<std::string> errors;
  if (result.audit_total && *result.audit_total != kAccounts * kInitial) {
    errors.push_back("THE AUDIT READ A TOTAL OF " + std::to_string(*result.audit_total) + ", NOT " +
                     std::to_string(kAccounts * kInitial));
  }
  const std::string within = " within " + std::to_string(kFigureTimeout.count()) + " ms";
  if (g_interrupted) {
    errors.push_back("interrupted");  // the figures not reached yet were not waited for
  } else {
    if (!result.new_primary_ms) {
      errors.push_back("no new primary of " + local::GroupName(group) + within);
    }
    if (!result.first_commit_ms) {
      errors.push_back("no transfer that started after the kill committed" + within);
    } else if (!result.settled_ms) {
      errors.push_back("no audit committed" + within + " (" + std::to_string(audit.attempts()) +
                       " attempts, the last: " + audit.last_failure() + ")");
    }
  }
  for (const std::string& e : errors) result.error += (result.error.empty() ? "" : "; ") + e;
  return result;
}

// Brings the victim back: once it is out of its group's ISR, restarts it on its data, and waits
// until it is in the ISR again and every group serves.
Status Recover(Cluster& cluster, NodeId victim) {
  const std::string name = cluster.dir().Name(victim);
  if (!cluster.WaitIsr(victim, /*in=*/false, kIsrTimeout)) {
    return Status::Timeout(name + " is still in its group's ISR " +
                           std::to_string(kIsrTimeout.count()) + " ms after it was killed");
  }
  if (Status s = cluster.Start(victim); !s.ok()) return s;
  if (!cluster.WaitIsr(victim, /*in=*/true, kIsrTimeout)) {
    return Status::Timeout(name + " did not rejoin its group's ISR within " +
                           std::to_string(kIsrTimeout.count()) + " ms of its restart");
  }
  return local::WaitGroupsServing(cluster.dir(), cluster.dir().groups(), local::kStartTimeout,
                                  [] { return g_interrupted.load(); });
}

// ---- setup ------------------------------------------------------------------------------------

// Every (from, to) pair of accounts on different shards.
std::vector<std::pair<int, int>> CrossShardPairs(const client::Client& c) {
  std::vector<std::pair<int, int>> pairs;
  for (int a = 0; a < kAccounts; ++a) {
    for (int b = 0; b < kAccounts; ++b) {
      if (c.ShardOf(Account(a)) != c.ShardOf(Account(b))) pairs.emplace_back(a, b);
    }
  }
  return pairs;
}

// Puts every account at kInitial, retried until it commits (bounded). A retry is harmless: no
// transfer has run yet.
Status Seed(client::Client& c) {
  std::vector<Op> puts;
  for (int i = 0; i < kAccounts; ++i) {
    puts.push_back({.type = Op::Type::kPut, .key = Account(i), .value = std::to_string(kInitial)});
  }
  const auto deadline = Clock::now() + kSeedTimeout;
  std::string last;
  while (Clock::now() < deadline && !g_interrupted) {
    Result<client::ExecuteOutcome> r = c.Execute(Protocol::kTwoPc, puts);
    if (r.ok() && r.value().result.outcome == Outcome::kCommitted) return Status::Ok();
    last = r.ok() ? ToString(r.value().result.outcome) : r.status().ToString();
    std::this_thread::sleep_for(milliseconds(50));
  }
  return Status::Timeout("the accounts could not be seeded: " + last);
}

// ---- output -----------------------------------------------------------------------------------

// The median (nearest rank) and the maximum; nullopt for no values.
struct Summary {
  size_t count = 0;
  double p50 = 0, p99 = 0, max = 0;
};
std::optional<Summary> Summarize(const std::vector<RunResult>& runs,
                                 std::optional<double> RunResult::*figure) {
  std::vector<double> v;
  for (const RunResult& r : runs) {
    if (r.*figure) v.push_back(*(r.*figure));
  }
  if (v.empty()) return std::nullopt;
  std::sort(v.begin(), v.end());
  // Nearest rank: the smallest value at or above that share of the runs.
  const auto rank = [&v](double q) {
    const size_t k = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
    return v[std::max<size_t>(k, 1) - 1];
  };
  return Summary{v.size(), rank(0.5), rank(0.99), v.back()};
}

std::string Ms(double ms) { return std::to_string(static_cast<int64_t>(ms + 0.5)); }

// A figure in milliseconds, or null when the run did not get that far.
nlohmann::json JsonMs(const std::optional<double>& ms) {
  return ms ? nlohmann::json(*ms) : nlohmann::json(nullptr);
}

Status WriteJson(const std::string& path, const Args& args, const cluster::NodeConfig& config,
                 const std::vector<RunResult>& runs) {
  nlohmann::json j = {
      {"group", args.group},
      {"replicas", args.replicas},
      {"shards", args.shards},
      {"clients", args.clients},
      {"config_master", args.config_master},
      {"etcd_members", args.config_master == "etcd" ? args.etcd_members : 0},
      {"runs_requested", args.runs},
      {"config",
       {{"heartbeat_ms", config.heartbeat_ms},
        {"lag_timeout_ms", config.lag_timeout_ms},
        {"lease_ms", config.lease_ms},
        {"grace_ms", config.grace_ms},
        {"vote_timeout_ms", config.vote_timeout_ms},
        {"client_timeout_ms", config.client_timeout_ms}}},
      {"runs", nlohmann::json::array()}};
  for (size_t i = 0; i < runs.size(); ++i) {
    const RunResult& r = runs[i];
    j["runs"].push_back({{"run", i + 1},
                         {"ok", r.ok()},
                         {"victim", r.victim},
                         {"new_primary", r.new_primary},
                         {"kill_ms", JsonMs(r.kill_ms)},
                         {"new_primary_ms", JsonMs(r.new_primary_ms)},
                         {"first_commit_ms", JsonMs(r.first_commit_ms)},
                         {"settled_ms", JsonMs(r.settled_ms)},
                         {"audit_total", r.audit_total ? nlohmann::json(*r.audit_total)
                                                       : nlohmann::json(nullptr)},
                         {"audit_attempts", r.audit_attempts},
                         {"committed", r.committed},
                         {"aborted", r.aborted},
                         {"unknown", r.unknown},
                         {"failed_calls", r.failed_calls},
                         {"error", r.error}});
  }
  std::ofstream out(path);
  out << j.dump(2) << "\n";
  out.close();
  if (!out) return Status::IoError("cannot write " + path);
  return Status::Ok();
}

void PrintSummary(const Args& args, const std::vector<RunResult>& runs) {
  const size_t ok = static_cast<size_t>(
      std::count_if(runs.begin(), runs.end(), [](const RunResult& r) { return r.ok(); }));
  const std::pair<const char*, std::optional<double> RunResult::*> figures[] = {
      {"new_primary ", &RunResult::new_primary_ms},
      {"first_commit", &RunResult::first_commit_ms},
      {"settled     ", &RunResult::settled_ms}};
  std::cout << "\nsummary: " << ok << "/" << args.runs << " runs ok\n";
  std::string cells;
  for (const auto& [name, figure] : figures) {
    const std::optional<Summary> s = Summarize(runs, figure);
    if (s) {
      std::cout << "  " << name << "  p50 " << Ms(s->p50) << " ms  p99 " << Ms(s->p99)
                << " ms  max " << Ms(s->max) << " ms  (" << s->count << " of " << runs.size()
                << " runs)\n";
      cells += " " + Ms(s->p50) + " / " + Ms(s->p99) + " / " + Ms(s->max) + " |";
    } else {
      std::cout << "  " << name << "  not measured in any run\n";
      cells += " - |";
    }
  }
  std::cout << "\nmarkdown:\n"
            << "| group killed | config master | replicas | shards | clients | runs ok |"
               " new primary ms p50 / p99 / max | first commit ms p50 / p99 / max |"
               " settled ms p50 / p99 / max |\n"
            << "|---|---|---|---|---|---|---|---|---|\n"
            << "| " << args.group << " | "
            << (args.config_master == "etcd"
                    ? "etcd (" + std::to_string(args.etcd_members) + ")"
                    : std::string("static"))
            << " | " << args.replicas << " | " << args.shards << " | "
            << args.clients << " | " << ok << "/" << args.runs << " |" << cells << "\n";
}

// ---- main -------------------------------------------------------------------------------------

int Main(int argc, char** argv) {
  Args args;
  CLI::App app{
      "failover_bench: kill -9 a group's primary under a bank load, --runs times, and "
      "time the failover (see the top of bench/failover_bench.cc)"};
  app.add_option("--group", args.group, "the group whose primary is killed (shard: shard 0)")
      ->required()
      ->check(CLI::IsMember({"shard", "coordinator"}));
  app.add_option("--runs", args.runs, "failovers to measure")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_option("--clients", args.clients, "load threads, closed loop")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  app.add_option("--replicas", args.replicas, "replicas per group")
      ->capture_default_str()
      ->check(CLI::Range(3, local::kMaxReplicas));
  app.add_option("--shards", args.shards, "shard groups (transfers span two)")
      ->capture_default_str()
      ->check(CLI::Range(2, 64));
  app.add_option("--config-master", args.config_master, "where group configurations live")
      ->capture_default_str()
      ->check(CLI::IsMember({"static", "etcd"}));
  app.add_option("--etcd-members", args.etcd_members, "members of the local etcd (etcd only)")
      ->capture_default_str()
      ->check(CLI::IsMember({1, 3, 5}));
  app.add_option("--data-dir", args.data_dir,
                 "where the cluster's directory is made (default $TMPDIR, else /tmp)");
  app.add_option("--json", args.json_path, "write every run's figures to this file");
  app.add_flag("--keep", args.keep, "keep the cluster's directory");
  app.add_option("--txcoord", args.txcoord, "the txcoord binary (default: beside this one)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int printed = app.exit(e);  // prints the help, or the error and a hint
    return printed == 0 ? 0 : 2;      // --help is not an error; anything else is a usage error
  }

  if (args.txcoord.empty()) {
    std::error_code ec;
    const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
    args.txcoord = ec ? "txcoord" : (self.parent_path() / "txcoord").string();
  }
  if (::access(args.txcoord.c_str(), X_OK) != 0) {
    std::cerr << "failover_bench: " << args.txcoord << " is not an executable (--txcoord)\n";
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
  spec.name = "failover_bench";
  spec.shards = args.shards;
  spec.replicas = args.replicas;
  spec.config_master = args.config_master;
  spec.etcd_members = args.etcd_members;
  spec.txcoord = args.txcoord;
  spec.keep = args.keep;
  Result<std::unique_ptr<Cluster>> created = Cluster::Create(parent, spec, &g_interrupted);
  if (!created.ok()) {
    std::cerr << "failover_bench: " << created.status().ToString() << "\n";
    return 2;
  }
  Cluster& cluster = *created.value();  // stops every node and removes the directory at return
  const cluster::NodeConfig& config = cluster.dir().config(local::kCoordinator);
  std::cout << "failover_bench: kill -9 the " << args.group << " primary, " << args.runs
            << " runs; " << args.shards << " shards, " << args.replicas << " replicas per group, "
            << args.clients << " clients (bank, 2pc); heartbeat " << config.heartbeat_ms
            << " ms, lag_timeout " << config.lag_timeout_ms << " ms, lease " << config.lease_ms
            << " ms, grace " << config.grace_ms << " ms; config master " << args.config_master
            << (args.config_master == "etcd" ? " (" + std::to_string(args.etcd_members) + ")" : "")
            << "; in " << cluster.dir().dir() << std::endl;

  if (Status s = cluster.StartAll(); !s.ok()) {
    std::cerr << "failover_bench: starting the cluster: " << s.ToString() << "\n";
    return g_interrupted ? 130 : 2;
  }
  Result<std::unique_ptr<client::Client>> auditor =
      client::Client::Connect(cluster.ClientOptions());
  if (!auditor.ok()) {
    std::cerr << "failover_bench: " << auditor.status().ToString() << "\n";
    return 2;
  }
  const std::vector<std::pair<int, int>> pairs = CrossShardPairs(*auditor.value());
  if (pairs.empty()) {
    std::cerr << "failover_bench: all " << kAccounts << " accounts are on one shard\n";
    return 2;
  }
  if (Status s = Seed(*auditor.value()); !s.ok()) {
    std::cerr << "failover_bench: " << s.ToString() << "\n";
    return g_interrupted ? 130 : 2;
  }

  std::vector<RunResult> runs;
  bool ok = true;
  for (int run = 1; run <= args.runs && !g_interrupted; ++run) {
    NodeId victim;
    RunResult r = RunOnce(cluster, *auditor.value(), pairs, args, run, victim);
    std::cout << "run " << run << "/" << args.runs << ": ";
    if (!r.ok()) std::cout << "FAILED: " << r.error << "\n  ";
    std::cout << "new_primary " << Figure(r.new_primary_ms) << ", first_commit "
              << Figure(r.first_commit_ms) << ", settled " << Figure(r.settled_ms) << "  ("
              << (r.victim.empty() ? "-" : r.victim) << " -> "
              << (r.new_primary.empty() ? "-" : r.new_primary) << "; " << r.committed
              << " committed, " << r.aborted << " aborted, " << r.unknown << " unknown, "
              << r.failed_calls << " failed calls ended after the kill)" << std::endl;
    ok = ok && r.ok();
    const bool killed = r.killed;
    runs.push_back(std::move(r));
    if (!killed || g_interrupted) continue;  // nothing to bring back (or no time to)
    if (Status s = Recover(cluster, victim); !s.ok()) {
      // The cluster is not whole: the runs after this one would not measure the same thing.
      std::cout << "FAILED to bring " << cluster.dir().Name(victim) << " back: " << s.ToString()
                << "; stopping after run " << run << "\n";
      ok = false;
      break;
    }
  }

  PrintSummary(args, runs);
  if (!args.json_path.empty()) {
    if (Status s = WriteJson(args.json_path, args, config, runs); !s.ok()) {
      std::cerr << "failover_bench: " << s.ToString() << "\n";
      ok = false;
    }
  }
  if (g_interrupted) return 130;
  return ok && static_cast<int>(runs.size()) == args.runs ? 0 : 1;
}

}  // namespace
}  // namespace txcoord::bench

int main(int argc, char** argv) { return txcoord::bench::Main(argc, argv); }
