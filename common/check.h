// Checked assertions that stay on in release builds (STYLE.md 4): a broken invariant stops the
// process with the condition, the place and an optional message; operating errors are values
// (status.h), never checks.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace txcoord::internal {
[[noreturn]] inline void CheckFailed(const char* cond, const char* file, int line, const char* msg) {
  std::fprintf(stderr, "CHECK failed: %s at %s:%d %s\n", cond, file, line, msg ? msg : "");
  std::fflush(stderr);
  std::abort();
}
}  // namespace txcoord::internal

#define TXC_CHECK(cond)                                                                   \
  do {                                                                                    \
    if (!(cond)) ::txcoord::internal::CheckFailed(#cond, __FILE__, __LINE__, nullptr);    \
  } while (0)

#define TXC_CHECK_MSG(cond, msg)                                                          \
  do {                                                                                    \
    if (!(cond)) ::txcoord::internal::CheckFailed(#cond, __FILE__, __LINE__, (msg));      \
  } while (0)
