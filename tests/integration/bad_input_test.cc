// Proves that bad requests to a real cluster (a coordinator and 3 hash-partitioned shards as
// `txcoord` processes on 127.0.0.1, tests/integration/local_cluster.h; max_frame_bytes 1 MiB)
// each get a clear, typed answer, change no state, and leave the server serving. Byte-level
// garbage goes through a raw TCP socket: a frame whose payload is not a Thrift message, a length
// prefix of 64 MiB and a negative one make the node close that connection (seen as EOF or a
// reset within 5 s), with a log line naming the connection and the reason, while a connection
// opened before keeps working. Everything else goes through the stock generated synchronous
// clients (TSocket + TFramedTransport + TBinaryProtocol): an unknown method gets
// TApplicationException UNKNOWN_METHOD, and so do protocol messages (Peer.deliver) sent to a client
// port, which change nothing; a transaction id the coordinator never issued, a write
// or read after commit, an empty key, a PUT without a value, an unknown protocol enum, a
// malformed transaction id, a touched shard outside the map, and a key sent to a shard that does
// not own it get InvalidRequest; commit after abort answers ABORTED and a repeated commit answers
// the first decision again without applying anything again. "No state change" is checked by
// reading the keys concerned in a new transaction (and by `status` where it applies); "still
// serving" by a transaction writing one key on every shard, committed and read back, after each
// case. A shard releases a committed transaction's locks once it has applied the COMMIT, just
// after the client heard COMMITTED, so a read or write of those keys right after may abort with
// LOCK_CONFLICT (no-wait locking): only then is it retried, for at most 5 s. Every socket call
// has a timeout.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <thrift/TApplicationException.h>
#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/transport/TBufferTransports.h>
#include <thrift/transport/TSocket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "Coordinator.h"
#include "Participant.h"
#include "Peer.h"
#include "cluster/shard_map.h"
#include "tests/integration/local_cluster.h"

namespace txcoord::testing {
namespace {

using apache::thrift::TApplicationException;
using apache::thrift::protocol::TBinaryProtocol;
using apache::thrift::transport::TFramedTransport;
using apache::thrift::transport::TSocket;
using apache::thrift::transport::TTransport;
using thrift::AbortReason;
using thrift::CommitResult;
using thrift::Outcome;
using thrift::TxnId;

constexpr auto kCloseWait = std::chrono::seconds(5);
// How long a read or write retries a LOCK_CONFLICT with a just-committed transaction.
constexpr auto kLockWait = std::chrono::seconds(5);
constexpr int64_t kNeverIssuedSeq = 1000000000;

// A stock synchronous client (generated ClientT over TSocket + TFramedTransport +
// TBinaryProtocol) with bounded connect, send and receive.
template <typename ClientT>
struct Stock {
  Stock(const std::string& host, uint16_t port) {
    auto socket = std::make_shared<TSocket>(host, port);
    socket->setConnTimeout(5000);
    socket->setSendTimeout(10000);
    socket->setRecvTimeout(10000);
    transport = std::make_shared<TFramedTransport>(socket);
    protocol = std::make_shared<TBinaryProtocol>(transport);
    client = std::make_unique<ClientT>(protocol);
    transport->open();
  }
  ~Stock() { transport->close(); }
  ClientT* operator->() { return client.get(); }

