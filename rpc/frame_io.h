// Internal to rpc/: the buffers a connection reads frames from and writes frames with, shared by
// Server and Client. Not thread-safe: each object belongs to one connection's strand.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/buffer.hpp>

#include "rpc/frame.h"

namespace txcoord::rpc::internal {

// Splits a byte stream into frames. Reads land in one growing buffer, so one read syscall can
// deliver many frames (pipelined calls) and they are parsed without further syscalls.
class FrameReader {
 public:
  explicit FrameReader(uint32_t max_frame_bytes) : max_frame_bytes_(max_frame_bytes) {}

  // Free space to read into; at least enough for the frame being assembled.
  boost::asio::mutable_buffer Prepare();
  // Forgets everything buffered (a new connection).
  void Reset() {
    begin_ = end_ = need_ = 0;
  }
  // Records that `n` bytes were read into the space Prepare() returned.
  void Commit(size_t n) { end_ += n; }

  enum class Next { kMessage, kNeedMore, kOversized };
  // kMessage: *message is the next frame's payload. kNeedMore: no complete frame buffered.
  // kOversized: the next frame declares a length above the maximum (or negative as an i32);
  // *declared_length is it. The stream cannot be resynchronized after that.
  Next Pop(std::string* message, uint32_t* declared_length);

 private:
  static constexpr size_t kMinReadBytes = 64 * 1024;
  uint32_t max_frame_bytes_;
  std::vector<char> buffer_;
  size_t begin_ = 0;  // first unconsumed byte
  size_t end_ = 0;    // one past the last byte read
  size_t need_ = 0;   // bytes the frame at begin_ needs in total (0: unknown yet)
};

// One frame queued for writing: its 4-byte length and the payload, sent as two gather buffers.
struct OutFrame {
  explicit OutFrame(std::string payload_in) : payload(std::move(payload_in)) {
    EncodeFrameLength(static_cast<uint32_t>(payload.size()), length);
  }
  char length[kFrameHeaderBytes];
  std::string payload;
};

// Appends the gather buffers of `frames` to *buffers. The frames must stay put while in use.
void AppendBuffers(const std::vector<OutFrame>& frames,
                   std::vector<boost::asio::const_buffer>* buffers);

// One line to stderr: "rpc <role>: closing connection <peer>: <reason>".
void LogConnectionClosed(std::string_view role, const std::string& peer, std::string_view reason);

}  // namespace txcoord::rpc::internal
