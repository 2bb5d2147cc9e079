// How a node's queued protocol messages are split into Peer.deliver calls (node/peer_sender.h):
// each call within its byte budget once encoded, every message sent once and in order. A new
// primary resending for a backlog of 100,000 transactions queues megabytes for one shard: a
// single call above the receiver's frame limit would be refused whole, and resent whole, forever.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "Peer.h"
#include "idl/wire.h"
#include "node/peer_sender.h"
#include "rpc/thrift_call.h"

namespace txcoord::node {
namespace {

size_t EncodedCallBytes(const std::vector<thrift::PeerMessage>& part) {
  Result<std::string> call = rpc::EncodeCall<thrift::PeerClient>(
      [&](thrift::PeerClient& c) { c.send_deliver(part); });
  EXPECT_TRUE(call.ok());
  return call.ok() ? call.value().size() : 0;
}

Message Commit(uint64_t seq, int shard) {
  Message m;
  m.type = MsgType::kCommit;
  m.from = NodeRef::Coordinator();
  m.to = NodeRef::Shard(shard);
  m.txn = TxnId{7, seq};
  m.epoch = 7;
  return m;
}

Message PrepareWithOps(uint64_t seq, size_t value_bytes) {
  Message m = Commit(seq, 0);
  m.type = MsgType::kPrepare;
  m.participants = {0, 1, 2};
  m.ops.push_back({.type = Op::Type::kPut, .key = "key/" + std::to_string(seq),
                   .value = std::string(value_bytes, 'v')});
  m.ops.push_back({.type = Op::Type::kAdd, .key = "acct/" + std::to_string(seq), .delta = -5,
                   .min_result = 0});
  return m;
}

// Checks the split: contiguous ranges covering every message in order, each encoded call
// within the budget unless it is one message alone.
void ExpectSplitWithin(const std::vector<thrift::PeerMessage>& messages, size_t budget) {
  const std::vector<std::pair<size_t, size_t>> parts = SplitDeliver(messages, budget);
  size_t next = 0;
  for (const auto& [begin, end] : parts) {
    ASSERT_EQ(begin, next);
    ASSERT_LT(begin, end);
    const std::vector<thrift::PeerMessage> part(messages.begin() + static_cast<ptrdiff_t>(begin),
                                                messages.begin() + static_cast<ptrdiff_t>(end));
    if (end - begin > 1) {
      EXPECT_LE(EncodedCallBytes(part), budget) << begin << ".." << end;
    }
    next = end;
  }
  EXPECT_EQ(next, messages.size());
}

TEST(PeerSenderTest, ABacklogOfDecisionsIsSplitIntoCallsWithinTheBudget) {
  std::vector<thrift::PeerMessage> messages;
  for (uint64_t i = 1; i <= 100000; ++i) messages.push_back(wire::ToWire(Commit(i, 1)));
  const size_t budget = 1u << 20;
  ASSERT_GT(EncodedCallBytes(messages), budget) << "the backlog must not fit one call";
  ExpectSplitWithin(messages, budget);
  EXPECT_GT(SplitDeliver(messages, budget).size(), 1u);
  // Few calls, not one per message: the upper bound is not wildly above the real size.
  EXPECT_LE(SplitDeliver(messages, budget).size(), 8u * EncodedCallBytes(messages) / budget + 1);
}

TEST(PeerSenderTest, MessagesWithOpsAndAnOversizedOneAreSplitWithinTheBudget) {
  std::vector<thrift::PeerMessage> messages;
  for (uint64_t i = 1; i <= 2000; ++i) messages.push_back(wire::ToWire(PrepareWithOps(i, i % 700)));
  messages.push_back(wire::ToWire(PrepareWithOps(5000, 300000)));  // above the budget alone
  for (uint64_t i = 1; i <= 500; ++i) messages.push_back(wire::ToWire(Commit(9000 + i, 2)));
  ExpectSplitWithin(messages, 64u << 10);
}

TEST(PeerSenderTest, AQueueWithinTheBudgetIsOneCall) {
  std::vector<thrift::PeerMessage> messages;
  for (uint64_t i = 1; i <= 50; ++i) messages.push_back(wire::ToWire(Commit(i, 0)));
  EXPECT_EQ(SplitDeliver(messages, 8u << 20),
            (std::vector<std::pair<size_t, size_t>>{{0, messages.size()}}));
  EXPECT_TRUE(SplitDeliver({}, 8u << 20).empty());
}

}  // namespace
}  // namespace txcoord::node
