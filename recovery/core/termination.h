// One ballot of the quorum-based 3PC termination protocol (Skeen 1982; E3PC, Keidar & Dolev).
//
// The outcome of a 3PC transaction is a single value agreed among its participants, decided the
// way single-decree Paxos decides: a participant's PRE-COMMITTED or PRE-ABORTED state is a value
// accepted at a ballot. The coordinator's PRE-COMMIT is the accept of ballot 0 (the first ballot
// needs no promise phase) and it commits once a majority accepted it. A proposer (an in-doubt
// participant, or a recovering coordinator) that finds the coordinator unreachable runs a round:
//   1. STATE-QUERY(b) to every participant; each promises b (durably) and reports its state and
//      the ballot of its accepted value. A participant that never voted aborts and says so.
//   2. With a majority of promises: any COMMITTED -> commit; any ABORTED -> abort; otherwise the
//      value accepted at the highest ballot among the replies, or PRE-ABORT if none accepted one.
//   3. TERM-ACCEPT(b, value); a majority of acks chooses the value: COMMIT or ABORT follows.
// Any two majorities intersect, so a value chosen in any ballot is seen by every later ballot:
// atomicity holds under any partition, loss, duplication or reordering. A round progresses only
// while a majority of the transaction's participants can talk to the proposer.
#pragma once

#include <map>
#include <vector>

#include "common/protocol.h"

namespace txcoord::recovery {

inline size_t Quorum(size_t participants) { return participants / 2 + 1; }

class TerminationRound {
 public:
  enum class Step {
    kCollecting,  // waiting for a majority of STATE-REPLY
    kProposing,   // send TERM-ACCEPT(ballot(), propose_commit()) to every participant
    kAccepting,   // waiting for a majority of TERM-ACCEPT-ACK
    kDecided,     // outcome() is chosen: send it to everyone
    kPreempted,   // a participant promised a higher ballot: retry later with a higher one
  };

  TerminationRound(Ballot ballot, std::vector<ShardId> participants);

  // Phase 1 reply from `from` to STATE-QUERY(ballot()).
  void OnStateReply(ShardId from, const Message& reply);
  // Call after sending the TERM-ACCEPTs: moves kProposing to kAccepting.
  void ProposalSent();
  // Phase 2 reply.
  void OnAcceptAck(ShardId from, const Message& ack);

  Step step() const { return step_; }
  Ballot ballot() const { return ballot_; }
  bool propose_commit() const { return propose_commit_; }
  Outcome outcome() const { return outcome_; }
  Ballot highest_promise_seen() const { return highest_promise_; }
  const std::vector<ShardId>& participants() const { return participants_; }

 private:
  bool IsParticipant(ShardId s) const;
  void Decide(Outcome o);

  Ballot ballot_;
  std::vector<ShardId> participants_;
  Step step_ = Step::kCollecting;
  struct Promise {
    TxnState state;
    Ballot accepted;
  };
  std::map<ShardId, Promise> promises_;
  std::map<ShardId, bool> accepts_;
  bool propose_commit_ = false;
  Outcome outcome_ = Outcome::kUnknown;
  Ballot highest_promise_ = 0;
};

}  // namespace txcoord::recovery
