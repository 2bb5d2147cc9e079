// Proves that the simulator's own machinery does what the invariant checks rely on, before any
// protocol core runs on it. Network: with no loss it delivers every message exactly once, no
// earlier than its minimum delay, in (deliver_at, seq) order, and it reorders; a duplicate rate
// of one million per million delivers every message twice; a partition drops cross-side
// messages both at send time and at delivery time, and HealAll restores delivery and stops new
// faults; DropAllTo loses a crashed node's inbound messages. SimLog: group commit makes batches
// durable in append order, a crash loses exactly the records not yet durable and keeps the
// durable ones, a new incarnation continues the log's positions, and a truncation drops exactly the
// records after its position, durable or not. Determinism: the same seed
// gives the same sequence of deliveries (same trace lines and hash), another seed another one.
// Also checks the trace helpers and the txsim flag parser. Each test drives the pieces by hand
// with a fixed seed and asserts exact outcomes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "common/protocol.h"
#include "common/rng.h"
#include "tests/sim/network.h"
#include "tests/sim/options.h"
#include "tests/sim/storage.h"
#include "tests/sim/trace.h"

namespace txcoord::sim {
namespace {

// A message tagged with id in txn.seq so tests can recognise each one.
Message Tagged(uint64_t id) {
  Message m;
  m.type = MsgType::kPrepare;
  m.txn = TxnId{1, id};
  m.epoch = 1;
  return m;
}

Record Rec(Lsn lsn, RecordType type = RecordType::kPrepared, uint64_t txn_seq = 1) {
  Record r;
  r.lsn = lsn;
  r.type = type;
  r.txn = TxnId{1, txn_seq};
  r.epoch = 1;
  return r;
}

// Drains the network from tick `from` until it is empty (or `limit` ticks pass), returning
// every delivery in order.
std::vector<Envelope> DrainFrom(Network& net, Ticks from, Ticks limit = 1000) {
  std::vector<Envelope> all;
  for (Ticks t = from; t < from + limit && net.in_flight() > 0; ++t) {
    for (Envelope& e : net.DeliverDue(t)) all.push_back(std::move(e));
  }
  return all;
}

// --------------------------------------------------------------------------------------------
// Network

TEST(NetworkTest, NoDropDeliversEverythingExactlyOnceInOrder) {
  Rng rng(7);
  NetworkFaults f;
  f.min_delay_ticks = 1;
  f.max_delay_ticks = 5;
  Network net(rng, f);

  std::map<uint64_t, Ticks> sent_at;  // id -> send tick
  uint64_t next_id = 1;
  std::vector<std::pair<Envelope, Ticks>> deliveries;  // envelope, tick it was delivered
  for (Ticks t = 0; t < 300; ++t) {
    if (t < 100) {
      for (int k = 0; k < 3; ++k) {
        const uint64_t id = next_id++;
        sent_at[id] = t;
        net.Send(t, static_cast<int32_t>(id % 4), static_cast<int32_t>((id * 7) % 5), Tagged(id));
      }
    }
    for (Envelope& e : net.DeliverDue(t)) deliveries.push_back({std::move(e), t});
  }

  ASSERT_EQ(deliveries.size(), 300u);
  EXPECT_EQ(net.sent(), 300u);
  EXPECT_EQ(net.delivered(), 300u);
  EXPECT_EQ(net.dropped(), 0u);
  EXPECT_EQ(net.duplicated(), 0u);
  EXPECT_EQ(net.in_flight(), 0u);

  std::set<uint64_t> seen;
  bool reordered = false;
  uint64_t last_id = 0;
  for (size_t i = 0; i < deliveries.size(); ++i) {
    const Envelope& e = deliveries[i].first;
    const uint64_t id = e.message().txn.seq;
    EXPECT_TRUE(seen.insert(id).second) << "delivered twice: " << id;
    const Ticks sent = sent_at.at(id);
    EXPECT_GE(e.deliver_at, sent + 1);
    EXPECT_LE(e.deliver_at, sent + 5);
    EXPECT_EQ(deliveries[i].second, e.deliver_at) << "delivered late";
    EXPECT_EQ(e.from, static_cast<int32_t>(id % 4));
    EXPECT_EQ(e.to, static_cast<int32_t>((id * 7) % 5));
    if (i > 0) {
      const Envelope& prev = deliveries[i - 1].first;
      EXPECT_LT(std::make_pair(prev.deliver_at, prev.seq), std::make_pair(e.deliver_at, e.seq));
    }
    if (id < last_id) reordered = true;
    last_id = id;
  }
  EXPECT_EQ(seen.size(), 300u);
  EXPECT_TRUE(reordered) << "random delays should reorder some messages";
}

TEST(NetworkTest, FullDuplicateRateDeliversEveryMessageTwice) {
  Rng rng(11);
  NetworkFaults f;
  f.duplicate_per_million = 1000000;
  Network net(rng, f);
  for (uint64_t id = 1; id <= 50; ++id) net.Send(0, 1, 2, Tagged(id));
  EXPECT_EQ(net.in_flight(), 100u);
  std::vector<Envelope> got = DrainFrom(net, 0);
  ASSERT_EQ(got.size(), 100u);
  std::map<uint64_t, int> copies;
  std::set<uint64_t> seqs;
  for (const Envelope& e : got) {
    ++copies[e.message().txn.seq];
    seqs.insert(e.seq);
  }
  for (const auto& [id, n] : copies) EXPECT_EQ(n, 2) << "message " << id;
  EXPECT_EQ(copies.size(), 50u);
  EXPECT_EQ(seqs.size(), 100u) << "every copy has its own seq";
  EXPECT_EQ(net.sent(), 50u);
  EXPECT_EQ(net.duplicated(), 50u);
  EXPECT_EQ(net.delivered(), 100u);
}

TEST(NetworkTest, FullDropRateDropsEverything) {
  Rng rng(12);
  NetworkFaults f;
  f.drop_per_million = 1000000;
  Network net(rng, f);
  for (uint64_t id = 1; id <= 20; ++id) net.Send(0, 1, 2, Tagged(id));
  EXPECT_EQ(net.in_flight(), 0u);
  EXPECT_EQ(net.dropped(), 20u);
}

TEST(NetworkTest, PartitionDropsCrossSideMessagesAndHealAllRestoresDelivery) {
  Rng rng(3);
  NetworkFaults f;
  f.partitions = true;
  f.partition_start_per_million = 1000000;
  f.partition_min_ticks = 1000;
  f.partition_max_ticks = 1000;
  Network net(rng, f);
  const std::vector<int32_t> nodes = {4, 1, 3, 2, 3};

  // In flight before the partition: dropped at delivery time if it crosses the split.
  for (int32_t from : {1, 2, 3, 4}) {
    for (int32_t to : {1, 2, 3, 4}) net.Send(0, from, to, Tagged(100 + from * 10 + to));
  }
  ASSERT_EQ(net.Tick(0, nodes), NetworkEvent::kPartitionStarted);
  ASSERT_TRUE(net.partitioned());
  EXPECT_EQ(net.partitions_started(), 1u);
  EXPECT_EQ(net.partition_heals_at(), 1000);
  const std::set<int32_t>& a = net.partition_side_a();
  ASSERT_FALSE(a.empty());
  ASSERT_LT(a.size(), 4u);
  for (int32_t id : a) EXPECT_TRUE(id >= 1 && id <= 4);

  int cross_pairs = 0;
  for (int32_t x : {1, 2, 3, 4}) {
    for (int32_t y : {1, 2, 3, 4}) {
      EXPECT_EQ(net.Connected(x, y), (a.count(x) != 0) == (a.count(y) != 0));
      if (!net.Connected(x, y)) ++cross_pairs;
    }
  }
  const int side = static_cast<int>(a.size());
  EXPECT_EQ(cross_pairs, 2 * side * (4 - side));

  std::vector<Envelope> got = DrainFrom(net, 1);
  EXPECT_EQ(static_cast<int>(got.size()), 16 - cross_pairs);
  for (const Envelope& e : got) EXPECT_TRUE(net.Connected(e.from, e.to));
  EXPECT_EQ(static_cast<int>(net.dropped()), cross_pairs);

  // Sent during the partition: cross-side messages are dropped at send time.
  const uint64_t dropped_before = net.dropped();
  for (int32_t from : {1, 2, 3, 4}) {
    for (int32_t to : {1, 2, 3, 4}) net.Send(10, from, to, Tagged(200 + from * 10 + to));
  }
  EXPECT_EQ(static_cast<int>(net.dropped() - dropped_before), cross_pairs);
  EXPECT_EQ(static_cast<int>(net.in_flight()), 16 - cross_pairs);
  DrainFrom(net, 10);

  // The partition lasts until its end unless healed; no second one starts meanwhile.
  EXPECT_EQ(net.Tick(20, nodes), NetworkEvent::kNone);
  EXPECT_TRUE(net.partitioned());

  net.HealAll();
  EXPECT_FALSE(net.partitioned());
  EXPECT_FALSE(net.faults_enabled());
  EXPECT_EQ(net.Tick(30, nodes), NetworkEvent::kNone) << "no new partition after HealAll";
  for (int32_t from : {1, 2, 3, 4}) {
    for (int32_t to : {1, 2, 3, 4}) net.Send(30, from, to, Tagged(300 + from * 10 + to));
  }
  EXPECT_EQ(DrainFrom(net, 30).size(), 16u);
}

TEST(NetworkTest, PartitionHealsWhenItsTimeComes) {
  Rng rng(5);
  NetworkFaults f;
  f.partitions = true;
  f.partition_start_per_million = 1000000;
  f.partition_min_ticks = 10;
  f.partition_max_ticks = 10;
  Network net(rng, f);
  ASSERT_EQ(net.Tick(100, {1, 2}), NetworkEvent::kPartitionStarted);
  EXPECT_FALSE(net.Connected(1, 2));
  EXPECT_TRUE(net.Connected(1, 1));
  EXPECT_EQ(net.Tick(109, {1, 2}), NetworkEvent::kNone);
  EXPECT_EQ(net.Tick(110, {1, 2}), NetworkEvent::kPartitionHealed);
  EXPECT_TRUE(net.Connected(1, 2));
  EXPECT_EQ(net.DescribePartition(), "none");
  // A single node cannot be split.
  EXPECT_EQ(net.Tick(111, {1, 1}), NetworkEvent::kNone);
}

TEST(NetworkTest, HealAllTurnsOffDropAndDuplicate) {
  Rng rng(9);
  NetworkFaults f;
  f.drop_per_million = 1000000;
  f.duplicate_per_million = 1000000;
  Network net(rng, f);
  net.HealAll();
  for (uint64_t id = 1; id <= 10; ++id) net.Send(0, 1, 2, Tagged(id));
  EXPECT_EQ(DrainFrom(net, 0).size(), 10u);
  EXPECT_EQ(net.dropped(), 0u);
  EXPECT_EQ(net.duplicated(), 0u);
}

TEST(NetworkTest, DropAllToLosesOnlyThatNodesInboundMessages) {
  Rng rng(13);
  Network net(rng, NetworkFaults{});
  for (uint64_t id = 1; id <= 30; ++id) net.Send(0, 0, static_cast<int32_t>(id % 3), Tagged(id));
  net.DropAllTo(1);
  EXPECT_EQ(net.dropped(), 10u);
  std::vector<Envelope> got = DrainFrom(net, 0);
  EXPECT_EQ(got.size(), 20u);
  for (const Envelope& e : got) EXPECT_NE(e.to, 1);
}

// Runs a fault-heavy scenario and records every network event in a trace.
Trace RunScenario(uint64_t seed) {
  Rng rng(seed);
  NetworkFaults f;
  f.max_delay_ticks = 8;
  f.drop_per_million = 100000;
  f.duplicate_per_million = 100000;
  f.partitions = true;
  f.partition_start_per_million = 20000;
  f.partition_min_ticks = 5;
  f.partition_max_ticks = 30;
  Network net(rng, f);
  Trace trace;
  const std::vector<int32_t> nodes = {0, 1, 2, 3, 4};
  uint64_t id = 0;
  for (Ticks t = 0; t < 500; ++t) {
    NetworkEvent ev = net.Tick(t, nodes);
    if (ev != NetworkEvent::kNone) {
      trace.Add(t, std::string(ToString(ev)) + " " + net.DescribePartition());
    }
    if (rng.Chance(500000)) {
      const int32_t from = static_cast<int32_t>(rng.Uniform(5));
      const int32_t to = static_cast<int32_t>(rng.Uniform(5));
      net.Send(t, from, to, Tagged(++id));
    }
    for (const Envelope& e : net.DeliverDue(t)) {
      trace.Add(t, "deliver seq=" + std::to_string(e.seq) + " " + std::to_string(e.from) + "->" +
                       std::to_string(e.to) + " " + Describe(e.message()));
    }
  }
  return trace;
}

TEST(NetworkTest, SameSeedSameDeliveries) {
  Trace a = RunScenario(42);
  Trace b = RunScenario(42);
  Trace c = RunScenario(43);
  ASSERT_GT(a.size(), 100u);
  EXPECT_EQ(a.lines(), b.lines());
  EXPECT_EQ(a.hash(), b.hash());
  EXPECT_NE(a.hash(), c.hash());
}

// --------------------------------------------------------------------------------------------
// SimLog

// Ticks log from `from` until a sync reports durability; returns the lsn and sets *at.
std::optional<Lsn> TickUntilDurable(SimLog& log, Rng& rng, Ticks from, Ticks* at) {
  for (Ticks t = from; t < from + 100; ++t) {
    if (auto lsn = log.Tick(t, rng)) {
      *at = t;
      return lsn;
    }
  }
  return std::nullopt;
}

TEST(SimLogTest, GroupCommitMakesBatchesDurableInAppendOrder) {
  Rng rng(1);
  SimLog log(/*max_sync_ticks=*/4);
  log.Append(Rec(1));
  log.Append(Rec(2));
  EXPECT_EQ(log.Tick(0, rng), std::nullopt);  // starts a sync of lsns 1..2
  EXPECT_TRUE(log.sync_in_flight());
  log.Append(Rec(3));  // waits for the next sync
  Ticks at = 0;
  EXPECT_EQ(TickUntilDurable(log, rng, 1, &at), std::optional<Lsn>(2));
  EXPECT_GE(at, 1);
  EXPECT_LE(at, 4);
  EXPECT_EQ(log.durable_lsn(), 2u);
  EXPECT_EQ(TickUntilDurable(log, rng, at + 1, &at), std::optional<Lsn>(3));
  ASSERT_EQ(log.durable().size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(log.durable()[i].lsn, i + 1);
  EXPECT_EQ(log.syncs(), 2u);
  EXPECT_EQ(log.records_durable(), 3u);
  EXPECT_EQ(log.not_durable(), 0u);
}

TEST(SimLogTest, CrashLosesExactlyThePendingRecords) {
  Rng rng(2);
  SimLog log(3);
  log.Append(Rec(1, RecordType::kPrepared, 10));
  log.Append(Rec(2, RecordType::kCommitted, 10));
  Ticks at = 0;
  ASSERT_EQ(TickUntilDurable(log, rng, 0, &at), std::optional<Lsn>(2));
  log.Append(Rec(3, RecordType::kPrepared, 11));
  log.Tick(at + 1, rng);  // lsn 3 is now in a sync in flight
  ASSERT_TRUE(log.sync_in_flight());
  log.Append(Rec(4, RecordType::kPrepared, 12));  // pending behind it

  std::vector<Record> kept = log.Crash();
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[0], Rec(1, RecordType::kPrepared, 10));
  EXPECT_EQ(kept[1], Rec(2, RecordType::kCommitted, 10));
  EXPECT_EQ(log.durable(), kept);
  EXPECT_EQ(log.records_lost_in_crash(), 2u);
  EXPECT_EQ(log.not_durable(), 0u);
  // Nothing lost ever becomes durable.
  for (Ticks t = at + 2; t < at + 20; ++t) EXPECT_EQ(log.Tick(t, rng), std::nullopt);

  // The next core instance continues the log after its durable end: position 3 is taken again.
  log.NewIncarnation();
  EXPECT_EQ(log.durable_lsn(), 2u);
  EXPECT_EQ(log.next_position(), 3u);
  log.Append(Rec(3, RecordType::kAborted, 11));
  ASSERT_EQ(TickUntilDurable(log, rng, at + 20, &at), std::optional<Lsn>(3));
  ASSERT_EQ(log.durable().size(), 3u);
  EXPECT_EQ(log.durable()[2], Rec(3, RecordType::kAborted, 11));
}

TEST(SimLogTest, TruncationDropsExactlyTheRecordsAfterItsPositionDurableOrNot) {
  Rng rng(3);
  SimLog log(2);
  log.Append(Rec(1));
  log.Append(Rec(2));
  Ticks at = 0;
  ASSERT_EQ(TickUntilDurable(log, rng, 0, &at), std::optional<Lsn>(2));
  log.Append(Rec(3));
  log.Tick(at + 1, rng);  // 3 in a sync in flight
  log.Append(Rec(4));     // 4 pending
  log.TruncateAfter(1);
  EXPECT_EQ(log.durable_lsn(), 1u);
  EXPECT_EQ(log.next_position(), 2u);
  EXPECT_EQ(log.At(2), nullptr);
  EXPECT_EQ(log.not_durable(), 0u);
  log.Append(Rec(2, RecordType::kAborted, 9));  // the position is taken again
  ASSERT_NE(log.At(2), nullptr);
  EXPECT_EQ(log.At(2)->type, RecordType::kAborted);
  log.Wipe();
  EXPECT_EQ(log.next_position(), 1u);
  EXPECT_TRUE(log.durable().empty());
}

// --------------------------------------------------------------------------------------------
// Trace

TEST(TraceTest, FormatsHashesAndPrintsTheTail) {
  Trace t;
  EXPECT_EQ(t.hash(), 0xcbf29ce484222325ull);  // FNV-1a offset basis
  t.Add(5, "a");
  EXPECT_EQ(t.lines(), std::vector<std::string>{"t=5 a"});
  const uint64_t h1 = t.hash();
  t.Add(6, "b");
  t.Add(7, "c");
  EXPECT_NE(t.hash(), h1);

  Trace same;
  same.Add(5, "a");
  same.Add(6, "b");
  same.Add(7, "c");
  EXPECT_EQ(same.hash(), t.hash());
  Trace split;  // line boundaries are part of the hash
  split.Add(5, "ab");
  split.Add(6, "c");
  EXPECT_NE(split.hash(), t.hash());

  std::ostringstream out;
  t.PrintLast(out, 2);
  EXPECT_EQ(out.str(), "... 1 earlier trace lines omitted\nt=6 b\nt=7 c\n");
  std::ostringstream all;
  t.PrintLast(all, 10);
  EXPECT_EQ(all.str(), "t=5 a\nt=6 b\nt=7 c\n");

  std::ostringstream echo;
  Trace echoed;
  echoed.set_echo(&echo);
  echoed.Add(1, "x");
  EXPECT_EQ(echo.str(), "t=1 x\n");
}

TEST(TraceTest, DescribesMessagesAndRecords) {
  Message m;
  m.type = MsgType::kTermAccept;
  m.from = NodeRef::Shard(2);
  m.to = NodeRef::Shard(0);
  m.txn = TxnId{3, 17};
  m.epoch = 3;
  m.ballot = MakeBallot(2, 3);
  m.commit = true;
  const std::string d = Describe(m);
  EXPECT_NE(d.find(ToString(MsgType::kTermAccept)), std::string::npos) << d;
  EXPECT_NE(d.find("3.17 e=3 S2->S0 ballot=2:3 PRE-COMMIT"), std::string::npos) << d;

  Record r;
  r.lsn = 4;
  r.type = RecordType::kCommitted;
  r.txn = TxnId{3, 17};
  r.epoch = 3;
  r.writes = {{"a", "5"}, {"b", std::nullopt}};
  const std::string rd = Describe(r);
  EXPECT_EQ(rd.rfind("lsn=4 ", 0), 0u) << rd;
  EXPECT_NE(rd.find("3.17 e=3 writes=[a=5,b=<del>]"), std::string::npos) << rd;
}

// --------------------------------------------------------------------------------------------
// Options

Result<SimOptions> Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "txsim");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  return ParseArgs(static_cast<int>(argv.size()), argv.data());
}

