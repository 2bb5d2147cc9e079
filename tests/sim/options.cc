#include "tests/sim/options.h"

#include <algorithm>
#include <charconv>
#include <limits>
#include <optional>
#include <string_view>
#include <system_error>

namespace txcoord::sim {

const char* ToString(ProtocolChoice p) {
  switch (p) {
    case ProtocolChoice::kTwoPc:
      return "2pc";
    case ProtocolChoice::kThreePc:
      return "3pc";
    case ProtocolChoice::kMixed:
      return "mixed";
  }
  return "?";
}

const char* ToString(InjectedBug b) {
  switch (b) {
    case InjectedBug::kNone:
      return "none";
    case InjectedBug::kCommitBeforeDurable:
      return "commit-before-durable";
    case InjectedBug::kVoteBeforeDurable:
      return "vote-before-durable";
    case InjectedBug::kPresumeCommit:
      return "presume-commit";
    case InjectedBug::kAckBeforeBackupDurable:
      return "ack-before-backup-durable";
    case InjectedBug::kPromoteOutOfIsr:
      return "promote-out-of-isr";
    case InjectedBug::kSkipDivergentTruncation:
      return "skip-divergent-truncation";
    case InjectedBug::kStaleSnapshot:
      return "stale-snapshot";
  }
  return "?";
}

NetworkFaults SimOptions::network_faults() const {
  NetworkFaults f;
  f.min_delay_ticks = 1;
  f.max_delay_ticks = max_delay_ticks;
  f.drop_per_million = drop_ppm;
  f.duplicate_per_million = duplicate_ppm;
  f.partitions = partitions;
  return f;
}

std::string Usage() {
  return "usage: txsim [flags]\n"
         "Runs the coordinator and participant cores, each group of replicas through the\n"
         "replication core, under a deterministic simulated network, disk and configuration\n"
         "store, one run per seed, and checks the invariants of DESIGN.md section 8.\n"
         "\n"
         "  --protocol 2pc|3pc|mixed   commit protocol (default mixed: chosen per transaction)\n"
         "  --seeds N                  number of seeds to run (default 1)\n"
         "  --first-seed S             first seed (default 1); seeds S .. S+N-1 are run\n"
         "  --shards K                 participant shards (default 3)\n"
         "  --replicas R               replicas per group, shards and coordinator (default 3)\n"
         "  --min-insync M             in-sync replicas a group needs to commit (default 2; 1\n"
         "                             when --replicas 1)\n"
         "  --clients C                concurrent clients (default 4)\n"
         "  --accounts-per-shard A     bank accounts per shard (default 4)\n"
         "  --ticks T                  virtual ticks of the faulty phase per seed (default 3000)\n"
         "  --drop PPM                 message loss per million (default 20000)\n"
         "  --duplicate PPM            message duplication per million (default 20000)\n"
         "  --max-delay TICKS          message delay is uniform in [1, TICKS] (default 8)\n"
         "  --no-partitions            no network partitions\n"
         "  --no-crashes               no node crashes\n"
         "  --no-failover              no crashes or pauses aimed at primaries\n"
         "  --crash-rate PPM           crash chance per replica per tick, per million (default 300)\n"
         "  --pause-rate PPM           chance per replica per tick of a pause past its lease\n"
         "                             (default 100)\n"
         "  --wipe-rate PPM            chance per replica per tick that its disk is lost (default 50)\n"
         "  --inject-bug BUG           commit-before-durable | vote-before-durable | presume-commit\n"
         "                             | ack-before-backup-durable | promote-out-of-isr |\n"
         "                             skip-divergent-truncation | stale-snapshot: break the\n"
         "                             protocol on purpose to prove the checkers see it\n"
         "  --verbose                  print every trace line to stderr\n"
         "  --trace-on-violation N     trace lines printed when an invariant breaks (default 60)\n"
         "  --stop-on-violation        stop at the first seed that breaks an invariant\n"
         "  --check-determinism        run every seed twice and fail if the two traces differ\n"
         "  --help                     this text\n";
}

namespace {

Status BadValue(std::string_view flag, std::string_view value, std::string_view expected) {
  return Status::InvalidArgument("bad value '" + std::string(value) + "' for " + std::string(flag) +
                                 ": expected " + std::string(expected));
}

// Parses all of `text` as a decimal integer in [lo, hi].
template <typename T>
std::optional<T> ParseInt(std::string_view text, T lo, T hi) {
  T v{};
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec != std::errc() || ptr != end || v < lo || v > hi) return std::nullopt;
  return v;
}

}  // namespace

