#include "rpc/frame_io.h"

#include <cstdio>
#include <cstring>

namespace txcoord::rpc::internal {

boost::asio::mutable_buffer FrameReader::Prepare() {
  constexpr size_t kMinFreeBytes = kMinReadBytes / 4;
  if (begin_ == end_) {
    begin_ = end_ = 0;
  } else if (begin_ > 0 &&
             (buffer_.size() - end_ < kMinFreeBytes || begin_ + need_ > buffer_.size())) {
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (buffer_.size() - end_ < kMinFreeBytes) buffer_.resize(end_ + kMinReadBytes);
  if (begin_ + need_ > buffer_.size()) buffer_.resize(begin_ + need_);
  return boost::asio::buffer(buffer_.data() + end_, buffer_.size() - end_);
}

FrameReader::Next FrameReader::Pop(std::string* message, uint32_t* declared_length) {
  const size_t available = end_ - begin_;
  if (available < kFrameHeaderBytes) return Next::kNeedMore;
  const uint32_t length = DecodeFrameLength(buffer_.data() + begin_);
  if (length > max_frame_bytes_) {
    *declared_length = length;
    return Next::kOversized;
  }
  const size_t total = kFrameHeaderBytes + length;
  if (available < total) {
    need_ = total;
    return Next::kNeedMore;
  }
  message->assign(buffer_.data() + begin_ + kFrameHeaderBytes, length);
  begin_ += total;
  need_ = 0;
  return Next::kMessage;
}

void AppendBuffers(const std::vector<OutFrame>& frames,
                   std::vector<boost::asio::const_buffer>* buffers) {
  for (const OutFrame& frame : frames) {
    buffers->emplace_back(frame.length, kFrameHeaderBytes);
    buffers->emplace_back(frame.payload.data(), frame.payload.size());
  }
}

void LogConnectionClosed(std::string_view role, const std::string& peer, std::string_view reason) {
  std::fprintf(stderr, "rpc %.*s: closing connection %s: %.*s\n", static_cast<int>(role.size()),
               role.data(), peer.c_str(), static_cast<int>(reason.size()), reason.data());
}

}  // namespace txcoord::rpc::internal
