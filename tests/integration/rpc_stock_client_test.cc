// Proves that stock Thrift clients work against rpc::Server (DESIGN.md section 7): the C++
// library's own client stack -- TSocket + TFramedTransport + TBinaryProtocol (and, once, the
// compact protocol) + the generated synchronous CoordinatorClient -- runs on a separate
// std::thread and calls our server, which serves a cob-style Coordinator implementation through
// MakeThriftHandler. The implementation answers some calls inline and others later from another
// thread. The stock client gets the right values, a void method returns, and commit's declared
// exception TxnError arrives with outcome UNKNOWN; our own Client, through CallMethod, receives
// the same TxnError passed through as a value.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <variant>
#include <vector>
#include <mutex>

#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/protocol/TCompactProtocol.h>
#include <thrift/transport/TBufferTransports.h>
#include <thrift/transport/TSocket.h>

#include "Coordinator.h"
#include "rpc/client.h"
#include "rpc/server.h"
#include "rpc/thrift_call.h"
#include "rpc/thrift_service.h"
#include "tests/integration/rpc_test_util.h"

namespace txcoord::rpc {
namespace {

using namespace std::chrono_literals;
using apache::thrift::TDelayedException;
using testing::IoThreads;
using testing::MakeTxnId;
using thrift::CommitResult;
using thrift::CoordinatorClient;
using thrift::Outcome;
using thrift::TxnError;
using thrift::TxnId;
using thrift::TxnStatus;

// begin_txn answers inline; status answers later from another thread; commit of txn.seq 13 throws
// TxnError(UNKNOWN), also from another thread; write accepts.
class TestCoordinator : public thrift::CoordinatorCobSvNull {
 public:
  void begin_txn(std::function<void(const TxnId&)> cob,
                 std::function<void(TDelayedException*)> /*exn_cob*/, thrift::Protocol::type protocol,
                 const std::string& traceparent) override {
    cob(MakeTxnId(protocol == thrift::Protocol::THREE_PC ? 3 : 2,
                  static_cast<int64_t>(traceparent.size())));
  }

  void status(std::function<void(const TxnStatus&)> cob,
              std::function<void(TDelayedException*)> /*exn_cob*/, const TxnId& txn) override {
    Later([cob, txn] {
      std::this_thread::sleep_for(2ms);
      TxnStatus status;
      status.txn = txn;
      status.outcome = Outcome::ABORTED;
      status.reason = thrift::AbortReason::LOCK_CONFLICT;
      status.detail = "later";
      cob(status);
    });
  }

  void commit(std::function<void(const CommitResult&)> cob,
              std::function<void(TDelayedException*)> exn_cob, const TxnId& txn,
              const std::vector<int32_t>& /*touched_shards*/) override {
    Later([cob, exn_cob, txn] {
      if (txn.seq == 13) {
        TxnError error;
        error.outcome = Outcome::UNKNOWN;
        error.message = "decision in flight";
        error.__set_txn(txn);
        exn_cob(TDelayedException::delayException(error));
      } else {
        CommitResult result;
        result.outcome = Outcome::COMMITTED;
        cob(result);
      }
    });
  }

  void write(std::function<void()> cob, std::function<void(TDelayedException*)> /*exn_cob*/,
             const TxnId& /*txn*/, const std::string& key, const std::string& value) override {
    last_write_ = key + "=" + value;  // one stock client at a time
    cob();
  }

  // Joins the threads that answered later.
  void JoinAll() {
    std::lock_guard<std::mutex> lock(mu_);
    for (std::thread& t : threads_) t.join();
    threads_.clear();
  }

  std::string last_write_;

 private:
  void Later(std::function<void()> answer) {
    std::lock_guard<std::mutex> lock(mu_);
    threads_.emplace_back(std::move(answer));
  }

