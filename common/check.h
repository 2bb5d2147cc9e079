// Checked assertions that stay on in release builds (STYLE.md 4): a broken invariant stops the
// process with the condition, the place and an optional message; operating errors are values
// (status.h), never checks.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace txcoord {
// What a failed check does instead of printing and aborting. Only a test harness replaces it: the
// simulator turns a failed check inside a core into a reported violation of the seed it runs
// (an assertion is a checker too). A handler must not return (it throws); if it does, the
// process aborts as usual.
using CheckFailureHandler = void (*)(const char* cond, const char* file, int line,
                                     const char* msg);
inline CheckFailureHandler check_failure_handler = nullptr;
}  // namespace txcoord

namespace txcoord::internal {
[[noreturn]] inline void CheckFailed(const char* cond, const char* file, int line, const char* msg) {
  if (check_failure_handler != nullptr) check_failure_handler(cond, file, line, msg);
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
