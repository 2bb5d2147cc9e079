// One seed of the deterministic simulation: the real coordinator and participant cores, driven
// the way the production driver drives them, over a simulated network (delay, loss,
// duplication, reordering, partitions) and simulated disks that lose unsynced records on a crash.
// Shards and coordinators crash and restart; a coordinator fails over to epoch + 1 while the old
// one keeps running for a while as a zombie that must be fenced. Bank clients move money between
// accounts on different shards (interactive and one-shot, single- and multi-shard) and audit the
// total. Checkers watch DESIGN.md section 8's invariants during the run and after the faults heal.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tests/sim/options.h"

namespace txcoord::sim {

struct SeedResult {
  uint64_t seed = 0;
  std::vector<std::string> violations;  // "<invariant>: <what>"
  uint64_t trace_hash = 0;
  std::vector<std::string> trace_tail;  // the events before the first violation
  // Figures for the summary.
  uint64_t committed = 0;
  uint64_t aborted = 0;
  uint64_t unknown = 0;
  uint64_t audits_checked = 0;
  uint64_t crashes = 0;
  uint64_t failovers = 0;
  uint64_t partitions = 0;
  uint64_t messages = 0;
  uint64_t termination_rounds = 0;
  uint64_t stale_rejected = 0;
  int64_t settle_ticks = 0;
};

// Runs one seed. Deterministic: the same options and seed give the same result and trace hash.
SeedResult RunSeed(const SimOptions& options, uint64_t seed);

}  // namespace txcoord::sim
