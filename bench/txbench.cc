// txbench: the load generator. Runs one-shot transactions (Coordinator.execute, the path
// DESIGN.md section 4 says the benchmark uses) against a running cluster and reports throughput,
// latency and outcomes against the machine's floor, then checks what it did.
//
//   txbench --coordinator HOST:PORT[,HOST:PORT...] --workload bank|ycsb|fanout --protocol 2pc|3pc
//           --clients N --duration S [--rate R] [--warmup S] [--participants K] [--json FILE]
//
// Load: closed loop with --clients (each of N clients issues its next transaction when the last
// one ends), or open loop with --rate R (transactions start at fixed intended times, R per
// second, however slowly the system answers; latency is measured from the intended start, so a
// stall is charged to every transaction it delayed: no coordinated omission). Transactions that
// end during --warmup are not counted. Latency is that of committed transactions, in a
// log-linear histogram (bench/histogram.h).
//
// The floor (issue 4): before the run, the fsync latency of the disk under --data-dir (4 KiB
// append + fdatasync; also with one such fsync per participant made at once, as the participants
// of one transaction do on this one disk) and the loopback TCP round trip are measured; the
// commit floor is client round trip + prepare round trip + the participants' fsyncs + the
// coordinator's fsync (none for one participant: one phase), and the summary gives the measured
// p50 beside it as a ratio. With --replicas R > 1 (every group a replica group of R on this one
// disk), each of those durable steps is a replication round trip plus R fsyncs per group made at
// once (participants x R in the prepare phase, R for the coordinator's decision).
//
// After the run: UNKNOWN outcomes are resolved by asking the coordinator; every shard a
// transaction touched is asked its state (Participant.states) and must agree with the
// coordinator's decision; bank checks that the total of all balances is unchanged. Exit status:
// 0 when every check holds, 1 when one fails, 2 on a usage or connection error, 130 on SIGINT
// (after the summary and the checks).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/histogram.h"
#include "bench/workload.h"
#include "client/client.h"
#include "common/rng.h"

