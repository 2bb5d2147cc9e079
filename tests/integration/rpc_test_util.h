// Helpers shared by the rpc/ integration tests: an io_context run by background threads, and a
// cob-style Coordinator whose status() calls are held until the test answers them.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "Coordinator.h"

namespace txcoord::rpc::testing {

// An io_context run by `threads` threads until Stop() (or destruction).
class IoThreads {
 public:
  explicit IoThreads(int threads) : work_(boost::asio::make_work_guard(io_)) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { io_.run(); });
  }
  ~IoThreads() { Stop(); }
  void Stop() {
    work_.reset();
    io_.stop();
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  boost::asio::io_context& io() { return io_; }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::vector<std::thread> threads_;
};

// status(txn) is held: its callback is stored until the test calls AnswerHeld(). The answer is a
// TxnStatus echoing the txn, so a caller can check it got the answer to its own call.
// Thread-safe.
class HoldingCoordinator : public txcoord::thrift::CoordinatorCobSvNull {
 public:
  using StatusCob = std::function<void(const txcoord::thrift::TxnStatus&)>;

  void status(StatusCob cob,
              std::function<void(::apache::thrift::TDelayedException*)> /*exn_cob*/,
              const txcoord::thrift::TxnId& txn) override {
    std::lock_guard<std::mutex> lock(mu_);
    held_.push_back({std::move(cob), txn});
    cv_.notify_all();
  }

  // Waits until `n` calls are held (false after `timeout`).
  bool WaitHeld(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return held_.size() >= n; });
  }

  // Answers every held call, the most recent first (reverse of arrival), from this thread.
  void AnswerHeldReversed() {
    std::vector<Held> held;
    {
      std::lock_guard<std::mutex> lock(mu_);
      held.swap(held_);
    }
    for (auto it = held.rbegin(); it != held.rend(); ++it) {
      txcoord::thrift::TxnStatus status;
      status.txn = it->txn;
      status.outcome = txcoord::thrift::Outcome::COMMITTED;
      status.detail = "seq " + std::to_string(it->txn.seq);
      it->cob(status);
    }
  }

 private:
  struct Held {
    StatusCob cob;
    txcoord::thrift::TxnId txn;
  };
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Held> held_;
};

inline txcoord::thrift::TxnId MakeTxnId(int64_t epoch, int64_t seq) {
  txcoord::thrift::TxnId id;
  id.epoch = epoch;
  id.seq = seq;
  return id;
}

}  // namespace txcoord::rpc::testing
