#include "cluster/address.h"

#include <charconv>
#include <system_error>

namespace txcoord::cluster {

std::string Address::ToString() const {
  const std::string p = std::to_string(port);
  return host.find(':') == std::string::npos ? host + ":" + p : "[" + host + "]:" + p;
}

Result<Address> ParseAddress(std::string_view text) {
  const auto error = [text](std::string_view why) {
    std::string message = "expected host:port, found '" + std::string(text) + "'";
    if (!why.empty()) message += " (" + std::string(why) + ")";
    return Status::InvalidArgument(std::move(message));
  };
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return error("");
  std::string_view host = text.substr(0, colon);
  const std::string_view port = text.substr(colon + 1);
  if (text.find_first_of(" \t\r\n\f\v") != std::string_view::npos) return error("whitespace");
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find_first_of("[]") != std::string_view::npos) {
    return error("unbalanced brackets");
  } else if (host.find(':') != std::string_view::npos) {
    return error("an IPv6 host goes in brackets: [::1]:7000");
  }
  if (host.empty()) return error("empty host");
  uint32_t number = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || number == 0 ||
      number > 65535) {
    return error("port must be 1..65535");
  }
  return Address{std::string(host), static_cast<uint16_t>(number)};
}

}  // namespace txcoord::cluster
