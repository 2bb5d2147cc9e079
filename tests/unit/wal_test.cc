// What the write-ahead log guarantees, on a real RocksDB in a fresh temporary directory:
// every record type survives encode/decode exactly; a flipped byte, a torn record or an unknown
// format version is a Corruption, never a wrong record; appended records are scanned back in
// order after a reopen; positions continue across reopen and truncation (of a prefix, and of a
// divergent suffix); concurrent appenders all become
// durable, in position order, with the durability callback never going backwards; and a log
// written by another format version refuses to open.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/unit/temp_dir.h"
#include "wal/record_codec.h"
#include "wal/wal.h"

namespace txcoord::wal {
namespace {

using testing::TempDir;

Record FullRecord() {
  Record r;
  r.type = RecordType::kPrepared;
  r.txn = {7, 123456789};
  r.epoch = 7;
  r.protocol = Protocol::kThreePc;
  r.participants = {0, 3, -1, 1000};
  r.writes = {{"k1", "v1"}, {"k2", std::nullopt}, {"", std::string("\0bin", 4)}};
  r.read_keys = {"r1", "r2"};
  r.reads = {{"r1", true, "x"}, {"r2", false, ""}};
  r.ballot = (5ull << 16) | 3;
  r.log_epoch = 300;  // more than one varint byte
  return r;
}

std::vector<std::pair<uint64_t, Record>> ScanAll(const Wal& wal, uint64_t from = 0) {
  std::vector<std::pair<uint64_t, Record>> out;
  EXPECT_TRUE(wal.Scan(from, [&](uint64_t p, const Record& r) {
                   out.emplace_back(p, r);
                   return true;
                 }).ok());
  return out;
}

// A Wal over a fresh Db in dir (the Wal keeps the Db alive).
Result<std::unique_ptr<Wal>> OpenWal(const std::string& dir, DbOptions options = {}) {
  Result<std::shared_ptr<Db>> db = Db::Open(dir, options);
  if (!db.ok()) return db.status();
  return Wal::Open(db.value());
}

// Appends records at the log's end (their lsns set to their positions) and returns the last
// position. Appenders on several threads take one lock, as a node's single io thread would be.
Result<uint64_t> AppendNext(Wal& wal, std::vector<Record> records,
                            bool lazy = false) {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  const uint64_t first = wal.next_position();
  for (size_t i = 0; i < records.size(); ++i) records[i].lsn = first + i;
  if (Status s = wal.Append(records, lazy); !s.ok()) return s;
  return first + records.size() - 1;
}

TEST(RecordCodecTest, EveryTypeRoundTrips) {
  for (RecordType t : {RecordType::kCoordPreCommit, RecordType::kCoordCommit,
                       RecordType::kCoordEnd, RecordType::kPrepared, RecordType::kPreCommitted,
                       RecordType::kPreAborted, RecordType::kPromised, RecordType::kCommitted,
                       RecordType::kAborted, RecordType::kEpochSeen}) {
    Record r = FullRecord();
    r.type = t;
    Result<Record> back = DecodeRecord(EncodeRecord(r));
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(back.value(), r) << ToString(t);
  }
}

TEST(RecordCodecTest, AnyFlippedByteOrTruncationIsCorruption) {
  const std::string good = EncodeRecord(FullRecord());
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x40);
    Result<Record> r = DecodeRecord(bad);
    ASSERT_FALSE(r.ok()) << "flipped byte " << i;
    EXPECT_EQ(r.status().code(), Status::Code::kCorruption);
  }
  for (size_t n = 0; n < good.size(); ++n) {
    EXPECT_FALSE(DecodeRecord(good.substr(0, n)).ok()) << "torn at " << n;
  }
}

TEST(RecordCodecTest, UnknownVersionNamesTheVersion) {
  std::string bytes = EncodeRecord(FullRecord());
  bytes[0] = 9;
  Result<Record> r = DecodeRecord(bytes);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("version 9"), std::string::npos) << r.status().ToString();
}

TEST(RecordCodecTest, AVersionOneRecordDecodesWithLogEpochZero) {
  // Version 1 is version 2 without the trailing log_epoch varint (300: two bytes).
  Record r = FullRecord();
  const std::string v2 = EncodeRecord(r);
  std::string payload = v2.substr(5, v2.size() - 5 - 2);
  const uint32_t crc = Crc32c(payload);
  std::string v1(1, '\x01');
  for (int i = 0; i < 4; ++i) v1.push_back(static_cast<char>((crc >> (8 * i)) & 0xFF));
  v1 += payload;
  Result<Record> decoded = DecodeRecord(v1);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  r.log_epoch = 0;
  EXPECT_EQ(decoded.value(), r);
}

