#include "common/status.h"

namespace txcoord {

std::string Status::ToString() const {
  const char* name = "OK";
  switch (code_) {
    case Code::kOk: return "OK";
    case Code::kInvalidArgument: name = "InvalidArgument"; break;
    case Code::kNotFound: name = "NotFound"; break;
    case Code::kCorruption: name = "Corruption"; break;
    case Code::kIoError: name = "IoError"; break;
    case Code::kTimeout: name = "Timeout"; break;
    case Code::kAborted: name = "Aborted"; break;
    case Code::kUnavailable: name = "Unavailable"; break;
    case Code::kStaleEpoch: name = "StaleEpoch"; break;
  }
  return std::string(name) + ": " + message_;
}

}  // namespace txcoord
