// What this proves about rpc::Server and rpc::Client over real loopback sockets (127.0.0.1):
//  - One connection carries many calls at once: 200 status() calls are sent on one Client, the
//    server holds every one (the handler returns without answering and without blocking a
//    thread), then answers them all in reverse order from the test thread; each caller receives
//    the reply to its own call (the echoed txn id), so the seqids the client assigns route
//    replies correctly although the generated encoder wrote seqid 0 into every call.
//  - A call whose reply does not come by its deadline fails with Timeout near the deadline; the
//    late reply is dropped and the same connection keeps serving later calls.
//  - When the server stops, a call in flight fails Unavailable (no retry); after a server
//    restarts on the same port, the client reconnects by itself and later calls succeed.
//  - A malformed frame (not a Thrift message, a REPLY sent as a call, an oversized or negative
//    length) closes only the connection that sent it, with one stderr line naming the peer and
//    the reason; a connection opened before keeps working and the server accepts new ones.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "Coordinator.h"
#include "rpc/client.h"
#include "rpc/frame.h"
#include "rpc/server.h"
#include "rpc/thrift_call.h"
#include "rpc/thrift_service.h"
#include "tests/integration/rpc_test_util.h"

namespace txcoord::rpc {
namespace {

using namespace std::chrono_literals;
using testing::HoldingCoordinator;
using testing::IoThreads;
using testing::MakeTxnId;
using thrift::CoordinatorClient;
using thrift::TxnStatus;

constexpr auto kLongDeadline = 10s;

class RpcTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(0); }

  void StartServer(uint16_t port) {
    ServerOptions options;
    options.port = port;
    options.max_frame_bytes = 1 << 20;
    Result<std::unique_ptr<Server>> server = Server::Start(
        io_.io(), options,
        MakeThriftHandler(std::make_shared<thrift::CoordinatorAsyncProcessor>(coordinator_)));
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server.value());
  }

  ClientOptions ClientTo(uint16_t port) {
    ClientOptions options;
    options.port = port;
    options.reconnect_first_delay = 5ms;
    options.reconnect_max_delay = 50ms;
    return options;
  }

  // Calls status(txn) and returns the future result.
  std::future<Result<TxnStatus>> Status(Client& client, int64_t seq,
                                        Deadline deadline = Clock::now() + kLongDeadline) {
    auto promise = std::make_shared<std::promise<Result<TxnStatus>>>();
    std::future<Result<TxnStatus>> future = promise->get_future();
    CallMethod<CoordinatorClient>(
        client, deadline, [seq](CoordinatorClient& c) { c.send_status(MakeTxnId(1, seq)); },
        [](CoordinatorClient& c) {
          TxnStatus status;
          c.recv_status(status);
          return status;
        },
        [promise](Result<TxnStatus> result) { promise->set_value(std::move(result)); });
    return future;
  }

  // A status call that the test thread answers as soon as the server holds it.
  Result<TxnStatus> AnsweredStatus(Client& client, int64_t seq,
                                   Deadline deadline = Clock::now() + kLongDeadline) {
    std::future<Result<TxnStatus>> future = Status(client, seq, deadline);
    for (int waited_ms = 0; future.wait_for(1ms) != std::future_status::ready; ++waited_ms) {
      if (coordinator_->WaitHeld(1, 0ms)) coordinator_->AnswerHeldReversed();
      if (waited_ms > 20000) return txcoord::Status::Aborted("test: no callback within 20 s");
    }
    return future.get();
  }

  IoThreads io_{2};
  std::shared_ptr<HoldingCoordinator> coordinator_ = std::make_shared<HoldingCoordinator>();
  std::unique_ptr<Server> server_;
};

TEST_F(RpcTest, ManyCallsOnOneConnectionAnsweredOutOfOrderReachTheirCallers) {
  Client client(io_.io(), ClientTo(server_->port()));
  constexpr int kCalls = 200;
  std::vector<std::future<Result<TxnStatus>>> futures;
  for (int i = 0; i < kCalls; ++i) futures.push_back(Status(client, 1000 + i));
  ASSERT_TRUE(coordinator_->WaitHeld(kCalls)) << "the server did not receive every call at once";
  coordinator_->AnswerHeldReversed();
  for (int i = 0; i < kCalls; ++i) {
    ASSERT_EQ(futures[i].wait_for(20s), std::future_status::ready) << "no callback for call " << i;
    Result<TxnStatus> result = futures[i].get();
    ASSERT_TRUE(result.ok()) << result.status().ToString();
    EXPECT_EQ(result.value().txn.seq, 1000 + i);
    EXPECT_EQ(result.value().detail, "seq " + std::to_string(1000 + i));
  }
  const Client::Stats stats = client.stats();
  EXPECT_EQ(stats.connects, 1u);
  EXPECT_EQ(stats.frames_sent, static_cast<uint64_t>(kCalls));
  EXPECT_LT(stats.writes, stats.frames_sent) << "calls made together should share writes";
}