TEST(RecordCodecTest, PositionKeysSortInLogOrder) {
  EXPECT_LT(PositionKey(255), PositionKey(256));
  EXPECT_LT(PositionKey(1), PositionKey(1ull << 40));
  EXPECT_EQ(DecodePositionKey(PositionKey(0x0102030405060708ull)), 0x0102030405060708ull);
}

TEST(WalTest, AppendsAreScannedBackInOrderAfterReopen) {
  TempDir dir;
  std::vector<Record> written;
  {
    auto wal = OpenWal(dir.path());
    ASSERT_TRUE(wal.ok()) << wal.status().ToString();
    for (int i = 0; i < 5; ++i) {
      Record a = FullRecord();
      a.txn.seq = static_cast<uint64_t>(2 * i);
      Record b = a;
      b.type = RecordType::kCommitted;
      a.lsn = static_cast<uint64_t>(2 * i + 1);
      b.lsn = a.lsn + 1;
      Result<uint64_t> last = AppendNext(*wal.value(), {a, b});
      ASSERT_TRUE(last.ok());
      EXPECT_EQ(last.value(), static_cast<uint64_t>(2 * i + 2)) << "one position per record";
      written.push_back(a);
      written.push_back(b);
    }
    ASSERT_TRUE(wal.value()->WaitDurable(10).ok());
  }
  auto wal = OpenWal(dir.path());
  ASSERT_TRUE(wal.ok());
  const auto scanned = ScanAll(*wal.value());
  ASSERT_EQ(scanned.size(), written.size());
  for (size_t i = 0; i < scanned.size(); ++i) {
    EXPECT_EQ(scanned[i].first, i + 1);
    EXPECT_EQ(scanned[i].second, written[i]);
  }
  EXPECT_EQ(ScanAll(*wal.value(), 7).size(), 4u) << "a scan starts at its position";
  EXPECT_EQ(AppendNext(*wal.value(), {FullRecord()}).value(), 11u) << "positions continue";
}

TEST(WalTest, ARecordThatDoesNotContinueTheLogStopsTheProcess) {
  // The log has threads (its syncer, RocksDB's): the death test re-runs the binary instead of
  // forking a threaded process, whose child can deadlock on a lock another thread held at the
  // fork (seen once under TSan on a loaded machine: a 600 s timeout of a test that takes 0.1 s).
  // Set here, not in a static initializer: one that ran before gtest's own flags were constructed
  // leaked the flag's string (LeakSanitizer failed the asan build's test listing).
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  TempDir dir;
  auto wal = OpenWal(dir.path());
  ASSERT_TRUE(wal.ok());
  ASSERT_TRUE(AppendNext(*wal.value(), {FullRecord()}).ok());
  Record gap = FullRecord();
  gap.lsn = 3;  // position 2 is next
  EXPECT_DEATH((void)wal.value()->Append({gap}), "continue the log");
  Record again = FullRecord();
  again.lsn = 1;
  EXPECT_DEATH((void)wal.value()->Append({again}), "continue the log");
}

TEST(WalTest, MetadataSurvivesReopenInBothSyncModes) {
  for (DbOptions::SyncMode mode :
       {DbOptions::SyncMode::kSyncWrite, DbOptions::SyncMode::kManualFlush}) {
    TempDir dir;
    {
      auto wal = OpenWal(dir.path(), {.sync_mode = mode});
      ASSERT_TRUE(wal.ok());
      EXPECT_EQ(wal.value()->db().GetMeta("epoch").value(), std::nullopt);
      ASSERT_TRUE(wal.value()->db().PutMeta("epoch", "1").ok());
      ASSERT_TRUE(wal.value()->db().PutMeta("epoch", "2").ok());
    }
    auto wal = OpenWal(dir.path(), {.sync_mode = mode});
    ASSERT_TRUE(wal.ok());
    EXPECT_EQ(wal.value()->db().GetMeta("epoch").value(), std::optional<std::string>("2"));
    EXPECT_TRUE(ScanAll(*wal.value()).empty()) << "metadata is not a log record";
  }
}