namespace txcoord::bench {
namespace {

using Clock = std::chrono::steady_clock;
using client::ExecuteOutcome;

std::atomic<bool> g_interrupted{false};

// ---- options ----------------------------------------------------------------------------------

struct Args {
  std::string host;  // the first of `coordinators`
  uint16_t port = 0;
  std::vector<std::string> coordinators;  // "host:port" of every coordinator replica
  WorkloadOptions workload;
  Protocol protocol = Protocol::kTwoPc;
  int clients = 1;
  double rate = 0;  // > 0: open loop
  double duration_s = 10;
  double warmup_s = 2;
  std::string json_path;
  std::string data_dir = ".";
  bool floor = true;
  int replicas = 1;  // of every group, for the floor
  uint64_t seed = 1;
  int max_in_flight = 10000;  // open loop: more outstanding than this and a start is dropped
  bool help = false;
};

constexpr char kUsage[] =
    "usage: txbench --coordinator HOST:PORT[,HOST:PORT...] [options]\n"
    "  --coordinator A[,B...]        the coordinator, or every replica of it (tried in turn)\n"
    "  --workload bank|ycsb|fanout   (default bank)\n"
    "  --protocol 2pc|3pc            (default 2pc)\n"
    "  --clients N                   closed loop with N clients (default 1)\n"
    "  --rate R                      open loop: R transactions/s started on schedule\n"
    "  --duration S                  measured seconds (default 10)\n"
    "  --warmup S                    seconds before measuring (default 2)\n"
    "  --participants K              fanout: shards per transaction (default 2)\n"
    "  --accounts N                  bank: accounts (default 10000)\n"
    "  --records N                   ycsb: records (default 100000)\n"
    "  --ops-per-txn N               ycsb: operations per transaction (default 4)\n"
    "  --read-fraction F             ycsb: fraction of reads (default 0.5)\n"
    "  --json FILE                   write the results as JSON\n"
    "  --data-dir DIR                measure the fsync floor on DIR's disk (default .)\n"
    "  --no-floor                    do not measure the floor\n"
    "  --replicas R                  replicas per group of the cluster, for the floor (default 1)\n"
    "  --max-in-flight N             open loop: outstanding limit (default 10000)\n"
    "  --seed N                      workload random seed (default 1)\n";

Result<Args> ParseArgs(int argc, char** argv) {
  Args a;
  auto number = [](const std::string& flag, const std::string& v, double lo,
                   double hi) -> Result<double> {
    try {
      size_t used = 0;
      const double d = std::stod(v, &used);
      if (used != v.size() || d < lo || d > hi) throw std::invalid_argument(v);
      return d;
    } catch (const std::exception&) {
      return Status::InvalidArgument(flag + ": '" + v + "' is not a number in [" +
                                     std::to_string(lo) + ", " + std::to_string(hi) + "]");
    }
  };
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      a.help = true;
      continue;
    }
    if (flag == "--no-floor") {
      a.floor = false;
      continue;
    }
    if (i + 1 >= argc) return Status::InvalidArgument(flag + ": needs a value (or is unknown)");
    const std::string v = argv[++i];
    auto num = [&](double lo, double hi) -> Result<double> { return number(flag, v, lo, hi); };
    if (flag == "--coordinator") {
      // One HOST:PORT, or a comma-separated list of every coordinator replica.
      a.coordinators.clear();
      for (size_t from = 0; from <= v.size();) {
        const size_t comma = std::min(v.find(',', from), v.size());
        const std::string one = v.substr(from, comma - from);
        from = comma + 1;
        const size_t colon = one.rfind(':');
        if (colon == std::string::npos || colon == 0) {
          return Status::InvalidArgument("--coordinator: HOST:PORT[,HOST:PORT...], not '" + v +
                                         "'");
        }
        Result<double> port = number(flag, one.substr(colon + 1), 1, 65535);
        if (!port.ok()) return port.status();
        if (a.coordinators.empty()) {
          a.host = one.substr(0, colon);
          a.port = static_cast<uint16_t>(port.value());
        }
        a.coordinators.push_back(one.substr(0, colon) + ":" +
                                 std::to_string(static_cast<int>(port.value())));
      }
    } else if (flag == "--workload") {
      Result<WorkloadKind> k = ParseWorkloadKind(v);
      if (!k.ok()) return k.status();
      a.workload.kind = k.value();
    } else if (flag == "--protocol") {
      if (v == "2pc") {
        a.protocol = Protocol::kTwoPc;
      } else if (v == "3pc") {
        a.protocol = Protocol::kThreePc;
      } else {
        return Status::InvalidArgument("--protocol: '" + v + "' is not 2pc or 3pc");
      }
    } else if (flag == "--json") {
      a.json_path = v;
    } else if (flag == "--data-dir") {
      a.data_dir = v;
    } else {
      double lo = 0;
      double hi = 1e9;
      if (flag == "--clients" || flag == "--participants" || flag == "--ops-per-txn") lo = 1;
      if (flag == "--read-fraction") hi = 1;
      if (flag == "--participants") hi = 64;
      if (flag == "--clients") hi = 100000;
      if (flag == "--duration") lo = 0.1;
      if (flag == "--replicas") lo = 1, hi = 9;
      Result<double> d = num(lo, hi);
      if (!d.ok()) return d.status();
      const double x = d.value();
      if (flag == "--clients") {
        a.clients = static_cast<int>(x);
      } else if (flag == "--rate") {
        a.rate = x;
      } else if (flag == "--duration") {
        a.duration_s = x;
      } else if (flag == "--warmup") {
        a.warmup_s = x;
      } else if (flag == "--participants") {
        a.workload.participants = static_cast<int>(x);
      } else if (flag == "--accounts") {
        a.workload.accounts = static_cast<int64_t>(x);
      } else if (flag == "--records") {
        a.workload.records = static_cast<int64_t>(x);
      } else if (flag == "--ops-per-txn") {
        a.workload.ops_per_txn = static_cast<int>(x);
      } else if (flag == "--read-fraction") {
        a.workload.read_fraction = x;
      } else if (flag == "--max-in-flight") {
        a.max_in_flight = static_cast<int>(x);
      } else if (flag == "--seed") {
        a.seed = static_cast<uint64_t>(x);
      } else if (flag == "--replicas") {
        a.replicas = static_cast<int>(x);
      } else {
        return Status::InvalidArgument("unknown flag " + flag);
      }
    }
  }
  if (!a.help && a.host.empty()) return Status::InvalidArgument("--coordinator is required");
  return a;
}

// ---- the floor --------------------------------------------------------------------------------

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double MicrosSince(Clock::time_point t) {
  return std::chrono::duration<double, std::micro>(Clock::now() - t).count();
}

// Median time for `files` 4 KiB appends + fdatasyncs, one per file, made at the same moment from
// `files` threads in dir (the WAL's unit of durability, as `files` participants on this disk make
// it when one transaction prepares at all of them).
Result<double> MeasureFsyncUs(const std::string& dir, int files) {
  std::vector<int> fds;
  std::vector<std::string> paths;
  auto cleanup = [&] {
    for (int fd : fds) ::close(fd);
    for (const std::string& path : paths) ::unlink(path.c_str());
  };
  for (int i = 0; i < files; ++i) {
    paths.push_back(dir + "/.txbench-fsync-probe-" + std::to_string(i));
    const int fd = ::open(paths.back().c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0644);
    if (fd < 0) {
      Status s = Status::IoError("cannot create " + paths.back() + ": " + std::strerror(errno));
      paths.pop_back();
      cleanup();
      return s;
    }
    fds.push_back(fd);
  }
  const std::string block(4096, 'x');
  std::atomic<bool> failed{false};
  auto append_sync = [&](int fd) {
    if (::write(fd, block.data(), block.size()) != static_cast<ssize_t>(block.size()) ||
        ::fdatasync(fd) != 0) {
      failed = true;
    }
  };
  // Rounds: every thread starts its fsync at the same barrier; the round ends when all are done.
  constexpr int kRounds = 200;
  std::barrier sync_point(files);
  std::vector<std::thread> others;
  for (int i = 1; i < files; ++i) {
    others.emplace_back([&, fd = fds[static_cast<size_t>(i)]] {
      for (int round = 0; round < kRounds; ++round) {
        sync_point.arrive_and_wait();
        append_sync(fd);
        sync_point.arrive_and_wait();
      }
    });
  }
  std::vector<double> samples;
  for (int round = 0; round < kRounds; ++round) {
    sync_point.arrive_and_wait();
    const auto t = Clock::now();
    append_sync(fds[0]);
    sync_point.arrive_and_wait();
    samples.push_back(MicrosSince(t));
  }
  for (std::thread& th : others) th.join();
  cleanup();
  if (failed) return Status::IoError("write/fdatasync in " + dir + ": " + std::strerror(errno));
  return Median(samples);
}

