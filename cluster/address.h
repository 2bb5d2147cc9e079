// A node's network address, as configs, the launcher and the client library write it: "host:port",
// an IPv6 host in brackets. One parser for all of them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace txcoord::cluster {

struct Address {
  std::string host;  // without brackets, also for IPv6
  uint16_t port = 0;
  std::string ToString() const;  // "host:port"; "[host]:port" when host contains a ':'
  bool operator==(const Address&) const = default;
};

// "host:port" -> Address; InvalidArgument naming what is wrong (no colon, empty host, port not
// 1..65535), e.g. "expected host:port, found '127.0.0.1:0' (port must be 1..65535)". The message
// names no field: callers prefix the field the text came from. A host containing ':' (IPv6) must
// be in brackets; whitespace anywhere is an error.
Result<Address> ParseAddress(std::string_view text);

}  // namespace txcoord::cluster
