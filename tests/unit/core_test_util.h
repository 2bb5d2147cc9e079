// Helpers shared by the core step tests: picking messages out of a Ready.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "common/protocol.h"

namespace txcoord::testing_util {

inline std::vector<Message> OfType(const std::vector<Message>& ms, MsgType type) {
  std::vector<Message> out;
  for (const Message& m : ms) {
    if (m.type == type) out.push_back(m);
  }
  return out;
}

// The shards the messages of `type` go to, sorted.
inline std::vector<ShardId> Targets(const std::vector<Message>& ms, MsgType type) {
  std::vector<ShardId> out;
  for (const Message& m : ms) {
    if (m.type == type) {
      EXPECT_EQ(m.to.kind, NodeRef::Kind::kShard);
      out.push_back(m.to.shard);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace txcoord::testing_util
