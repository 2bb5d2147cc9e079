#include "participant/core/lock_table.h"

#include "common/check.h"

namespace txcoord {

bool LockTable::TryLock(TxnId txn, const std::string& key, Mode mode) {
  auto it = keys_.find(key);
  if (it == keys_.end()) {
    Lock& l = keys_[key];
    if (mode == Mode::kExclusive) {
      l.exclusive = txn;
    } else {
      l.shared.insert(txn);
    }
    by_txn_[txn].insert(key);
    return true;
  }
  Lock& l = it->second;
  TXC_CHECK_MSG(l.exclusive || !l.shared.empty(), "an unlocked key keeps no entry");
  if (l.exclusive) return *l.exclusive == txn;  // mine: covers both modes
  if (mode == Mode::kShared) {
    l.shared.insert(txn);
    by_txn_[txn].insert(key);
    return true;
  }
  // Upgrade: only when txn is the only shared holder.
  if (l.shared.size() != 1 || !l.shared.count(txn)) return false;
  l.shared.clear();
  l.exclusive = txn;
  return true;
}

void LockTable::ReleaseAll(TxnId txn) {
  auto held = by_txn_.find(txn);
  if (held == by_txn_.end()) return;
  for (const std::string& key : held->second) {
    auto it = keys_.find(key);
    TXC_CHECK_MSG(it != keys_.end(), "a held key has its lock entry");
    Lock& l = it->second;
    if (l.exclusive && *l.exclusive == txn) {
      l.exclusive.reset();
    } else {
      TXC_CHECK_MSG(l.shared.erase(txn) == 1, "a held key is held shared or exclusive");
    }
    if (!l.exclusive && l.shared.empty()) keys_.erase(it);
  }
  by_txn_.erase(held);
}

const std::set<std::string>& LockTable::HeldBy(TxnId txn) const {
  static const std::set<std::string> kNone;
  auto it = by_txn_.find(txn);
  return it == by_txn_.end() ? kNone : it->second;
}

}  // namespace txcoord
