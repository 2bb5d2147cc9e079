// Proves idl/replication_wire.h: every field of each replication message type survives ToWire
// and FromWire (records in the log's own encoding, positions restored), through Thrift's binary
// protocol too; and whatever a network could deliver that the core must not see is refused with
// InvalidArgument naming the field: an unknown type, a group name of neither form, a negative
// number, records out of order, a flipped byte in a record, a record without a log epoch.
#include "idl/replication_wire.h"

#include <gtest/gtest.h>
#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/transport/TBufferTransports.h>

#include <memory>

namespace txcoord::wire {
namespace {

using replication::ReplMessage;
using replication::ReplType;

Record Rec(Lsn lsn, Epoch log_epoch) {
  Record r;
  r.lsn = lsn;
  r.type = RecordType::kCommitted;
  r.txn = {3, lsn};
  r.epoch = 3;
  r.writes = {{"k" + std::to_string(lsn), "v"}, {"gone", std::nullopt}};
  r.log_epoch = log_epoch;
  return r;
}

ReplMessage Append() {
  ReplMessage m;
  m.type = ReplType::kAppend;
  m.from = 0;
  m.to = 2;
  m.epoch = 7;
  m.prev_position = 41;
  m.prev_epoch = 6;
  m.records = {Rec(42, 7), Rec(43, 7)};
  m.records[1].lazy = true;  // a backup syncs it lazily too (wal/wal.h), so it must arrive so
  m.commit_position = 40;
  m.sent_at = 123456;
  return m;
}

// Through Thrift's binary protocol and back, as the peer port carries it.
thrift::ReplicationMessage ThroughBinary(const thrift::ReplicationMessage& w) {
  auto buffer = std::make_shared<apache::thrift::transport::TMemoryBuffer>();
  apache::thrift::protocol::TBinaryProtocol protocol(buffer);
  w.write(&protocol);
  thrift::ReplicationMessage out;
  out.read(&protocol);
  return out;
}

TEST(ReplicationWireTest, EveryTypeRoundTrips) {
  ReplMessage ack;
  ack.type = ReplType::kAppendAck;
  ack.from = 1;
  ack.to = 0;
  ack.epoch = 9;
  ack.ok = false;
  ack.disk = 0xfeedfacecafeull;
  ack.sent_at = 77;
  ack.last_position = 12;
  ack.last_epoch = 4;
  ReplMessage stale;
  stale.type = ReplType::kStale;
  stale.from = 2;
  stale.to = 1;
  stale.epoch = 11;
  for (const ReplMessage& m : {Append(), ack, stale}) {
    Result<GroupMessage> back = FromWire(ThroughBinary(ToWire("shard12", m)));
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(back.value().group, "shard12");
    const ReplMessage& got = back.value().message;
    EXPECT_EQ(got.type, m.type);
    EXPECT_EQ(got.from, m.from);
    EXPECT_EQ(got.to, m.to);
    EXPECT_EQ(got.epoch, m.epoch);
    EXPECT_EQ(got.prev_position, m.prev_position);
    EXPECT_EQ(got.prev_epoch, m.prev_epoch);
    EXPECT_EQ(got.records, m.records);
    EXPECT_EQ(got.commit_position, m.commit_position);
    EXPECT_EQ(got.sent_at, m.sent_at);
    EXPECT_EQ(got.ok, m.ok);
    EXPECT_EQ(got.disk, m.disk);
    EXPECT_EQ(got.last_position, m.last_position);
    EXPECT_EQ(got.last_epoch, m.last_epoch);
  }
}

TEST(ReplicationWireTest, WhatTheCoreMustNotSeeIsRefused) {
  struct Case {
    const char* name;
    void (*spoil)(thrift::ReplicationMessage&);
    const char* message_starts;
  };
  const Case cases[] = {
      {"unknown type", [](thrift::ReplicationMessage& w) { w.type = 9; }, "type: 9"},
      {"group", [](thrift::ReplicationMessage& w) { w.group = "shard-1"; }, "group: 'shard-1'"},
      {"group without number", [](thrift::ReplicationMessage& w) { w.group = "shard"; },
       "group: 'shard'"},
      {"negative epoch", [](thrift::ReplicationMessage& w) { w.epoch = -1; }, "epoch: negative"},
      {"negative prev", [](thrift::ReplicationMessage& w) { w.prev_position = -5; },
       "prev_position: negative"},
      {"negative replica", [](thrift::ReplicationMessage& w) { w.to_replica = -1; },
       "from_replica/to_replica"},
      {"gap", [](thrift::ReplicationMessage& w) { w.records[1].position = 44; },
       "records[1].position: 44, expected 43"},
      {"torn record", [](thrift::ReplicationMessage& w) { w.records[0].payload[7] ^= 0x10; },
       "records[0].payload: "},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    thrift::ReplicationMessage w = ToWire("coordinator", Append());
    c.spoil(w);
    Result<GroupMessage> r = FromWire(w);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
    EXPECT_EQ(r.status().message().rfind(c.message_starts, 0), 0u) << r.status().message();
  }
  ReplMessage no_epoch = Append();
  no_epoch.records[0].log_epoch = 0;
  Result<GroupMessage> r = FromWire(ToWire("shard0", no_epoch));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "records[0].payload: no log epoch");
}

}  // namespace
}  // namespace txcoord::wire
