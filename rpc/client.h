// rpc::Client: one connection to one server, carrying many calls at once (DESIGN.md section 7).
//
// Call() takes a Thrift message (as a generated client's send_X writes it; frame.h), gives it a
// fresh seqid (generated clients always write 0: TOOLCHAIN.md pitfall 8) and sends it framed.
// Replies are matched to calls by seqid, so they may come back in any order; the caller's own
// seqid is put back into the reply before it is handed over. Calls made together go out in one
// gather write.
//
// Every call has a deadline. Each call's callback runs exactly once, on an io_context thread:
//   - the reply message (REPLY or EXCEPTION), or
//   - Timeout: the deadline passed first (a reply arriving later is dropped), or
//   - Unavailable: the connection was lost or could not be made while the call was outstanding,
//     or the client is between reconnect attempts, or closed. The call may or may not have run
//     at the server: the caller decides what to do; the client never retries a call.
//   - InvalidArgument: the request is not a Thrift message or is larger than max_frame_bytes.
//
// Connection management: the client connects when constructed. Calls made while a connection
// attempt is in progress wait for it (and fail Unavailable if it fails). After a failed attempt or
// a lost connection the client waits reconnect_first_delay, then retries, doubling the delay up
// to reconnect_max_delay after each failure; a success resets the delay. Calls made during the
// wait fail Unavailable at once.
//
// Thread-safety: every public method may be called from any thread. Callbacks must not block and
// must not throw; they may call Call().
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "common/status.h"
#include "rpc/frame.h"

namespace txcoord::rpc {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

struct ClientOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  uint32_t max_frame_bytes = kDefaultMaxFrameBytes;  // for requests and replies
  std::chrono::milliseconds reconnect_first_delay{10};
  std::chrono::milliseconds reconnect_max_delay{1000};
};

// Receives a call's reply message (with the caller's seqid), or why there is none (see above).
using ReplyCallback = std::function<void(Result<std::string> reply)>;

class Client {
 public:
  // Starts connecting on `io`. `io` must outlive the Client and be run by some thread for
  // anything to happen.
  Client(boost::asio::io_context& io, ClientOptions options);
  // Close()s.
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends `request` (one Thrift CALL or ONEWAY message) and calls `done` once with the reply or a
  // failure (see above). A ONEWAY call's `done` gets an empty reply once it is queued for writing.
  void Call(std::string request, Deadline deadline, ReplyCallback done);

  // Closes the connection and stops reconnecting; outstanding calls fail Unavailable (their
  // callbacks run on an io_context thread, possibly after Close or ~Client returned). Later calls
  // fail Unavailable. Idempotent.
  void Close();

  struct Stats {
    uint64_t connects = 0;     // connections established
    uint64_t writes = 0;       // gather writes issued
    uint64_t frames_sent = 0;  // call frames written
  };
  Stats stats() const;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace txcoord::rpc