TEST(WalTest, MetadataNumbersParseStrictly) {
  TempDir dir;
  auto db = Db::Open(dir.path());
  ASSERT_TRUE(db.ok());
  Db& d = *db.value();
  EXPECT_FALSE(d.GetMetaNumber("absent").value().has_value());
  EXPECT_FALSE(d.GetMetaPair("absent").value().has_value());
  ASSERT_TRUE(d.PutMeta("n", "18446744073709551615").ok());
  EXPECT_EQ(d.GetMetaNumber("n").value(), std::optional<uint64_t>(UINT64_MAX));
  ASSERT_TRUE(d.PutMeta("p", "3:17").ok());
  EXPECT_EQ(d.GetMetaPair("p").value(), (std::optional<std::pair<uint64_t, uint64_t>>({3, 17})));
  for (const char* bad : {"", "-1", "+1", " 4", "4 ", "4x", "0x10", "18446744073709551616"}) {
    ASSERT_TRUE(d.PutMeta("n", bad).ok());
    const auto got = d.GetMetaNumber("n");
    ASSERT_FALSE(got.ok()) << "'" << bad << "'";
    EXPECT_EQ(got.status().code(), Status::Code::kCorruption);
    EXPECT_NE(got.status().message().find("metadata n: '"), std::string::npos)
        << got.status().message();
  }
  for (const char* bad : {"3", "3:", ":17", "3:17:1", "3;17", "a:b", "3:-1"}) {
    ASSERT_TRUE(d.PutMeta("p", bad).ok());
    const auto got = d.GetMetaPair("p");
    ASSERT_FALSE(got.ok()) << "'" << bad << "'";
    EXPECT_EQ(got.status().code(), Status::Code::kCorruption) << bad;
  }
}

TEST(WalTest, TruncationDropsOldRecordsAndNeverReusesPositions) {
  TempDir dir;
  {
    auto wal = OpenWal(dir.path());
    ASSERT_TRUE(wal.ok());
    Wal& w = *wal.value();
    uint64_t last = 0;
    for (int i = 0; i < 6; ++i) last = AppendNext(w, {FullRecord()}).value();
    ASSERT_TRUE(w.WaitDurable(last).ok());
    ASSERT_TRUE(w.TruncateBefore(5).ok());
    const auto left = ScanAll(w);
    ASSERT_EQ(left.size(), 2u);
    EXPECT_EQ(left[0].first, 5u);
    ASSERT_TRUE(w.TruncateBefore(7).ok()) << "everything, up to the durable end";
    EXPECT_TRUE(ScanAll(w).empty());
  }
  auto wal = OpenWal(dir.path());
  ASSERT_TRUE(wal.ok());
  EXPECT_EQ(AppendNext(*wal.value(), {FullRecord()}).value(), 7u) << "not 1: positions are never reused";
}

TEST(WalTest, SuffixTruncationDropsTheDivergentTailAndTheLogContinuesThere) {
  TempDir dir;
  {
    auto wal = OpenWal(dir.path());
    ASSERT_TRUE(wal.ok());
    Wal& w = *wal.value();
    for (int i = 0; i < 5; ++i) AppendNext(w, {FullRecord()}).value();
    // Not waited for: the truncation itself waits for what is queued, so no queued write lands
    // after the delete.
    ASSERT_TRUE(w.TruncateAfter(3).ok());
    EXPECT_EQ(w.next_position(), 4u);
    EXPECT_LE(w.durable_position(), 3u);
    ASSERT_EQ(ScanAll(w).size(), 3u);
    Record replacement = FullRecord();
    replacement.log_epoch = 9;  // the new primary's record at position 4
    EXPECT_EQ(AppendNext(w, {replacement}).value(), 4u);
    ASSERT_TRUE(w.WaitDurable(4).ok());
    ASSERT_TRUE(w.TruncateAfter(7).ok()) << "nothing after the end: no change";
    EXPECT_EQ(w.next_position(), 5u);
  }
  auto wal = OpenWal(dir.path());
  ASSERT_TRUE(wal.ok());
  const auto all = ScanAll(*wal.value());
  ASSERT_EQ(all.size(), 4u) << "the truncation is durable";
  EXPECT_EQ(all.back().second.log_epoch, 9u);
  EXPECT_EQ(wal.value()->next_position(), 5u);
}

