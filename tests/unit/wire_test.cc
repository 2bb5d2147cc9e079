// Proves the edge conversions of idl/wire.h: a core Message with every field set survives
// core -> PeerMessage -> binary bytes -> PeerMessage -> core unchanged (and so does one with every
// field at its default, which must put nothing optional on the wire), ops keep their optional
// fields' meaning (no bound stays no bound), the shard map survives both ways, and whatever a
// peer or client could send that no core value can represent is refused with InvalidArgument
// naming the field, never turned into a default.

#include "idl/wire.h"

#include <gtest/gtest.h>
#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/transport/TBufferTransports.h>

#include <memory>
#include <string>
#include <vector>

namespace txcoord {
namespace {

using ::apache::thrift::protocol::TBinaryProtocol;
using ::apache::thrift::transport::TMemoryBuffer;

thrift::PeerMessage ThroughBytes(const thrift::PeerMessage& m) {
  auto buffer = std::make_shared<TMemoryBuffer>();
  TBinaryProtocol protocol(buffer);
  m.write(&protocol);
  thrift::PeerMessage back;
  back.read(&protocol);
  return back;
}

void ExpectSame(const Message& a, const Message& b) {
  EXPECT_EQ(a.type, b.type);
  EXPECT_EQ(a.from, b.from);
  EXPECT_EQ(a.to, b.to);
  EXPECT_EQ(a.txn, b.txn);
  EXPECT_EQ(a.epoch, b.epoch);
  EXPECT_EQ(a.protocol, b.protocol);
  EXPECT_EQ(a.participants, b.participants);
  EXPECT_EQ(a.one_phase, b.one_phase);
  EXPECT_EQ(a.ops, b.ops);
  EXPECT_EQ(a.vote, b.vote);
  EXPECT_EQ(a.reason, b.reason);
  EXPECT_EQ(a.reads, b.reads);
  EXPECT_EQ(a.outcome, b.outcome);
  EXPECT_EQ(a.state, b.state);
  EXPECT_EQ(a.ballot, b.ballot);
  EXPECT_EQ(a.accepted_ballot, b.accepted_ballot);
  EXPECT_EQ(a.promised_ballot, b.promised_ballot);
  EXPECT_EQ(a.commit, b.commit);
  EXPECT_EQ(a.abort_if_unprepared, b.abort_if_unprepared);
  EXPECT_EQ(a.ok, b.ok);
  EXPECT_EQ(a.current_epoch, b.current_epoch);
}

TEST(WireTest, MessageWithEveryFieldSurvivesTheWire) {
  Message m;
  m.type = MsgType::kStateReply;
  m.from = NodeRef::Shard(4);
  m.to = NodeRef::Coordinator();
  m.txn = {7, 99};
  m.epoch = 9;
  m.protocol = Protocol::kThreePc;
  m.participants = {0, 4, 6};
  m.one_phase = true;
  m.ops = {{.type = Op::Type::kGet, .key = std::string("a\0b", 3), .for_update = true},
           {.type = Op::Type::kPut, .key = "k", .value = std::string("\xff\x00", 2)},
           {.type = Op::Type::kDelete, .key = "d"},
           {.type = Op::Type::kAdd, .key = "n", .delta = -5, .min_result = 0},
           {.type = Op::Type::kAdd, .key = "u", .delta = 5}};
  m.vote = Vote::kReadOnly;
  m.reason = AbortReason::kTermination;
  m.reads = {{"a", true, "1"}, {"b", false, ""}};
  m.outcome = Outcome::kAborted;
  m.state = TxnState::kPreAborted;
  m.ballot = MakeBallot(3, kCoordinatorProposer);
  m.accepted_ballot = ~0ull;  // the top bit survives the i64 on the wire
  m.promised_ballot = MakeBallot(1, 5);
  m.commit = true;
  m.abort_if_unprepared = true;
  m.ok = true;
  m.current_epoch = 12;
  Result<Message> back = wire::FromWire(ThroughBytes(wire::ToWire(m)));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ExpectSame(m, back.value());
}

TEST(WireTest, DefaultFieldsStayOffTheWire) {
  Message m;
  m.type = MsgType::kDecisionAck;
  m.from = NodeRef::Shard(0);
  m.txn = {1, 1};
  m.epoch = 1;
  const thrift::PeerMessage w = wire::ToWire(m);
  EXPECT_FALSE(w.__isset.protocol || w.__isset.participants || w.__isset.one_phase ||
               w.__isset.ops || w.__isset.vote || w.__isset.reason || w.__isset.reads ||
               w.__isset.outcome || w.__isset.state || w.__isset.ballot || w.__isset.ok ||
               w.__isset.current_epoch);
  Result<Message> back = wire::FromWire(ThroughBytes(w));
  ASSERT_TRUE(back.ok());
  ExpectSame(m, back.value());
}

thrift::PeerMessage ValidWire() {
  Message m;
  m.type = MsgType::kPrepare;
  m.to = NodeRef::Shard(1);
  m.txn = {2, 3};
  m.epoch = 2;
  return wire::ToWire(m);
}

void ExpectRefused(const thrift::PeerMessage& w, const std::string& field) {
  Result<Message> m = wire::FromWire(w);
  ASSERT_FALSE(m.ok()) << "accepted a message with a bad " << field;
  EXPECT_EQ(m.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(m.status().message().find(field), std::string::npos) << m.status().ToString();
}

TEST(WireTest, RefusesWhatNoCoreValueCanRepresent) {
  ASSERT_TRUE(wire::FromWire(ValidWire()).ok());
  thrift::PeerMessage w = ValidWire();
  // 0 is no message type. (A value above the enum's range, like 99, cannot be tested in C++:
  // holding it in the generated enum type is undefined behaviour, which UBSan reports.)
  w.type = static_cast<thrift::MessageType::type>(0);
  ExpectRefused(w, "type");
  w = ValidWire();
  w.txn.epoch = 0;
  ExpectRefused(w, "txn.epoch");
  w = ValidWire();
  w.__set_vote(static_cast<thrift::Vote::type>(0));
  ExpectRefused(w, "vote");
  w = ValidWire();
  w.__set_state(static_cast<thrift::TxnState::type>(7));
  ExpectRefused(w, "state");
  w = ValidWire();
  w.__set_reason(static_cast<thrift::AbortReason::type>(11));
  ExpectRefused(w, "reason");
  w = ValidWire();
  w.__set_participants({1, -2});
  ExpectRefused(w, "participants");
  w = ValidWire();
  thrift::Op put;
  put.__set_type(thrift::OpType::PUT);
  put.__set_key("k");
  w.__set_ops({put});
  ExpectRefused(w, "ops[0].op.value");
  thrift::Op add;
  add.__set_type(thrift::OpType::ADD);
  add.__set_key("k");
  w.__set_ops({add});
  ExpectRefused(w, "op.delta");
  thrift::Op get;
  get.__set_type(thrift::OpType::GET);
  w.__set_ops({get});
  ExpectRefused(w, "key: empty");
  get.__set_key(std::string(wire::kMaxKeyBytes + 1, 'k'));
  w.__set_ops({get});
  ExpectRefused(w, "limit");
}

TEST(WireTest, ShardMapSurvivesBothWaysAndIsValidated) {
  cluster::ShardMap map;
  map.version = 4;
  map.partitioning = cluster::Partitioning::kRange;
  map.shards = {{0, "127.0.0.1", 7101}, {1, "127.0.0.1", 7102}};
  map.split_keys = {"m"};
  Result<cluster::ShardMap> back = wire::FromWire(wire::ToWire(map));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back.value(), map);

  thrift::ShardMap bad = wire::ToWire(map);
  bad.range_split_keys.clear();
  EXPECT_FALSE(wire::FromWire(bad).ok());
  bad = wire::ToWire(map);
  bad.shards[1].port = 70000;
  Result<cluster::ShardMap> port = wire::FromWire(bad);
  ASSERT_FALSE(port.ok());
  EXPECT_NE(port.status().message().find("shards[1].port"), std::string::npos);
}

}  // namespace
}  // namespace txcoord