TEST(OptionsTest, DefaultsAreFaultHeavy) {
  Result<SimOptions> r = Parse({});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const SimOptions& o = r.value();
  EXPECT_EQ(o.shards, 3);
  EXPECT_EQ(o.clients, 4);
  EXPECT_EQ(o.accounts_per_shard, 4);
  EXPECT_EQ(o.ticks, 3000);
  EXPECT_EQ(o.drop_ppm, 20000u);
  EXPECT_EQ(o.duplicate_ppm, 20000u);
  EXPECT_EQ(o.max_delay_ticks, 8);
  EXPECT_TRUE(o.partitions && o.crashes && o.failover);
  EXPECT_EQ(o.crash_rate_ppm, 300u);
  EXPECT_EQ(o.inject_bug, InjectedBug::kNone);
  EXPECT_EQ(o.trace_on_violation, 60u);
  EXPECT_FALSE(o.help);
  const NetworkFaults f = o.network_faults();
  EXPECT_EQ(f.max_delay_ticks, 8);
  EXPECT_EQ(f.drop_per_million, 20000u);
  EXPECT_TRUE(f.partitions);
}

TEST(OptionsTest, ParsesEveryFlag) {
  Result<SimOptions> r = Parse({"--protocol",
                                "3pc",
                                "--seeds",
                                "100",
                                "--first-seed=7",
                                "--shards",
                                "5",
                                "--clients",
                                "2",
                                "--accounts-per-shard",
                                "9",
                                "--ticks",
                                "10",
                                "--drop",
                                "0",
                                "--duplicate",
                                "1000000",
                                "--max-delay",
                                "3",
                                "--no-partitions",
                                "--no-crashes",
                                "--no-failover",
                                "--crash-rate",
                                "5",
                                "--inject-bug",
                                "presume-commit",
                                "--verbose",
                                "--trace-on-violation",
                                "0",
                                "--stop-on-violation",
                                "--help"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const SimOptions& o = r.value();
  EXPECT_EQ(o.protocol, ProtocolChoice::kThreePc);
  EXPECT_EQ(o.seeds, 100u);
  EXPECT_EQ(o.first_seed, 7u);
  EXPECT_EQ(o.shards, 5);
  EXPECT_EQ(o.clients, 2);
  EXPECT_EQ(o.accounts_per_shard, 9);
  EXPECT_EQ(o.ticks, 10);
  EXPECT_EQ(o.drop_ppm, 0u);
  EXPECT_EQ(o.duplicate_ppm, 1000000u);
  EXPECT_EQ(o.max_delay_ticks, 3);
  EXPECT_FALSE(o.partitions || o.crashes || o.failover);
  EXPECT_EQ(o.crash_rate_ppm, 5u);
  EXPECT_EQ(o.inject_bug, InjectedBug::kPresumeCommit);
  EXPECT_TRUE(o.verbose && o.stop_on_violation && o.help);
  EXPECT_EQ(o.trace_on_violation, 0u);

  // The reproduce command parses back to the same run of one seed.
  Result<SimOptions> back = [&] {
    std::istringstream in(ReproduceCommand(o, 1234));
    std::vector<std::string> words;
    for (std::string w; in >> w;) words.push_back(w);
    words.erase(words.begin());  // "txsim"
    return Parse(words);
  }();
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back.value().first_seed, 1234u);
  EXPECT_EQ(back.value().seeds, 1u);
  EXPECT_EQ(back.value().protocol, o.protocol);
  EXPECT_EQ(back.value().duplicate_ppm, o.duplicate_ppm);
  EXPECT_EQ(back.value().inject_bug, o.inject_bug);
  EXPECT_FALSE(back.value().partitions);
}

TEST(OptionsTest, ErrorsNameTheFlag) {
  struct Case {
    std::vector<std::string> args;
    std::string flag;
  };
  const std::vector<Case> cases = {
      {{"--bogus"}, "--bogus"},
      {{"--seeds", "0"}, "--seeds"},
      {{"--seeds", "12x"}, "--seeds"},
      {{"--seeds"}, "--seeds"},
      {{"--protocol", "4pc"}, "--protocol"},
      {{"--drop", "1000001"}, "--drop"},
      {{"--max-delay", "0"}, "--max-delay"},
      {{"--shards", "-1"}, "--shards"},
      {{"--inject-bug", "everything"}, "--inject-bug"},
      {{"--verbose=yes"}, "--verbose"},
      {{"stray"}, "stray"},
  };
  for (const Case& c : cases) {
    Result<SimOptions> r = Parse(c.args);
    ASSERT_FALSE(r.ok()) << c.flag;
    EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
    EXPECT_NE(r.status().message().find(c.flag), std::string::npos) << r.status().ToString();
  }
  EXPECT_NE(Usage().find("--inject-bug"), std::string::npos);
}

}  // namespace
}  // namespace txcoord::sim