TEST(WalTest, ConcurrentAppendersAllBecomeDurableInOrder) {
  TempDir dir;
  auto wal = OpenWal(dir.path());
  ASSERT_TRUE(wal.ok());
  Wal& w = *wal.value();
  std::mutex mu;
  std::vector<uint64_t> reported;
  w.SetOnDurable([&](uint64_t p) {
    // Slow on purpose: WaitDurable must not return before this has run for its position.
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::lock_guard<std::mutex> lock(mu);
    reported.push_back(p);
  });
  constexpr int kThreads = 8, kPerThread = 50;
  std::vector<std::thread> threads;
  std::mutex positions_mu;
  std::set<uint64_t> positions;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        Record r = FullRecord();
        r.txn = {1, static_cast<uint64_t>(t * 1000 + i)};
        const uint64_t p = AppendNext(w, {r}).value();
        ASSERT_TRUE(w.WaitDurable(p).ok());
        {
          std::lock_guard<std::mutex> lock(mu);
          ASSERT_FALSE(reported.empty());
          ASSERT_GE(reported.back(), p) << "WaitDurable returned before on_durable reported it";
        }
        std::lock_guard<std::mutex> lock(positions_mu);
        positions.insert(p);
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_EQ(positions.size(), static_cast<size_t>(kThreads * kPerThread)) << "no position twice";
  EXPECT_EQ(*positions.rbegin(), static_cast<uint64_t>(kThreads * kPerThread));
  const WalStats stats = w.stats();
  EXPECT_EQ(stats.appends, static_cast<uint64_t>(kThreads * kPerThread));
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_FALSE(reported.empty());
  EXPECT_TRUE(std::is_sorted(reported.begin(), reported.end()));
  EXPECT_EQ(reported.back(), static_cast<uint64_t>(kThreads * kPerThread));
  EXPECT_EQ(ScanAll(w).size(), static_cast<size_t>(kThreads * kPerThread));
}

TEST(WalTest, LazyAppendsRideTheNextSyncOrGetTheirOwnSoon) {
  TempDir dir;
  auto wal = OpenWal(dir.path());
  ASSERT_TRUE(wal.ok());
  Wal& w = *wal.value();
  std::mutex mu;
  std::vector<uint64_t> reported;
  w.SetOnDurable([&](uint64_t p) {
    std::lock_guard<std::mutex> lock(mu);
    reported.push_back(p);
  });
  // Alone, a lazy append is written without an fsync, then synced by the syncer on its own.
  const uint64_t lazy = AppendNext(w, {FullRecord()}, /*lazy=*/true).value();
  ASSERT_TRUE(w.WaitDurable(lazy).ok());
  WalStats stats = w.stats();
  EXPECT_EQ(stats.lazy_writes, 1u);
  EXPECT_EQ(stats.syncs, 1u);
  // Lazy then urgent, queued together or not: every position up to the urgent one is durable
  // after the urgent one's sync, and never reported before a sync (syncs + lazy writes = rounds).
  const uint64_t lazy2 = AppendNext(w, {FullRecord()}, true).value();
  const uint64_t urgent = AppendNext(w, {FullRecord()}).value();
  ASSERT_TRUE(w.WaitDurable(urgent).ok());
  EXPECT_GT(urgent, lazy2);
  stats = w.stats();
  EXPECT_LE(stats.syncs, 3u);
  EXPECT_GE(stats.syncs, 2u);
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(reported.size(), stats.syncs) << "one report per sync, none for an unsynced write";
  EXPECT_EQ(reported.back(), urgent);
}

// The value of key in the "data" column family, as RocksDB has it ("" when it has none).
std::string DataValue(Db& db, const std::string& key) {
  std::string value;
  rocksdb::Status s = db.rocks()->Get(rocksdb::ReadOptions(), db.data(), key, &value);
  EXPECT_TRUE(s.ok() || s.IsNotFound()) << s.ToString();
  return s.ok() ? value : "";
}

// A write along that puts key = value in the "data" column family of db.
std::function<void(rocksdb::WriteBatch&)> PutAlong(Db& db, std::string key, std::string value) {
  return [&db, key, value](rocksdb::WriteBatch& wb) { wb.Put(db.data(), key, value); };
}

