// Wakeups: which transactions a core must look at on a tick, so that Tick() costs what is due,
// not one visit of every live transaction (with 100,000 transactions in doubt, a visit of each
// every 10 ms tick was most of a node's CPU and stalled its io thread past its lease).
//
// Each transaction has at most one wakeup: the earliest tick registered for it since it was last
// woken. Its tick is kept by the caller in the transaction's own state (`slot`, kNever when none),
// so that a later, earlier deadline can move it and a finished transaction can cancel it. A
// wakeup too many is harmless (the core checks its own deadlines when woken); one too few is a
// missed deadline, so every deadline a core sets goes through At(), and a woken transaction
// registers the deadlines it still has.
#pragma once

#include <algorithm>
#include <cstdint>
#include <set>
#include <utility>
#include <vector>

#include "common/check.h"
#include "common/ids.h"

namespace txcoord {

class Wakeups {
 public:
  static constexpr Ticks kNever = INT64_MAX;

  // Makes sure `id` is woken at `at` or earlier. `slot` is the id's registered tick.
  void At(TxnId id, Ticks at, Ticks& slot) {
    if (at >= slot) return;
    if (slot != kNever) TXC_CHECK(queue_.erase({slot, id}) == 1);
    slot = at;
    queue_.emplace(at, id);
  }

  // `id` needs no wakeup any more.
  void Cancel(TxnId id, Ticks& slot) {
    if (slot == kNever) return;
    TXC_CHECK(queue_.erase({slot, id}) == 1);
    slot = kNever;
  }

  // Removes every wakeup due at `now` (registered at or before it) and returns their ids in id
  // order (a deterministic order, the one a visit of every transaction had). The caller resets
  // each one's slot to kNever before looking at it.
  std::vector<TxnId> TakeDue(Ticks now) {
    std::vector<TxnId> due;
    auto end = queue_.begin();
    while (end != queue_.end() && end->first <= now) due.push_back((end++)->second);
    queue_.erase(queue_.begin(), end);
    std::sort(due.begin(), due.end());
    return due;
  }

 private:
  std::set<std::pair<Ticks, TxnId>> queue_;
};

}  // namespace txcoord
