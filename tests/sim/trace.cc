#include "tests/sim/trace.h"

#include <iostream>
#include <utility>

namespace txcoord::sim {

Trace::Trace(bool verbose) { set_verbose(verbose); }

void Trace::set_verbose(bool verbose) { echo_ = verbose ? &std::cerr : nullptr; }

void Trace::Add(Ticks t, std::string line) {
  std::string full = "t=" + std::to_string(t) + " " + line;
  for (char c : full) {
    hash_ ^= static_cast<unsigned char>(c);
    hash_ *= kFnvPrime;
  }
  hash_ ^= static_cast<unsigned char>('\n');
  hash_ *= kFnvPrime;
  if (echo_ != nullptr) *echo_ << full << '\n';
  lines_.push_back(std::move(full));
}

void Trace::PrintLast(std::ostream& out, size_t n) const {
  const size_t first = lines_.size() > n ? lines_.size() - n : 0;
  if (first > 0) out << "... " << first << " earlier trace lines omitted\n";
  for (size_t i = first; i < lines_.size(); ++i) out << lines_[i] << '\n';
}

namespace {

std::string Join(const std::vector<ShardId>& ids) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) s += ",";
    s += std::to_string(ids[i]);
  }
  return s + "]";
}

const char* Bool(bool b) { return b ? "true" : "false"; }

}  // namespace

std::string DescribeBallot(Ballot b) {
  if (b == 0) return "0";
  return std::to_string(BallotRound(b)) + ":" + std::to_string(b & 0xFFFF);
}

std::string Describe(const NodeRef& n) {
  if (n.is_coordinator()) return "C";
  return "S" + std::to_string(n.shard);
}

std::string Describe(const Message& m) {
  std::string s = ToString(m.type);
  s += " " + m.txn.ToString() + " e=" + std::to_string(m.epoch) + " " + Describe(m.from) + "->" +
       Describe(m.to);
  switch (m.type) {
    case MsgType::kPrepare:
      s += std::string(" ") + ToString(m.protocol) + " parts=" + Join(m.participants);
      if (m.one_phase) s += " one_phase";
      if (!m.ops.empty()) s += " ops=" + std::to_string(m.ops.size());
      break;
    case MsgType::kVote:
      s += std::string(" vote=") + ToString(m.vote);
      if (m.reason != AbortReason::kNone) s += std::string(" reason=") + ToString(m.reason);
      if (m.outcome != Outcome::kUnknown) s += std::string(" outcome=") + ToString(m.outcome);
      if (!m.reads.empty()) s += " reads=" + std::to_string(m.reads.size());
      break;
    case MsgType::kPreCommit:
      s += " ballot=" + DescribeBallot(m.ballot);
      break;
    case MsgType::kPreCommitAck:
    case MsgType::kTermAcceptAck:
      s += std::string(" ok=") + Bool(m.ok) + " state=" + ToString(m.state) +
           " promised=" + DescribeBallot(m.promised_ballot);
      break;
    case MsgType::kCommit:
    case MsgType::kAbort:
      if (m.ballot != 0) s += " ballot=" + DescribeBallot(m.ballot);
      if (m.reason != AbortReason::kNone) s += std::string(" reason=") + ToString(m.reason);
      break;
    case MsgType::kDecisionAck:
      s += std::string(" ok=") + Bool(m.ok);
      if (m.state != TxnState::kUnknown) s += std::string(" state=") + ToString(m.state);
      break;
    case MsgType::kStateQuery:
      s += " ballot=" + DescribeBallot(m.ballot);
      if (m.abort_if_unprepared) s += " abort_if_unprepared";
      break;
    case MsgType::kStateReply:
      s += std::string(" ok=") + Bool(m.ok) + " state=" + ToString(m.state) +
           " accepted=" + DescribeBallot(m.accepted_ballot) +
           " promised=" + DescribeBallot(m.promised_ballot);
      break;
    case MsgType::kTermAccept:
      s += " ballot=" + DescribeBallot(m.ballot) + (m.commit ? " PRE-COMMIT" : " PRE-ABORT");
      break;
    case MsgType::kStatus:
    case MsgType::kStaleEpoch:
      break;
    case MsgType::kStatusReply:
    case MsgType::kLearnDecision:
      s += std::string(" outcome=") + ToString(m.outcome);
      break;
  }
  return s;
}

std::string Describe(const Record& r) {
  std::string s = "lsn=" + std::to_string(r.lsn) + " " + ToString(r.type) + " " + r.txn.ToString() +
                  " e=" + std::to_string(r.epoch);
  switch (r.type) {
    case RecordType::kCoordPreCommit:
    case RecordType::kCoordCommit:
    case RecordType::kCoordAbort:
    case RecordType::kPrepared:
      s += std::string(" ") + ToString(r.protocol) + " parts=" + Join(r.participants);
      break;
    case RecordType::kPreCommitted:
    case RecordType::kPreAborted:
    case RecordType::kPromised:
      s += " ballot=" + DescribeBallot(r.ballot);
      break;
    case RecordType::kCommitted:
    case RecordType::kAborted:
      if (r.ballot != 0) s += " decided-by=" + DescribeBallot(r.ballot);
      break;
    case RecordType::kCoordEnd:
    case RecordType::kEpochSeen:
    case RecordType::kEpochStart:
      break;
  }
  if (!r.writes.empty()) {
    s += " writes=[";
    for (size_t i = 0; i < r.writes.size(); ++i) {
      if (i > 0) s += ",";
      s += r.writes[i].key + "=" + (r.writes[i].value ? *r.writes[i].value : "<del>");
    }
    s += "]";
  }
  return s;
}

}  // namespace txcoord::sim