TEST(WalTest, WritesAlongRideTheSyncerWithoutASyncOfTheirOwn) {
  TempDir dir;
  auto wal = OpenWal(dir.path());
  ASSERT_TRUE(wal.ok());
  Wal& w = *wal.value();
  Db& db = w.db();
  auto put = [&db](std::string key, std::string value) { return PutAlong(db, key, value); };
  // Alone: written by the syncer, visible, and no fsync made for them.
  const uint64_t first = w.WriteAlong(put("a", "1"));
  ASSERT_TRUE(w.WaitWrittenAlong(first).ok());
  EXPECT_GE(w.written_along(), first);
  EXPECT_EQ(DataValue(db, "a"), "1");
  WalStats stats = w.stats();
  EXPECT_EQ(stats.along, 1u);
  EXPECT_EQ(stats.along_alone, 1u);
  EXPECT_EQ(stats.syncs, 0u) << "writes along need no sync of their own";
  // With records: written with them or alone, in the order given, never failing the records.
  const uint64_t last = AppendNext(w, {FullRecord()}).value();
  const uint64_t second = w.WriteAlong(put("a", "2"));
  const uint64_t third = w.WriteAlong(put("b", "3"));
  EXPECT_EQ(second, first + 1);
  EXPECT_EQ(third, second + 1);
  ASSERT_TRUE(w.WaitDurable(last).ok());
  ASSERT_TRUE(w.WaitWrittenAlong(third).ok());
  EXPECT_EQ(DataValue(db, "a"), "2");
  EXPECT_EQ(DataValue(db, "b"), "3");
  EXPECT_EQ(w.stats().along, 3u);
  EXPECT_EQ(w.stats().syncs, 1u);
}

// CPU time this process has used so far (every thread's).
std::chrono::microseconds ProcessCpu() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return std::chrono::seconds(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         std::chrono::microseconds(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

TEST(WalTest, AnIdleLogAfterWaitsForWritesAlongUsesNoCpu) {
  // Waits made while the syncer writes what they wait for, many times over: once it is written,
  // nothing is left to do, and the syncer must sleep (a first version spun on a stale "somebody
  // waits" flag: a shard at 100% CPU, its io thread starved, its clients timing out).
  TempDir dir;
  auto wal = OpenWal(dir.path());
  ASSERT_TRUE(wal.ok());
  Wal& w = *wal.value();
  for (int i = 0; i < 200; ++i) {
    const uint64_t ticket = w.WriteAlong(PutAlong(w.db(), "k", "v"));
    ASSERT_TRUE(AppendNext(w, {FullRecord()}).ok());  // wakes the syncer, which takes both
    // Waits made at different moments of the syncer's round (before it takes them, while it
    // writes and syncs them), since the fsync takes some 100 us or more.
    std::this_thread::sleep_for(std::chrono::microseconds(25 * (i % 8)));
    ASSERT_TRUE(w.WaitWrittenAlong(ticket).ok());
  }
  const auto before = ProcessCpu();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto used = ProcessCpu() - before;
  EXPECT_LT(used.count(), 100000) << "the process used " << used.count()
                                  << " us of CPU in 300 ms with nothing to do";
}

TEST(WalTest, WritesAlongQueuedAtCloseAreWritten) {
  TempDir dir;
  {
    auto wal = OpenWal(dir.path());
    ASSERT_TRUE(wal.ok());
    Db& db = wal.value()->db();
    for (int i = 0; i < 100; ++i) {
      wal.value()->WriteAlong(PutAlong(db, "k" + std::to_string(i), "v"));
    }
    ASSERT_TRUE(AppendNext(*wal.value(), {FullRecord()}).ok());  // synced at close, with them
  }
  auto db = Db::Open(dir.path());
  ASSERT_TRUE(db.ok());
  for (int i = 0; i < 100; ++i) EXPECT_EQ(DataValue(*db.value(), "k" + std::to_string(i)), "v") << i;
}

TEST(WalTest, AStreamOfLazyAppendsStillBecomesDurableSoon) {
  TempDir dir;
  auto wal = OpenWal(dir.path());
  ASSERT_TRUE(wal.ok());
  Wal& w = *wal.value();
  // Lazy appends closer together than kLazySyncDelay, for 100 times that long, and no urgent one:
  // the delay counts from the first unsynced append, so the syncer syncs about every
  // kLazySyncDelay (about 100 times; at least 10 on the slowest machine), not only once the
  // stream pauses (which it may do by chance a few times).
  const uint64_t first = AppendNext(w, {FullRecord()}, /*lazy=*/true).value();
  const auto end = std::chrono::steady_clock::now() + 100 * kLazySyncDelay;
  while (std::chrono::steady_clock::now() < end) {
    ASSERT_TRUE(AppendNext(w, {FullRecord()}, true).ok());
    std::this_thread::sleep_for(kLazySyncDelay / 4);
  }
  EXPECT_GE(w.durable_position(), first);
  EXPECT_GE(w.stats().syncs, 10u) << w.stats().lazy_writes << " lazy writes";
}

TEST(WalTest, ManualFlushModeIsDurableToo) {
  TempDir dir;
  {
    auto wal = OpenWal(dir.path(), {.sync_mode = DbOptions::SyncMode::kManualFlush});
    ASSERT_TRUE(wal.ok()) << wal.status().ToString();
    const uint64_t p = AppendNext(*wal.value(), {FullRecord()}).value();
    ASSERT_TRUE(wal.value()->WaitDurable(p).ok());
  }
  auto wal = OpenWal(dir.path());
  ASSERT_TRUE(wal.ok());
  EXPECT_EQ(ScanAll(*wal.value()).size(), 1u);
}

TEST(WalTest, ACorruptRecordStopsTheScanWithItsPosition) {
  TempDir dir;
  {
    auto wal = OpenWal(dir.path());
    ASSERT_TRUE(wal.ok());
    ASSERT_TRUE(wal.value()->WaitDurable(AppendNext(*wal.value(), {FullRecord(), FullRecord()}).value()).ok());
  }
  {
    // Overwrite record 2 with garbage through RocksDB itself.
    rocksdb::DB* db = nullptr;
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), dir.path(),
                                  {{rocksdb::kDefaultColumnFamilyName, {}}, {"log", {}}, {"data", {}}},
                                  &handles, &db).ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), handles[1], PositionKey(2), "\x01garbage").ok());
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
    delete db;
  }
  auto wal = OpenWal(dir.path());
  ASSERT_TRUE(wal.ok());
  int seen = 0;
  Status s = wal.value()->Scan(0, [&](uint64_t, const Record&) { return ++seen > 0; });
  EXPECT_EQ(seen, 1);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Status::Code::kCorruption);
  EXPECT_NE(s.message().find("position 2"), std::string::npos) << s.ToString();
}

