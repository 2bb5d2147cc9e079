// LockTable: the per-key locks of one shard under strict two-phase locking with the no-wait policy
// (DESIGN.md section 4). Pure: no I/O, no clock. A conflicting request fails at once and changes
// nothing, so no transaction ever waits for another and no deadlock, local or distributed, can
// form.
//
// A key is held shared by any number of transactions, or exclusive by one. A transaction that
// holds the only shared lock of a key may upgrade it to exclusive; one that holds it exclusive
// already has every lock it could ask for on that key. The table also knows which keys each
// transaction holds, so a transaction's locks go in one call.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "common/ids.h"

namespace txcoord {

class LockTable {
 public:
  enum class Mode { kShared, kExclusive };

  // Takes (or upgrades to) `mode` on key for txn. Returns false on a conflict; nothing changes
  // then.
  bool TryLock(TxnId txn, const std::string& key, Mode mode);
  // Releases every lock txn holds.
  void ReleaseAll(TxnId txn);

  // The keys txn holds, in key order (empty if none).
  const std::set<std::string>& HeldBy(TxnId txn) const;
  bool Holds(TxnId txn) const { return by_txn_.count(txn) != 0; }
  // Keys locked by anyone.
  size_t keys_locked() const { return keys_.size(); }

 private:
  struct Lock {
    std::set<TxnId> shared;
    std::optional<TxnId> exclusive;
  };
  std::map<std::string, Lock> keys_;              // no entry for an unlocked key
  std::map<TxnId, std::set<std::string>> by_txn_;  // no entry for a txn holding nothing
};

}  // namespace txcoord
