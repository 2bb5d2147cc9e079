// The bank checks the replica-group tests share (failover_test.cc, netns_test.cc): what one
// transfer's Execute came to as a client can know it, and whether the balances read at the end
// are exactly the acknowledged transfers plus some subset of those whose call got no reply at
// all (no transaction id to ask about). They do not use the servers' own bookkeeping.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "client/client.h"

namespace txcoord::testing {

inline std::string Account(int i) { return "acct/" + std::to_string(i); }

// What the coordinator group decided for txn, asked until it says (bounded: 30 s); UNKNOWN if it
// never does.
inline Outcome Resolve(client::Client& c, TxnId txn) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  std::string last;
  while (std::chrono::steady_clock::now() < deadline) {
    auto s = c.StatusOf(txn);
    if (s.ok() && s.value().outcome != Outcome::kUnknown) return s.value().outcome;
    last = s.ok() ? "UNKNOWN: " + s.value().detail : s.status().ToString();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::cerr << "status of " << txn.ToString() << " never decided: " << last << "\n";
  return Outcome::kUnknown;
}

enum class Settled : uint8_t {
  kNotDone,       // the call failed: nothing was done (no primary reachable in time)
  kCommitted,     // told COMMITTED, or found so by asking about an UNKNOWN one
  kNotCommitted,  // aborted
  kNoReply,       // UNKNOWN without a transaction id: it happened or not, as a whole
  kUnresolved,    // UNKNOWN, and asking never told: a failure of the checks
};

// Settles one transfer's Execute: an UNKNOWN one with an id is asked about (Resolve).
inline Settled Settle(client::Client& c, const Result<client::ExecuteOutcome>& r) {
  if (!r.ok()) return Settled::kNotDone;
  Outcome o = r.value().result.outcome;
  if (o == Outcome::kUnknown) {
    if (r.value().txn.epoch == 0) return Settled::kNoReply;
    o = Resolve(c, r.value().txn);
    if (o == Outcome::kUnknown) return Settled::kUnresolved;
  }
  return o == Outcome::kCommitted ? Settled::kCommitted : Settled::kNotCommitted;
}

// The balances `ledger` (the acknowledged transfers applied) becomes with some subset of the
// unanswered transfers `maybe` (from, to; a unit each) applied on top, if one gives exactly
// `balances`; nullopt otherwise. REQUIRES: maybe.size() <= 16 (the subsets are tried).
inline std::optional<std::map<std::string, int64_t>> Explain(
    const std::map<std::string, int64_t>& ledger, const std::vector<std::pair<int, int>>& maybe,
    const std::map<std::string, int64_t>& balances) {
  for (uint32_t subset = 0; subset < (1u << maybe.size()); ++subset) {
    std::map<std::string, int64_t> expected = ledger;
    for (size_t k = 0; k < maybe.size(); ++k) {
      if (subset & (1u << k)) {
        expected[Account(maybe[k].first)] -= 1;
        expected[Account(maybe[k].second)] += 1;
      }
    }
    if (expected == balances) return expected;
  }
  return std::nullopt;
}

// What the load's clients were told, booked by many threads: the acknowledged transfers applied
// to the starting balances, the transfers whose call got no reply, and the counts.
struct Book {
  std::mutex mu;
  std::map<std::string, int64_t> ledger;  // guarded by mu
  std::vector<std::pair<int, int>> maybe;  // guarded by mu: unanswered transfers (from, to)
  std::atomic<uint64_t> committed{0}, unresolved{0};

  // Books one transfer of a unit from account a to b as Settle found it. False when nothing was
  // done (no primary reachable in time): the caller pauses before its next call.
  bool Note(int a, int b, Settled settled) {
    switch (settled) {
      case Settled::kNotDone:
        return false;
      case Settled::kNoReply: {
        // No reply at all (the coordinator died, or was cut off, with the call): no id to ask
        // about. It may or may not have happened; Explain allows for either.
        std::lock_guard<std::mutex> lock(mu);
        maybe.emplace_back(a, b);
        return true;
      }
      case Settled::kUnresolved:
        ++unresolved;
        return true;
      case Settled::kNotCommitted:
        return true;
      case Settled::kCommitted: {
        ++committed;
        std::lock_guard<std::mutex> lock(mu);
        ledger[Account(a)] -= 1;
        ledger[Account(b)] += 1;
        return true;
      }
    }
    return true;
  }
};

}  // namespace txcoord::testing
