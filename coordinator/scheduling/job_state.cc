#include "coordinator/scheduling/job_state.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace proctor::coordinator {
namespace {

constexpr absl::Duration kBackoffBase = absl::Seconds(1);
constexpr absl::Duration kBackoffCap = absl::Seconds(60);

absl::Status NotATransition(v1::JobState from, JobEvent event) {
  return absl::FailedPreconditionError(absl::StrCat("job in state ", JobStateName(from),
                                                    " cannot take event ", JobEventName(event)));
}

}  // namespace

bool IsTerminal(v1::JobState s) {
  return s == v1::JOB_STATE_DONE || s == v1::JOB_STATE_FAILED || s == v1::JOB_STATE_CANCELLED;
}

absl::string_view JobEventName(JobEvent e) {
  switch (e) {
    case JobEvent::kLease:
      return "lease";
    case JobEvent::kComplete:
      return "complete";
    case JobEvent::kFail:
      return "fail";
    case JobEvent::kFailPermanent:
      return "fail_permanent";
    case JobEvent::kLeaseExpired:
      return "lease_expired";
    case JobEvent::kRelease:
      return "release";
    case JobEvent::kCancel:
      return "cancel";
  }
  return "unknown";
}

absl::string_view JobStateName(v1::JobState s) {
  switch (s) {
    case v1::JOB_STATE_UNSPECIFIED:
      return "UNSPECIFIED";
    case v1::JOB_STATE_QUEUED:
      return "QUEUED";
    case v1::JOB_STATE_LEASED:
      return "LEASED";
    case v1::JOB_STATE_DONE:
      return "DONE";
    case v1::JOB_STATE_FAILED:
      return "FAILED";
    case v1::JOB_STATE_CANCELLED:
      return "CANCELLED";
    default:
      return "UNKNOWN";
  }
}

absl::StatusOr<v1::JobState> TransitionJob(v1::JobState from, JobEvent event, int32_t attempts,
                                           int32_t max_attempts) {
  if (event == JobEvent::kCancel) {
    if (from == v1::JOB_STATE_QUEUED || from == v1::JOB_STATE_LEASED) {
      return v1::JOB_STATE_CANCELLED;
    }
    if (IsTerminal(from)) return from;  // idempotent
    return NotATransition(from, event);
  }
  if (from == v1::JOB_STATE_QUEUED) {
    if (event == JobEvent::kLease) return v1::JOB_STATE_LEASED;
    return NotATransition(from, event);
  }
  if (from != v1::JOB_STATE_LEASED) return NotATransition(from, event);

  switch (event) {
    case JobEvent::kComplete:
      return v1::JOB_STATE_DONE;
    case JobEvent::kFailPermanent:
      return v1::JOB_STATE_FAILED;
    case JobEvent::kRelease:
      return v1::JOB_STATE_QUEUED;
    case JobEvent::kFail:
    case JobEvent::kLeaseExpired:
      if (max_attempts < 1) {
        return absl::InvalidArgumentError(
            absl::StrCat("max_attempts must be >= 1, got ", max_attempts));
      }
      if (attempts < 1) {
        return absl::InvalidArgumentError(
            absl::StrCat("attempts of a leased job must be >= 1, got ", attempts));
      }
      return attempts < max_attempts ? v1::JOB_STATE_QUEUED : v1::JOB_STATE_FAILED;
    case JobEvent::kLease:
    case JobEvent::kCancel:  // handled above
      break;
  }
  return NotATransition(from, event);
}

JobEvent JobEventForFailure(int32_t code) {
  switch (static_cast<absl::StatusCode>(code)) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kUnimplemented:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kDataLoss:
      return JobEvent::kFailPermanent;
    default:
      return JobEvent::kFail;
  }
}

absl::Duration RetryBackoff(int32_t attempts) {
  if (attempts <= 0) return absl::ZeroDuration();
  // 2^6 s = 64 s > cap, so any exponent >= 6 is capped; avoid shifting far.
  const int32_t exponent = std::min(attempts - 1, 6);
  return std::min(kBackoffBase * (int64_t{1} << exponent), kBackoffCap);
}

}  // namespace proctor::coordinator
