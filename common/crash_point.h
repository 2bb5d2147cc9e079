// Named crash points (STYLE.md 8, after LevelDB's fault_injection_test and RocksDB's
// TEST_KILL_RANDOM): places in the servers where a test can make the process die abruptly, as a
// power cut or kill -9 would, to prove recovery from exactly that state.
//
// Armed by the environment, read once at start:
//   TXCOORD_CRASH_AT=<name>[@<n>]   die the n-th time (default 1st) the point is reached.
// Inert otherwise: one branch on a cached pointer. Dying is _exit(kCrashExitCode) with no
// destructor, no flush and no fsync, after one line on stderr naming the point, so a test can tell
// a planned crash from any other exit.
//
// The points (docs in the services where they are hit):
//   coordinator.after_prepare_sent     PREPAREs of a transaction went out, no vote counted yet
//   coordinator.after_decision_durable the COMMIT (2PC) or PRE-COMMIT (3PC) record is durable,
//                                      before any COMMIT / PRE-COMMIT message is sent
//   coordinator.after_some_commits_sent a COMMIT went to one participant, not yet to the others
//   shard.before_prepared_durable      the PREPARED record was handed to the log, not yet synced
//   shard.after_prepared_durable       PREPARED is durable, the YES vote not yet sent
//   shard.after_commit_applied         COMMITTED (with its writes) is durable, the ack not sent
//   replica.primary_durable_before_commit  a primary's records are durable on its disk, not yet
//                                      acknowledged by its group (node/driver.cc)
//   replica.backup_durable_before_ack  a backup holds new records durably, its ack not sent
//   replica.promoted_before_reconciled a backup won the configuration CAS as the new primary; no
//                                      replica has heard of its term
//
// Named faults: behaviours a test arms for the whole life of one process, to build a state that
// no crash point reaches in bulk (the in-doubt backlog of bench/backlog_bench.cc):
//   TXCOORD_FAULT=<name>[,<name>...]
// Inert otherwise. A process with a fault armed says so on stderr at start (Faults::Announce).
// The faults:
//   coordinator.withhold_outcomes      the coordinator sends the shards no COMMIT, ABORT or
//                                      status answer (as if its links to them broke once the
//                                      votes were in): every transaction it decides stays in
//                                      doubt at its participants until another primary
//                                      resolves it. Clients still get their outcomes.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace txcoord {

inline constexpr int kCrashExitCode = 86;

class CrashPoints {
 public:
  static CrashPoints& Get() {
    static CrashPoints points;
    return points;
  }
  // Whether `name` is the armed point: lets a hook skip work that only serves that point.
  bool Armed(const char* name) const { return !armed_.empty() && armed_ == name; }
  // Counts a hit of `name`; true when `name` is the armed point and this is its n-th hit.
  bool Due(const char* name) {
    if (armed_.empty() || armed_ != name) return false;
    return ++hits_ == at_hit_;
  }
  // Dies now, abruptly.
  [[noreturn]] static void Die(const char* name) {
    std::string line = std::string("txcoord: crash point ") + name + " reached: dying\n";
    (void)!::write(2, line.data(), line.size());
    ::_exit(kCrashExitCode);
  }

 private:
  CrashPoints() {
    const char* spec = std::getenv("TXCOORD_CRASH_AT");
    if (spec == nullptr || *spec == '\0') return;
    armed_ = spec;
    if (const size_t at = armed_.find('@'); at != std::string::npos) {
      at_hit_ = std::strtoull(armed_.c_str() + at + 1, nullptr, 10);
      if (at_hit_ == 0) at_hit_ = 1;
      armed_.resize(at);
    }
  }
  std::string armed_;
  unsigned long long at_hit_ = 1;
  unsigned long long hits_ = 0;
};

class Faults {
 public:
  static const Faults& Get() {
    static const Faults faults;
    return faults;
  }
  bool Armed(const char* name) const {
    for (const std::string& f : armed_) {
      if (f == name) return true;
    }
    return false;
  }
  // A line on stderr for every armed fault (nothing when none is); false, after naming it, when
  // one is not a fault of this list (a misspelt fault must not pass for an armed one).
  bool Announce() const {
    bool known = true;
    for (const std::string& f : armed_) {
      const bool ok = f == "coordinator.withhold_outcomes";
      known = known && ok;
      std::string line = ok ? "txcoord: fault " + f + " armed (TXCOORD_FAULT): for tests only\n"
                            : "txcoord: TXCOORD_FAULT names no fault \"" + f + "\"\n";
      (void)!::write(2, line.data(), line.size());
    }
    return known;
  }

 private:
  Faults() {
    const char* spec = std::getenv("TXCOORD_FAULT");
    if (spec == nullptr) return;
    std::string rest = spec;
    while (!rest.empty()) {
      const size_t comma = rest.find(',');
      std::string name = rest.substr(0, comma);
      if (!name.empty()) armed_.push_back(std::move(name));
      rest = comma == std::string::npos ? "" : rest.substr(comma + 1);
    }
  }
  std::vector<std::string> armed_;
};

// Dies here if `name` is due (see CrashPoints::Due).
inline void CrashPoint(const char* name) {
  if (CrashPoints::Get().Due(name)) CrashPoints::Die(name);
}

}  // namespace txcoord
