// wal_bench: group commit of the write-ahead log, measured against the disk's own floor.
//
//   wal_bench [--dir DIR] [--seconds S] [--appenders 1,8,64] [--mode sync|flush|both]
//
// First measures the floor in the same run: the latency of a 4 KiB append + fdatasync on DIR's
// disk. Then, for each mode and appender count, N threads each append one small record and wait
// for it to be durable, in a closed loop, for S seconds. Prints appends/s, appends per fsync
// (group commit), and the median and p99 append-to-durable latency, each next to the floor.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <string>
#include <mutex>
#include <thread>
#include <vector>

#include "wal/wal.h"

namespace {

using Clock = std::chrono::steady_clock;

double Micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p * static_cast<double>(v.size() - 1))];
}

// Median latency of a 4 KiB append + fdatasync to a file in dir.
double FsyncFloorMicros(const std::string& dir) {
  const std::string path = dir + "/fsync-floor";
  const int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_APPEND, 0644);
  if (fd < 0) {
    std::perror("open");
    std::exit(1);
  }
  std::string block(4096, 'x');
  std::vector<double> samples;
  for (int i = 0; i < 200; ++i) {
    const auto start = Clock::now();
    if (::write(fd, block.data(), block.size()) != static_cast<ssize_t>(block.size()) ||
        ::fdatasync(fd) != 0) {
      std::perror("write/fdatasync");
      std::exit(1);
    }
    samples.push_back(Micros(Clock::now() - start));
  }
  ::close(fd);
  std::filesystem::remove(path);
  return Percentile(samples, 0.5);
}

struct RunResult {
  double appends_per_s = 0, appends_per_sync = 0, p50_us = 0, p99_us = 0;
};

RunResult Run(const std::string& dir, txcoord::wal::DbOptions::SyncMode mode, int appenders,
              double seconds) {
  std::filesystem::remove_all(dir);
  auto db = txcoord::wal::Db::Open(dir, {.sync_mode = mode});
  if (!db.ok()) {
    std::fprintf(stderr, "wal_bench: %s\n", db.status().ToString().c_str());
    std::exit(1);
  }
  auto opened = txcoord::wal::Wal::Open(db.value());
  if (!opened.ok()) {
    std::fprintf(stderr, "wal_bench: %s\n", opened.status().ToString().c_str());
    std::exit(1);
  }
  txcoord::wal::Wal& wal = *opened.value();
  txcoord::Record r;
  r.type = txcoord::RecordType::kPrepared;
  r.participants = {0, 1};
  r.writes = {{"acct/00000042", std::string(64, 'v')}};  // about 100 bytes encoded
  std::atomic<bool> stop{false};
  std::mutex append_mu;
  std::vector<std::vector<double>> latencies(static_cast<size_t>(appenders));
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  for (int t = 0; t < appenders; ++t) {
    threads.emplace_back([&, t] {
      txcoord::Record mine = r;
      for (uint64_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        mine.txn = {1, (static_cast<uint64_t>(t) << 32) | i};
        const auto begin = Clock::now();
        uint64_t position = 0;
        {
          // A record's lsn is its position: appenders number theirs under one lock, as a
          // node's single io thread does.
          std::lock_guard<std::mutex> lock(append_mu);
          position = mine.lsn = wal.next_position();
          if (!wal.Append({mine}).ok()) std::abort();
        }
        if (!wal.WaitDurable(position).ok()) std::abort();
        latencies[static_cast<size_t>(t)].push_back(Micros(Clock::now() - begin));
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& th : threads) th.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  const txcoord::wal::WalStats stats = wal.stats();
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  RunResult out;
  out.appends_per_s = static_cast<double>(stats.appends) / elapsed;
  out.appends_per_sync = stats.syncs ? static_cast<double>(stats.appends) / static_cast<double>(stats.syncs) : 0;
  out.p50_us = Percentile(all, 0.5);
  out.p99_us = Percentile(all, 0.99);
  return out;
}

std::vector<int> ParseList(const std::string& s) {
  std::vector<int> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) out.push_back(std::stoi(item));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir, mode = "both";
  double seconds = 3;
  std::vector<int> appenders = {1, 8, 64};
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    const char* value = i + 1 < argc ? argv[i + 1] : nullptr;
    if (flag == "--dir" && value) {
      dir = argv[++i];
    } else if (flag == "--seconds" && value) {
      seconds = std::stod(argv[++i]);
    } else if (flag == "--appenders" && value) {
      appenders = ParseList(argv[++i]);
    } else if (flag == "--mode" && value) {
      mode = argv[++i];
    } else {
      std::fprintf(stderr, "usage: wal_bench [--dir DIR] [--seconds S] [--appenders 1,8,64] "
                           "[--mode sync|flush|both]\n");
      return 2;
    }
  }
  bool own_dir = dir.empty();
  if (own_dir) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "txcoord-wal-bench-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) return 1;
    dir = tmpl;
  }
  std::filesystem::create_directories(dir);
  const double floor_us = FsyncFloorMicros(dir);
  std::printf("floor: 4 KiB append + fdatasync p50 = %.0f us in %s\n", floor_us, dir.c_str());
  std::printf("%-6s %9s %12s %16s %9s %9s %14s\n", "mode", "appenders", "appends/s",
              "appends/fsync", "p50 us", "p99 us", "p50 / floor");
  for (const std::string m : {"sync", "flush"}) {
    if (mode != "both" && mode != m) continue;
    const auto sync_mode = m == "sync" ? txcoord::wal::DbOptions::SyncMode::kSyncWrite
                                       : txcoord::wal::DbOptions::SyncMode::kManualFlush;
    for (int n : appenders) {
      const RunResult r = Run(dir + "/wal", sync_mode, n, seconds);
      std::printf("%-6s %9d %12.0f %16.1f %9.0f %9.0f %14.2f\n", m.c_str(), n, r.appends_per_s,
                  r.appends_per_sync, r.p50_us, r.p99_us, r.p50_us / floor_us);
      std::fflush(stdout);
    }
  }
  if (own_dir) std::filesystem::remove_all(dir);
  return 0;
}
