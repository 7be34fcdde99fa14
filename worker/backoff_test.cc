#include "worker/backoff.h"

#include <gtest/gtest.h>

namespace proctor::worker {
namespace {

TEST(BackoffTest, GrowsExponentiallyUpToTheCapWithinJitter) {
  BackoffOptions options;
  options.initial = absl::Milliseconds(100);
  options.max = absl::Seconds(1);
  options.multiplier = 2.0;
  options.jitter = 0.2;
  Backoff backoff(options, /*seed=*/42);
  const double expected_ms[] = {100, 200, 400, 800, 1000, 1000, 1000};
  for (double ms : expected_ms) {
    const double got = absl::ToDoubleMilliseconds(backoff.Next());
    EXPECT_GE(got, ms * 0.8 - 1e-6);
    EXPECT_LE(got, ms * 1.2 + 1e-6);
  }
  EXPECT_EQ(backoff.attempts(), 7);
  backoff.Reset();
  EXPECT_LE(absl::ToDoubleMilliseconds(backoff.Next()), 120 + 1e-6);
}

TEST(BackoffTest, JitterSpreadsWorkers) {
  BackoffOptions options;
  Backoff a(options, 1), b(options, 2);
  bool differ = false;
  for (int i = 0; i < 5; ++i) differ = differ || a.Next() != b.Next();
  EXPECT_TRUE(differ);
}

TEST(BackoffTest, ClassifiesRetryableErrors) {
  EXPECT_TRUE(IsRetryableRpcError(absl::UnavailableError("x")));
  EXPECT_TRUE(IsRetryableRpcError(absl::DeadlineExceededError("x")));
  EXPECT_TRUE(IsRetryableRpcError(absl::AbortedError("x")));
  EXPECT_FALSE(IsRetryableRpcError(absl::OkStatus()));
  EXPECT_FALSE(IsRetryableRpcError(absl::FailedPreconditionError("stale token")));
  EXPECT_FALSE(IsRetryableRpcError(absl::NotFoundError("x")));
  EXPECT_FALSE(IsRetryableRpcError(absl::InvalidArgumentError("x")));
}

}  // namespace
}  // namespace proctor::worker
