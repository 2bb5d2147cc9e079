// The on-disk encoding of a log record (see FORMAT.md in this folder): a version byte, a CRC32C
// of the payload, then the payload. Decoding checks both: a torn or flipped record is a
// Corruption, a record of an unknown version is an error that names the version, never a guess.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/protocol.h"
#include "common/status.h"

namespace txcoord::wal {

// Version 2 adds log_epoch; version 1 records (written before replica groups) still decode, with
// log_epoch 0.
inline constexpr uint8_t kRecordFormatVersion = 2;
inline constexpr uint8_t kOldestRecordFormatVersion = 1;

// CRC32C (Castagnoli), the checksum LevelDB and RocksDB use.
uint32_t Crc32c(std::string_view data);

// Encodes every field of r except lsn, which is the record's position (the key it is stored under).
std::string EncodeRecord(const Record& r);
Result<Record> DecodeRecord(std::string_view bytes);

// Log keys: the record's position as 8 big-endian bytes, so that RocksDB's order is log order.
std::string PositionKey(uint64_t position);
uint64_t DecodePositionKey(std::string_view key);

}  // namespace txcoord::wal
