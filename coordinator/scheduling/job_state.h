// The job lifecycle as an explicit state machine: a pure transition function
// over v1::JobState, plus the retry backoff schedule. No I/O, no clock, no
// locks; safe to call from any thread. See docs/design/job-lifecycle.md.
//
//   QUEUED --kLease--> LEASED --kComplete--> DONE
//   LEASED --kFail | kLeaseExpired--> QUEUED   (attempts < max_attempts)
//                                 --> FAILED   (attempts >= max_attempts: poison)
//   LEASED --kFailPermanent--> FAILED
//   LEASED --kRelease--> QUEUED                (drain hand-back, no attempt charged)
//   QUEUED | LEASED --kCancel--> CANCELLED
//   DONE | FAILED | CANCELLED --kCancel--> unchanged (idempotent)
//
// Every other (state, event) pair is FAILED_PRECONDITION.
#ifndef PROCTOR_COORDINATOR_SCHEDULING_JOB_STATE_H_
#define PROCTOR_COORDINATOR_SCHEDULING_JOB_STATE_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "proctor/v1/common.pb.h"

namespace proctor::coordinator {

enum class JobEvent {
  kLease,          // the scheduler granted a lease
  kComplete,       // the lease holder reported every output
  kFail,           // the lease holder reported a retryable failure
  kFailPermanent,  // a failure that no retry can fix (bad model file, ...)
  kLeaseExpired,   // the lease TTL passed without a heartbeat (worker presumed dead)
  kRelease,        // drain hand-back: the job goes back unfinished, no attempt charged
  kCancel,         // the run was cancelled
};

// The state after `event` in state `from`.
//
// `attempts` is the number of leases granted so far, including the current
// one; `max_attempts` (>= 1) is the run's limit. They only matter for kFail
// and kLeaseExpired: the job is re-queued while attempts < max_attempts and
// failed otherwise. (A release does not consume an attempt: the caller
// subtracts the charged attempt itself when it applies kRelease.)
//
// Errors:
//  * FAILED_PRECONDITION naming the state and event for a pair that is not a
//    transition (e.g. "job in state DONE cannot take event complete"); the
//    caller should reject the report, not retry it.
//  * INVALID_ARGUMENT when kFail/kLeaseExpired is given max_attempts < 1 or
//    attempts < 1 (a leased job has been leased at least once).
absl::StatusOr<v1::JobState> TransitionJob(v1::JobState from, JobEvent event, int32_t attempts,
                                           int32_t max_attempts);

// True for DONE, FAILED and CANCELLED: no event but kCancel (a no-op) applies.
bool IsTerminal(v1::JobState s);

// Lower-case name of the event ("lease", "fail_permanent", ...), for messages
// and logs. Returns "unknown" for values outside the enum.
absl::string_view JobEventName(JobEvent e);

// The event for a failure a worker reported (v1::JobFailure.code, a
// google.rpc / absl status code). Failures that say the job itself is wrong
// and would fail identically anywhere (INVALID_ARGUMENT, UNIMPLEMENTED,
// OUT_OF_RANGE, DATA_LOSS) are kFailPermanent; everything else (UNAVAILABLE,
// INTERNAL, RESOURCE_EXHAUSTED, FAILED_PRECONDITION such as a bad model file
// on that worker, unknown codes) is kFail: retried with backoff until
// max_attempts, which bounds a poison job.
JobEvent JobEventForFailure(int32_t code);

// Short name of a job state ("QUEUED", "LEASED", ...), for messages.
absl::string_view JobStateName(v1::JobState s);

// How long a job waits before it is leasable again after `attempts` failed
// attempts: 1s, 2s, 4s, 8s, ... capped at 60s. Deterministic (no jitter: the
// scheduler's fair share already spreads retries). attempts <= 0 gives zero.
absl::Duration RetryBackoff(int32_t attempts);

}  // namespace proctor::coordinator

#endif  // PROCTOR_COORDINATOR_SCHEDULING_JOB_STATE_H_
