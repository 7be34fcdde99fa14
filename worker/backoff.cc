#include "worker/backoff.h"

#include <algorithm>
#include <cmath>

namespace proctor::worker {

Backoff::Backoff(const BackoffOptions& options, uint64_t seed) : options_(options), rng_(seed) {}

absl::Duration Backoff::Next() {
  const double base_s = absl::ToDoubleSeconds(options_.initial) *
                        std::pow(options_.multiplier, static_cast<double>(attempt_));
  const double capped_s = std::min(base_s, absl::ToDoubleSeconds(options_.max));
  if (attempt_ < 64) ++attempt_;
  const double jitter = std::clamp(options_.jitter, 0.0, 0.99);
  std::uniform_real_distribution<double> factor(1.0 - jitter, 1.0 + jitter);
  return absl::Seconds(capped_s * factor(rng_));
}

bool IsRetryableRpcError(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kCancelled:
      return true;
    default:
      return false;
  }
}

}  // namespace proctor::worker