// A bare RocksDB database in `path` whose format key says `format`.
void MakeDbOfFormat(const std::string& path, const std::string& format) {
  rocksdb::DB* db = nullptr;
  rocksdb::Options o;
  o.create_if_missing = true;
  ASSERT_TRUE(rocksdb::DB::Open(o, path, &db).ok());
  ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "txcoord.wal.format", format).ok());
  delete db;
}

TEST(WalTest, ALogOfAnotherFormatRefusesToOpen) {
  TempDir dir;
  MakeDbOfFormat(dir.path(), "1");
  auto wal = OpenWal(dir.path());
  ASSERT_FALSE(wal.ok());
  EXPECT_NE(wal.status().message().find("format 1"), std::string::npos) << wal.status().ToString();
}

// Format 3 only added a record type (COORD-ABORT): a format-2 log opens and is upgraded in place,
// so that a build that reads only format 2 refuses it by its version from then on.
TEST(WalTest, AFormatTwoLogIsUpgradedInPlace) {
  TempDir dir;
  MakeDbOfFormat(dir.path(), "2");
  {
    auto wal = OpenWal(dir.path());
    ASSERT_TRUE(wal.ok()) << wal.status().ToString();
  }
  rocksdb::DB* db = nullptr;
  rocksdb::Options o;
  std::vector<std::string> families;
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(o, dir.path(), &families).ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const std::string& f : families) descriptors.emplace_back(f, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  ASSERT_TRUE(rocksdb::DB::OpenForReadOnly(o, dir.path(), descriptors, &handles, &db).ok());
  std::string format;
  EXPECT_TRUE(db->Get(rocksdb::ReadOptions(), "txcoord.wal.format", &format).ok());
  EXPECT_EQ(format, "3");
  for (rocksdb::ColumnFamilyHandle* h : handles) db->DestroyColumnFamilyHandle(h);
  delete db;
}

}  // namespace
}  // namespace txcoord::wal
