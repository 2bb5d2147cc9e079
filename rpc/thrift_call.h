// Typed calls of generated Thrift methods over rpc::Client.
//
// A generated synchronous client (e.g. txcoord::thrift::CoordinatorClient) is used as a codec only:
// its send_X writes the call into a fresh TMemoryBuffer, and its recv_X parses the reply bytes
// from another fresh TMemoryBuffer (TOOLCHAIN.md pitfall 5). rpc::Client carries the bytes.
//
//   rpc::CallMethod<CoordinatorClient>(
//       client, deadline,
//       [&](CoordinatorClient& c) { c.send_status(txn); },
//       [](CoordinatorClient& c) { TxnStatus s; c.recv_status(s); return s; },
//       [](Result<TxnStatus> status) { ... });
//
// Exceptions never escape these functions; what the reply carries is translated thus:
//   - Declared IDL exceptions (TxnError, InvalidRequest, StaleEpoch) are PASSED THROUGH as values:
//     `recv` catches the ones its method declares and folds them into its return type (e.g.
//     std::variant<CommitResult, TxnError, InvalidRequest>). They carry data a Status cannot
//     (TxnError's outcome: UNKNOWN must never be guessed), so only the caller can handle them.
//     A declared exception that `recv` lets escape becomes Status::Aborted naming it.
//   - TApplicationException (the server could not run the call) becomes a Status: InvalidArgument
//     when the server says the call was never executed (unknown method, wrong message type or
//     name, protocol errors); IoError otherwise (INTERNAL_ERROR, MISSING_RESULT, ...: the call's
//     effect is unknown).
//   - A reply that does not decode (TProtocolException, TTransportException) becomes Corruption.
//   - Transport failures are the Client's: Timeout, Unavailable (see client.h).
#pragma once

#include <exception>
#include <memory>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include <thrift/TApplicationException.h>
#include <thrift/Thrift.h>
#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/transport/TBufferTransports.h>

#include "common/status.h"
#include "rpc/client.h"

namespace txcoord::rpc {

namespace internal {
Status FromApplicationException(const apache::thrift::TApplicationException& e);
}  // namespace internal

// Encodes one call with the generated client's send_X (the binary protocol, seqid 0: the Client
// assigns the real one). `send(ThriftClient&)` calls one send_X. Fails with InvalidArgument if
// the arguments cannot be encoded (e.g. a required field unset).
template <typename ThriftClient, typename Send>
Result<std::string> EncodeCall(Send&& send) {
  using apache::thrift::protocol::TBinaryProtocolT;
  using apache::thrift::transport::TMemoryBuffer;
  try {
    auto buffer = std::make_shared<TMemoryBuffer>();
    ThriftClient client(std::make_shared<TBinaryProtocolT<TMemoryBuffer>>(buffer));
    send(client);
    return buffer->getBufferAsString();
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("cannot encode the call: ") + e.what());
  }
}

// Decodes one reply message with the generated client's recv_X: `recv(ThriftClient&)` calls
// recv_X and returns the value to hand back (non-void: return e.g. std::monostate for a void
// method). Binary protocol only (what EncodeCall sends, so what the server answers).
template <typename ThriftClient, typename Recv>
auto DecodeReply(const std::string& reply, Recv&& recv)
    -> Result<std::decay_t<decltype(recv(std::declval<ThriftClient&>()))>> {
  using apache::thrift::protocol::TBinaryProtocolT;
  using apache::thrift::transport::TMemoryBuffer;
  try {
    auto buffer = std::make_shared<TMemoryBuffer>(
        reinterpret_cast<uint8_t*>(const_cast<char*>(reply.data())),
        static_cast<uint32_t>(reply.size()), TMemoryBuffer::OBSERVE);
    ThriftClient client(std::make_shared<TBinaryProtocolT<TMemoryBuffer>>(buffer));
    return recv(client);
  } catch (const apache::thrift::TApplicationException& e) {
    return internal::FromApplicationException(e);
  } catch (const apache::thrift::protocol::TProtocolException& e) {
    return Status::Corruption(std::string("reply does not decode: ") + e.what());
  } catch (const apache::thrift::transport::TTransportException& e) {
    return Status::Corruption(std::string("reply does not decode: ") + e.what());
  } catch (const apache::thrift::TException& e) {
    return Status::Aborted(std::string("unhandled declared exception ") + typeid(e).name() +
                           ": " + e.what());
  } catch (const std::exception& e) {
    return Status::Corruption(std::string("reply does not decode: ") + e.what());
  }
}

// EncodeCall, Client::Call, DecodeReply: `done(Result<R>)` runs once, on an io_context thread,
// with recv's value or a Status as described at the top of this file.
template <typename ThriftClient, typename Send, typename Recv, typename Done>
void CallMethod(Client& client, Deadline deadline, Send&& send, Recv recv, Done done) {
  using Value = std::decay_t<decltype(recv(std::declval<ThriftClient&>()))>;
  Result<std::string> request = EncodeCall<ThriftClient>(std::forward<Send>(send));
  if (!request.ok()) {
    // Through the client, so `done` still runs on an io_context thread.
    Status status = request.status();
    client.Call(std::string(), deadline, [done = std::move(done), status](Result<std::string>) {
      done(Result<Value>(status));
    });
    return;
  }
  client.Call(std::move(request.value()), deadline,
              [recv = std::move(recv), done = std::move(done)](Result<std::string> reply) {
                if (!reply.ok()) {
                  done(Result<Value>(reply.status()));
                  return;
                }
                done(DecodeReply<ThriftClient>(reply.value(), recv));
              });
}

}  // namespace txcoord::rpc