Result<SimOptions> ParseArgs(int argc, char** argv) {
  SimOptions o;
  bool min_insync_given = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg.substr(0, 2) != "--") {
      return Status::InvalidArgument("unexpected argument '" + std::string(arg) + "'");
    }
    std::string_view flag = arg;
    std::optional<std::string_view> inline_value;
    if (size_t eq = arg.find('='); eq != std::string_view::npos) {
      flag = arg.substr(0, eq);
      inline_value = arg.substr(eq + 1);
    }

    // Boolean flags.
    bool* boolean = nullptr;
    bool boolean_value = true;
    if (flag == "--no-partitions") {
      boolean = &o.partitions;
      boolean_value = false;
    } else if (flag == "--no-crashes") {
      boolean = &o.crashes;
      boolean_value = false;
    } else if (flag == "--no-failover") {
      boolean = &o.failover;
      boolean_value = false;
    } else if (flag == "--verbose") {
      boolean = &o.verbose;
    } else if (flag == "--stop-on-violation") {
      boolean = &o.stop_on_violation;
    } else if (flag == "--check-determinism") {
      boolean = &o.check_determinism;
    } else if (flag == "--help" || flag == "-h") {
      boolean = &o.help;
    }
    if (boolean != nullptr) {
      if (inline_value) {
        return Status::InvalidArgument("flag " + std::string(flag) + " takes no value");
      }
      *boolean = boolean_value;
      continue;
    }

    // Flags with a value.
    static constexpr std::string_view kValued[] = {"--protocol",
                                                   "--seeds",
                                                   "--first-seed",
                                                   "--shards",
                                                   "--clients",
                                                   "--accounts-per-shard",
                                                   "--ticks",
                                                   "--drop",
                                                   "--duplicate",
                                                   "--max-delay",
                                                   "--crash-rate",
                                                   "--pause-rate",
                                                   "--wipe-rate",
                                                   "--replicas",
                                                   "--min-insync",
                                                   "--inject-bug",
                                                   "--trace-on-violation"};
    bool known = false;
    for (std::string_view k : kValued) known = known || k == flag;
    if (!known) return Status::InvalidArgument("unknown flag " + std::string(flag));
    std::string_view value;
    if (inline_value) {
      value = *inline_value;
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return Status::InvalidArgument("flag " + std::string(flag) + " needs a value");
    }

    constexpr int32_t kMaxI32 = std::numeric_limits<int32_t>::max();
    constexpr int64_t kMaxI64 = std::numeric_limits<int64_t>::max();
    constexpr uint64_t kMaxU64 = std::numeric_limits<uint64_t>::max();
    constexpr uint32_t kMillion = 1000000;
    if (flag == "--protocol") {
      if (value == "2pc") {
        o.protocol = ProtocolChoice::kTwoPc;
      } else if (value == "3pc") {
        o.protocol = ProtocolChoice::kThreePc;
      } else if (value == "mixed") {
        o.protocol = ProtocolChoice::kMixed;
      } else {
        return BadValue(flag, value, "2pc, 3pc or mixed");
      }
    } else if (flag == "--inject-bug") {
      if (value == "commit-before-durable") {
        o.inject_bug = InjectedBug::kCommitBeforeDurable;
      } else if (value == "vote-before-durable") {
        o.inject_bug = InjectedBug::kVoteBeforeDurable;
      } else if (value == "presume-commit") {
        o.inject_bug = InjectedBug::kPresumeCommit;
      } else if (value == "ack-before-backup-durable") {
        o.inject_bug = InjectedBug::kAckBeforeBackupDurable;
      } else if (value == "promote-out-of-isr") {
        o.inject_bug = InjectedBug::kPromoteOutOfIsr;
      } else if (value == "skip-divergent-truncation") {
        o.inject_bug = InjectedBug::kSkipDivergentTruncation;
      } else if (value == "stale-snapshot") {
        o.inject_bug = InjectedBug::kStaleSnapshot;
      } else {
        return BadValue(flag, value,
                        "commit-before-durable, vote-before-durable, presume-commit, "
                        "ack-before-backup-durable, promote-out-of-isr, "
                        "skip-divergent-truncation or stale-snapshot");
      }
    } else if (flag == "--seeds") {
      auto v = ParseInt<uint64_t>(value, 1, kMaxU64);
      if (!v) return BadValue(flag, value, "an integer >= 1");
      o.seeds = *v;
    } else if (flag == "--first-seed") {
      auto v = ParseInt<uint64_t>(value, 0, kMaxU64);
      if (!v) return BadValue(flag, value, "an unsigned 64-bit integer");
      o.first_seed = *v;
    } else if (flag == "--shards" || flag == "--clients" || flag == "--accounts-per-shard") {
      auto v = ParseInt<int32_t>(value, 1, kMaxI32);
      if (!v) return BadValue(flag, value, "an integer >= 1");
      int32_t& field = flag == "--shards"    ? o.shards
                       : flag == "--clients" ? o.clients
                                             : o.accounts_per_shard;
      field = *v;
    } else if (flag == "--ticks") {
      auto v = ParseInt<int64_t>(value, 1, kMaxI64);
      if (!v) return BadValue(flag, value, "an integer >= 1");
      o.ticks = *v;
    } else if (flag == "--max-delay") {
      auto v = ParseInt<int64_t>(value, 1, kMaxI64);
      if (!v) return BadValue(flag, value, "an integer >= 1");
      o.max_delay_ticks = *v;
    } else if (flag == "--drop" || flag == "--duplicate" || flag == "--crash-rate" ||
               flag == "--pause-rate" || flag == "--wipe-rate") {
      auto v = ParseInt<uint32_t>(value, 0, kMillion);
      if (!v) return BadValue(flag, value, "an integer in [0, 1000000] (per million)");
      uint32_t& field = flag == "--drop"         ? o.drop_ppm
                        : flag == "--duplicate"  ? o.duplicate_ppm
                        : flag == "--crash-rate" ? o.crash_rate_ppm
                        : flag == "--pause-rate" ? o.pause_rate_ppm
                                                 : o.wipe_rate_ppm;
      field = *v;
    } else if (flag == "--replicas" || flag == "--min-insync") {
      auto v = ParseInt<int32_t>(value, 1, 9);
      if (!v) return BadValue(flag, value, "an integer in [1, 9]");
      (flag == "--replicas" ? o.replicas : o.min_insync) = *v;
      min_insync_given = min_insync_given || flag == "--min-insync";
    } else if (flag == "--trace-on-violation") {
      auto v = ParseInt<uint64_t>(value, 0, kMaxU64);
      if (!v) return BadValue(flag, value, "an integer >= 0");
      o.trace_on_violation = static_cast<size_t>(*v);
    }
  }
  if (!min_insync_given) o.min_insync = std::min(o.min_insync, o.replicas);
  if (o.min_insync > o.replicas) {
    return Status::InvalidArgument("--min-insync " + std::to_string(o.min_insync) +
                                   " is more than --replicas " + std::to_string(o.replicas));
  }
  if (o.seeds - 1 > std::numeric_limits<uint64_t>::max() - o.first_seed) {
    return Status::InvalidArgument("--seeds: the last seed (first-seed + seeds - 1) overflows");
  }
  return o;
}