  std::shared_ptr<TTransport> transport;
  std::shared_ptr<TBinaryProtocol> protocol;
  std::unique_ptr<ClientT> client;
};
using StockCoordinator = Stock<thrift::CoordinatorClient>;
using StockParticipant = Stock<thrift::ParticipantClient>;

// Runs `call`, which must throw InvalidRequest; returns its message ("" after a failure).
std::string ExpectInvalid(const std::string& what, const std::function<void()>& call) {
  try {
    call();
  } catch (const thrift::InvalidRequest& e) {
    return e.message;
  } catch (const thrift::TxnError& e) {
    ADD_FAILURE() << what << ": TxnError(outcome " << e.outcome << ", reason " << e.reason << ", "
                  << e.message << "), expected InvalidRequest";
    return "";
  } catch (const std::exception& e) {
    ADD_FAILURE() << what << ": " << e.what() << ", expected InvalidRequest";
    return "";
  }
  ADD_FAILURE() << what << ": returned normally, expected InvalidRequest";
  return "";
}

// A blocking TCP connection to 127.0.0.1:port with 5 s send/receive timeouts; -1 on failure.
int RawConnect(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  timeval timeout{.tv_sec = 5, .tv_usec = 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

uint16_t LocalPort(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof(addr);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
  return ntohs(addr.sin_port);
}

bool SendAll(int fd, const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

// Whether the peer closes fd (EOF or a reset) within kCloseWait, without sending anything.
// `detail` says what was seen instead.
bool ClosedByPeer(int fd, std::string* detail) {
  const auto deadline = std::chrono::steady_clock::now() + kCloseWait;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
    const int ready = ::poll(&p, 1, 100);
    if (ready < 0 && errno != EINTR) {
      *detail = std::string("poll: ") + std::strerror(errno);
      return false;
    }
    if (ready <= 0) continue;
    char byte = 0;
    const ssize_t n = ::recv(fd, &byte, 1, 0);
    if (n == 0) return true;
    if (n < 0 && (errno == ECONNRESET || errno == EPIPE)) return true;
    *detail = n > 0 ? "the server sent data instead of closing"
                    : std::string("recv: ") + std::strerror(errno);
    return false;
  }
  *detail = "still open after 5 s";
  return false;
}

std::string FrameLength(uint32_t length) {
  const uint32_t big_endian = htonl(length);
  return std::string(reinterpret_cast<const char*>(&big_endian), 4);
}

class BadInputTest : public ::testing::Test {
 protected:
  // One cluster for every test in this process (ctest runs each test in its own process).
  static void SetUpTestSuite() {
    ClusterOptions options;
    options.shards = 3;
    options.partitioning = "hash";
    cluster_ = new LocalCluster(options);
    started_ = new Status(cluster_->StartAll());
  }

  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
    delete started_;
    started_ = nullptr;
  }

  void SetUp() override { ASSERT_TRUE(started_->ok()) << started_->ToString() << Logs(); }

  void TearDown() override {
    if (HasFailure()) std::cerr << Logs();
  }

  static std::string Logs() { return cluster_->Logs(); }

  // What one node wrote to stderr so far (its section of Logs()).
  // Whether a node's log names coordinator epoch `epoch` as a log line would: an epoch or a
  // transaction id of it. A bare number also turns up inside the random disk ids that every log
  // names (CI once failed on "disk 7498100154040903592" holding "1001").
  static bool NamesEpoch(const std::string& log, int64_t epoch) {
    const std::string e = std::to_string(epoch);
    return log.find("epoch " + e) != std::string::npos || log.find(e + ".") != std::string::npos;
  }
  static std::string LogOf(int node) {
    const std::string all = cluster_->Logs();
    const std::string title = node == LocalCluster::kCoordinator
                                  ? "---- coordinator ----\n"
                                  : "---- shard" + std::to_string(node) + " ----\n";
    const size_t begin = all.find(title);
    if (begin == std::string::npos) return "";
    const size_t end = all.find("\n---- ", begin + title.size());
    return all.substr(begin + title.size(),
                      end == std::string::npos ? std::string::npos : end - begin - title.size());
  }

  static StockCoordinator Coordinator() {
    return StockCoordinator(cluster_->coordinator_host(), cluster_->coordinator_port());
  }

  static const cluster::ShardMap& Map() { return cluster_->shard_map(); }

  // A key starting with `prefix` that shard `shard` owns.
  static std::string KeyOnShard(const std::string& prefix, int shard) {
    for (int i = 0; i < 10000; ++i) {
      std::string key = prefix + "-" + std::to_string(i);
      if (cluster::ShardFor(Map(), key) == shard) return key;
    }
    ADD_FAILURE() << "no key with prefix " << prefix << " on shard " << shard;
    return prefix;
  }

  // The committed value of key, read by a one-shot transaction (nullopt: not found). A shard
  // releases a committed transaction's locks only once its COMMIT is applied there, which may be
  // just after the client heard COMMITTED: a read then aborts with LOCK_CONFLICT and is retried
  // (for at most 5 s). Any other abort fails the test.
  static std::optional<std::string> Committed(StockCoordinator& c, const std::string& key) {
    thrift::Op get;
    get.__set_type(thrift::OpType::GET);
    get.__set_key(key);
    const auto deadline = std::chrono::steady_clock::now() + kLockWait;
    thrift::ExecuteResult result;
    for (int conflicts = 0;; ++conflicts) {
      c->execute(result, thrift::Protocol::TWO_PC, {get}, "");
      if (result.result.outcome != Outcome::ABORTED ||
          result.result.reason != AbortReason::LOCK_CONFLICT ||
          std::chrono::steady_clock::now() >= deadline) {
        if (conflicts > 0) std::cout << "read of " << key << ": " << conflicts << " conflict(s)\n";
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    EXPECT_EQ(result.result.outcome, Outcome::COMMITTED)
        << "reading " << key << ": reason " << result.result.reason << ", " << result.result.detail;
    EXPECT_EQ(result.reads.size(), 1u);
    if (result.reads.empty() || !result.reads[0].found) return std::nullopt;
    return result.reads[0].value;
  }

  // Writes `value` to `key` in a new transaction and commits it; retries the whole transaction
  // (for at most kLockWait) only while a just-committed transaction still holds the key's lock.
  static void CommitWrite(StockCoordinator& c, const std::string& key, const std::string& value) {
    const auto deadline = std::chrono::steady_clock::now() + kLockWait;
    for (int conflicts = 0;; ++conflicts) {
      TxnId txn;
      c->begin_txn(txn, thrift::Protocol::TWO_PC, "");
      try {
        c->write(txn, key, value);
      } catch (const thrift::TxnError& e) {
        ASSERT_EQ(e.reason, AbortReason::LOCK_CONFLICT) << e.message;
        ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "still conflicting: " << e.message;
        c->abort(txn, {});
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        continue;
      }
      CommitResult result;
      c->commit(result, txn, {});
      ASSERT_EQ(result.outcome, Outcome::COMMITTED) << result.detail;
      if (conflicts > 0) std::cout << "write of " << key << ": " << conflicts << " conflict(s)\n";
      return;
    }
  }

  // A transaction writing one key on every shard commits and reads back, and every node runs.
  static void ExpectServes(StockCoordinator& c, const std::string& prefix) {
    SCOPED_TRACE("the cluster still serves (" + prefix + ")");
    for (int node = LocalCluster::kCoordinator; node < static_cast<int>(Map().shards.size());
         ++node) {
      EXPECT_TRUE(cluster_->Running(node)) << "node " << node << " is not running";
    }
    std::vector<std::string> keys;
    TxnId txn;
    c->begin_txn(txn, thrift::Protocol::TWO_PC, "");
    for (int shard = 0; shard < static_cast<int>(Map().shards.size()); ++shard) {
      keys.push_back(KeyOnShard(prefix + "-serves", shard));
      c->write(txn, keys.back(), "v-" + keys.back());
    }
    CommitResult result;
    c->commit(result, txn, {});
    ASSERT_EQ(result.outcome, Outcome::COMMITTED) << result.detail;
    for (const std::string& key : keys) EXPECT_EQ(Committed(c, key), "v-" + key);
  }

  static void ExpectServes(const std::string& prefix) {
    StockCoordinator c = Coordinator();
    ExpectServes(c, prefix);
  }

  // Sends `bytes` on a new raw connection to node and expects the node to close it, logging
  // "closing connection 127.0.0.1:<our port>: <reason>..." with `reason` as its start.
  static void ExpectClosesConnection(int node, const std::string& bytes,
                                     const std::string& reason) {
    const int fd = RawConnect(cluster_->port(node));
    ASSERT_GE(fd, 0) << "cannot connect to port " << cluster_->port(node);
    const std::string line =
        "closing connection 127.0.0.1:" + std::to_string(LocalPort(fd)) + ": " + reason;
    ASSERT_TRUE(SendAll(fd, bytes)) << std::strerror(errno);
    std::string detail;
    EXPECT_TRUE(ClosedByPeer(fd, &detail)) << detail;
    ::close(fd);
    // The node logs before it closes; poll briefly anyway (its stderr is a file).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (LogOf(node).find(line) == std::string::npos &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_NE(LogOf(node).find(line), std::string::npos)
        << "no log line \"" << line << "\" from node " << node;
  }

  static LocalCluster* cluster_;
  static Status* started_;
};

LocalCluster* BadInputTest::cluster_ = nullptr;
Status* BadInputTest::started_ = nullptr;

// ---- byte-level garbage ----------------------------------------------------------------------

TEST_F(BadInputTest, FrameThatIsNotAThriftMessageClosesOnlyThatConnection) {
  StockCoordinator before = Coordinator();  // opened before the garbage; must keep working
  const std::string garbage = FrameLength(8) + std::string(8, '\xff');
  for (int node = LocalCluster::kCoordinator; node < 3; ++node) {
    SCOPED_TRACE("node " + std::to_string(node));
    ExpectClosesConnection(node, garbage, "bad frame: ");
  }
  ExpectServes(before, "garbage");
  ExpectServes("garbage-new-connection");
}

TEST_F(BadInputTest, OversizedFrameClosesOnlyThatConnection) {
  StockCoordinator before = Coordinator();
  // A 64 MiB length prefix (the cluster's maximum is 1 MiB) and a few bytes of its payload.
  const std::string oversized = FrameLength(64u << 20) + std::string(16, 'x');
  ExpectClosesConnection(LocalCluster::kCoordinator, oversized,
                         "frame length 67108864 exceeds the maximum 1048576");
  ExpectClosesConnection(1, oversized, "frame length 67108864 exceeds the maximum 1048576");
  // A length with the top bit set is a negative i32 to every Thrift implementation.
  ExpectClosesConnection(LocalCluster::kCoordinator, FrameLength(0x80000000u),
                         "frame length -2147483648 is negative");
  ExpectServes(before, "oversized");
  ExpectServes("oversized-new-connection");
}

TEST_F(BadInputTest, UnknownMethodGetsApplicationExceptionAndTheConnectionStays) {
  StockCoordinator c = Coordinator();
  // A well-formed call of a method the service does not have (empty argument struct).
  c.protocol->writeMessageBegin("no_such_method", apache::thrift::protocol::T_CALL, 7);
  c.protocol->writeStructBegin("no_such_method_args");
  c.protocol->writeFieldStop();
  c.protocol->writeStructEnd();
  c.protocol->writeMessageEnd();
  c.transport->writeEnd();
  c.transport->flush();
  std::string name;
  apache::thrift::protocol::TMessageType type;
  int32_t seqid = 0;
  c.protocol->readMessageBegin(name, type, seqid);
  EXPECT_EQ(type, apache::thrift::protocol::T_EXCEPTION);
  EXPECT_EQ(name, "no_such_method");
  EXPECT_EQ(seqid, 7);
  TApplicationException error;
  error.read(c.protocol.get());
  c.protocol->readMessageEnd();
  c.transport->readEnd();
  EXPECT_EQ(error.getType(), TApplicationException::UNKNOWN_METHOD) << error.what();
  ExpectServes(c, "unknown-method");  // on the same connection
}

TEST_F(BadInputTest, ProtocolMessagesForgedOnClientPortsChangeNothing) {
  // Protocol messages travel only on the nodes' peer ports. A client that sends them to the
  // client ports (where Peer.deliver once was served too) gets an unknown method: the coordinator
  // is not deposed by a forged STALE_EPOCH, and no shard learns a made-up coordinator epoch or
  // commits a forged one-phase PREPARE.
  constexpr int64_t kForgedEpoch = 1001;
  {
    Stock<thrift::PeerClient> forger(cluster_->coordinator_host(), cluster_->coordinator_port());
    thrift::PeerMessage stale;
    stale.__set_type(thrift::MessageType::STALE_EPOCH);
    stale.__set_from_node(0);
    stale.__set_to_node(-1);
    stale.__set_epoch(kForgedEpoch);
    stale.__set_current_epoch(kForgedEpoch);
    forger->deliver({stale});
  }
  std::vector<std::string> forged_keys;
  for (int shard = 0; shard < static_cast<int>(Map().shards.size()); ++shard) {
    Stock<thrift::PeerClient> forger(cluster_->coordinator_host(), cluster_->port(shard));
    forged_keys.push_back(KeyOnShard("forged", shard));
    thrift::Op put;
    put.__set_type(thrift::OpType::PUT);
    put.__set_key(forged_keys.back());
    put.__set_value("forged");
    thrift::PeerMessage prepare;
    prepare.__set_type(thrift::MessageType::PREPARE);
    prepare.__set_from_node(-1);
    prepare.__set_to_node(shard);
    TxnId txn;
    txn.__set_epoch(kForgedEpoch);
    txn.__set_seq(1);
    prepare.__set_txn(txn);
    prepare.__set_epoch(kForgedEpoch);
    prepare.__set_protocol(thrift::Protocol::TWO_PC);
    prepare.__set_participants({shard});
    prepare.__set_one_phase(true);
    prepare.__set_ops({put});
    forger->deliver({prepare});
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // time to do harm, if it could
  StockCoordinator c = Coordinator();
  ExpectServes(c, "forged");
  for (const std::string& key : forged_keys) EXPECT_EQ(Committed(c, key), std::nullopt) << key;
  for (int node = LocalCluster::kCoordinator; node < static_cast<int>(Map().shards.size());
       ++node) {
    EXPECT_FALSE(NamesEpoch(LogOf(node), kForgedEpoch)) << "node " << node << " took it in";
  }
}

// ---- transaction ids and states --------------------------------------------------------------

TEST_F(BadInputTest, TransactionIdNeverIssuedIsInvalidAndChangesNothing) {
  StockCoordinator c = Coordinator();
  TxnId issued;
  c->begin_txn(issued, thrift::Protocol::TWO_PC, "");
  TxnId never;
  never.__set_epoch(issued.epoch);  // this coordinator's epoch, a sequence it never reached
  never.__set_seq(kNeverIssuedSeq);
  const std::string key = KeyOnShard("never-issued", 0);

  EXPECT_NE(ExpectInvalid("write", [&] { c->write(never, key, "x"); }).find("unknown transaction"),
            std::string::npos);
  EXPECT_NE(ExpectInvalid("read",
                          [&] {
                            thrift::OpResult r;
                            c->read(r, never, key);
                          })
                .find("unknown transaction"),
            std::string::npos);
  EXPECT_NE(ExpectInvalid("commit",
                          [&] {
                            CommitResult r;
                            c->commit(r, never, {0});
                          })
                .find("unknown transaction"),
            std::string::npos);
  EXPECT_NE(ExpectInvalid("abort", [&] { c->abort(never, {0}); }).find("unknown transaction"),
            std::string::npos);

  // status never guesses about what it never issued: presumed abort, reason UNKNOWN_TXN.
  thrift::TxnStatus status;
  c->status(status, never);
  EXPECT_EQ(status.txn, never);
  EXPECT_EQ(status.outcome, Outcome::ABORTED);
  EXPECT_EQ(status.reason, AbortReason::UNKNOWN_TXN);

  // Nothing changed: the key was never written, and the issued transaction still commits.
  EXPECT_EQ(Committed(c, key), std::nullopt);
  c->write(issued, key, "from the issued transaction");
  CommitResult result;
  c->commit(result, issued, {});
  EXPECT_EQ(result.outcome, Outcome::COMMITTED) << result.detail;
  EXPECT_EQ(Committed(c, key), "from the issued transaction");
  ExpectServes(c, "never-issued");
}

TEST_F(BadInputTest, CommitAfterAbortIsAbortedAndTheWriteIsNotVisible) {
  StockCoordinator c = Coordinator();
  const std::string key_a = KeyOnShard("commit-after-abort", 0);
  const std::string key_b = KeyOnShard("commit-after-abort", 2);
  TxnId txn;
  c->begin_txn(txn, thrift::Protocol::TWO_PC, "");
  c->write(txn, key_a, "aborted");
  c->write(txn, key_b, "aborted");
  c->abort(txn, {});
  CommitResult result;
  c->commit(result, txn, {});
  EXPECT_EQ(result.outcome, Outcome::ABORTED) << result.detail;
  thrift::TxnStatus status;
  c->status(status, txn);
  EXPECT_EQ(status.outcome, Outcome::ABORTED);
  c->abort(txn, {});  // idempotent
  EXPECT_EQ(Committed(c, key_a), std::nullopt);
  EXPECT_EQ(Committed(c, key_b), std::nullopt);
  // Reads and writes cannot join it either: TxnError(ABORTED).
  try {
    c->write(txn, key_a, "again");
    ADD_FAILURE() << "write after abort returned normally";
  } catch (const thrift::TxnError& e) {
    EXPECT_EQ(e.outcome, Outcome::ABORTED) << e.message;
  }
  EXPECT_EQ(Committed(c, key_a), std::nullopt);
  ExpectServes(c, "commit-after-abort");
}

TEST_F(BadInputTest, CommitAfterAbortNamesTheClientAbortAsTheReason) {
  StockCoordinator c = Coordinator();
  TxnId txn;
  c->begin_txn(txn, thrift::Protocol::TWO_PC, "");
  c->write(txn, KeyOnShard("abort-reason", 1), "aborted");
  c->abort(txn, {});
  CommitResult result;
  c->commit(result, txn, {});
  EXPECT_EQ(result.outcome, Outcome::ABORTED);
  EXPECT_EQ(result.reason, AbortReason::CLIENT_ABORT) << result.detail;
  thrift::TxnStatus status;
  c->status(status, txn);
  EXPECT_EQ(status.reason, AbortReason::CLIENT_ABORT) << status.detail;
}

TEST_F(BadInputTest, DuplicateCommitAnswersTheFirstDecisionAndAppliesNothingAgain) {
  StockCoordinator c = Coordinator();
  const std::string key_a = KeyOnShard("duplicate-commit", 0);
  const std::string key_b = KeyOnShard("duplicate-commit", 1);
  TxnId first;
  c->begin_txn(first, thrift::Protocol::TWO_PC, "");
  c->write(first, key_a, "first");
  c->write(first, key_b, "first");
  CommitResult result;
  c->commit(result, first, {});
  ASSERT_EQ(result.outcome, Outcome::COMMITTED) << result.detail;
  // A later transaction overwrites key_a; the repeated commit of `first` must not write again.
  ASSERT_NO_FATAL_FAILURE(CommitWrite(c, key_a, "second"));

  c->commit(result, first, {});
  EXPECT_EQ(result.outcome, Outcome::COMMITTED) << result.detail;
  c->commit(result, first, {0, 1, 2});  // naming more shards changes nothing either
  EXPECT_EQ(result.outcome, Outcome::COMMITTED) << result.detail;
  thrift::TxnStatus status;
  c->status(status, first);
  EXPECT_EQ(status.outcome, Outcome::COMMITTED);
  EXPECT_EQ(Committed(c, key_a), "second");
  EXPECT_EQ(Committed(c, key_b), "first");
  ExpectServes(c, "duplicate-commit");
}

TEST_F(BadInputTest, AbortAfterCommitIsTxnErrorCommitted) {
  StockCoordinator c = Coordinator();
  const std::string key_a = KeyOnShard("abort-after-commit", 0);
  const std::string key_b = KeyOnShard("abort-after-commit", 1);
  TxnId txn;
  c->begin_txn(txn, thrift::Protocol::TWO_PC, "");
  c->write(txn, key_a, "committed");
  c->write(txn, key_b, "committed");
  CommitResult result;
  c->commit(result, txn, {});
  ASSERT_EQ(result.outcome, Outcome::COMMITTED) << result.detail;
  // At once (the coordinator may still be sending COMMIT), and once every participant has surely
  // acknowledged it (then the coordinator only remembers the outcome).
  for (const auto wait : {std::chrono::milliseconds(0), std::chrono::milliseconds(300)}) {
    std::this_thread::sleep_for(wait);
    SCOPED_TRACE("abort " + std::to_string(wait.count()) + " ms after the commit");
    try {
      c->abort(txn, {});
      ADD_FAILURE() << "abort of a committed transaction returned normally";
    } catch (const thrift::TxnError& e) {
      EXPECT_EQ(e.outcome, Outcome::COMMITTED) << e.message;
    }
    thrift::TxnStatus status;
    c->status(status, txn);
    EXPECT_EQ(status.outcome, Outcome::COMMITTED);
  }
  EXPECT_EQ(Committed(c, key_a), "committed");
  EXPECT_EQ(Committed(c, key_b), "committed");
  ExpectServes(c, "abort-after-commit");
}

TEST_F(BadInputTest, AbortAfterCommitAndCoordinatorRestartIsNeverAnAbort) {
  StockCoordinator before = Coordinator();
  const std::string key = KeyOnShard("abort-after-restart", 0);
  TxnId txn;
  before->begin_txn(txn, thrift::Protocol::TWO_PC, "");
  before->write(txn, key, "committed");
  before->write(txn, KeyOnShard("abort-after-restart", 1), "committed");
  CommitResult result;
  before->commit(result, txn, {});
  ASSERT_EQ(result.outcome, Outcome::COMMITTED) << result.detail;
  // Time for every participant to acknowledge the COMMIT, so the transaction is finished (a
  // restart before that recovers it from the log and answers correctly).
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_TRUE(cluster_->Stop(LocalCluster::kCoordinator).ok());
  Status restarted = cluster_->Start(LocalCluster::kCoordinator);
  ASSERT_TRUE(restarted.ok()) << restarted.ToString();
  StockCoordinator c = Coordinator();
  // The new incarnation may not know the outcome (UNKNOWN), but must never claim an abort.
  try {
    c->abort(txn, {});
    ADD_FAILURE() << "abort of a transaction committed before the restart returned normally";
  } catch (const thrift::TxnError& e) {
    EXPECT_NE(e.outcome, Outcome::ABORTED) << e.message;
  }
  thrift::TxnStatus status;
  c->status(status, txn);
  EXPECT_NE(status.outcome, Outcome::ABORTED);
  EXPECT_EQ(Committed(c, key), "committed");
  ExpectServes(c, "abort-after-restart");
}

TEST_F(BadInputTest, WriteAfterCommitIsInvalidAndTheValueIsUnchanged) {
  StockCoordinator c = Coordinator();
  const std::string key = KeyOnShard("write-after-commit", 2);
  TxnId txn;
  c->begin_txn(txn, thrift::Protocol::THREE_PC, "");
  c->write(txn, key, "committed");
  CommitResult result;
  c->commit(result, txn, {});
  ASSERT_EQ(result.outcome, Outcome::COMMITTED) << result.detail;
  EXPECT_NE(
      ExpectInvalid("write after commit", [&] { c->write(txn, key, "late"); }).find("committed"),
      std::string::npos);
  ExpectInvalid("write of another key after commit",
                [&] { c->write(txn, KeyOnShard("write-after-commit-other", 0), "late"); });
  ExpectInvalid("read after commit", [&] {
    thrift::OpResult r;
    c->read(r, txn, key);
  });
  EXPECT_EQ(Committed(c, key), "committed");
  EXPECT_EQ(Committed(c, KeyOnShard("write-after-commit-other", 0)), std::nullopt);
  ExpectServes(c, "write-after-commit");
}

// ---- invalid arguments -----------------------------------------------------------------------

TEST_F(BadInputTest, EmptyKeyIsInvalidAndTheTransactionGoesOn) {
  StockCoordinator c = Coordinator();
  TxnId txn;
  c->begin_txn(txn, thrift::Protocol::TWO_PC, "");
  EXPECT_NE(ExpectInvalid("write", [&] { c->write(txn, "", "v"); }).find("key: empty"),
            std::string::npos);
  EXPECT_NE(ExpectInvalid("read",
                          [&] {
                            thrift::OpResult r;
                            c->read(r, txn, "");
                          })
                .find("key: empty"),
            std::string::npos);
  thrift::Op put;
  put.__set_type(thrift::OpType::PUT);
  put.__set_key("");
  put.__set_value("v");
  ExpectInvalid("execute", [&] {
    thrift::ExecuteResult r;
    c->execute(r, thrift::Protocol::TWO_PC, {put}, "");
  });
  // The transaction is still active: a valid write joins it and it commits.
  const std::string key = KeyOnShard("empty-key", 1);
  c->write(txn, key, "after");
  CommitResult result;
  c->commit(result, txn, {});
  EXPECT_EQ(result.outcome, Outcome::COMMITTED) << result.detail;
  EXPECT_EQ(Committed(c, key), "after");
  ExpectServes(c, "empty-key");
}

TEST_F(BadInputTest, PutWithoutValueInExecuteIsInvalidAndNothingIsWritten) {
  StockCoordinator c = Coordinator();
  const std::string key_a = KeyOnShard("put-without-value", 0);
  const std::string key_b = KeyOnShard("put-without-value", 1);
  thrift::Op good;
  good.__set_type(thrift::OpType::PUT);
  good.__set_key(key_a);
  good.__set_value("v");
  thrift::Op bad;
  bad.__set_type(thrift::OpType::PUT);
  bad.__set_key(key_b);  // no value
  EXPECT_NE(ExpectInvalid("execute",
                          [&] {
                            thrift::ExecuteResult r;
                            c->execute(r, thrift::Protocol::TWO_PC, {good, bad}, "");
                          })
                .find("ops[1].op.value: required for PUT"),
            std::string::npos);
  thrift::Op add;  // an ADD without its delta, likewise
  add.__set_type(thrift::OpType::ADD);
  add.__set_key(key_b);
  ExpectInvalid("execute ADD", [&] {
    thrift::ExecuteResult r;
    c->execute(r, thrift::Protocol::TWO_PC, {add}, "");
  });
  ExpectInvalid("execute with no ops", [&] {
    thrift::ExecuteResult r;
    c->execute(r, thrift::Protocol::TWO_PC, {}, "");
  });
  // The valid op of the rejected request did not run either.
  EXPECT_EQ(Committed(c, key_a), std::nullopt);
  EXPECT_EQ(Committed(c, key_b), std::nullopt);
  ExpectServes(c, "put-without-value");
}

// ADD of a stored value that is not a whole base-10 integer, or whose sum leaves int64, aborts
// with CONSTRAINT through a stock client and leaves the value as it was. It once committed
// 'abc' + 1 as 1, '12abc' + 1 as 13 and INT64_MAX + 1 as INT64_MIN.
TEST_F(BadInputTest, AddOfANonIntegerOrPastInt64AbortsWithConstraintAndChangesNothing) {
  StockCoordinator c = Coordinator();
  const std::vector<std::pair<std::string, int64_t>> cases = {
      {"abc", 1}, {"12abc", 1}, {"9223372036854775807", 1}, {"-9223372036854775808", -1}};
  for (const auto& [stored, delta] : cases) {
    SCOPED_TRACE(stored);
    const std::string key = KeyOnShard("add-" + stored, 0);
    thrift::Op put;
    put.__set_type(thrift::OpType::PUT);
    put.__set_key(key);
    put.__set_value(stored);
    thrift::ExecuteResult r;
    c->execute(r, thrift::Protocol::TWO_PC, {put}, "");
    ASSERT_EQ(r.result.outcome, Outcome::COMMITTED) << r.result.detail;
    thrift::Op add;
    add.__set_type(thrift::OpType::ADD);
    add.__set_key(key);
    add.__set_delta(delta);
    // The PUT's lock may outlive its COMMITTED reply by a moment (see Committed).
    const auto deadline = std::chrono::steady_clock::now() + kLockWait;
    do {
      c->execute(r, thrift::Protocol::TWO_PC, {add}, "");
    } while (r.result.reason == AbortReason::LOCK_CONFLICT &&
             std::chrono::steady_clock::now() < deadline);
    EXPECT_EQ(r.result.outcome, Outcome::ABORTED);
    EXPECT_EQ(r.result.reason, AbortReason::CONSTRAINT) << r.result.detail;
    EXPECT_EQ(Committed(c, key), stored);
  }
  ExpectServes(c, "add-constraint");
}

TEST_F(BadInputTest, UnknownProtocolEnumIsInvalid) {
  StockCoordinator c = Coordinator();
  const auto seven = static_cast<thrift::Protocol::type>(7);
  EXPECT_NE(ExpectInvalid("begin_txn",
                          [&] {
                            TxnId txn;
                            c->begin_txn(txn, seven, "");
                          })
                .find("protocol: unknown value 7"),
            std::string::npos);
  const std::string key = KeyOnShard("protocol-seven", 2);
  thrift::Op put;
  put.__set_type(thrift::OpType::PUT);
  put.__set_key(key);
  put.__set_value("v");
  EXPECT_NE(ExpectInvalid("execute",
                          [&] {
                            thrift::ExecuteResult r;
                            c->execute(r, seven, {put}, "");
                          })
                .find("protocol: unknown value 7"),
            std::string::npos);
  EXPECT_EQ(Committed(c, key), std::nullopt);
  ExpectServes(c, "protocol-seven");
}

TEST_F(BadInputTest, MalformedTransactionIdAndShardOutsideTheMapAreInvalid) {
  StockCoordinator c = Coordinator();
  TxnId zero_epoch;
  zero_epoch.__set_epoch(0);
  zero_epoch.__set_seq(1);
  TxnId negative_seq;
  negative_seq.__set_epoch(1);
  negative_seq.__set_seq(-1);
  for (const TxnId& bad : {zero_epoch, negative_seq}) {
    SCOPED_TRACE("epoch " + std::to_string(bad.epoch) + " seq " + std::to_string(bad.seq));
    ExpectInvalid("write", [&] { c->write(bad, "k", "v"); });
    ExpectInvalid("commit", [&] {
      CommitResult r;
      c->commit(r, bad, {});
    });
    ExpectInvalid("abort", [&] { c->abort(bad, {}); });
    ExpectInvalid("status", [&] {
      thrift::TxnStatus s;
      c->status(s, bad);
    });
  }
  // touched_shards naming a shard the map does not have; the transaction stays usable.
  TxnId txn;
  c->begin_txn(txn, thrift::Protocol::TWO_PC, "");
  const std::string key = KeyOnShard("touched-outside", 0);
  c->write(txn, key, "v");
  EXPECT_NE(ExpectInvalid("commit",
                          [&] {
                            CommitResult r;
                            c->commit(r, txn, {7});
                          })
                .find("no shard 7"),
            std::string::npos);
  ExpectInvalid("abort", [&] { c->abort(txn, {-1}); });
  // Neither started a decision: the transaction is still undecided, and then commits.
  thrift::TxnStatus status;
  c->status(status, txn);
  EXPECT_EQ(status.outcome, Outcome::UNKNOWN);
  CommitResult result;
  c->commit(result, txn, {});
  EXPECT_EQ(result.outcome, Outcome::COMMITTED) << result.detail;
  EXPECT_EQ(Committed(c, key), "v");
  ExpectServes(c, "touched-outside");
}

TEST_F(BadInputTest, ParticipantRunWithAMadeUpEpochDoesNotFenceTheCluster) {
  // Issue 12's finding: Participant.run with a TxnId of epoch 1001, sent straight to a shard,
  // made that shard refuse every real coordinator epoch for good ("this coordinator's epoch is
  // superseded", every transaction aborted STALE_EPOCH).
  for (int shard = 0; shard < static_cast<int>(Map().shards.size()); ++shard) {
    const auto& at = Map().shards[static_cast<size_t>(shard)];
    StockParticipant participant(at.host, at.port);
    TxnId forged;
    forged.__set_epoch(1001);
    forged.__set_seq(1);
    thrift::Op put;
    put.__set_type(thrift::OpType::PUT);
    put.__set_key(KeyOnShard("made-up-epoch", shard));
    put.__set_value("forged");
    std::vector<thrift::OpResult> reads;
    participant->run(reads, forged, {put});
  }
  StockCoordinator c = Coordinator();
  ExpectServes(c, "made-up-epoch-after");
  for (int node = 0; node < static_cast<int>(Map().shards.size()); ++node) {
    EXPECT_FALSE(NamesEpoch(LogOf(node), 1001)) << "shard " << node << " took it in";
  }
}

TEST_F(BadInputTest, ParticipantRunOfAKeyOfAnotherShardIsInvalid) {
  StockCoordinator c = Coordinator();
  const auto& shard0 = Map().shards[0];
  StockParticipant shard(shard0.host, shard0.port);
  TxnId txn;
  c->begin_txn(txn, thrift::Protocol::TWO_PC, "");
  const std::string mine = KeyOnShard("run-routing", 0);
  const std::string theirs = KeyOnShard("run-routing", 1);
  thrift::Op put_theirs;
  put_theirs.__set_type(thrift::OpType::PUT);
  put_theirs.__set_key(theirs);
  put_theirs.__set_value("misrouted");
  thrift::Op put_mine = put_theirs;
  put_mine.__set_key(mine);
  put_mine.__set_value("routed");
  EXPECT_NE(ExpectInvalid("run",
                          [&] {
                            std::vector<thrift::OpResult> r;
                            shard->run(r, txn, {put_mine, put_theirs});
                          })
                .find("key belongs to shard 1, not shard 0"),
            std::string::npos);
  // The same transaction, routed right, runs at shard 0 and commits with it named as touched.
  std::vector<thrift::OpResult> reads;
  shard->run(reads, txn, {put_mine});
  EXPECT_TRUE(reads.empty());
  CommitResult result;
  c->commit(result, txn, {0});
  EXPECT_EQ(result.outcome, Outcome::COMMITTED) << result.detail;
  // Only the routed write happened: the rejected request ran none of its ops.
  EXPECT_EQ(Committed(c, mine), "routed");
  EXPECT_EQ(Committed(c, theirs), std::nullopt);
  ExpectServes(c, "run-routing");
}

}  // namespace
}  // namespace txcoord::testing
