// Rebuilding a role's state from its durable log (DESIGN.md section 6). Pure: the driver reads
// the records from its WAL (or the simulator from its disk model) and hands them here; the
// cores restore themselves from the folded summaries.
#pragma once

#include <map>
#include <vector>

#include "common/protocol.h"

namespace txcoord::recovery {

// What the coordinator log says about one transaction.
struct CoordinatorTxnLog {
  TxnId txn;
  Protocol protocol = Protocol::kTwoPc;
  std::vector<ShardId> participants;
  bool pre_commit = false;  // 3PC: PRE-COMMIT may have been sent
  bool commit = false;      // the COMMIT decision is durable
  bool end = false;         // every participant acknowledged; nothing left to do
};

// Folds the coordinator decision log. A transaction with END is dropped from the result.
// Transactions absent from the result were never decided: presumed abort.
std::map<TxnId, CoordinatorTxnLog> FoldCoordinatorLog(const std::vector<Record>& log);

// What a participant's log says about one transaction.
struct ParticipantTxnLog {
  TxnId txn;
  Epoch epoch = 0;  // coordinator epoch that prepared it
  Protocol protocol = Protocol::kTwoPc;
  std::vector<ShardId> participants;
  std::vector<Write> writes;
  std::vector<std::string> read_keys;
  std::vector<OpResult> reads;
  TxnState state = TxnState::kUnknown;  // kPrepared .. kAborted
  Ballot promised = 0;
  Ballot accepted = 0;  // meaningful in kPreCommitted / kPreAborted
  // Final by a decision of this shard's own termination round (its outcome record carries the
  // round's ballot): the shard keeps it until the coordinator has answered (participant_core.h).
  Ballot decided_by = 0;
};

struct ParticipantLog {
  Epoch max_epoch = 0;  // fencing: the newest coordinator epoch this shard has accepted
  std::map<TxnId, ParticipantTxnLog> txns;
};

// Folds a participant log. A final state (COMMITTED or ABORTED) is never overwritten by a later
// record: a record that tries is a broken invariant and stops the process.
ParticipantLog FoldParticipantLog(const std::vector<Record>& log);

}  // namespace txcoord::recovery
