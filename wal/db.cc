#include "wal/db.h"

#include <charconv>

#include <rocksdb/db.h>
#include <rocksdb/memtablerep.h>
#include <rocksdb/options.h>

#include "common/check.h"

namespace txcoord::wal {
namespace {

constexpr char kFormatKey[] = "txcoord.wal.format";
constexpr char kFormatValue[] = "3";
// Format 3 added the COORD-ABORT record: a format-2 log is a format-3 log without one, so it is
// upgraded in place at open (an older build then refuses it by its version, not by a record).
constexpr char kUpgradableFrom[] = "2";

}  // namespace

Status FromRocks(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return Status::Ok();
  if (s.IsCorruption()) return Status::Corruption(what + ": " + s.ToString());
  return Status::IoError(what + ": " + s.ToString());
}

Result<std::shared_ptr<Db>> Db::Open(const std::string& dir, DbOptions options) {
  std::shared_ptr<Db> db(new Db());
  db->options_ = options;
  db->dir_ = dir;
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.manual_wal_flush = options.sync_mode == DbOptions::SyncMode::kManualFlush;
  // Records are appended in position order and read back only by scans: an unsorted vector
  // memtable takes each in O(1), where the default skip list pays a cache-missing O(log n)
  // search per record (a sixth of a shard's CPU under load). It needs one memtable writer at a
  // time, which RocksDB's write queue gives us.
  rocksdb::ColumnFamilyOptions log_options;
  log_options.memtable_factory = std::make_shared<rocksdb::VectorRepFactory>();
  db_options.allow_concurrent_memtable_write = false;
  std::vector<rocksdb::ColumnFamilyDescriptor> families = {
      {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions()},
      {"log", log_options},
      {"data", rocksdb::ColumnFamilyOptions()},
  };
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  Status s = FromRocks(rocksdb::DB::Open(db_options, dir, families, &handles, &db->db_),
                       "opening the database in " + dir);
  if (!s.ok()) return s;
  db->meta_ = handles[0];
  db->log_ = handles[1];
  db->data_ = handles[2];

  // The format version: written when the log is new (or upgraded), checked on every open.
  std::string format;
  rocksdb::Status rs = db->db_->Get(rocksdb::ReadOptions(), db->meta_, kFormatKey, &format);
  if (!rs.ok() && !rs.IsNotFound()) return FromRocks(rs, "reading the log format");
  if (rs.ok() && format != kFormatValue && format != kUpgradableFrom) {
    return Status::Corruption("log in " + dir + " has format " + format + "; this build reads " +
                              kFormatValue + " (a migration is needed)");
  }
  if (rs.IsNotFound() || format == kUpgradableFrom) {
    rocksdb::WriteOptions sync;
    sync.sync = true;
    s = FromRocks(db->db_->Put(sync, db->meta_, kFormatKey, kFormatValue), "writing format");
    if (!s.ok()) return s;
    if (db_options.manual_wal_flush) {
      s = FromRocks(db->db_->FlushWAL(true), "syncing format");
      if (!s.ok()) return s;
    }
  }
  return db;
}

Db::~Db() {
  if (db_ == nullptr) return;
  for (auto* h : {meta_, log_, data_}) {
    if (h != nullptr) db_->DestroyColumnFamilyHandle(h);
  }
  db_->Close();
  delete db_;
}

Status Db::PutMeta(const std::string& key, const std::string& value) {
  TXC_CHECK_MSG(key.rfind("txcoord.wal.", 0) != 0, "reserved metadata key");
  rocksdb::WriteOptions sync;
  sync.sync = true;
  Status s = FromRocks(db_->Put(sync, meta_, key, value), "writing metadata " + key);
  if (s.ok() && options_.sync_mode == DbOptions::SyncMode::kManualFlush) {
    s = FromRocks(db_->FlushWAL(true), "syncing metadata " + key);
  }
  return s;
}

Result<uint64_t> ParseMetaNumber(std::string_view value, std::string_view key) {
  uint64_t out = 0;
  const char* end = value.data() + value.size();
  const auto [at, ec] = std::from_chars(value.data(), end, out);
  if (value.empty() || ec != std::errc() || at != end) {
    return Status::Corruption("metadata " + std::string(key) + ": '" + std::string(value) +
                              "' is not a decimal number");
  }
  return out;
}

Result<std::optional<uint64_t>> Db::GetMetaNumber(const std::string& key) const {
  Result<std::optional<std::string>> value = GetMeta(key);
  if (!value.ok()) return value.status();
  if (!value.value()) return std::optional<uint64_t>();
  Result<uint64_t> n = ParseMetaNumber(*value.value(), key);
  if (!n.ok()) return n.status();
  return std::optional<uint64_t>(n.value());
}

Result<std::optional<std::pair<uint64_t, uint64_t>>> Db::GetMetaPair(const std::string& key) const {
  Result<std::optional<std::string>> value = GetMeta(key);
  if (!value.ok()) return value.status();
  if (!value.value()) return std::optional<std::pair<uint64_t, uint64_t>>();
  const std::string& v = *value.value();
  const size_t colon = v.find(':');
  if (colon == std::string::npos) {
    return Status::Corruption("metadata " + key + ": '" + v + "' is not two numbers a:b");
  }
  Result<uint64_t> first = ParseMetaNumber(std::string_view(v).substr(0, colon), key);
  if (!first.ok()) return first.status();
  Result<uint64_t> second = ParseMetaNumber(std::string_view(v).substr(colon + 1), key);
  if (!second.ok()) return second.status();
  return std::optional<std::pair<uint64_t, uint64_t>>({first.value(), second.value()});
}

Result<std::optional<std::string>> Db::GetMeta(const std::string& key) const {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), meta_, key, &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocks(s, "reading metadata " + key);
  return std::optional<std::string>(std::move(value));
}

}  // namespace txcoord::wal
