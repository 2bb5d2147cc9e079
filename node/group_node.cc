#include "node/group_node.h"

#include "common/check.h"

namespace txcoord::node {

GroupNode::GroupNode(replication::ReplicaOptions options, GroupNodeIo& io)
    : replica_(options), io_(io) {}

GroupNode::~GroupNode() = default;

void GroupNode::Restore(const std::vector<Record>& log, Epoch epoch_seen,
                        replication::LogStart start, replication::TransferMark last_transfer) {
  replica_.Restore(log, epoch_seen, start, last_transfer);
  Drain();
}

void GroupNode::OnConfig(const replication::GroupConfig& config) {
  replica_.OnConfig(config);
  Drain();
}

void GroupNode::OnProposed(bool ok, const replication::GroupConfig& current) {
  replica_.OnProposed(ok, current);
  Drain();
}

void GroupNode::StepReplication(const replication::ReplMessage& m) {
  replica_.Step(m);
  Drain();
}

void GroupNode::OnLocalDurable(Lsn position) {
  replica_.OnLocalDurable(position);
  Drain();
}

void GroupNode::OnLogRead(replication::ReplicaId to, std::vector<Record> records) {
  replica_.OnLogRead(to, std::move(records));
  Drain();
}

void GroupNode::TruncateBefore(Lsn floor) {
  replica_.TruncateBefore(floor);
  Drain();
}

void GroupNode::Tick(Ticks elapsed) {
  replica_.Tick(elapsed);
  Drain();
  if (elapsed > 0 && serving()) runner_->Tick();
  Drain();
}

void GroupNode::StepProtocol(const Message& m) {
  if (!serving()) return;  // the sender resends to whoever serves
  runner_->Step(m);
  Drain();
}

void GroupNode::PeerMoved(NodeRef group) {
  if (!serving()) return;
  runner_->OnPeerMoved(group);
  Drain();
}

void GroupNode::DrainCore() {
  if (runner_ == nullptr) return;
  runner_->Drain();
  Drain();
}

void GroupNode::Append(const std::vector<Record>& records) {
  // The hosted core appends only while this replica is its group's activated primary: a core is
  // stopped the moment its replica is demoted.
  replica_.Append(records);
}

void GroupNode::Drain() {
  if (draining_) return;  // the outer call's loop takes what this input produced
  draining_ = true;
  for (;;) {
    replication::ReplicaReady ready = replica_.TakeReady();
    if (ready.empty()) break;
    if (ready.persist_epoch) io_.PersistEpoch(*ready.persist_epoch);
    if (ready.install) io_.Install(*ready.install);
    if (ready.truncate_after) io_.TruncateAfter(*ready.truncate_after);
    if (!ready.append.empty()) io_.Append(ready.append);
    for (const replication::ReplMessage& m : ready.messages) io_.Send(m);
    if (ready.propose) io_.Propose(*ready.propose);
    for (const replication::LogRead& read : ready.reads) {
      replica_.OnLogRead(read.to, io_.Read(read.from, read.to_position));
    }
    for (const replication::TransferRead& read : ready.transfer_reads) {
      std::optional<GroupNodeIo::Chunk> chunk = io_.ReadTransfer(read);
      replica_.OnTransferRead(
          read.to, read.id, read.seq,
          chunk ? std::optional<std::string>(std::move(chunk->payload)) : std::nullopt,
          chunk && chunk->last);
    }
    // What is committed is applied first (a shard's store), so a core started or told
    // "durable" below reads every committed write.
    if (ready.committed) io_.Committed(*ready.committed);
    if (ready.role_changed) StartOrStopCore();
    if (ready.committed && runner_ != nullptr && *ready.committed > runner_->durable_lsn()) {
      runner_->OnDurable(*ready.committed);
    }
    if (ready.truncate_before) io_.TruncateBefore(*ready.truncate_before);
  }
  draining_ = false;
  if (serving() != was_serving_) {
    was_serving_ = serving();
    io_.ServingChanged(was_serving_);
  }
}

void GroupNode::StartOrStopCore() {
  if (replica_.activated() && core_ == nullptr) {
    const Lsn end = replica_.last_position();
    TXC_CHECK_MSG(replica_.commit_position() >= end, "activated before its log is committed");
    // Every record the log holds (a truncated log starts later).
    const Lsn first = replica_.log_start().first;
    core_ = io_.StartCore(replica_.primary_epoch(),
                          end < first ? std::vector<Record>{} : io_.Read(first, end), end);
    TXC_CHECK(core_ != nullptr);
    Effects& effects = *this;
    runner_ = std::make_unique<CoreRunner>(*core_, effects, end);
    runner_->Drain();
  } else if (!replica_.activated() && core_ != nullptr) {
    io_.StopCore();
    runner_.reset();
    core_.reset();
  }
}

}  // namespace txcoord::node
