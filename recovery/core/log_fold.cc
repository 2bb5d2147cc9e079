#include "recovery/core/log_fold.h"

#include "common/check.h"

namespace txcoord::recovery {

std::map<TxnId, CoordinatorTxnLog> FoldCoordinatorLog(const std::vector<Record>& log) {
  std::map<TxnId, CoordinatorTxnLog> txns;
  for (const Record& r : log) {
    if (r.type == RecordType::kEpochStart) continue;  // replication's, about no transaction
    switch (r.type) {
      case RecordType::kCoordPreCommit:
      case RecordType::kCoordCommit: {
        CoordinatorTxnLog& t = txns[r.txn];
        t.txn = r.txn;
        t.protocol = r.protocol;
        t.participants = r.participants;
        if (r.type == RecordType::kCoordPreCommit) t.pre_commit = true;
        if (r.type == RecordType::kCoordCommit) t.commit = true;
        break;
      }
      case RecordType::kCoordEnd:
      case RecordType::kCoordAbort:
        txns.erase(r.txn);
        break;
      default:
        TXC_CHECK_MSG(false, "participant record in a coordinator log");
    }
  }
  return txns;
}

ParticipantLog FoldParticipantLog(const std::vector<Record>& log) {
  ParticipantLog out;
  for (const Record& r : log) {
    if (r.epoch > out.max_epoch) out.max_epoch = r.epoch;
    if (r.type == RecordType::kEpochSeen || r.type == RecordType::kEpochStart) continue;
    ParticipantTxnLog& t = out.txns[r.txn];
    t.txn = r.txn;
    switch (r.type) {
      case RecordType::kPrepared:
        TXC_CHECK(!IsFinal(t.state));
        t.epoch = r.epoch;
        t.protocol = r.protocol;
        t.participants = r.participants;
        t.writes = r.writes;
        t.read_keys = r.read_keys;
        t.reads = r.reads;
        t.state = TxnState::kPrepared;
        break;
      case RecordType::kPromised:
        if (r.ballot > t.promised) t.promised = r.ballot;
        break;
      case RecordType::kPreCommitted:
      case RecordType::kPreAborted:
        TXC_CHECK(!IsFinal(t.state));
        t.state = r.type == RecordType::kPreCommitted ? TxnState::kPreCommitted
                                                      : TxnState::kPreAborted;
        t.accepted = r.ballot;
        if (r.ballot > t.promised) t.promised = r.ballot;
        break;
      case RecordType::kCommitted:
        TXC_CHECK_MSG(t.state != TxnState::kAborted, "COMMITTED after ABORTED in a shard log");
        t.state = TxnState::kCommitted;
        t.decided_by = r.ballot;
        if (!r.writes.empty()) t.writes = r.writes;
        if (!r.reads.empty()) t.reads = r.reads;
        break;
      case RecordType::kAborted:
        TXC_CHECK_MSG(t.state != TxnState::kCommitted, "ABORTED after COMMITTED in a shard log");
        t.state = TxnState::kAborted;
        t.decided_by = r.ballot;
        break;
      default:
        TXC_CHECK_MSG(false, "coordinator record in a participant log");
    }
  }
  return out;
}

}  // namespace txcoord::recovery
