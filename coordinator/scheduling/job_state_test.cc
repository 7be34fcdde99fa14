#include "coordinator/scheduling/job_state.h"

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace proctor::coordinator {
namespace {

using ::testing::HasSubstr;

constexpr v1::JobState kStates[] = {v1::JOB_STATE_UNSPECIFIED, v1::JOB_STATE_QUEUED,
                                    v1::JOB_STATE_LEASED,      v1::JOB_STATE_DONE,
                                    v1::JOB_STATE_FAILED,      v1::JOB_STATE_CANCELLED};
constexpr JobEvent kEvents[] = {
    JobEvent::kLease,        JobEvent::kComplete, JobEvent::kFail,  JobEvent::kFailPermanent,
    JobEvent::kLeaseExpired, JobEvent::kRelease,  JobEvent::kCancel};

// The expected result of (state, event) for a job with attempts left
// (attempts 1 of 3); nullopt = FAILED_PRECONDITION.
std::optional<v1::JobState> Expected(v1::JobState s, JobEvent e) {
  if (e == JobEvent::kCancel) {
    if (s == v1::JOB_STATE_QUEUED || s == v1::JOB_STATE_LEASED) return v1::JOB_STATE_CANCELLED;
    if (IsTerminal(s)) return s;
    return std::nullopt;
  }
  if (s == v1::JOB_STATE_QUEUED && e == JobEvent::kLease) return v1::JOB_STATE_LEASED;
  if (s != v1::JOB_STATE_LEASED) return std::nullopt;
  switch (e) {
    case JobEvent::kComplete:
      return v1::JOB_STATE_DONE;
    case JobEvent::kFail:
    case JobEvent::kLeaseExpired:
    case JobEvent::kRelease:
      return v1::JOB_STATE_QUEUED;
    case JobEvent::kFailPermanent:
      return v1::JOB_STATE_FAILED;
    default:
      return std::nullopt;
  }
}

TEST(JobStateTest, EveryStateEventPair) {
  int transitions = 0, rejected = 0;
  for (v1::JobState s : kStates) {
    for (JobEvent e : kEvents) {
      SCOPED_TRACE(absl::StrCat(JobStateName(s), " + ", JobEventName(e)));
      absl::StatusOr<v1::JobState> got = TransitionJob(s, e, /*attempts=*/1, /*max_attempts=*/3);
      std::optional<v1::JobState> want = Expected(s, e);
      if (want.has_value()) {
        ASSERT_TRUE(got.ok()) << got.status();
        EXPECT_EQ(*got, *want);
        ++transitions;
      } else {
        ASSERT_FALSE(got.ok());
        EXPECT_EQ(got.status().code(), absl::StatusCode::kFailedPrecondition);
        EXPECT_THAT(got.status().message(), HasSubstr(std::string(JobStateName(s))));
        EXPECT_THAT(got.status().message(), HasSubstr(std::string(JobEventName(e))));
        ++rejected;
      }
    }
  }
  // 1 (queued lease) + 5 (leased) + 2 (queued/leased cancel) + 3 terminal cancels.
  EXPECT_EQ(transitions, 11);
  EXPECT_EQ(rejected, 6 * 7 - 11);
}

TEST(JobStateTest, ExplicitPairsSpelledOut) {
  EXPECT_EQ(*TransitionJob(v1::JOB_STATE_QUEUED, JobEvent::kLease, 1, 3), v1::JOB_STATE_LEASED);
  EXPECT_EQ(*TransitionJob(v1::JOB_STATE_LEASED, JobEvent::kComplete, 1, 3), v1::JOB_STATE_DONE);
  EXPECT_EQ(*TransitionJob(v1::JOB_STATE_LEASED, JobEvent::kFailPermanent, 1, 3),
            v1::JOB_STATE_FAILED);
  EXPECT_EQ(*TransitionJob(v1::JOB_STATE_DONE, JobEvent::kCancel, 1, 3), v1::JOB_STATE_DONE);
  EXPECT_EQ(*TransitionJob(v1::JOB_STATE_FAILED, JobEvent::kCancel, 3, 3), v1::JOB_STATE_FAILED);
  absl::StatusOr<v1::JobState> late = TransitionJob(v1::JOB_STATE_DONE, JobEvent::kComplete, 1, 3);
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.status().message(), "job in state DONE cannot take event complete");
}

TEST(JobStateTest, RetryableFailureRequeuesUntilAttemptsRunOut) {
  for (JobEvent e : {JobEvent::kFail, JobEvent::kLeaseExpired}) {
    SCOPED_TRACE(JobEventName(e));
    EXPECT_EQ(*TransitionJob(v1::JOB_STATE_LEASED, e, 1, 3), v1::JOB_STATE_QUEUED);
    EXPECT_EQ(*TransitionJob(v1::JOB_STATE_LEASED, e, 2, 3), v1::JOB_STATE_QUEUED);
    EXPECT_EQ(*TransitionJob(v1::JOB_STATE_LEASED, e, 3, 3), v1::JOB_STATE_FAILED);
    EXPECT_EQ(*TransitionJob(v1::JOB_STATE_LEASED, e, 7, 3), v1::JOB_STATE_FAILED);
    EXPECT_EQ(*TransitionJob(v1::JOB_STATE_LEASED, e, 1, 1), v1::JOB_STATE_FAILED);
  }
}

TEST(JobStateTest, ReleaseNeverFailsTheJob) {
  // A drain hand-back is not the job's fault: even on the last attempt.
  EXPECT_EQ(*TransitionJob(v1::JOB_STATE_LEASED, JobEvent::kRelease, 3, 3), v1::JOB_STATE_QUEUED);
  EXPECT_EQ(*TransitionJob(v1::JOB_STATE_LEASED, JobEvent::kRelease, 9, 3), v1::JOB_STATE_QUEUED);
}

TEST(JobStateTest, BadAttemptArgumentsAreInvalid) {
  absl::StatusOr<v1::JobState> s = TransitionJob(v1::JOB_STATE_LEASED, JobEvent::kFail, 1, 0);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.status().message(), HasSubstr("max_attempts"));
  s = TransitionJob(v1::JOB_STATE_LEASED, JobEvent::kLeaseExpired, 0, 3);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.status().message(), HasSubstr("attempts"));
  // Not consulted for other events.
  EXPECT_EQ(*TransitionJob(v1::JOB_STATE_QUEUED, JobEvent::kLease, 0, 0), v1::JOB_STATE_LEASED);
}

