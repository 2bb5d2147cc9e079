// Proves node/core_runner.h, the one loop both services and the simulator drive cores through:
// after every input it applies the core's output in the documented order (records, messages,
// what waits on the disk, replies), a halted node applies nothing and feeds the core nothing,
// a repeated durable position is not fed twice, and one that goes backwards stops the process.
#include "node/core_runner.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace txcoord::node {
namespace {

// A core whose every input yields one of each output, labelled by the input.
class EchoCore : public ProtocolCore {
 public:
  void Step(const Message& m) override { Emit("step", m.txn.seq); }
  void Tick() override { Emit("tick", 0); }
  void OnDurable(Lsn lsn) override {
    durable.push_back(lsn);
    Emit("durable", lsn);
  }
  Ready TakeReady() override {
    Ready out;
    std::swap(out, ready_);
    return out;
  }
  std::vector<Lsn> durable;

 private:
  void Emit(const std::string& what, uint64_t n) {
    ready_.records.push_back({.lsn = n, .txn = {1, n}});
    Message m;
    m.txn = {1, n};
    ready_.messages.push_back(m);
    ready_.deferred_messages.push_back({n, m});
    ready_.replies.push_back({.request_id = n, .detail = what});
  }
  Ready ready_;
};

class Recorder : public Effects {
 public:
  void Append(const std::vector<Record>& r) override { log.push_back("append " + N(r[0].lsn)); }
  void Send(const std::vector<Message>& m) override { log.push_back("send " + N(m[0].txn.seq)); }
  void Held(const std::vector<DeferredMessage>& d) override {
    log.push_back("held " + N(d[0].after_lsn));
  }
  void Reply(const ClientReply& r) override { log.push_back("reply " + r.detail); }
  bool halted() const override { return halt; }
  std::vector<std::string> log;
  bool halt = false;

 private:
  static std::string N(uint64_t n) { return std::to_string(n); }
};

TEST(CoreRunnerTest, AppliesOutputInOrderAfterEveryInput) {
  EchoCore core;
  Recorder fx;
  CoreRunner runner(core, fx, /*durable_lsn=*/4);
  Message m;
  m.txn = {1, 7};
  runner.Step(m);
  runner.OnDurable(9);
  runner.Tick();
  EXPECT_EQ(fx.log, (std::vector<std::string>{
                        "append 7", "send 7", "held 7", "reply step",        //
                        "append 9", "send 9", "held 9", "reply durable",     //
                        "append 0", "send 0", "held 0", "reply tick"}));
  EXPECT_EQ(runner.durable_lsn(), 9u);
}

TEST(CoreRunnerTest, ARepeatedDurablePositionIsNotFedTwice) {
  EchoCore core;
  Recorder fx;
  CoreRunner runner(core, fx, 4);
  runner.OnDurable(4);
  runner.OnDurable(6);
  runner.OnDurable(6);
  EXPECT_EQ(core.durable, (std::vector<Lsn>{6}));
}

TEST(CoreRunnerTest, ADurablePositionGoingBackwardsStopsTheProcess) {
  EchoCore core;
  Recorder fx;
  CoreRunner runner(core, fx, 4);
  EXPECT_DEATH(runner.OnDurable(3), "went backwards");
}

TEST(CoreRunnerTest, AHaltedNodeAppliesNothing) {
  EchoCore core;
  Recorder fx;
  CoreRunner runner(core, fx, 0);
  fx.halt = true;
  Message m;
  runner.Step(m);
  runner.Tick();
  runner.OnDurable(3);
  runner.Drain();
  EXPECT_TRUE(fx.log.empty());
  EXPECT_TRUE(core.durable.empty());
}

}  // namespace
}  // namespace txcoord::node
