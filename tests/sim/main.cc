// txsim: runs the protocol cores under the deterministic simulator for many seeds and checks
// the invariants of DESIGN.md section 8. Exit status 0 only when no seed broke an invariant.
// The last line is exactly "seeds=N violations=V protocol=P".
#include <algorithm>
#include <chrono>
#include <iostream>

#include "tests/sim/cluster.h"
#include "tests/sim/options.h"

int main(int argc, char** argv) {
  using txcoord::sim::SimOptions;
  auto parsed = txcoord::sim::ParseArgs(argc, argv);
  if (!parsed.ok()) {
    std::cerr << "txsim: " << parsed.status().message() << "\n" << txcoord::sim::Usage();
    return 2;
  }
  const SimOptions& o = parsed.value();
  if (o.help) {
    std::cout << txcoord::sim::Usage();
    return 0;
  }
  const auto start = std::chrono::steady_clock::now();  // wall time for the summary only
  uint64_t violations = 0, committed = 0, aborted = 0, unknown = 0, unresolved = 0, audits = 0, crashes = 0,
           failovers = 0, partitions = 0, messages = 0, rounds = 0, stale = 0, wipes = 0,
           pauses = 0, promotions = 0, truncations = 0, transfers = 0;
  uint64_t seeds_run = 0;
  int64_t max_settle_ticks = 0;
  uint64_t trace_hash = 0;  // of every seed's trace, in order: equal runs print equal hashes  // the longest any seed took to resolve everything once healed
  for (uint64_t i = 0; i < o.seeds; ++i) {
    const uint64_t seed = o.first_seed + i;
    txcoord::sim::SeedResult r = txcoord::sim::RunSeed(o, seed);
    ++seeds_run;
    if (o.check_determinism) {
      txcoord::sim::SeedResult again = txcoord::sim::RunSeed(o, seed);
      if (again.trace_hash != r.trace_hash) {
        r.violations.push_back("determinism: seed " + std::to_string(seed) +
                               " gave two different event traces");
      }
    }
    committed += r.committed;
    aborted += r.aborted;
    unknown += r.unknown;
    unresolved += r.unresolved;
    audits += r.audits_checked;
    crashes += r.crashes;
    failovers += r.failovers;
    wipes += r.wipes;
    pauses += r.pauses;
    promotions += r.promotions;
    truncations += r.truncations;
    transfers += r.transfers;
    partitions += r.partitions;
    messages += r.messages;
    rounds += r.termination_rounds;
    stale += r.stale_rejected;
    max_settle_ticks = std::max(max_settle_ticks, r.settle_ticks);
    trace_hash = (trace_hash ^ r.trace_hash) * 0x100000001b3ull;
    if (!r.violations.empty()) {
      ++violations;
      std::cout << "VIOLATION seed=" << seed << " invariant=" << r.violations.front() << "\n";
      for (size_t k = 1; k < r.violations.size(); ++k) {
        std::cout << "  also: " << r.violations[k] << "\n";
      }
      std::cout << "  events leading to it:\n";
      for (const std::string& line : r.trace_tail) std::cout << "    " << line << "\n";
      std::cout << "  reproduce: " << txcoord::sim::ReproduceCommand(o, seed) << "\n";
      if (o.stop_on_violation) break;
    }
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "summary: committed=" << committed << " aborted=" << aborted
            << " unknown=" << unknown << " unresolved=" << unresolved << " audits=" << audits << " crashes=" << crashes
            << " wipes=" << wipes << " pauses=" << pauses << " failovers=" << failovers
            << " promotions=" << promotions << " truncations=" << truncations
            << " transfers=" << transfers << " partitions=" << partitions
            << " messages=" << messages << " termination_rounds=" << rounds
            << " stale_rejected=" << stale << " max_settle_ticks=" << max_settle_ticks
            << " trace_hash=" << std::hex << trace_hash << std::dec << " bug=" << ToString(o.inject_bug)
            << " wall_s=" << secs << "\n";
  std::cout << "seeds=" << seeds_run << " violations=" << violations
            << " protocol=" << ToString(o.protocol) << std::endl;
  return violations == 0 ? 0 : 1;
}