// Median TCP round trip of a 64-byte message over 127.0.0.1 to an echo in another process (as
// between our nodes: each side sleeps in the kernel until the other's bytes arrive).
// REQUIRES: no other threads yet (it forks).
Result<double> MeasureRttUs() {
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (listener < 0 || ::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(listener, 1) != 0 ||
      ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (listener >= 0) ::close(listener);
    return Status::IoError(std::string("loopback probe: ") + std::strerror(errno));
  }
  constexpr int kRounds = 2000;
  constexpr size_t kBytes = 64;
  // Reads exactly kBytes (false on EOF or error).
  auto read_full = [](int fd, char* buf) {
    size_t got = 0;
    while (got < kBytes) {
      const ssize_t n = ::read(fd, buf + got, kBytes - got);
      if (n <= 0) return false;
      got += static_cast<size_t>(n);
    }
    return true;
  };
  const int one = 1;
  const pid_t echo = ::fork();
  if (echo < 0) return Status::IoError(std::string("fork: ") + std::strerror(errno));
  if (echo == 0) {
    const int fd = ::accept(listener, nullptr, nullptr);
    if (fd >= 0) {
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      char buf[kBytes];
      while (read_full(fd, buf) && ::write(fd, buf, kBytes) == static_cast<ssize_t>(kBytes)) {
      }
    }
    ::_exit(0);
  }
  ::close(listener);
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  std::vector<double> samples;
  if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    char buf[kBytes] = {};
    for (int i = 0; i < kRounds; ++i) {
      const auto t = Clock::now();
      if (::write(fd, buf, kBytes) != static_cast<ssize_t>(kBytes) || !read_full(fd, buf)) break;
      samples.push_back(MicrosSince(t));
    }
  }
  if (fd >= 0) ::close(fd);  // the echo sees EOF and exits
  int status = 0;
  ::waitpid(echo, &status, 0);
  if (samples.size() < kRounds) return Status::IoError("loopback probe: connection broke");
  return Median(samples);
}

// The commit floor of a transaction with `participants` participants on this machine: the client's
// round trip + the prepare round trip + the participants' fsyncs (made at once, on this one disk)
// + the coordinator's fsync. A single participant commits in one phase: no coordinator fsync.
// Replicated (replicas > 1): every durable step is also a replication round trip, and each
// group's fsyncs happen on every replica at once (this one disk holds them all).
struct Floor {
  int participants = 2;
  int replicas = 1;
  double fsync_us = 0;           // one group's fsyncs: 1, or `replicas` at once
  double parallel_fsync_us = 0;  // the prepare phase's: participants x replicas at once
  double rtt_us = 0;
  double replication_us() const { return replicas > 1 ? rtt_us : 0; }
  double commit_us() const {
    return participants == 1
               ? 2 * rtt_us + replication_us() + fsync_us
               : 2 * rtt_us + replication_us() + parallel_fsync_us + replication_us() + fsync_us;
  }
};

// ---- recording outcomes -----------------------------------------------------------------------

// What the check needs of every transaction.
struct TxnRecord {
  TxnId id;
  Outcome outcome = Outcome::kUnknown;
  uint64_t shards = 0;  // bit s: the transaction had ops on shard s
};

struct Counts {
  uint64_t committed = 0;
  uint64_t aborted = 0;
  uint64_t unknown = 0;
  std::map<AbortReason, uint64_t> aborted_by;
  Histogram latency_ns;  // committed only
  void Add(const Counts& o) {
    committed += o.committed;
    aborted += o.aborted;
    unknown += o.unknown;
    for (const auto& [r, n] : o.aborted_by) aborted_by[r] += n;
    latency_ns.Merge(o.latency_ns);
  }
};