TEST(JobStateTest, UnknownStateValueIsRejected) {
  const auto bogus = static_cast<v1::JobState>(42);
  for (JobEvent e : kEvents) {
    absl::StatusOr<v1::JobState> s = TransitionJob(bogus, e, 1, 3);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(s.status().message(), HasSubstr("UNKNOWN"));
  }
}

TEST(JobStateTest, IsTerminal) {
  EXPECT_FALSE(IsTerminal(v1::JOB_STATE_UNSPECIFIED));
  EXPECT_FALSE(IsTerminal(v1::JOB_STATE_QUEUED));
  EXPECT_FALSE(IsTerminal(v1::JOB_STATE_LEASED));
  EXPECT_TRUE(IsTerminal(v1::JOB_STATE_DONE));
  EXPECT_TRUE(IsTerminal(v1::JOB_STATE_FAILED));
  EXPECT_TRUE(IsTerminal(v1::JOB_STATE_CANCELLED));
}

TEST(JobStateTest, EventNamesAreDistinct) {
  std::set<std::string> names;
  for (JobEvent e : kEvents) names.insert(std::string(JobEventName(e)));
  EXPECT_EQ(names.size(), std::size(kEvents));
  EXPECT_EQ(names.count("unknown"), 0u);
  EXPECT_EQ(JobEventName(static_cast<JobEvent>(99)), "unknown");
}

TEST(JobStateTest, FailureCodesMapToEvents) {
  EXPECT_EQ(JobEventForFailure(static_cast<int32_t>(absl::StatusCode::kInvalidArgument)),
            JobEvent::kFailPermanent);
  EXPECT_EQ(JobEventForFailure(static_cast<int32_t>(absl::StatusCode::kUnimplemented)),
            JobEvent::kFailPermanent);
  EXPECT_EQ(JobEventForFailure(static_cast<int32_t>(absl::StatusCode::kDataLoss)),
            JobEvent::kFailPermanent);
  EXPECT_EQ(JobEventForFailure(static_cast<int32_t>(absl::StatusCode::kUnavailable)),
            JobEvent::kFail);
  EXPECT_EQ(JobEventForFailure(static_cast<int32_t>(absl::StatusCode::kResourceExhausted)),
            JobEvent::kFail);
  EXPECT_EQ(JobEventForFailure(static_cast<int32_t>(absl::StatusCode::kFailedPrecondition)),
            JobEvent::kFail);
  EXPECT_EQ(JobEventForFailure(0), JobEvent::kFail) << "OK as a failure code: treat as transient";
  EXPECT_EQ(JobEventForFailure(-7), JobEvent::kFail);
  EXPECT_EQ(JobEventForFailure(1234), JobEvent::kFail);
}

TEST(JobStateTest, RetryBackoffDoublesAndCaps) {
  EXPECT_EQ(RetryBackoff(-1), absl::ZeroDuration());
  EXPECT_EQ(RetryBackoff(0), absl::ZeroDuration());
  EXPECT_EQ(RetryBackoff(1), absl::Seconds(1));
  EXPECT_EQ(RetryBackoff(2), absl::Seconds(2));
  EXPECT_EQ(RetryBackoff(3), absl::Seconds(4));
  EXPECT_EQ(RetryBackoff(6), absl::Seconds(32));
  EXPECT_EQ(RetryBackoff(7), absl::Seconds(60));
  EXPECT_EQ(RetryBackoff(100), absl::Seconds(60));
  EXPECT_EQ(RetryBackoff(INT32_MAX), absl::Seconds(60));
  for (int a = 1; a < 40; ++a) EXPECT_LE(RetryBackoff(a), RetryBackoff(a + 1));
}

}  // namespace
}  // namespace proctor::coordinator
