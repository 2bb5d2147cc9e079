// CoreRunner: the one loop that drives a protocol core and applies its output (DESIGN.md
// section 3). Both services run their core through it in production (node/driver.h), and the
// simulator (tests/sim) runs every core through it too: what differs is only the Effects, the
// driver's hands -- a RocksDB log and Thrift peers in production, simulated disks and a simulated
// network in txsim. Pure: no I/O, no threads, no clock.
//
// After every input the runner drains the core's Ready, always in this order:
//   1. records, in lsn order, to Effects::Append (one group-commit batch);
//   2. messages to send now, to Effects::Send;
//   3. what waits on the disk (deferred messages), to Effects::Held, which only looks: the core
//      re-emits each in `messages` once OnDurable covers it (persist before send, STYLE.md 2);
//   4. client replies, one by one, to Effects::Reply.
// A halted node (Effects::halted: dying after a crash point) applies nothing more.
//
// OnDurable positions never go backwards: one that does is a broken driver, and the process
// stops (STYLE.md 4: broken invariants stop the process).
#pragma once

#include <vector>

#include "common/protocol.h"

namespace txcoord::node {

class Effects {
 public:
  virtual ~Effects() = default;
  virtual void Append(const std::vector<Record>& records) = 0;
  virtual void Send(const std::vector<Message>& messages) = 0;
  virtual void Held(const std::vector<DeferredMessage>& /*waiting*/) {}
  virtual void Reply(const ClientReply& reply) = 0;
  virtual bool halted() const { return false; }
};

class CoreRunner {
 public:
  // durable_lsn: how far the log is durable already (the end the core was restored with).
  // REQUIRES: core and effects outlive the runner.
  CoreRunner(ProtocolCore& core, Effects& effects, Lsn durable_lsn)
      : core_(core), effects_(effects), durable_lsn_(durable_lsn) {}

  void Step(const Message& m);
  void Tick();
  // ProtocolCore::OnPeerMoved, then Drain.
  void OnPeerMoved(NodeRef group);
  // The log is durable up to lsn (a repeated position is ignored; a smaller one stops the
  // process).
  void OnDurable(Lsn lsn);
  // Applies whatever the core has ready; call after each client request made on the core.
  void Drain();

  Lsn durable_lsn() const { return durable_lsn_; }

 private:
  ProtocolCore& core_;
  Effects& effects_;
  Lsn durable_lsn_;
};

}  // namespace txcoord::node
