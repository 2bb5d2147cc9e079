#include "participant/store.h"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include "common/check.h"
#include "wal/record_codec.h"

namespace txcoord::participant {

namespace {
constexpr char kAppliedKey[] = "shard.applied_position";

// A state transfer chunk:
//   "TXS1" | applied u64 | max_epoch u64 | truncated_max.epoch u64 | truncated_max.seq u64 |
//   count u32 | count x (key_len u32, key, value_len u32, value) | crc32c u32 of everything
//   before it
// integers little-endian. Only present keys are sent: a store that installs drops every key
// first.
constexpr char kChunkMagic[] = "TXS1";
constexpr size_t kChunkHeader = 4 + 8 + 8 + 8 + 8 + 4;

void PutU32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
void PutU64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
uint64_t GetLe(std::string_view in, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) {
    v |= static_cast<uint64_t>(static_cast<uint8_t>(in[at + static_cast<size_t>(i)])) << (8 * i);
  }
  return v;
}

struct ChunkView {
  Lsn applied = 0;
  ShardStore::Kept kept;
  std::vector<std::pair<std::string_view, std::string_view>> entries;
};

Status ParseChunk(std::string_view chunk, ChunkView* out) {
  if (chunk.size() < kChunkHeader + 4 || chunk.substr(0, 4) != kChunkMagic) {
    return Status::InvalidArgument("state chunk: too short or not a TXS1 chunk");
  }
  const std::string_view body = chunk.substr(0, chunk.size() - 4);
  if (wal::Crc32c(body) != GetLe(chunk, chunk.size() - 4, 4)) {
    return Status::InvalidArgument("state chunk: checksum mismatch");
  }
  out->applied = GetLe(body, 4, 8);
  out->kept.max_epoch = GetLe(body, 12, 8);
  out->kept.truncated_max.epoch = GetLe(body, 20, 8);
  out->kept.truncated_max.seq = GetLe(body, 28, 8);
  const uint64_t count = GetLe(body, 36, 4);
  size_t at = kChunkHeader;
  for (uint64_t i = 0; i < count; ++i) {
    std::string_view parts[2];
    for (std::string_view& part : parts) {
      if (body.size() - at < 4) return Status::InvalidArgument("state chunk: truncated entry");
      const uint64_t len = GetLe(body, at, 4);
      at += 4;
      if (body.size() - at < len) return Status::InvalidArgument("state chunk: truncated entry");
      part = body.substr(at, len);
      at += len;
    }
    if (out != nullptr) out->entries.emplace_back(parts[0], parts[1]);
  }
  if (at != body.size()) return Status::InvalidArgument("state chunk: bytes after its entries");
  return Status::Ok();
}

class RocksSnapshot : public ShardStore::Snapshot {
 public:
  RocksSnapshot(std::shared_ptr<wal::Db> db, ShardStore::Kept kept)
      : db_(std::move(db)), snapshot_(db_->rocks()->GetSnapshot()), kept_(kept) {
    rocksdb::ReadOptions ro;
    ro.snapshot = snapshot_;
    std::string applied;
    rocksdb::Status s = db_->rocks()->Get(ro, db_->meta(), kAppliedKey, &applied);
    TXC_CHECK_MSG(s.ok() || s.IsNotFound(), "the shard store cannot be read");
    if (s.ok()) {
      Result<uint64_t> n = wal::ParseMetaNumber(applied, kAppliedKey);
      TXC_CHECK_MSG(n.ok(), "the shard store's applied position does not parse");
      applied_ = n.value();
    }
    it_.reset(db_->rocks()->NewIterator(ro, db_->data()));
    it_->SeekToFirst();
  }
  ~RocksSnapshot() override {
    it_.reset();
    db_->rocks()->ReleaseSnapshot(snapshot_);
  }
  Lsn applied() const override { return applied_; }
  std::string Next(size_t max_bytes, bool* last) override {
    std::string out = kChunkMagic;
    PutU64(out, applied_);
    PutU64(out, kept_.max_epoch);
    PutU64(out, kept_.truncated_max.epoch);
    PutU64(out, kept_.truncated_max.seq);
    const size_t count_at = out.size();
    PutU32(out, 0);
    uint32_t count = 0;
    for (; it_->Valid() && (count == 0 || out.size() < max_bytes); it_->Next()) {
      const rocksdb::Slice k = it_->key();
      const rocksdb::Slice v = it_->value();
      PutU32(out, static_cast<uint32_t>(k.size()));
      out.append(k.data(), k.size());
      PutU32(out, static_cast<uint32_t>(v.size()));
      out.append(v.data(), v.size());
      ++count;
    }
    TXC_CHECK_MSG(it_->status().ok(), "the shard store cannot be read");
    for (int i = 0; i < 4; ++i) out[count_at + static_cast<size_t>(i)] = static_cast<char>((count >> (8 * i)) & 0xFF);
    PutU32(out, wal::Crc32c(out));
    *last = !it_->Valid();
    return out;
  }

 private:
  std::shared_ptr<wal::Db> db_;
  const rocksdb::Snapshot* snapshot_;
  ShardStore::Kept kept_;
  Lsn applied_ = 0;
  std::unique_ptr<rocksdb::Iterator> it_;
};

}  // namespace

void ShardStore::Flush() {
  const Status s = log_->WaitWrittenAlong(last_ticket_);
  TXC_CHECK_MSG(s.ok(), "the shard store cannot be written");
}