// Every finished transaction passes through Done() (on the client's io thread); the reporter
// reads intervals from the main thread.
class Recorder {
 public:
  void Done(const Result<ExecuteOutcome>& r, uint64_t shards, Clock::time_point start,
            Clock::time_point end, bool measured) {
    std::lock_guard<std::mutex> lock(mu_);
    TxnRecord rec;
    rec.shards = shards;
    if (!r.ok()) {
      // A request that could not be made (a bug or bad input): report, never count as done.
      ++invalid_;
      if (last_error_.empty()) last_error_ = r.status().ToString();
      return;
    }
    rec.id = r.value().txn;
    rec.outcome = r.value().result.outcome;
    const auto latency_ns = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(end - start).count());
    Count(progress_, r.value().result, latency_ns);
    if (measured) Count(measured_, r.value().result, latency_ns);
    if (rec.outcome == Outcome::kCommitted) ++committed_all_;
    if (rec.outcome == Outcome::kUnknown) ++in_doubt_;
    records_.push_back(rec);
  }

  // The counts since the last call (for the progress line).
  Counts TakeProgress() {
    std::lock_guard<std::mutex> lock(mu_);
    Counts out;
    std::swap(out, progress_);
    return out;
  }
  uint64_t in_doubt() {
    std::lock_guard<std::mutex> lock(mu_);
    return in_doubt_;
  }

  // After the run: every call's callback has run by its deadline (the client's timeout), which
  // Runner::Run waits out, so nothing calls Done() any more.
  Counts& measured() { return measured_; }
  std::vector<TxnRecord>& records() { return records_; }
  uint64_t committed_all() const { return committed_all_; }
  uint64_t invalid() const { return invalid_; }
  const std::string& last_error() const { return last_error_; }
  void Resolved() {
    std::lock_guard<std::mutex> lock(mu_);
    --in_doubt_;
  }

 private:
  static void Count(Counts& c, const client::CommitOutcome& o, uint64_t latency_ns) {
    switch (o.outcome) {
      case Outcome::kCommitted:
        ++c.committed;
        c.latency_ns.Record(latency_ns);
        break;
      case Outcome::kAborted:
        ++c.aborted;
        ++c.aborted_by[o.reason];
        break;
      case Outcome::kUnknown:
        ++c.unknown;
        break;
    }
  }

  std::mutex mu_;
  Counts progress_;  // since the last progress line
  Counts measured_;
  std::vector<TxnRecord> records_;
  uint64_t committed_all_ = 0;
  uint64_t in_doubt_ = 0;
  uint64_t invalid_ = 0;
  std::string last_error_;
};

// ---- the run ----------------------------------------------------------------------------------

std::string Thousands(uint64_t v) {
  std::string s = std::to_string(v);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<size_t>(i), ",");
  return s;
}

std::string Ms(uint64_t ns) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f", static_cast<double>(ns) / 1e6);
  return buf;
}

class Runner {
 public:
  Runner(const Args& args, client::Client& client, const Workload& workload)
      : args_(args), client_(client), workload_(workload) {}

  // Runs warm-up + measured window; returns once every issued transaction has ended (bounded).
  void Run() {
    start_ = Clock::now();
    measure_from_ = start_ + Seconds(args_.warmup_s);
    measure_to_ = measure_from_ + Seconds(args_.duration_s);
    std::thread issuer;
    if (args_.rate > 0) {
      issuer = std::thread([this] { OpenLoop(); });
    } else {
      for (int i = 0; i < args_.clients; ++i) {
        rngs_.emplace_back(args_.seed * 1000003 + static_cast<uint64_t>(i));
      }
      for (int i = 0; i < args_.clients; ++i) IssueClosed(i);
    }
    Report();
    stopping_ = true;
    if (issuer.joinable()) issuer.join();
    // Wait for what is in flight: the client's deadline bounds each transaction.
    const auto until = Clock::now() + std::chrono::seconds(30);
    while (in_flight_.load() > 0 && Clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (in_flight_.load() > 0) {
      std::cout << "warning: " << in_flight_.load() << " transactions still in flight\n";
    }
    // The window: from the end of the warm-up to its planned end, or to SIGINT.
    const auto window_end = std::max(measure_from_, std::min(stopped_at_, measure_to_));
    measured_s_ = std::chrono::duration<double>(window_end - measure_from_).count();
  }

  Recorder& recorder() { return recorder_; }
  double measured_s() const { return measured_s_; }
  uint64_t dropped() const { return dropped_.load(); }

 private:
  static Clock::duration Seconds(double s) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
  }

  uint64_t ShardsOf(const std::vector<Op>& ops) const {
    uint64_t mask = 0;
    for (const Op& op : ops) mask |= uint64_t{1} << (client_.ShardOf(op.key) & 63);
    return mask;
  }

  void Issue(std::vector<Op> ops, Clock::time_point intended, std::function<void()> then) {
    const uint64_t shards = ShardsOf(ops);
    ++in_flight_;
    client_.ExecuteAsync(args_.protocol, std::move(ops),
                         [this, shards, intended, then = std::move(then)](
                             Result<ExecuteOutcome> r) {
                           const auto end = Clock::now();
                           const bool measured = end >= measure_from_ && end < measure_to_ &&
                                                 !g_interrupted.load();
                           recorder_.Done(r, shards, intended, end, measured);
                           --in_flight_;
                           if (then) then();
                         });
  }

