#include "rpc/frame.h"

#include <cstring>

namespace txcoord::rpc {
namespace {

constexpr uint8_t kBinaryVersionByte0 = 0x80;  // the strict binary version is 0x8001
constexpr uint8_t kBinaryVersionByte1 = 0x01;
constexpr uint8_t kCompactProtocolId = 0x82;
constexpr uint8_t kCompactVersion = 1;

uint32_t ReadBigEndian32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | uint32_t{u[3]};
}

// Reads an unsigned LEB128 varint of at most 5 bytes at *pos; advances *pos.
bool ReadVarint32(std::string_view in, size_t* pos, uint32_t* value) {
  uint32_t result = 0;
  for (int shift = 0; shift < 35; shift += 7) {
    if (*pos >= in.size()) return false;
    const auto byte = static_cast<uint8_t>(in[(*pos)++]);
    result |= uint32_t{byte & 0x7fu} << shift;
    if ((byte & 0x80) == 0) {
      *value = result;
      return true;
    }
  }
  return false;
}

std::string EncodeVarint32(uint32_t value) {
  std::string out;
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
  return out;
}

bool ValidType(int type) { return type >= 1 && type <= 4; }

}  // namespace

void EncodeFrameLength(uint32_t length, char* out) {
  out[0] = static_cast<char>(length >> 24);
  out[1] = static_cast<char>(length >> 16);
  out[2] = static_cast<char>(length >> 8);
  out[3] = static_cast<char>(length);
}

uint32_t DecodeFrameLength(const char* in) { return ReadBigEndian32(in); }

Result<MessageHeader> ParseMessageHeader(std::string_view message) {
  MessageHeader header;
  if (message.size() < 2) return Status::Corruption("message shorter than a Thrift header");
  const auto b0 = static_cast<uint8_t>(message[0]);
  const auto b1 = static_cast<uint8_t>(message[1]);
  if (b0 == kBinaryVersionByte0) {
    if (b1 != kBinaryVersionByte1 || message.size() < 12) {
      return Status::Corruption("bad binary protocol version or truncated header");
    }
    const int type = static_cast<uint8_t>(message[3]);
    if (message[2] != 0 || !ValidType(type)) {
      return Status::Corruption("bad message type " + std::to_string(type));
    }
    const uint32_t name_bytes = ReadBigEndian32(message.data() + 4);
    if (name_bytes > message.size() - 12) {
      return Status::Corruption("method name length " + std::to_string(name_bytes) +
                                " exceeds the message");
    }
    header.protocol = WireProtocol::kBinary;
    header.type = static_cast<MessageType>(type);
    header.name = message.substr(8, name_bytes);
    header.seqid_offset = 8 + name_bytes;
    header.seqid_bytes = 4;
    header.seqid = static_cast<int32_t>(ReadBigEndian32(message.data() + header.seqid_offset));
    return header;
  }
  if (b0 == kCompactProtocolId) {
    const int type = b1 >> 5;
    if ((b1 & 0x1f) != kCompactVersion || !ValidType(type)) {
      return Status::Corruption("bad compact protocol version or message type");
    }
    size_t pos = 2;
    uint32_t seqid = 0;
    uint32_t name_bytes = 0;
    if (!ReadVarint32(message, &pos, &seqid)) return Status::Corruption("bad compact seqid");
    const size_t seqid_end = pos;
    if (!ReadVarint32(message, &pos, &name_bytes) || name_bytes > message.size() - pos) {
      return Status::Corruption("bad compact method name length");
    }
    header.protocol = WireProtocol::kCompact;
    header.type = static_cast<MessageType>(type);
    header.name = message.substr(pos, name_bytes);
    header.seqid = static_cast<int32_t>(seqid);
    header.seqid_offset = 2;
    header.seqid_bytes = seqid_end - 2;
    return header;
  }
  return Status::Corruption("not a Thrift message (first byte " + std::to_string(b0) + ")");
}

Status SetSeqid(std::string* message, int32_t seqid) {
  Result<MessageHeader> header = ParseMessageHeader(*message);
  if (!header.ok()) return header.status();
  const MessageHeader& h = header.value();
  if (h.protocol == WireProtocol::kBinary) {
    EncodeFrameLength(static_cast<uint32_t>(seqid), message->data() + h.seqid_offset);
  } else {
    message->replace(h.seqid_offset, h.seqid_bytes, EncodeVarint32(static_cast<uint32_t>(seqid)));
  }
  return Status::Ok();
}

}  // namespace txcoord::rpc
