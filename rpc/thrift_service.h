// Serving generated cob-style Thrift services with rpc::Server.
//
// `thrift --gen cpp:cob_style` (idl/CMakeLists.txt) generates, per service, a `*CobSvIf` interface
// whose methods get a success callback and an exception callback instead of returning, and a
// `*AsyncProcessor` (an apache::thrift::async::TAsyncProcessor) that decodes a call, invokes the
// interface and encodes what it answers. MakeThriftHandler turns such a processor into a
// rpc::Handler:
//
//   auto processor = std::make_shared<txcoord::thrift::CoordinatorAsyncProcessor>(impl);
//   auto server = rpc::Server::Start(io, options, rpc::MakeThriftHandler(processor));
//
// Each request frame is decoded from its own TMemoryBuffer (TOOLCHAIN.md pitfall 5) with the
// binary or compact protocol, chosen per frame from its first byte, and the reply is encoded with
// the same protocol. The implementation may call its callbacks later, from any thread, exactly
// once per call (one of the two), also after the server is stopped or destroyed (each pending
// call keeps the processor alive; the reply is then dropped). A declared IDL exception goes to the exception callback as
// `apache::thrift::TDelayedException::delayException(error)` and reaches the client as that
// exception; anything else thrown becomes a TApplicationException (INTERNAL_ERROR). A call whose
// arguments do not decode closes its connection, as a stock Thrift server does.
#pragma once

#include <memory>

#include "rpc/server.h"

namespace apache::thrift::async {
class TAsyncProcessor;
}  // namespace apache::thrift::async

namespace txcoord::rpc {

// The processor must be safe to use from several threads at once when the io_context runs on
// several threads (generated processors are, with no event handler set).
Handler MakeThriftHandler(std::shared_ptr<apache::thrift::async::TAsyncProcessor> processor);

}  // namespace txcoord::rpc
