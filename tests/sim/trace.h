// The event trace of a txsim run: every event as one line "t=<tick> <text>", a running hash over
// all lines for the determinism test (same seed, same hash), and the tail printed when an
// invariant breaks. Also one-line descriptions of protocol messages and log records.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "common/ids.h"
#include "common/protocol.h"

namespace txcoord::sim {

class Trace {
 public:
  // verbose: also echo every line to stderr as it is added.
  explicit Trace(bool verbose = false);

  // Records the event "t=<t> <line>" and folds it (plus a '\n') into hash().
  void Add(Ticks t, std::string line);

  // 64-bit FNV-1a over every line added so far, each followed by '\n'.
  uint64_t hash() const { return hash_; }
  size_t size() const { return lines_.size(); }
  const std::vector<std::string>& lines() const { return lines_; }

  // Writes the last n lines (all if fewer), one per line, preceded by a note saying how many
  // earlier lines were left out, if any.
  void PrintLast(std::ostream& out, size_t n) const;

  bool verbose() const { return echo_ != nullptr; }
  void set_verbose(bool verbose);
  // Echo to `out` instead of stderr (nullptr: no echo). out must outlive the Trace.
  void set_echo(std::ostream* out) { echo_ = out; }

 private:
  static constexpr uint64_t kFnvOffsetBasis = 0xcbf29ce484222325ull;
  static constexpr uint64_t kFnvPrime = 0x100000001b3ull;

  std::vector<std::string> lines_;
  uint64_t hash_ = kFnvOffsetBasis;
  std::ostream* echo_ = nullptr;
};

// "S2" for a shard, "C" for the coordinator.
std::string Describe(const NodeRef& n);
// "VOTE 1.7 e=1 S2->C vote=yes reads=1": type, txn, epoch, ends and the fields that matter for
// the type (enum names come from the ToString functions of common/protocol.h).
std::string Describe(const Message& m);
// "lsn=3 PREPARED 1.7 e=1 2pc parts=[0,2] writes=[a=5,b=<del>]": lsn, type, txn, epoch and the
// fields that matter for the type.
std::string Describe(const Record& r);
// "0" for ballot 0, else "<round>:<proposer>".
std::string DescribeBallot(Ballot b);

}  // namespace txcoord::sim
