// Exponential backoff with jitter for retrying calls to the coordinator.
//
// The n-th delay (n = 0, 1, ...) is min(max, initial * multiplier^n), scaled by
// a uniform factor in [1 - jitter, 1 + jitter] so that a fleet of workers that
// lost the coordinator together does not come back in lock step.
#ifndef PROCTOR_WORKER_BACKOFF_H_
#define PROCTOR_WORKER_BACKOFF_H_

#include <cstdint>
#include <random>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace proctor::worker {

struct BackoffOptions {
  absl::Duration initial = absl::Milliseconds(100);
  absl::Duration max = absl::Seconds(10);
  double multiplier = 2.0;
  double jitter = 0.2;  // in [0, 1)
};

// Not thread-safe; one per retry loop.
class Backoff {
 public:
  explicit Backoff(const BackoffOptions& options, uint64_t seed = std::random_device{}());

  // Returns the delay to wait before the next attempt and advances.
  absl::Duration Next();
  // Back to the initial delay (after a success).
  void Reset() { attempt_ = 0; }
  int attempts() const { return attempt_; }

 private:
  BackoffOptions options_;
  std::mt19937_64 rng_;
  int attempt_ = 0;
};

// True for errors of a call to the coordinator that may succeed when simply
// repeated later (UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED, RESOURCE_EXHAUSTED,
// INTERNAL, UNKNOWN, CANCELLED); false for OK and for answers that will not
// change by retrying (FAILED_PRECONDITION, NOT_FOUND, INVALID_ARGUMENT, ...).
bool IsRetryableRpcError(const absl::Status& status);

}  // namespace proctor::worker

#endif  // PROCTOR_WORKER_BACKOFF_H_
