// Exact tests of rpc/'s codecs, without sockets: the Thrift message header parser on messages
// the generated C++ code writes (binary and compact), seqid patching (in place for binary,
// re-encoded varint for compact) that leaves the rest decodable, rejection of what is not a
// Thrift message, the frame splitter (frames split across reads, many per read, oversized
// lengths), and how DecodeReply translates a reply: values, a declared exception passed through
// as a value, TApplicationException as a Status, garbage as Corruption.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <cstring>
#include <variant>
#include <vector>

#include <thrift/TApplicationException.h>
#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/protocol/TCompactProtocol.h>
#include <thrift/transport/TBufferTransports.h>

#include "Coordinator.h"
#include "rpc/frame.h"
#include "rpc/frame_io.h"
#include "rpc/thrift_call.h"

namespace txcoord::rpc {
namespace {

using apache::thrift::protocol::TBinaryProtocol;
using apache::thrift::protocol::TCompactProtocol;
using apache::thrift::transport::TMemoryBuffer;
using thrift::CommitResult;
using thrift::CoordinatorClient;
using thrift::TxnError;
using thrift::TxnId;

TxnId Txn(int64_t seq) {
  TxnId id;
  id.epoch = 4;
  id.seq = seq;
  return id;
}

template <typename Protocol>
std::string EncodeCommit(int64_t seq) {
  auto buffer = std::make_shared<TMemoryBuffer>();
  CoordinatorClient client(std::make_shared<Protocol>(buffer));
  client.send_commit(Txn(seq), {});
  return buffer->getBufferAsString();
}

// Decodes a commit call's arguments (after the header) with the given protocol.
template <typename Protocol>
TxnId DecodeCommitArgs(const std::string& message, int32_t* seqid) {
  auto buffer = std::make_shared<TMemoryBuffer>();
  buffer->write(reinterpret_cast<const uint8_t*>(message.data()),
                static_cast<uint32_t>(message.size()));
  Protocol protocol(buffer);
  std::string name;
  apache::thrift::protocol::TMessageType type;
  protocol.readMessageBegin(name, type, *seqid);
  thrift::Coordinator_commit_args args;
  args.read(&protocol);
  protocol.readMessageEnd();
  return args.txn;
}

TEST(RpcFrameTest, ParsesBinaryHeaderOfGeneratedCall) {
  const std::string message = EncodeCommit<TBinaryProtocol>(99);
  Result<MessageHeader> header = ParseMessageHeader(message);
  ASSERT_TRUE(header.ok()) << header.status().ToString();
  EXPECT_EQ(header.value().protocol, WireProtocol::kBinary);
  EXPECT_EQ(header.value().type, MessageType::kCall);
  EXPECT_EQ(header.value().name, "commit");
  EXPECT_EQ(header.value().seqid, 0);  // pitfall 8: generated clients write 0
  EXPECT_EQ(header.value().seqid_offset, 4u + 4u + 6u);
  EXPECT_EQ(header.value().seqid_bytes, 4u);
}

TEST(RpcFrameTest, SetSeqidBinaryInPlaceKeepsArguments) {
  std::string message = EncodeCommit<TBinaryProtocol>(99);
  const size_t size = message.size();
  ASSERT_TRUE(SetSeqid(&message, 0x01020304).ok());
  EXPECT_EQ(message.size(), size);
  EXPECT_EQ(ParseMessageHeader(message).value().seqid, 0x01020304);
  int32_t seqid = 0;
  EXPECT_EQ(DecodeCommitArgs<TBinaryProtocol>(message, &seqid).seq, 99);
  EXPECT_EQ(seqid, 0x01020304);
  ASSERT_TRUE(SetSeqid(&message, -7).ok());
  EXPECT_EQ(ParseMessageHeader(message).value().seqid, -7);
}

TEST(RpcFrameTest, CompactHeaderAndVarintSeqidReencoding) {
  std::string message = EncodeCommit<TCompactProtocol>(12345);
  Result<MessageHeader> header = ParseMessageHeader(message);
  ASSERT_TRUE(header.ok()) << header.status().ToString();
  EXPECT_EQ(header.value().protocol, WireProtocol::kCompact);
  EXPECT_EQ(header.value().type, MessageType::kCall);
  EXPECT_EQ(header.value().name, "commit");
  EXPECT_EQ(header.value().seqid_bytes, 1u);
  for (int32_t seqid : {300, 0x7fffffff, 1, -1}) {
    ASSERT_TRUE(SetSeqid(&message, seqid).ok());
    EXPECT_EQ(ParseMessageHeader(message).value().seqid, seqid);
    int32_t decoded = 0;
    EXPECT_EQ(DecodeCommitArgs<TCompactProtocol>(message, &decoded).seq, 12345);
    EXPECT_EQ(decoded, seqid);
  }
}

TEST(RpcFrameTest, RejectsWhatIsNotAThriftMessage) {
  const std::string good = EncodeCommit<TBinaryProtocol>(1);
  EXPECT_FALSE(ParseMessageHeader("").ok());
  EXPECT_FALSE(ParseMessageHeader("GET / HTTP/1.1\r\n").ok());
  std::string bad_version = good;
  bad_version[1] = 0x02;
  EXPECT_FALSE(ParseMessageHeader(bad_version).ok());
  for (char type : {char{0}, char{5}, char{0x7f}}) {
    std::string bad_type = good;
    bad_type[3] = type;
    EXPECT_FALSE(ParseMessageHeader(bad_type).ok()) << int{type};
  }
  std::string long_name = good;
  EncodeFrameLength(1000, long_name.data() + 4);
  EXPECT_FALSE(ParseMessageHeader(long_name).ok());
  EXPECT_FALSE(ParseMessageHeader(good.substr(0, 11)).ok());
  std::string compact = EncodeCommit<TCompactProtocol>(1);
  compact[1] = static_cast<char>((7 << 5) | 1);  // type 7
  EXPECT_FALSE(ParseMessageHeader(compact).ok());
  std::string not_a_message = "xyz";
  EXPECT_FALSE(SetSeqid(&not_a_message, 1).ok());
}

std::string Framed(const std::string& payload) {
  std::string frame(kFrameHeaderBytes, '\0');
  EncodeFrameLength(static_cast<uint32_t>(payload.size()), frame.data());
  return frame + payload;
}

// Feeds `bytes` to the reader as one read.
void Feed(internal::FrameReader* reader, const std::string& bytes) {
  boost::asio::mutable_buffer space = reader->Prepare();
  ASSERT_GE(space.size(), bytes.size());
  std::memcpy(space.data(), bytes.data(), bytes.size());
  reader->Commit(bytes.size());
}

TEST(RpcFrameTest, FrameReaderSplitsAndJoinsFrames) {
  internal::FrameReader reader(1000);
  const std::string stream = Framed("first") + Framed("") + Framed(std::string(900, 'x'));
  std::string message;
  uint32_t declared = 0;
  // One byte at a time: a frame is popped exactly when its last byte arrives.
  std::vector<std::string> popped;
  for (char c : stream) {
    Feed(&reader, std::string(1, c));
    while (reader.Pop(&message, &declared) == internal::FrameReader::Next::kMessage) {
      popped.push_back(message);
    }
  }
  ASSERT_EQ(popped.size(), 3u);
  EXPECT_EQ(popped[0], "first");
  EXPECT_EQ(popped[1], "");
  EXPECT_EQ(popped[2], std::string(900, 'x'));
  // All at once.
  Feed(&reader, stream);
  int count = 0;
  while (reader.Pop(&message, &declared) == internal::FrameReader::Next::kMessage) ++count;
  EXPECT_EQ(count, 3);
}

TEST(RpcFrameTest, FrameReaderReportsOversizedAndNegativeLengths) {
  for (uint32_t length : {1001u, 0x80000000u, 0xffffffffu}) {
    internal::FrameReader reader(1000);
    std::string header(kFrameHeaderBytes, '\0');
    EncodeFrameLength(length, header.data());
    Feed(&reader, header);
    std::string message;
    uint32_t declared = 0;
    EXPECT_EQ(reader.Pop(&message, &declared), internal::FrameReader::Next::kOversized);
    EXPECT_EQ(declared, length);
  }
  internal::FrameReader reader(1000);
  Feed(&reader, Framed(std::string(1000, 'y')));
  std::string message;
  uint32_t declared = 0;
  EXPECT_EQ(reader.Pop(&message, &declared), internal::FrameReader::Next::kMessage);
}

// A commit reply as a server writes it: `fill` sets the result struct.
template <typename Fill>
std::string CommitReply(Fill fill) {
  auto buffer = std::make_shared<TMemoryBuffer>();
  TBinaryProtocol protocol(buffer);
  thrift::Coordinator_commit_result result;
  fill(&result);
  protocol.writeMessageBegin("commit", apache::thrift::protocol::T_REPLY, 0);
  result.write(&protocol);
  protocol.writeMessageEnd();
  return buffer->getBufferAsString();
}

using CommitReplyValue = std::variant<CommitResult, TxnError>;

CommitReplyValue RecvCommit(CoordinatorClient& client) {
  try {
    CommitResult result;
    client.recv_commit(result);
    return result;
  } catch (const TxnError& error) {
    return error;
  }
}

TEST(RpcFrameTest, DecodeReplyValuesAndDeclaredExceptionPassThrough) {
  const std::string ok = CommitReply([](thrift::Coordinator_commit_result* r) {
    r->success.outcome = thrift::Outcome::COMMITTED;
    r->__isset.success = true;
  });
  Result<CommitReplyValue> value = DecodeReply<CoordinatorClient>(ok, RecvCommit);
  ASSERT_TRUE(value.ok()) << value.status().ToString();
  EXPECT_EQ(std::get<CommitResult>(value.value()).outcome, thrift::Outcome::COMMITTED);

  const std::string error = CommitReply([](thrift::Coordinator_commit_result* r) {
    r->error.outcome = thrift::Outcome::UNKNOWN;
    r->__isset.error = true;
  });
  Result<CommitReplyValue> passed = DecodeReply<CoordinatorClient>(error, RecvCommit);
  ASSERT_TRUE(passed.ok());
  EXPECT_EQ(std::get<TxnError>(passed.value()).outcome, thrift::Outcome::UNKNOWN);

  // recv that does not catch the declared exception: Aborted, never an escaping exception.
  Result<int> unhandled = DecodeReply<CoordinatorClient>(error, [](CoordinatorClient& c) {
    CommitResult result;
    c.recv_commit(result);
    return 1;
  });
  ASSERT_FALSE(unhandled.ok());
  EXPECT_EQ(unhandled.status().code(), Status::Code::kAborted);
}

std::string ApplicationExceptionReply(apache::thrift::TApplicationException::TApplicationExceptionType t) {
  auto buffer = std::make_shared<TMemoryBuffer>();
  TBinaryProtocol protocol(buffer);
  apache::thrift::TApplicationException e(t, "boom");
  protocol.writeMessageBegin("commit", apache::thrift::protocol::T_EXCEPTION, 0);
  e.write(&protocol);
  protocol.writeMessageEnd();
  return buffer->getBufferAsString();
}

TEST(RpcFrameTest, DecodeReplyTranslatesApplicationExceptionsAndGarbage) {
  using apache::thrift::TApplicationException;
  Result<CommitReplyValue> unknown_method = DecodeReply<CoordinatorClient>(
      ApplicationExceptionReply(TApplicationException::UNKNOWN_METHOD), RecvCommit);
  ASSERT_FALSE(unknown_method.ok());
  EXPECT_EQ(unknown_method.status().code(), Status::Code::kInvalidArgument);
  Result<CommitReplyValue> internal_error = DecodeReply<CoordinatorClient>(
      ApplicationExceptionReply(TApplicationException::INTERNAL_ERROR), RecvCommit);
  ASSERT_FALSE(internal_error.ok());
  EXPECT_EQ(internal_error.status().code(), Status::Code::kIoError);
  Result<CommitReplyValue> garbage = DecodeReply<CoordinatorClient>("\x80\x01", RecvCommit);
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.status().code(), Status::Code::kCorruption);
}

}  // namespace
}  // namespace txcoord::rpc
