// Capped exponential backoff with jitter, in ticks. Every retry loop of the protocol (in-doubt
// status queries, termination ballots, COMMIT resends) uses it, so none spins and none is
// unbounded in its period.
#pragma once

#include <algorithm>

#include "common/ids.h"
#include "common/rng.h"

namespace txcoord::recovery {

class Backoff {
 public:
  Backoff(Ticks first_ticks, Ticks max_ticks) : first_(first_ticks), max_(max_ticks), next_(first_ticks) {}
  // The delay before the next attempt: uniform in [d/2, d], then d doubles up to the cap.
  Ticks NextDelay(Rng& rng) {
    const Ticks d = next_;
    next_ = std::min(max_, next_ * 2);
    ++attempts_;
    return d / 2 + rng.Range(0, d - d / 2);
  }
  void Reset() { next_ = first_; attempts_ = 0; }
  int attempts() const { return attempts_; }

 private:
  Ticks first_;
  Ticks max_;
  Ticks next_;
  int attempts_ = 0;
};

}  // namespace txcoord::recovery