TEST_F(RpcTest, DeadlineExpiresThenLateReplyIsDroppedAndConnectionKeepsServing) {
  Client client(io_.io(), ClientTo(server_->port()));
  const auto start = Clock::now();
  std::future<Result<TxnStatus>> late = Status(client, 7, start + 100ms);
  ASSERT_EQ(late.wait_for(5s), std::future_status::ready) << "the deadline did not fire";
  Result<TxnStatus> result = late.get();
  const auto elapsed = Clock::now() - start;
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), txcoord::Status::Code::kTimeout) << result.status().ToString();
  EXPECT_GE(elapsed, 100ms);
  EXPECT_LT(elapsed, 2s);
  // The server answers the expired call now; the client drops that reply.
  ASSERT_TRUE(coordinator_->WaitHeld(1));
  coordinator_->AnswerHeldReversed();
  Result<TxnStatus> next = AnsweredStatus(client, 8);
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_EQ(next.value().txn.seq, 8);
  EXPECT_EQ(client.stats().connects, 1u);
}

TEST_F(RpcTest, ServerRestartFailsCallsInFlightThenClientReconnects) {
  const uint16_t port = server_->port();
  Client client(io_.io(), ClientTo(port));
  ASSERT_TRUE(AnsweredStatus(client, 1).ok());

  std::future<Result<TxnStatus>> in_flight = Status(client, 2);
  ASSERT_TRUE(coordinator_->WaitHeld(1));
  server_->Stop();
  server_.reset();
  ASSERT_EQ(in_flight.wait_for(5s), std::future_status::ready) << "in-flight call not failed";
  Result<TxnStatus> failed = in_flight.get();
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), txcoord::Status::Code::kUnavailable)
      << failed.status().ToString();
  // Failed because its connection was lost, not by a later failed reconnect attempt.
  EXPECT_NE(failed.status().message().find("lost"), std::string::npos) << failed.status().ToString();
  coordinator_->AnswerHeldReversed();  // too late: the connection is gone; dropped

  StartServer(port);
  bool succeeded = false;
  for (int attempt = 0; attempt < 200 && !succeeded; ++attempt) {
    Result<TxnStatus> result = AnsweredStatus(client, 3, Clock::now() + 1s);
    if (result.ok()) {
      EXPECT_EQ(result.value().txn.seq, 3);
      succeeded = true;
    } else {
      EXPECT_EQ(result.status().code(), txcoord::Status::Code::kUnavailable)
          << result.status().ToString();
      std::this_thread::sleep_for(5ms);
    }
  }
  EXPECT_TRUE(succeeded) << "no call succeeded after the server restarted";
  EXPECT_EQ(client.stats().connects, 2u);
}

// Sends `bytes` on a fresh raw connection and returns true if the server closes it (EOF or
// reset) within 5 seconds.
bool ServerClosesAfterSending(uint16_t port, const std::string& bytes) {
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket socket(io);
  boost::system::error_code ec;
  socket.connect({boost::asio::ip::make_address("127.0.0.1"), port}, ec);
  if (ec) return false;
  boost::asio::write(socket, boost::asio::buffer(bytes), ec);
  if (ec) return false;
  // Plain poll + recv: Asio's blocking read would wait forever for a server that never closes.
  pollfd fd{socket.native_handle(), POLLIN, 0};
  if (::poll(&fd, 1, 5000) != 1) return false;
  char byte;
  const ssize_t n = ::recv(socket.native_handle(), &byte, 1, 0);
  return n == 0 || (n < 0 && errno == ECONNRESET);
}

std::string Frame(const std::string& payload, uint32_t declared_length) {
  std::string frame(kFrameHeaderBytes, '\0');
  EncodeFrameLength(declared_length, frame.data());
  return frame + payload;
}

TEST_F(RpcTest, BadFramesCloseOnlyTheirConnection) {
  Client client(io_.io(), ClientTo(server_->port()));
  ASSERT_TRUE(AnsweredStatus(client, 1).ok());

  Result<std::string> call = EncodeCall<CoordinatorClient>(
      [](CoordinatorClient& c) { c.send_status(MakeTxnId(1, 1)); });
  ASSERT_TRUE(call.ok());
  std::string reply_type = call.value();
  reply_type[3] = static_cast<char>(MessageType::kReply);
  const std::string garbage = "this is not a thrift message";

  struct Case {
    const char* name;
    std::string bytes;
    const char* logged;
  };
  const std::vector<Case> cases = {
      {"garbage", Frame(garbage, garbage.size()), "not a Thrift message"},
      {"reply as call", Frame(reply_type, reply_type.size()), "is not a call"},
      {"empty frame", Frame("", 0), "bad frame"},
      {"oversized", Frame("", (1u << 20) + 1), "exceeds the maximum 1048576"},
      {"negative", Frame("", 0xfffffff0u), "is negative"},
  };
  for (const Case& c : cases) {
    ::testing::internal::CaptureStderr();
    EXPECT_TRUE(ServerClosesAfterSending(server_->port(), c.bytes)) << c.name;
    const std::string logged = ::testing::internal::GetCapturedStderr();
    EXPECT_NE(logged.find("rpc server: closing connection 127.0.0.1:"), std::string::npos)
        << c.name << ": " << logged;
    EXPECT_NE(logged.find(c.logged), std::string::npos) << c.name << ": " << logged;
    // The connection opened before keeps working; the server still accepts new ones.
    Result<TxnStatus> after = AnsweredStatus(client, 2);
    ASSERT_TRUE(after.ok()) << c.name << ": " << after.status().ToString();
    Client fresh(io_.io(), ClientTo(server_->port()));
    ASSERT_TRUE(AnsweredStatus(fresh, 3).ok()) << c.name;
  }
  EXPECT_EQ(client.stats().connects, 1u);
}

}  // namespace
}  // namespace txcoord::rpc
