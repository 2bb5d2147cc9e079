// rpc::Server: Thrift framed transport on our own Boost.Asio connections (DESIGN.md section 7).
//
// The server accepts connections on host:port and reads frames from each. Every frame must carry a
// Thrift message of type CALL or ONEWAY (binary or compact protocol, frame.h); it is handed to the
// Handler with a reply callback. Many calls may be in flight on one connection: the next frame is
// read and dispatched while earlier calls are still unanswered, and replies go out in the order
// they are given, not the order of the calls (the client matches them by seqid). Replies that are
// ready together are written in one gather write.
//
// A frame whose length is negative or above max_frame_bytes, or whose payload is not a Thrift
// call, closes that connection only, with one line on stderr naming the peer and the reason; the
// server and its other connections keep serving.
//
// Threads: the caller owns the io_context and runs it on as many threads as it likes. Each
// connection is serialized on its own strand, so one connection's frames are dispatched in order
// on one thread at a time, while different connections run in parallel.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "common/status.h"
#include "rpc/frame.h"

namespace txcoord::rpc {

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;  // 0: an ephemeral port, see Server::port()
  uint32_t max_frame_bytes = kDefaultMaxFrameBytes;  // REQUIRES: <= INT32_MAX
};

// Answers one call. Call it exactly once, from any thread, at any time (also after the connection
// or the server is gone: the reply is then dropped). The value is the reply message (a Thrift
// REPLY or EXCEPTION message, without the frame length), or empty to send nothing (a ONEWAY
// call). A non-ok Status says the request could not be served at all (e.g. its arguments do not
// decode): the connection is closed and the status logged as the reason, as a stock Thrift
// server does.
using ReplyFn = std::function<void(Result<std::string> reply)>;

// Serves one call. `request` is the Thrift message (its header already checked: a CALL or ONEWAY
// in binary or compact protocol). Runs on the connection's strand (an io_context thread): it must
// not block; a call that needs to wait keeps `reply` and returns. Must not throw (an exception
// closes the connection).
using Handler = std::function<void(std::string request, ReplyFn reply)>;

class Server {
 public:
  // Binds, listens and starts accepting on `io`. Fails with Unavailable if the address cannot be
  // bound. `io` must outlive the Server and the connections it leaves behind (see Stop).
  static Result<std::unique_ptr<Server>> Start(boost::asio::io_context& io, ServerOptions options,
                                               Handler handler);
  // Stop()s.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The bound port (the ephemeral one when options.port was 0).
  uint16_t port() const { return port_; }

  // Closes the listening socket at once (the port can be bound again when this returns) and every
  // connection (on their strands, as the io_context runs them). When it returns, no handler is
  // running or will be called again; replies given later are dropped. Thread-safe, idempotent.
  // May be called from inside a handler.
  void Stop();

  struct Stats {
    uint64_t writes = 0;       // gather writes issued (each carries every reply ready then)
    uint64_t frames_sent = 0;  // reply frames written
  };
  // Thread-safe.
  Stats stats() const;

  struct State;  // internal: shared with the connections, which may outlive the Server

 private:
  Server(std::shared_ptr<State> state, uint16_t port) : state_(std::move(state)), port_(port) {}
  std::shared_ptr<State> state_;
  uint16_t port_;
};

}  // namespace txcoord::rpc