  // Closed loop: client i issues its next transaction when the last one ended.
  void IssueClosed(int i) {
    if (stopping_.load() || Clock::now() >= measure_to_) return;
    Issue(workload_.Next(rngs_[static_cast<size_t>(i)]), Clock::now(),
          [this, i] { IssueClosed(i); });
  }

  // Open loop: transaction k starts at start_ + k / rate, late or not.
  void OpenLoop() {
    Rng rng(args_.seed * 1000003);
    const double interval_ns = 1e9 / args_.rate;
    for (uint64_t k = 0; !stopping_.load(); ++k) {
      const auto intended = start_ + std::chrono::nanoseconds(static_cast<int64_t>(
                                         static_cast<double>(k) * interval_ns));
      if (intended >= measure_to_) break;
      std::this_thread::sleep_until(intended);
      if (in_flight_.load() >= args_.max_in_flight) {
        ++dropped_;  // the system is this far behind: counted, reported
        continue;
      }
      Issue(workload_.Next(rng), intended, nullptr);
    }
  }

  // One progress line per second until the window ends (or SIGINT).
  void Report() {
    auto next = start_ + std::chrono::seconds(1);
    int second = 1;
    while (true) {
      while (Clock::now() < next) {
        if (g_interrupted.load() || Clock::now() >= measure_to_) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      const bool done = g_interrupted.load() || Clock::now() >= measure_to_;
      if (done) stopped_at_ = Clock::now();
      const double elapsed_s =
          std::chrono::duration<double>(Clock::now() - (next - std::chrono::seconds(1))).count();
      Counts c = recorder_.TakeProgress();
      const bool warm = Clock::now() <= measure_from_ + std::chrono::milliseconds(1);
      char line[256];
      std::snprintf(line, sizeof(line),
                    "[%3ds%s] committed/s %8s  aborted/s %6s  p50 %6s ms  p99 %7s ms  in doubt %s",
                    second, warm ? " warmup" : "",
                    Thousands(static_cast<uint64_t>(static_cast<double>(c.committed) /
                                                    std::max(elapsed_s, 0.001)))
                        .c_str(),
                    Thousands(static_cast<uint64_t>(static_cast<double>(c.aborted) /
                                                    std::max(elapsed_s, 0.001)))
                        .c_str(),
                    Ms(c.latency_ns.Percentile(0.5)).c_str(),
                    Ms(c.latency_ns.Percentile(0.99)).c_str(),
                    Thousands(recorder_.in_doubt()).c_str());
      std::cout << line << std::endl;
      if (done) return;
      next += std::chrono::seconds(1);
      ++second;
    }
  }

  const Args& args_;
  client::Client& client_;
  const Workload& workload_;
  Recorder recorder_;
  std::vector<Rng> rngs_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> in_flight_{0};
  std::atomic<uint64_t> dropped_{0};
  Clock::time_point start_;
  Clock::time_point measure_from_;
  Clock::time_point measure_to_;
  Clock::time_point stopped_at_;
  double measured_s_ = 0;
};

// ---- before and after the run ----------------------------------------------------------------

// Runs `ops` as one transaction until it commits (retrying aborts), for at most `limit` (less if
// `interruptible` and SIGINT came).
std::optional<ExecuteOutcome> Settle(client::Client& c, Protocol p, const std::vector<Op>& ops,
                                     std::chrono::seconds limit, bool interruptible) {
  const auto until = Clock::now() + limit;
  while (Clock::now() < until && !(interruptible && g_interrupted.load())) {
    Result<ExecuteOutcome> r = c.Execute(p, ops);
    if (r.ok() && r.value().result.outcome == Outcome::kCommitted) return r.value();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return std::nullopt;
}

Status Load(client::Client& c, const Workload& w) {
  const std::vector<std::vector<Op>> batches = w.LoadBatches(500);
  if (batches.empty()) return Status::Ok();
  std::cout << "loading: " << batches.size() << " transactions of up to 500 writes" << std::endl;
  for (const std::vector<Op>& batch : batches) {
    if (!Settle(c, Protocol::kTwoPc, batch, std::chrono::seconds(30), /*interruptible=*/true)) {
      return Status::Aborted(g_interrupted ? "interrupted while loading"
                                           : "loading did not commit within 30 s");
    }
  }
  return Status::Ok();
}

// Asks the coordinator about every UNKNOWN outcome until it has decided (bounded).
uint64_t ResolveUnknown(client::Client& c, Recorder& rec) {
  uint64_t unresolved = 0;
  const auto until = Clock::now() + std::chrono::seconds(30);
  for (TxnRecord& t : rec.records()) {
    if (t.outcome != Outcome::kUnknown) continue;
    while (t.id.valid() && Clock::now() < until) {
      Result<client::CommitOutcome> s = c.StatusOf(t.id);
      if (s.ok() && s.value().outcome != Outcome::kUnknown) {
        t.outcome = s.value().outcome;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (t.outcome == Outcome::kUnknown) {
      ++unresolved;
    } else {
      rec.Resolved();
    }
  }
  return unresolved;
}

struct Agreement {
  uint64_t checked = 0;    // (transaction, shard) pairs whose states agree
  uint64_t forgotten = 0;  // the shard no longer remembers (past its retention): not checkable
  uint64_t unresolved = 0; // the coordinator's outcome stayed UNKNOWN: not checkable
  uint64_t disagree = 0;
  uint64_t undecided = 0;  // the shard still had not learnt the outcome when the check gave up
  std::vector<std::string> examples;
  bool ok() const { return disagree == 0 && undecided == 0; }
};

// Does `state` at a shard agree with the coordinator's `outcome`? nullopt: not yet final there.
std::optional<bool> Agrees(Outcome outcome, TxnState state) {
  switch (state) {
    case TxnState::kCommitted: return outcome == Outcome::kCommitted;
    case TxnState::kPreCommitted: return outcome == Outcome::kCommitted ? std::nullopt
                                                                       : std::optional(false);
    case TxnState::kAborted:
    case TxnState::kUnknown: return outcome == Outcome::kAborted;
    case TxnState::kActive:
    case TxnState::kPrepared:
    case TxnState::kPreAborted: return std::nullopt;
    case TxnState::kForgotten: return true;
  }
  return false;
}

Agreement CheckShards(client::Client& c, const std::vector<TxnRecord>& records) {
  Agreement a;
  const auto shards = static_cast<ShardId>(c.shard_map().shards.size());
  const auto until = Clock::now() + std::chrono::seconds(20);
  for (ShardId s = 0; s < shards && s < 64; ++s) {
    std::vector<size_t> pending;
    for (size_t i = 0; i < records.size(); ++i) {
      if (!(records[i].shards & (uint64_t{1} << s))) continue;
      if (records[i].outcome == Outcome::kUnknown) {
        ++a.unresolved;
        continue;
      }
      pending.push_back(i);
    }
    while (!pending.empty()) {
      std::vector<size_t> again;
      for (size_t at = 0; at < pending.size(); at += 50000) {
        const size_t end = std::min(pending.size(), at + 50000);
        std::vector<TxnId> ids;
        for (size_t k = at; k < end; ++k) ids.push_back(records[pending[k]].id);
        Result<std::vector<TxnState>> states = c.StatesAt(s, ids);
        if (!states.ok()) {
          a.undecided += end - at;
          a.examples.push_back("shard " + std::to_string(s) + ": " + states.status().ToString());
          continue;
        }
        for (size_t k = at; k < end; ++k) {
          const TxnRecord& t = records[pending[k]];
          const TxnState st = states.value()[k - at];
          std::optional<bool> agrees = Agrees(t.outcome, st);
          if (!agrees) {
            again.push_back(pending[k]);
          } else if (!*agrees) {
            ++a.disagree;
            if (a.examples.size() < 5) {
              a.examples.push_back(t.id.ToString() + ": coordinator " + ToString(t.outcome) +
                                   ", shard " + std::to_string(s) + " " + ToString(st));
            }
          } else if (st == TxnState::kForgotten) {
            ++a.forgotten;
          } else {
            ++a.checked;
          }
        }
      }
      pending.swap(again);
      if (pending.empty()) break;
      if (Clock::now() >= until) {
        a.undecided += pending.size();
        a.examples.push_back(std::to_string(pending.size()) + " transaction(s) still undecided at shard " +
                             std::to_string(s) + ", e.g. " + records[pending[0]].id.ToString());
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  return a;
}

// ---- output -----------------------------------------------------------------------------------

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (static_cast<unsigned char>(ch) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", ch);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

std::string Num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

int Main(int argc, char** argv) {
  Result<Args> parsed = ParseArgs(argc, argv);
  if (!parsed.ok()) {
    std::cerr << "txbench: " << parsed.status().message() << "\n" << kUsage;
    return 2;
  }
  const Args& args = parsed.value();
  if (args.help) {
    std::cout << kUsage;
    return 0;
  }
  std::signal(SIGPIPE, SIG_IGN);
  struct sigaction sa {};
  sa.sa_handler = [](int) { g_interrupted = true; };
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);

  std::optional<Floor> floor;
  if (args.floor) {
    // Participants per transaction: bank 2, fanout K, ycsb up to its operations.
    const int participants = args.workload.kind == WorkloadKind::kBank     ? 2
                             : args.workload.kind == WorkloadKind::kFanout ? args.workload.participants
                                                                           : args.workload.ops_per_txn;
    Result<double> rtt_us = MeasureRttUs();  // first: it forks
    Result<double> fsync_us = MeasureFsyncUs(args.data_dir, args.replicas);
    Result<double> parallel_us =
        participants > 1 ? MeasureFsyncUs(args.data_dir, participants * args.replicas) : fsync_us;
    for (const Status& s : {rtt_us.status(), fsync_us.status(), parallel_us.status()}) {
      if (!s.ok()) {
        std::cerr << "txbench: floor: " << s.ToString() << "\n";
        return 2;
      }
    }
    floor = Floor{participants, args.replicas, fsync_us.value(), parallel_us.value(),
                  rtt_us.value()};
    std::printf("floor: fsync %.0f us (%d x 4 KiB append + fdatasync at once in %s), %d at once "
                "%.0f us, loopback round trip %.0f us -> commit floor %.0f us%s\n",
                floor->fsync_us, args.replicas, args.data_dir.c_str(),
                participants * args.replicas, floor->parallel_fsync_us, floor->rtt_us,
                floor->commit_us(),
                args.replicas > 1 ? " (replicated: + a replication round trip per durable step)"
                                  : "");
  }

  Result<std::unique_ptr<client::Client>> connected =
      client::Client::Connect({.coordinators = args.coordinators});
  if (!connected.ok()) {
    std::cerr << "txbench: " << connected.status().ToString() << "\n";
    return 2;
  }
  client::Client& client = *connected.value();
  Result<std::unique_ptr<Workload>> made = Workload::Make(args.workload, client.shard_map());
  if (!made.ok()) {
    std::cerr << "txbench: " << made.status().message() << "\n";
    return 2;
  }
  const Workload& workload = *made.value();
  const size_t shard_count = client.shard_map().shards.size();
  std::cout << "txbench: " << ToString(args.workload.kind) << ", "
            << (args.protocol == Protocol::kTwoPc ? "2pc" : "3pc") << ", "
            << (args.rate > 0 ? "open loop at " + Num(args.rate) + " txn/s"
                              : std::to_string(args.clients) + " client(s)")
            << ", " << shard_count << " shard(s), " << Num(args.warmup_s) << " s warm-up + "
            << Num(args.duration_s) << " s against " << args.host << ":" << args.port
            << std::endl;
  if (Status s = Load(client, workload); !s.ok()) {
    std::cerr << "txbench: " << s.ToString() << "\n";
    return g_interrupted ? 130 : 2;
  }

  Runner runner(args, client, workload);
  runner.Run();
  Recorder& rec = runner.recorder();
  if (rec.invalid() > 0) {
    std::cout << "error: " << rec.invalid() << " request(s) refused, e.g. " << rec.last_error()
              << "\n";
  }

  // Summary.
  Counts& m = rec.measured();
  const double seconds = std::max(runner.measured_s(), 1e-9);
  const double tps = static_cast<double>(m.committed) / seconds;
  const Histogram& h = m.latency_ns;
  std::cout << "\nsummary (" << Num(seconds) << " s measured";
  if (g_interrupted) std::cout << ", interrupted";
  std::cout << ")\n  committed   " << Thousands(m.committed) << "  (" << Thousands(static_cast<uint64_t>(tps))
            << " txn/s)\n  aborted     " << Thousands(m.aborted);
  for (const auto& [reason, n] : m.aborted_by) std::cout << "  " << ToString(reason) << ": " << Thousands(n);
  std::cout << "\n  unknown     " << Thousands(m.unknown) << "\n";
  if (runner.dropped() > 0) {
    std::cout << "  not started " << Thousands(runner.dropped()) << " (open loop: more than "
              << args.max_in_flight << " in flight)\n";
  }
  std::cout << "  latency ms  p50 " << Ms(h.Percentile(0.5)) << "  p90 " << Ms(h.Percentile(0.9))
            << "  p99 " << Ms(h.Percentile(0.99)) << "  p99.9 " << Ms(h.Percentile(0.999))
            << "  max " << Ms(h.max()) << "\n";
  double ratio = 0;
  if (floor) {
    ratio = static_cast<double>(h.Percentile(0.5)) / 1e3 / floor->commit_us();
    std::printf("  floor       %.0f us = %s x %.0f us round trip + %d fsync(s) at once"
                " %.0f us%s; p50 / floor = %.2f%s\n",
                floor->commit_us(),
                floor->replicas == 1 ? "2" : floor->participants == 1 ? "3" : "4", floor->rtt_us,
                floor->participants * floor->replicas, floor->parallel_fsync_us,
                floor->participants == 1 ? " (one phase)"
                                         : (" + coordinator fsync(s) " +
                                            std::to_string(static_cast<int>(floor->fsync_us)) +
                                            " us").c_str(),
                ratio,
                args.clients == 1 && args.rate == 0 ? "" : " (the floor is for one client)");
  }

  // Checks.
  const uint64_t unresolved = ResolveUnknown(client, rec);
  std::cout << "\nchecks\n  outcomes    " << Thousands(rec.records().size())
            << " transactions; UNKNOWN after asking the coordinator: " << unresolved << "\n";
  const Agreement agreement = CheckShards(client, rec.records());
  std::cout << "  agreement   " << (agreement.ok() ? "OK" : "FAILED") << ": "
            << Thousands(agreement.checked) << " (transaction, shard) states agree with the "
            << "coordinator, " << agreement.disagree << " disagree, " << agreement.undecided
            << " undecided, " << agreement.forgotten << " forgotten (past retention), "
            << agreement.unresolved << " not checkable (outcome unknown)\n";
  for (const std::string& e : agreement.examples) std::cout << "              " << e << "\n";
  bool ok = agreement.ok() && rec.invalid() == 0;
  std::optional<int64_t> total;
  if (args.workload.kind == WorkloadKind::kBank) {
    std::optional<ExecuteOutcome> audit =
        Settle(client, Protocol::kTwoPc, workload.AuditOps(), std::chrono::seconds(30),
               /*interruptible=*/false);  // an interrupted run is checked too
    if (audit) {
      total = 0;
      for (const OpResult& r : audit->reads) {
        if (r.found) *total += std::stoll(r.value);
      }
    }
    const bool holds = total && *total == workload.ExpectedTotal();
    std::cout << "  invariant   " << (holds ? "OK" : "FAILED") << ": total of "
              << Thousands(static_cast<uint64_t>(args.workload.accounts)) << " balances is "
              << (total ? std::to_string(*total) : "unreadable (no audit committed in 30 s)")
              << ", expected " << workload.ExpectedTotal() << "\n";
    ok = ok && holds;
  }

  if (!args.json_path.empty()) {
    std::ostringstream j;
    j << "{\n  \"workload\": " << JsonString(ToString(args.workload.kind))
      << ",\n  \"protocol\": " << JsonString(args.protocol == Protocol::kTwoPc ? "2pc" : "3pc")
      << ",\n  \"clients\": " << args.clients << ",\n  \"rate\": " << Num(args.rate)
      << ",\n  \"participants\": " << args.workload.participants
      << ",\n  \"shards\": " << shard_count << ",\n  \"duration_s\": " << Num(seconds)
      << ",\n  \"warmup_s\": " << Num(args.warmup_s) << ",\n  \"committed\": " << m.committed
      << ",\n  \"committed_all\": " << rec.committed_all() << ",\n  \"aborted\": " << m.aborted
      << ",\n  \"aborted_by_reason\": {";
    bool first = true;
    for (const auto& [reason, n] : m.aborted_by) {
      j << (first ? "" : ", ") << JsonString(ToString(reason)) << ": " << n;
      first = false;
    }
    j << "},\n  \"unknown\": " << m.unknown << ",\n  \"not_started\": " << runner.dropped()
      << ",\n  \"throughput_tps\": " << Num(tps) << ",\n  \"latency_ms\": {\"p50\": "
      << Num(static_cast<double>(h.Percentile(0.5)) / 1e6)
      << ", \"p90\": " << Num(static_cast<double>(h.Percentile(0.9)) / 1e6)
      << ", \"p99\": " << Num(static_cast<double>(h.Percentile(0.99)) / 1e6)
      << ", \"p999\": " << Num(static_cast<double>(h.Percentile(0.999)) / 1e6)
      << ", \"max\": " << Num(static_cast<double>(h.max()) / 1e6)
      << ", \"mean\": " << Num(h.mean() / 1e6) << "}";
    if (floor) {
      j << ",\n  \"floor\": {\"participants\": " << floor->participants
        << ", \"replicas\": " << floor->replicas
        << ", \"fsync_us\": " << Num(floor->fsync_us)
        << ", \"parallel_fsync_us\": " << Num(floor->parallel_fsync_us)
        << ", \"rtt_us\": " << Num(floor->rtt_us) << ", \"commit_us\": " << Num(floor->commit_us())
        << ", \"p50_over_floor\": " << Num(ratio) << "}";
    }
    j << ",\n  \"check\": {\"ok\": " << (ok ? "true" : "false")
      << ", \"agree\": " << agreement.checked << ", \"disagree\": " << agreement.disagree
      << ", \"undecided\": " << agreement.undecided << ", \"forgotten\": " << agreement.forgotten
      << ", \"unknown_unresolved\": " << unresolved;
    if (total) j << ", \"bank_total\": " << *total << ", \"bank_expected\": " << workload.ExpectedTotal();
    j << "},\n  \"interrupted\": " << (g_interrupted ? "true" : "false") << "\n}\n";
    std::ofstream out(args.json_path);
    out << j.str();
    if (!out) {
      std::cerr << "txbench: cannot write " << args.json_path << "\n";
      return 2;
    }
  }
  if (!ok) return 1;
  return g_interrupted ? 130 : 0;
}

}  // namespace
}  // namespace txcoord::bench

int main(int argc, char** argv) { return txcoord::bench::Main(argc, argv); }
