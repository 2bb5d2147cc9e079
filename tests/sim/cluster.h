// One seed of the deterministic simulation: every shard and the coordinator is a replica group
// (3 replicas by default) running the real replication core, each primary hosting the real
// coordinator or participant core, all driven through the production driver's loop (node/
// group_node.h) over a simulated network (delay, loss, duplication, reordering, partitions, the
// configuration store on one side of them too), simulated disks that lose unsynced records on a
// crash or everything when wiped, and a configuration store with compare-and-swap. Replicas
// crash and restart, pause for longer than their lease and wake up deposed, and lose their disk
// (within the fault budget: one at a time, while every other one is in sync); primaries are
// failed on purpose. Bank clients move money between accounts on different shards (interactive
// and one-shot, single- and multi-shard) and audit the total. Checkers watch DESIGN.md section
// 8's invariants, replication's included, during the run and after the faults heal.
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
  uint64_t unknown = 0;     // clients told UNKNOWN (then they ask the coordinator's status)
  uint64_t unresolved = 0;  // of those, still UNKNOWN after every status query a client makes
  uint64_t audits_checked = 0;
  uint64_t crashes = 0;
  uint64_t wipes = 0;
  uint64_t pauses = 0;
  uint64_t failovers = 0;   // configuration changes that moved a group's primary
  uint64_t promotions = 0;  // replicas that started serving as primary
  uint64_t truncations = 0;  // logs truncated from the front, by primaries
  uint64_t transfers = 0;    // state transfers installed
  uint64_t partitions = 0;
  uint64_t messages = 0;
  uint64_t termination_rounds = 0;
  uint64_t stale_rejected = 0;
  int64_t settle_ticks = 0;
};

// Runs one seed. Deterministic: the same options and seed give the same result and trace hash.
SeedResult RunSeed(const SimOptions& options, uint64_t seed);

}  // namespace txcoord::sim
