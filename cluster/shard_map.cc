#include "cluster/shard_map.h"

#include <algorithm>

#include "common/check.h"

namespace txcoord::cluster {

uint64_t KeyHash(std::string_view key) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (char c : key) {
    h ^= static_cast<uint8_t>(c);
    h *= 0x100000001b3ull;
  }
  return h;
}

Status Validate(const ShardMap& map) {
  if (map.shards.empty()) return Status::InvalidArgument("shards: at least one shard is needed");
  for (size_t i = 0; i < map.shards.size(); ++i) {
    const ShardEndpoint& s = map.shards[i];
    const std::string field = "shards[" + std::to_string(i) + "]";
    if (s.id != static_cast<ShardId>(i)) {
      return Status::InvalidArgument(field + ".id: expected " + std::to_string(i) + ", found " +
                                     std::to_string(s.id) + " (ids are 0..N-1 in order)");
    }
    if (s.host.empty()) return Status::InvalidArgument(field + ".host: empty");
    if (s.port == 0) return Status::InvalidArgument(field + ".port: expected 1..65535, found 0");
  }
  switch (map.partitioning) {
    case Partitioning::kHash:
      if (!map.split_keys.empty()) {
        return Status::InvalidArgument("split_keys: hash partitioning takes none, found " +
                                       std::to_string(map.split_keys.size()));
      }
      return Status::Ok();
    case Partitioning::kRange:
      if (map.split_keys.size() + 1 != map.shards.size()) {
        return Status::InvalidArgument(
            "split_keys: range partitioning over " + std::to_string(map.shards.size()) +
            " shards needs " + std::to_string(map.shards.size() - 1) + ", found " +
            std::to_string(map.split_keys.size()));
      }
      for (size_t i = 0; i < map.split_keys.size(); ++i) {
        if (map.split_keys[i].empty()) {
          return Status::InvalidArgument("split_keys[" + std::to_string(i) +
                                         "]: empty (shard 0 already starts at the empty key)");
        }
        if (i > 0 && !(map.split_keys[i - 1] < map.split_keys[i])) {
          return Status::InvalidArgument("split_keys[" + std::to_string(i) +
                                         "]: not greater than split_keys[" +
                                         std::to_string(i - 1) + "]");
        }
      }
      return Status::Ok();
  }
  return Status::InvalidArgument("partitioning: unknown value");
}

ShardId ShardFor(const ShardMap& map, std::string_view key) {
  TXC_CHECK(!map.shards.empty());
  if (map.partitioning == Partitioning::kHash) {
    return static_cast<ShardId>(KeyHash(key) % map.shards.size());
  }
  // The first split key greater than key bounds key's shard from above.
  const auto it = std::upper_bound(map.split_keys.begin(), map.split_keys.end(), key,
                                   [](std::string_view k, const std::string& split) {
                                     return k < std::string_view(split);
                                   });
  return static_cast<ShardId>(it - map.split_keys.begin());
}

const char* ToString(Partitioning p) { return p == Partitioning::kRange ? "range" : "hash"; }

Result<Partitioning> ParsePartitioning(std::string_view name) {
  if (name == "hash") return Partitioning::kHash;
  if (name == "range") return Partitioning::kRange;
  return Status::InvalidArgument("partitioning: expected \"hash\" or \"range\", found \"" +
                                 std::string(name) + "\"");
}

}  // namespace txcoord::cluster
