// The shard map: which shard owns a key, and where each shard's primary listens. The coordinator
// serves it to clients (Coordinator.shard_map in idl/txcoord.thrift); the client library and
// txbench route by it. Two partitionings:
//   - hash:  shard = FNV-1a 64 of the key's bytes, modulo the number of shards. The function is
//            part of the wire contract (stock clients in any language may route by it), so it is
//            written here once and must never change for a given map version.
//   - range: N shards and N-1 strictly increasing split keys; shard i owns
//            [split[i-1], split[i]) in bytewise order (shard 0 from the empty key, the last
//            shard to the end).
// Shard ids are 0..N-1, in order. A map is checked by Validate() before use; every error names
// the field at fault.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/ids.h"
#include "common/status.h"

namespace txcoord::cluster {

enum class Partitioning : uint8_t { kHash = 1, kRange = 2 };

struct ShardEndpoint {
  ShardId id = 0;
  std::string host;
  uint16_t port = 0;
  bool operator==(const ShardEndpoint&) const = default;
};

struct ShardMap {
  uint64_t version = 1;
  Partitioning partitioning = Partitioning::kHash;
  std::vector<ShardEndpoint> shards;
  std::vector<std::string> split_keys;  // range only: shards.size() - 1 of them
  bool operator==(const ShardMap&) const = default;
};

// FNV-1a 64 of the key's bytes: the hash partitioning's function.
uint64_t KeyHash(std::string_view key);

// Checks a map: at least one shard; ids exactly 0..N-1 in order; a host and a port on each;
// for range, N-1 strictly increasing split keys; for hash, none. The error names the field,
// e.g. "shards[2].id: expected 2, found 5".
Status Validate(const ShardMap& map);

// The shard that owns key. REQUIRES: Validate(map).ok().
ShardId ShardFor(const ShardMap& map, std::string_view key);

// "hash" / "range", and back (InvalidArgument naming the value otherwise).
const char* ToString(Partitioning p);
Result<Partitioning> ParsePartitioning(std::string_view name);

}  // namespace txcoord::cluster
