// Proves that the wire contract in idl/txcoord.thrift survives the wire. A PREPARE PeerMessage carrying
// every kind of Op (optional fields set and unset, binary keys with zero bytes) is written with
// the binary protocol and, separately, the compact protocol into a TMemoryBuffer and read back
// equal, with unset optional fields still unset. Then a TxnError with outcome UNKNOWN is carried
// both as a bare struct and through a real generated Coordinator client and processor (client
// request bytes -> processor -> reply bytes -> client), so a caller of `commit` sees UNKNOWN and
// the transaction id and knows the commit must not be blindly retried. Everything runs in memory:
// no sockets, no threads.

#include <gtest/gtest.h>
#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/protocol/TCompactProtocol.h>
#include <thrift/transport/TBufferTransports.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "Coordinator.h"
#include "txcoord_types.h"

namespace txcoord {
namespace {

namespace wire = ::txcoord::thrift;
using ::apache::thrift::protocol::TBinaryProtocol;
using ::apache::thrift::protocol::TCompactProtocol;
using ::apache::thrift::transport::TMemoryBuffer;

wire::TxnId MakeTxnId(int64_t epoch, int64_t seq) {
  wire::TxnId id;
  id.__set_epoch(epoch);
  id.__set_seq(seq);
  return id;
}

wire::Op MakeOp(wire::OpType::type type, std::string key) {
  wire::Op op;
  op.__set_type(type);
  op.__set_key(std::move(key));
  return op;
}

// A PREPARE message that uses every field a PREPARE uses and every OpType, with keys and values
// that are not text (embedded zero bytes, high bytes).
wire::PeerMessage MakePrepareMessage() {
  wire::PeerMessage req;
  req.__set_type(wire::MessageType::PREPARE);
  req.__set_from_node(-1);
  req.__set_to_node(3);
  req.__set_txn(MakeTxnId(7, 123456789012345));
  req.__set_epoch(8);
  req.__set_protocol(wire::Protocol::THREE_PC);
  req.__set_participants({0, 3, 5});
  req.__set_one_phase(false);

  wire::Op get = MakeOp(wire::OpType::GET, std::string("acct\0/1", 7));
  wire::Op put = MakeOp(wire::OpType::PUT, "acct/2");
  put.__set_value(std::string("\xff\x00\x01", 3));
  wire::Op del = MakeOp(wire::OpType::DELETE, "acct/3");
  wire::Op add = MakeOp(wire::OpType::ADD, "acct/4");
  add.__set_delta(-250);
  add.__set_min_result(0);
  wire::Op add_unbounded = MakeOp(wire::OpType::ADD, "acct/5");
  add_unbounded.__set_delta(250);
  req.__set_ops({get, put, del, add, add_unbounded});
  return req;
}

// Writes `value` with protocol P into a fresh buffer and reads it back into a new T.
// A fresh buffer per message also avoids TMemoryBuffer's MaxMessageSize (TOOLCHAIN.md pitfall 5).
template <typename P, typename T>
T RoundTrip(const T& value) {
  auto buffer = std::make_shared<TMemoryBuffer>();
  P protocol(buffer);
  const uint32_t written = value.write(&protocol);
  EXPECT_GT(written, 0u);
  EXPECT_EQ(buffer->available_read(), written);

  T decoded;
  const uint32_t read = decoded.read(&protocol);
  EXPECT_EQ(read, written);
  EXPECT_EQ(buffer->available_read(), 0u) << "decoder left bytes unread";
  return decoded;
}

template <typename P>
void ExpectPrepareMessageRoundTrips() {
  const wire::PeerMessage sent = MakePrepareMessage();
  const wire::PeerMessage got = RoundTrip<P>(sent);

  EXPECT_EQ(got, sent);
  ASSERT_EQ(got.ops.size(), 5u);
  EXPECT_EQ(got.txn.epoch, 7);
  EXPECT_EQ(got.txn.seq, 123456789012345);
  EXPECT_EQ(got.epoch, 8);
  EXPECT_EQ(got.protocol, wire::Protocol::THREE_PC);
  EXPECT_EQ(got.participants, (std::vector<int32_t>{0, 3, 5}));
  EXPECT_FALSE(got.one_phase);

  EXPECT_EQ(got.ops[0].type, wire::OpType::GET);
  EXPECT_EQ(got.ops[0].key, std::string("acct\0/1", 7));
  EXPECT_FALSE(got.ops[0].__isset.value);
  EXPECT_FALSE(got.ops[0].__isset.delta);
  EXPECT_FALSE(got.ops[0].__isset.min_result);

  EXPECT_EQ(got.ops[1].type, wire::OpType::PUT);
  ASSERT_TRUE(got.ops[1].__isset.value);
  EXPECT_EQ(got.ops[1].value, std::string("\xff\x00\x01", 3));

  EXPECT_EQ(got.ops[2].type, wire::OpType::DELETE);
  EXPECT_FALSE(got.ops[2].__isset.value);

  EXPECT_EQ(got.ops[3].type, wire::OpType::ADD);
  ASSERT_TRUE(got.ops[3].__isset.delta);
  ASSERT_TRUE(got.ops[3].__isset.min_result);
  EXPECT_EQ(got.ops[3].delta, -250);
  EXPECT_EQ(got.ops[3].min_result, 0);

  EXPECT_TRUE(got.ops[4].__isset.delta);
  EXPECT_FALSE(got.ops[4].__isset.min_result) << "an unset bound must stay 'no bound'";
}

TEST(IdlTest, PrepareMessageRoundTripsThroughBinaryProtocol) {
  ExpectPrepareMessageRoundTrips<TBinaryProtocol>();
}

TEST(IdlTest, PrepareMessageRoundTripsThroughCompactProtocol) {
  ExpectPrepareMessageRoundTrips<TCompactProtocol>();
}

wire::TxnError MakeUnknownOutcomeError() {
  wire::TxnError error;
  error.__set_outcome(wire::Outcome::UNKNOWN);
  error.__set_reason(wire::AbortReason::NONE);
  error.__set_message("coordinator failed over while the decision was in flight");
  error.__set_txn(MakeTxnId(3, 42));
  return error;
}

TEST(IdlTest, TxnErrorKeepsUnknownOutcomeThroughBothProtocols) {
  const wire::TxnError sent = MakeUnknownOutcomeError();
  for (const wire::TxnError& got :
       {RoundTrip<TBinaryProtocol>(sent), RoundTrip<TCompactProtocol>(sent)}) {
    EXPECT_EQ(got, sent);
    EXPECT_EQ(got.outcome, wire::Outcome::UNKNOWN);
    EXPECT_EQ(got.reason, wire::AbortReason::NONE);
    ASSERT_TRUE(got.__isset.txn);
    EXPECT_EQ(got.txn, MakeTxnId(3, 42));
  }
}

// A Coordinator whose commit always ends ambiguously.
class AmbiguousCommitCoordinator : public wire::CoordinatorNull {
 public:
  void commit(wire::CommitResult& /*result*/, const wire::TxnId& txn,
              const std::vector<int32_t>& /*touched_shards*/) override {
    wire::TxnError error = MakeUnknownOutcomeError();
    error.__set_txn(txn);
    throw error;
  }
};

// Sends one commit call from a generated client through a generated processor and back, with
// protocol P on both legs, and returns what the client's caller sees.
template <typename P>
wire::TxnError CommitThroughService(const wire::TxnId& txn) {
  auto request = std::make_shared<TMemoryBuffer>();
  auto reply = std::make_shared<TMemoryBuffer>();
  wire::CoordinatorClient client(std::make_shared<P>(reply), std::make_shared<P>(request));
  wire::CoordinatorProcessor processor(std::make_shared<AmbiguousCommitCoordinator>());

  client.send_commit(txn, {});
  EXPECT_TRUE(processor.process(std::make_shared<P>(request), std::make_shared<P>(reply),
                                /*connectionContext=*/nullptr));
  wire::CommitResult result;
  try {
    client.recv_commit(result);
  } catch (const wire::TxnError& error) {
    return error;
  }
  ADD_FAILURE() << "commit returned instead of throwing TxnError";
  return {};
}

TEST(IdlTest, CommitReportsUnknownOutcomeThroughGeneratedClientAndProcessor) {
  const wire::TxnId txn = MakeTxnId(9, 1001);
  for (const wire::TxnError& error :
       {CommitThroughService<TBinaryProtocol>(txn), CommitThroughService<TCompactProtocol>(txn)}) {
    EXPECT_EQ(error.outcome, wire::Outcome::UNKNOWN);
    EXPECT_EQ(error.reason, wire::AbortReason::NONE);
    EXPECT_FALSE(error.message.empty());
    ASSERT_TRUE(error.__isset.txn);
    EXPECT_EQ(error.txn, txn);
  }
}

}  // namespace
}  // namespace txcoord
