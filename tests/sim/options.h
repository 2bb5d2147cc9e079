// Command-line options of txsim. The defaults make a fault-heavy but productive run: messages
// dropped, duplicated and reordered, partitions, node crashes and coordinator failover, so that
// `txsim --seeds 100` alone exercises every recovery path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/status.h"
#include "tests/sim/network.h"

namespace txcoord::sim {

// Which commit protocol the simulated transactions use; kMixed picks per transaction.
enum class ProtocolChoice : uint8_t { kTwoPc = 0, kThreePc = 1, kMixed = 2 };

// A deliberate protocol bug the simulator turns on to prove that its checkers catch it.
enum class InjectedBug : uint8_t {
  kNone = 0,
  kCommitBeforeDurable = 1,  // the coordinator sends COMMIT (3PC: PRE-COMMIT) before its record is durable
  kVoteBeforeDurable = 2,    // a participant votes YES before PREPARED is durable
  kPresumeCommit = 3,        // an unknown transaction is answered COMMITTED
  // Replication (the simulator's driver of the replica core, never a server):
  kAckBeforeBackupDurable = 4,   // a backup's disk reports records durable before they are
  kPromoteOutOfIsr = 5,          // a member outside the ISR proposes itself as primary
  kSkipDivergentTruncation = 6,  // a backup keeps its own records where they diverge
  kStaleSnapshot = 7,  // a state transfer's store lags the applied position it claims
};

const char* ToString(ProtocolChoice p);  // "2pc", "3pc", "mixed"
const char* ToString(InjectedBug b);     // "none", "commit-before-durable", ...

struct SimOptions {
  ProtocolChoice protocol = ProtocolChoice::kMixed;
  uint64_t seeds = 1;  // number of seeds to run: first_seed, first_seed + 1, ...
  uint64_t first_seed = 1;
  int32_t shards = 3;
  int32_t replicas = 3;    // per group (every shard and the coordinator)
  int32_t min_insync = 2;  // a group with fewer in-sync replicas commits nothing
  int32_t clients = 4;
  int32_t accounts_per_shard = 4;
  int64_t ticks = 3000;  // virtual ticks of the faulty phase of each seed's run
  uint32_t drop_ppm = 20000;
  uint32_t duplicate_ppm = 20000;
  int64_t max_delay_ticks = 8;  // message delay is uniform in [1, max_delay_ticks]
  bool partitions = true;
  bool crashes = true;
  bool failover = true;  // primaries are also crashed or paused on purpose
  uint32_t crash_rate_ppm = 300;  // chance per node per tick of a crash
  uint32_t pause_rate_ppm = 100;  // chance per replica per tick of a pause longer than a lease
  uint32_t wipe_rate_ppm = 50;    // chance per replica per tick that its disk is lost
  InjectedBug inject_bug = InjectedBug::kNone;
  bool verbose = false;
  size_t trace_on_violation = 60;  // trace lines printed when an invariant breaks
  bool stop_on_violation = false;
  bool check_determinism = false;  // run each seed twice; the trace hashes must match
  bool help = false;

  // The network faults these options ask for (partition timing at NetworkFaults' defaults).
  NetworkFaults network_faults() const;
};

// Parses argv[1..argc-1]. Flags take their value as the next argument or after '='
// ("--seeds 5" or "--seeds=5"). --help sets help and parsing goes on. An unknown flag, a missing
// value or a bad value gives InvalidArgument naming the flag.
Result<SimOptions> ParseArgs(int argc, char** argv);

// The --help text.
std::string Usage();

// A txsim command line that reruns exactly `seed` with these options, e.g. for
// "seed=17 reproduce: txsim --protocol 2pc --seeds 1 --first-seed 17 ...".
std::string ReproduceCommand(const SimOptions& o, uint64_t seed);

}  // namespace txcoord::sim
