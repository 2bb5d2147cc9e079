#include "wal/record_codec.h"

#include <array>

namespace txcoord::wal {
namespace {

std::array<uint32_t, 256> MakeCrcTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    table[i] = c;
  }
  return table;
}

void PutVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
void PutString(std::string& out, std::string_view s) {
  PutVarint(out, s.size());
  out.append(s);
}
uint64_t ZigZag(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }
int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

// A bounds-checked reader: every Get fails (and stays failed) instead of reading past the end.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool Varint(uint64_t* v) {
    uint64_t result = 0;
    for (int shift = 0; shift <= 63 && ok_; shift += 7) {
      if (in_.empty()) break;
      const auto byte = static_cast<uint8_t>(in_.front());
      in_.remove_prefix(1);
      result |= static_cast<uint64_t>(byte & 0x7F) << shift;
      if ((byte & 0x80) == 0) {
        *v = result;
        return true;
      }
    }
    ok_ = false;
    return false;
  }
  bool Byte(uint8_t* b) {
    if (!ok_ || in_.empty()) return ok_ = false;
    *b = static_cast<uint8_t>(in_.front());
    in_.remove_prefix(1);
    return true;
  }
  bool String(std::string* s) {
    uint64_t n = 0;
    if (!Varint(&n) || n > in_.size()) return ok_ = false;
    s->assign(in_.substr(0, n));
    in_.remove_prefix(n);
    return true;
  }
  // A count of items each at least one byte long: never more than the bytes left.
  bool Count(uint64_t* n) { return Varint(n) && (*n <= in_.size() || (ok_ = false)); }
  bool done() const { return ok_ && in_.empty(); }
  bool ok() const { return ok_; }

 private:
  std::string_view in_;
  bool ok_ = true;
};

bool ValidType(uint8_t t) {
  return (t >= static_cast<uint8_t>(RecordType::kCoordPreCommit) &&
          t <= static_cast<uint8_t>(RecordType::kCoordAbort)) ||
         (t >= static_cast<uint8_t>(RecordType::kPrepared) &&
          t <= static_cast<uint8_t>(RecordType::kEpochSeen)) ||
         t == static_cast<uint8_t>(RecordType::kEpochStart);
}

}  // namespace

uint32_t Crc32c(std::string_view data) {
  static const std::array<uint32_t, 256> kTable = MakeCrcTable();
  uint32_t crc = 0xFFFFFFFFu;
  for (char ch : data) crc = kTable[(crc ^ static_cast<uint8_t>(ch)) & 0xFF] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

std::string EncodeRecord(const Record& r) {
  std::string payload;
  payload.push_back(static_cast<char>(r.type));
  PutVarint(payload, r.txn.epoch);
  PutVarint(payload, r.txn.seq);
  PutVarint(payload, r.epoch);
  payload.push_back(static_cast<char>(r.protocol));
  PutVarint(payload, r.ballot);
  PutVarint(payload, r.participants.size());
  for (ShardId s : r.participants) PutVarint(payload, ZigZag(s));
  PutVarint(payload, r.writes.size());
  for (const Write& w : r.writes) {
    PutString(payload, w.key);
    payload.push_back(w.value ? 1 : 0);
    if (w.value) PutString(payload, *w.value);
  }
  PutVarint(payload, r.read_keys.size());
  for (const std::string& k : r.read_keys) PutString(payload, k);
  PutVarint(payload, r.reads.size());
  for (const OpResult& o : r.reads) {
    PutString(payload, o.key);
    payload.push_back(o.found ? 1 : 0);
    PutString(payload, o.value);
  }
  PutVarint(payload, r.log_epoch);  // version 2
  std::string out;
  out.reserve(5 + payload.size());
  out.push_back(static_cast<char>(kRecordFormatVersion));
  const uint32_t crc = Crc32c(payload);
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((crc >> (8 * i)) & 0xFF));
  out.append(payload);
  return out;
}

Result<Record> DecodeRecord(std::string_view bytes) {
  if (bytes.size() < 5) return Status::Corruption("log record shorter than its header");
  const auto version = static_cast<uint8_t>(bytes[0]);
  if (version < kOldestRecordFormatVersion || version > kRecordFormatVersion) {
    return Status::Corruption("log record format version " + std::to_string(version) +
                              " is not supported (this build reads versions " +
                              std::to_string(kOldestRecordFormatVersion) + " to " +
                              std::to_string(kRecordFormatVersion) + ")");
  }
  uint32_t crc = 0;
  for (int i = 0; i < 4; ++i) crc |= static_cast<uint32_t>(static_cast<uint8_t>(bytes[1 + i])) << (8 * i);
  const std::string_view payload = bytes.substr(5);
  if (Crc32c(payload) != crc) return Status::Corruption("log record checksum mismatch");

  Reader in(payload);
  Record r;
  uint8_t type = 0, protocol = 0, flag = 0;
  uint64_t n = 0, v = 0;
  in.Byte(&type);
  in.Varint(&r.txn.epoch);
  in.Varint(&r.txn.seq);
  in.Varint(&r.epoch);
  in.Byte(&protocol);
  in.Varint(&r.ballot);
  if (!in.ok() || !ValidType(type) || (protocol != 1 && protocol != 2)) {
    return Status::Corruption("log record header is malformed");
  }
  r.type = static_cast<RecordType>(type);
  r.protocol = static_cast<Protocol>(protocol);
  for (in.Count(&n); in.ok() && n > 0; --n) {
    if (in.Varint(&v)) r.participants.push_back(static_cast<ShardId>(UnZigZag(v)));
  }
  for (in.Count(&n); in.ok() && n > 0; --n) {
    Write w;
    in.String(&w.key);
    if (in.Byte(&flag) && flag) {
      w.value.emplace();
      in.String(&*w.value);
    }
    r.writes.push_back(std::move(w));
  }
  for (in.Count(&n); in.ok() && n > 0; --n) {
    std::string k;
    if (in.String(&k)) r.read_keys.push_back(std::move(k));
  }
  for (in.Count(&n); in.ok() && n > 0; --n) {
    OpResult o;
    in.String(&o.key);
    if (in.Byte(&flag)) o.found = flag != 0;
    in.String(&o.value);
    r.reads.push_back(std::move(o));
  }
  if (version >= 2) in.Varint(&r.log_epoch);  // version 1 was written before replica groups: 0
  if (!in.done()) return Status::Corruption("log record payload is malformed");
  return r;
}

std::string PositionKey(uint64_t position) {
  std::string k(8, '\0');
  for (int i = 0; i < 8; ++i) k[static_cast<size_t>(i)] = static_cast<char>((position >> (56 - 8 * i)) & 0xFF);
  return k;
}

uint64_t DecodePositionKey(std::string_view key) {
  uint64_t p = 0;
  for (size_t i = 0; i < 8 && i < key.size(); ++i) p = (p << 8) | static_cast<uint8_t>(key[i]);
  return p;
}

}  // namespace txcoord::wal
