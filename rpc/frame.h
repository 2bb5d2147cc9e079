// The Thrift framed transport's frames and the message header inside them (DESIGN.md section 7).
//
// A frame on the wire is a 4-byte big-endian payload length followed by the payload; the payload
// is one Thrift message. Everywhere in rpc/, a "message" is such a payload without its length:
// the bytes a generated client's send_X writes into a TMemoryBuffer, and what recv_X reads.
//
// A message starts with a header that names the call and carries its sequence id:
//   binary (strict):  i32 0x8001_0000 | type, i32 name length, name bytes, i32 seqid  (big-endian)
//   compact:          u8 0x82, u8 (type << 5) | 1, varint seqid, varint name length, name bytes
// The rest (the arguments or the result struct) is opaque here. Pure functions, thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace txcoord::rpc {

// The default cap on a frame's payload length; ServerOptions / ClientOptions can change it.
inline constexpr uint32_t kDefaultMaxFrameBytes = 16u << 20;  // 16 MiB
inline constexpr size_t kFrameHeaderBytes = 4;

enum class WireProtocol { kBinary, kCompact };

// Thrift's TMessageType values.
enum class MessageType : int8_t { kCall = 1, kReply = 2, kException = 3, kOneway = 4 };

struct MessageHeader {
  WireProtocol protocol = WireProtocol::kBinary;
  MessageType type = MessageType::kCall;
  std::string_view name;     // points into the parsed message
  int32_t seqid = 0;
  size_t seqid_offset = 0;   // where the seqid's encoding starts in the message
  size_t seqid_bytes = 0;    // its length: 4 (binary) or 1..5 (compact varint)
};

// Writes `length` big-endian into out[0..3].
void EncodeFrameLength(uint32_t length, char* out);
// Reads a big-endian length from in[0..3].
uint32_t DecodeFrameLength(const char* in);

// Parses the header of one message. Corruption if it is not a Thrift message: too short, an
// unknown protocol id or version, a message type outside 1..4, a name longer than the message.
// The non-strict (versionless) binary encoding is not accepted.
Result<MessageHeader> ParseMessageHeader(std::string_view message);

// Replaces the seqid of `*message` with `seqid` (re-encoding the varint for compact, which may
// change the message's length). Corruption if *message does not parse.
Status SetSeqid(std::string* message, int32_t seqid);

}  // namespace txcoord::rpc