  std::mutex mu_;
  std::vector<std::thread> threads_;
};

class StockClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<Server>> server =
        Server::Start(io_.io(), ServerOptions{},
                      MakeThriftHandler(std::make_shared<thrift::CoordinatorAsyncProcessor>(impl_)));
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server.value());
  }

  // Runs `body` with a stock client on its own std::thread; returns what it reports.
  template <typename Protocol>
  std::string WithStockClient(const std::function<std::string(CoordinatorClient&)>& body) {
    std::string report;
    std::thread thread([&] {
      try {
        auto socket = std::make_shared<apache::thrift::transport::TSocket>("127.0.0.1",
                                                                           server_->port());
        socket->setRecvTimeout(5000);
        socket->setSendTimeout(5000);
        auto transport = std::make_shared<apache::thrift::transport::TFramedTransport>(socket);
        CoordinatorClient client(std::make_shared<Protocol>(transport));
        transport->open();
        report = body(client);
        transport->close();
      } catch (const std::exception& e) {
        report = std::string("exception: ") + e.what();
      }
    });
    thread.join();
    return report;
  }

  void TearDown() override {
    io_.Stop();
    impl_->JoinAll();
  }

  IoThreads io_{2};
  std::shared_ptr<TestCoordinator> impl_ = std::make_shared<TestCoordinator>();
  std::unique_ptr<Server> server_;
};

TEST_F(StockClientTest, BinaryStockClientGetsValuesVoidAndDeclaredException) {
  const std::string report = WithStockClient<apache::thrift::protocol::TBinaryProtocol>(
      [](CoordinatorClient& client) -> std::string {
        TxnId id;
        client.begin_txn(id, thrift::Protocol::THREE_PC, "00-abc");
        if (id.epoch != 3 || id.seq != 6) return "begin_txn returned a wrong id";
        TxnStatus status;
        client.status(status, MakeTxnId(5, 77));
        if (status.txn.seq != 77 || status.outcome != Outcome::ABORTED ||
            status.reason != thrift::AbortReason::LOCK_CONFLICT || status.detail != "later") {
          return "status returned a wrong value";
        }
        client.write(MakeTxnId(5, 77), "key", "value");
        CommitResult committed;
        client.commit(committed, MakeTxnId(5, 12), {});
        if (committed.outcome != Outcome::COMMITTED) return "commit 12 not COMMITTED";
        try {
          CommitResult unused;
          client.commit(unused, MakeTxnId(5, 13), {});
          return "commit 13 did not throw";
        } catch (const TxnError& error) {
          if (error.outcome != Outcome::UNKNOWN || !error.__isset.txn || error.txn.seq != 13 ||
              error.message != "decision in flight") {
            return "TxnError has wrong fields";
          }
        }
        // The connection is still good after the exception.
        client.status(status, MakeTxnId(5, 78));
        return status.txn.seq == 78 ? "ok" : "status after exception wrong";
      });
  EXPECT_EQ(report, "ok");
  EXPECT_EQ(impl_->last_write_, "key=value");
}

TEST_F(StockClientTest, CompactStockClientIsServedInCompact) {
  const std::string report = WithStockClient<apache::thrift::protocol::TCompactProtocol>(
      [](CoordinatorClient& client) -> std::string {
        TxnStatus status;
        client.status(status, MakeTxnId(9, 300000));
        return status.txn.seq == 300000 && status.detail == "later" ? "ok" : "wrong status";
      });
  EXPECT_EQ(report, "ok");
}

TEST_F(StockClientTest, OurClientReceivesDeclaredExceptionAsValue) {
  Client client(io_.io(), ClientOptions{.port = server_->port()});
  using Reply = std::variant<CommitResult, TxnError>;
  std::promise<Result<Reply>> promise;
  CallMethod<CoordinatorClient>(
      client, Clock::now() + 10s, [](CoordinatorClient& c) { c.send_commit(MakeTxnId(5, 13), {}); },
      [](CoordinatorClient& c) -> Reply {
        try {
          CommitResult result;
          c.recv_commit(result);
          return result;
        } catch (const TxnError& error) {
          return error;
        }
      },
      [&](Result<Reply> reply) { promise.set_value(std::move(reply)); });
  Result<Reply> reply = promise.get_future().get();
  ASSERT_TRUE(reply.ok()) << reply.status().ToString();
  ASSERT_TRUE(std::holds_alternative<TxnError>(reply.value()));
  EXPECT_EQ(std::get<TxnError>(reply.value()).outcome, Outcome::UNKNOWN);
}

}  // namespace
}  // namespace txcoord::rpc
