#include "rpc/thrift_call.h"

namespace txcoord::rpc::internal {

Status FromApplicationException(const apache::thrift::TApplicationException& e) {
  using apache::thrift::TApplicationException;
  const std::string message = std::string("server: ") + e.what();
  switch (e.getType()) {
    case TApplicationException::UNKNOWN_METHOD:
    case TApplicationException::INVALID_MESSAGE_TYPE:
    case TApplicationException::WRONG_METHOD_NAME:
    case TApplicationException::PROTOCOL_ERROR:
    case TApplicationException::INVALID_TRANSFORM:
    case TApplicationException::INVALID_PROTOCOL:
    case TApplicationException::UNSUPPORTED_CLIENT_TYPE:
      return Status::InvalidArgument(message);
    default:
      return Status::IoError(message);
  }
}

}  // namespace txcoord::rpc::internal