Result<std::unique_ptr<ShardStore>> ShardStore::Open(std::shared_ptr<wal::Db> db, wal::Wal* log) {
  TXC_CHECK(db != nullptr && log != nullptr && &log->db() == db.get());
  std::unique_ptr<ShardStore> store(new ShardStore(db, log));
  Result<std::optional<uint64_t>> applied = db->GetMetaNumber(kAppliedKey);
  if (!applied.ok()) return applied.status();
  store->applied_ = applied.value().value_or(0);
  return store;
}

void ShardStore::Cache(const std::string& key, const std::optional<std::string>& value) const {
  if (cache_.size() >= kCacheEntries) cache_.clear();
  cache_[key] = value;
}

std::optional<std::string> ShardStore::Get(const std::string& key) const {
  if (auto it = cache_.find(key); it != cache_.end()) return it->second;
  if (auto it = pending_.find(key); it != pending_.end()) {
    if (it->second.ticket > log_->written_along()) return it->second.value;
    pending_.erase(it);  // in RocksDB now
  }
  std::string value;
  rocksdb::Status s = db_->rocks()->Get(rocksdb::ReadOptions(), db_->data(), key, &value);
  std::optional<std::string> out;
  if (s.ok()) {
    out = std::move(value);
  } else {
    TXC_CHECK_MSG(s.IsNotFound(), "the shard store cannot be read");
  }
  Cache(key, out);
  return out;
}

void ShardStore::Apply(const std::vector<Record>& records, Lsn position) {
  if (position <= applied_) return;
  // Shared, read-only, by the syncer (which writes them) and this thread (which caches them).
  auto writes = std::make_shared<std::vector<Write>>();
  for (const Record& r : records) {
    if (r.lsn <= applied_ || r.type != RecordType::kCommitted) continue;
    writes->insert(writes->end(), r.writes.begin(), r.writes.end());
  }
  const uint64_t ticket = log_->WriteAlong(
      [db = db_.get(), writes, applied = std::to_string(position)](rocksdb::WriteBatch& wb) {
        for (const Write& w : *writes) {
          if (w.value) {
            wb.Put(db->data(), w.key, *w.value);
          } else {
            wb.Delete(db->data(), w.key);
          }
        }
        wb.Put(db->meta(), kAppliedKey, applied);
      });
  TXC_CHECK(ticket > last_ticket_);
  last_ticket_ = ticket;
  for (const Write& w : *writes) {
    Cache(w.key, w.value);
    pending_[w.key] = Pending{w.value, ticket};
  }
  applied_ = position;
  // Entries already written are dropped now and then, so pending_ stays about as large as
  // what is not written yet.
  if (pending_.size() > kPendingSweep) {
    const uint64_t written = log_->written_along();
    std::erase_if(pending_, [written](const auto& e) { return e.second.ticket <= written; });
  }
}

std::unique_ptr<ShardStore::Snapshot> ShardStore::TakeSnapshot(Kept kept) {
  Flush();
  return std::make_unique<RocksSnapshot>(db_, kept);
}

Status ShardStore::CheckChunk(std::string_view chunk) {
  ChunkView view;
  return ParseChunk(chunk, &view);
}

void ShardStore::BeginInstall() {
  Flush();
  cache_.clear();
  pending_.clear();
  rocksdb::WriteOptions wo;
  rocksdb::WriteBatch wb;
  std::unique_ptr<rocksdb::Iterator> it(db_->rocks()->NewIterator(rocksdb::ReadOptions(), db_->data()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    wb.Delete(db_->data(), it->key());
    if (wb.Count() >= 10000) {
      TXC_CHECK_MSG(db_->rocks()->Write(wo, &wb).ok(), "the shard store cannot be written");
      wb.Clear();
    }
  }
  TXC_CHECK_MSG(it->status().ok(), "the shard store cannot be read");
  wb.Put(db_->meta(), kAppliedKey, "0");
  wo.sync = true;
  TXC_CHECK_MSG(db_->rocks()->Write(wo, &wb).ok(), "the shard store cannot be written");
  applied_ = 0;
  installing_applied_ = 0;
  installing_kept_ = {};
}

void ShardStore::InstallChunk(std::string_view chunk) {
  ChunkView view;
  const Status parsed = ParseChunk(chunk, &view);
  TXC_CHECK_MSG(parsed.ok(), "a state chunk checked at the edge does not parse");
  rocksdb::WriteBatch wb;
  for (const auto& [key, value] : view.entries) {
    wb.Put(db_->data(), rocksdb::Slice(key.data(), key.size()),
           rocksdb::Slice(value.data(), value.size()));
  }
  TXC_CHECK_MSG(db_->rocks()->Write(rocksdb::WriteOptions(), &wb).ok(),
                "the shard store cannot be written");
  installing_applied_ = view.applied;
  installing_kept_ = view.kept;
}

ShardStore::Kept ShardStore::FinishInstall() {
  rocksdb::WriteBatch wb;
  wb.Put(db_->meta(), kAppliedKey, std::to_string(installing_applied_));
  rocksdb::WriteOptions wo;
  wo.sync = true;
  TXC_CHECK_MSG(db_->rocks()->Write(wo, &wb).ok(), "the shard store cannot be written");
  applied_ = installing_applied_;
  return installing_kept_;
}

}  // namespace txcoord::participant