std::string ReproduceCommand(const SimOptions& o, uint64_t seed) {
  std::string s = "txsim --protocol ";
  s += ToString(o.protocol);
  s += " --seeds 1 --first-seed " + std::to_string(seed);
  s += " --shards " + std::to_string(o.shards);
  s += " --replicas " + std::to_string(o.replicas);
  s += " --min-insync " + std::to_string(o.min_insync);
  s += " --clients " + std::to_string(o.clients);
  s += " --accounts-per-shard " + std::to_string(o.accounts_per_shard);
  s += " --ticks " + std::to_string(o.ticks);
  s += " --drop " + std::to_string(o.drop_ppm);
  s += " --duplicate " + std::to_string(o.duplicate_ppm);
  s += " --max-delay " + std::to_string(o.max_delay_ticks);
  if (!o.partitions) s += " --no-partitions";
  if (!o.crashes) s += " --no-crashes";
  if (!o.failover) s += " --no-failover";
  s += " --crash-rate " + std::to_string(o.crash_rate_ppm);
  s += " --pause-rate " + std::to_string(o.pause_rate_ppm);
  s += " --wipe-rate " + std::to_string(o.wipe_rate_ppm);
  if (o.inject_bug != InjectedBug::kNone)
    s += std::string(" --inject-bug ") + ToString(o.inject_bug);
  return s;
}

}  // namespace txcoord::sim
