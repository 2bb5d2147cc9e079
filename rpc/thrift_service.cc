#include "rpc/thrift_service.h"

#include <atomic>
#include <exception>
#include <string>
#include <utility>

#include <thrift/TConfiguration.h>
#include <thrift/async/TAsyncProcessor.h>
#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/protocol/TCompactProtocol.h>
#include <thrift/transport/TBufferTransports.h>

namespace txcoord::rpc {

namespace {

using apache::thrift::TConfiguration;
using apache::thrift::protocol::TProtocol;
using apache::thrift::transport::TMemoryBuffer;

// Everything one call needs until its reply is encoded; the processor's callbacks hold it.
struct CallContext {
  // The generated callbacks call back into the processor (they bind its `this`): a handler that
  // answers after the server is gone must still find it.
  std::shared_ptr<apache::thrift::async::TAsyncProcessor> processor;
  std::string request;
  std::shared_ptr<TMemoryBuffer> in;
  std::shared_ptr<TMemoryBuffer> out;
  std::shared_ptr<TProtocol> in_protocol;
  std::shared_ptr<TProtocol> out_protocol;
  bool oneway = false;
  ReplyFn reply;
  std::atomic<bool> replied{false};

  // Replies once; a second reply (a processor that fails after answering) is ignored.
  void Reply(Result<std::string> result) {
    if (replied.exchange(true)) return;
    reply(std::move(result));
  }
};

template <template <typename> class ProtocolT>
void MakeProtocols(CallContext* call) {
  call->in_protocol = std::make_shared<ProtocolT<TMemoryBuffer>>(call->in);
  call->out_protocol = std::make_shared<ProtocolT<TMemoryBuffer>>(call->out);
}

}  // namespace

Handler MakeThriftHandler(std::shared_ptr<apache::thrift::async::TAsyncProcessor> processor) {
  // Frames are already bounded by the server's max_frame_bytes: Thrift's own message size check
  // (100 MiB by default) must not be the smaller limit.
  auto config = std::make_shared<TConfiguration>(INT32_MAX);
  return [processor = std::move(processor), config](std::string request, ReplyFn reply) {
    auto call = std::make_shared<CallContext>();
    call->processor = processor;
    call->request = std::move(request);
    call->reply = std::move(reply);
    Result<MessageHeader> header = ParseMessageHeader(call->request);
    if (!header.ok()) {  // the server checked it; defensive
      call->Reply(header.status());
      return;
    }
    call->oneway = header.value().type == MessageType::kOneway;
    call->in = std::make_shared<TMemoryBuffer>(reinterpret_cast<uint8_t*>(call->request.data()),
                                               static_cast<uint32_t>(call->request.size()),
                                               TMemoryBuffer::OBSERVE, config);
    call->out = std::make_shared<TMemoryBuffer>(config);
    if (header.value().protocol == WireProtocol::kCompact) {
      MakeProtocols<apache::thrift::protocol::TCompactProtocolT>(call.get());
    } else {
      MakeProtocols<apache::thrift::protocol::TBinaryProtocolT>(call.get());
    }
    // The callback owns the call (and so the protocols the processor writes through) until the
    // processor is done with it.
    auto on_done = [call](bool ok) {
      if (!ok) {
        call->Reply(Status::Corruption("the call's arguments do not decode"));
      } else if (call->oneway) {
        call->Reply(std::string());
      } else {
        call->Reply(call->out->getBufferAsString());
      }
    };
    try {
      processor->process(on_done, call->in_protocol, call->out_protocol);
    } catch (const std::exception& e) {
      call->Reply(Status::Corruption(std::string("processor threw: ") + e.what()));
    }
  };
}

}  // namespace txcoord::rpc
