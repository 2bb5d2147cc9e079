#include "recovery/core/termination.h"

#include <algorithm>

#include "common/check.h"

namespace txcoord::recovery {

TerminationRound::TerminationRound(Ballot ballot, std::vector<ShardId> participants)
    : ballot_(ballot), participants_(std::move(participants)) {
  TXC_CHECK(ballot_ > 0);
  TXC_CHECK(!participants_.empty());
}

bool TerminationRound::IsParticipant(ShardId s) const {
  return std::find(participants_.begin(), participants_.end(), s) != participants_.end();
}

void TerminationRound::Decide(Outcome o) {
  step_ = Step::kDecided;
  outcome_ = o;
}

void TerminationRound::OnStateReply(ShardId from, const Message& reply) {
  if (step_ != Step::kCollecting || !IsParticipant(from)) return;
  highest_promise_ = std::max(highest_promise_, reply.promised_ballot);
  // A final state is the outcome already: adopt it, whatever the ballots say.
  if (reply.state == TxnState::kCommitted) return Decide(Outcome::kCommitted);
  if (reply.state == TxnState::kAborted) return Decide(Outcome::kAborted);
  if (!reply.ok) {
    step_ = Step::kPreempted;
    return;
  }
  promises_[from] = {reply.state, reply.accepted_ballot};
  if (promises_.size() < Quorum(participants_.size())) return;

  bool have_value = false;
  Ballot best = 0;
  bool best_commit = false;
  for (const auto& [shard, p] : promises_) {
    const bool accepted = p.state == TxnState::kPreCommitted || p.state == TxnState::kPreAborted;
    if (!accepted) continue;
    if (!have_value || p.accepted > best) {
      have_value = true;
      best = p.accepted;
      best_commit = p.state == TxnState::kPreCommitted;
    }
  }
  // No accepted value in a majority: no ballot can have chosen one, so abort is free to choose.
  propose_commit_ = have_value && best_commit;
  step_ = Step::kProposing;
}

void TerminationRound::ProposalSent() {
  TXC_CHECK(step_ == Step::kProposing);
  step_ = Step::kAccepting;
}

void TerminationRound::OnAcceptAck(ShardId from, const Message& ack) {
  if (step_ != Step::kAccepting || !IsParticipant(from)) return;
  highest_promise_ = std::max(highest_promise_, ack.promised_ballot);
  if (ack.state == TxnState::kCommitted) return Decide(Outcome::kCommitted);
  if (ack.state == TxnState::kAborted) return Decide(Outcome::kAborted);
  if (!ack.ok) {
    step_ = Step::kPreempted;
    return;
  }
  accepts_[from] = true;
  if (accepts_.size() >= Quorum(participants_.size())) {
    Decide(propose_commit_ ? Outcome::kCommitted : Outcome::kAborted);
  }
}

}  // namespace txcoord::recovery
