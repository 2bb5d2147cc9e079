#include "node/core_runner.h"

#include "common/check.h"

namespace txcoord::node {

void CoreRunner::Step(const Message& m) {
  if (effects_.halted()) return;
  core_.Step(m);
  Drain();
}

void CoreRunner::Tick() {
  if (effects_.halted()) return;
  core_.Tick();
  Drain();
}

void CoreRunner::OnPeerMoved(NodeRef group) {
  if (effects_.halted()) return;
  core_.OnPeerMoved(group);
  Drain();
}

void CoreRunner::OnDurable(Lsn lsn) {
  TXC_CHECK_MSG(lsn >= durable_lsn_, "the log's durable position went backwards");
  if (lsn == durable_lsn_ || effects_.halted()) return;
  durable_lsn_ = lsn;
  core_.OnDurable(lsn);
  Drain();
}

void CoreRunner::Drain() {
  if (effects_.halted()) return;
  Ready ready = core_.TakeReady();
  if (!ready.records.empty()) effects_.Append(ready.records);
  if (!ready.messages.empty()) effects_.Send(ready.messages);
  if (!ready.deferred_messages.empty()) effects_.Held(ready.deferred_messages);
  for (const ClientReply& reply : ready.replies) effects_.Reply(reply);
}

}  // namespace txcoord::node
