// The worker's main loop: register with the coordinator, lease jobs, run them
// (JobExecution), heartbeat, drain. docs/design/worker.md has the protocol.
//
//   Register (capabilities) ─▶ loop:
//     idle:  Lease(wait ≤ lease_wait, ≤ time to the next heartbeat)
//            ├─ job ─▶ run it on a job thread; this thread heartbeats every
//            │         heartbeat_interval with the active lease and stops the
//            │         job when the reply lists it cancelled or lost
//            └─ none ─▶ come back after retry_after (heartbeating meanwhile)
//     errors: UNAVAILABLE & co. ─▶ exponential backoff with jitter;
//             NOT_FOUND (worker id unknown) ─▶ register again;
//             INVALID_ARGUMENT / PERMISSION_DENIED / UNAUTHENTICATED /
//             UNIMPLEMENTED / FAILED_PRECONDITION from Register ─▶ Run()
//             returns the error.
//   Drain (RequestDrain, SIGTERM in main, or a heartbeat reply with drain):
//     lease nothing more (a Lease already in flight is let finish, so that no
//     job is lost in a cancelled call; a job it brings is handed back at once);
//     let the current job finish; once drain_timeout has passed, hand it back
//     (release=true); then Run() returns OK.
#ifndef PROCTOR_WORKER_PULL_LOOP_H_
#define PROCTOR_WORKER_PULL_LOOP_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "proctor/v1/worker.pb.h"
#include "worker/backoff.h"
#include "worker/coordinator_client.h"
#include "worker/job_execution.h"
#include "worker/metrics.h"
#include "worker/model_cache.h"
#include "worker/output_reporter.h"

namespace proctor::worker {

struct PullLoopOptions {
  // Stable name (RegisterRequest.worker_name), e.g. "host:gpu0".
  std::string name;
  // Capabilities advertised at registration.
  std::string backend;
  int gpu_count = 0;
  int64_t gpu_memory_bytes = 0;  // per GPU
  bool sandbox = false;
  std::string hostname;
  std::string version;

  // Longest long-poll asked of Lease (the server may cap it).
  absl::Duration lease_wait = absl::Seconds(10);
  // How long a drain lets the current job run before handing it back.
  absl::Duration drain_timeout = absl::Seconds(60);
  // Deadline of each unary call (added to the long-poll for Lease).
  absl::Duration rpc_timeout = absl::Seconds(10);
  // Used when RegisterResponse.heartbeat_interval is unset.
  absl::Duration default_heartbeat_interval = absl::Seconds(5);
  // When an empty Lease reply comes back at once with no retry_after, wait
  // this long before asking again (a server that ignores `wait`).
  absl::Duration min_idle_poll = absl::Milliseconds(100);
  BackoffOptions backoff;
  ReporterOptions reporter;
  // Called with the worker id after each successful registration (from the
  // thread running Run()).
  std::function<void(const std::string& worker_id)> on_registered;
};

class PullLoop {
 public:
  // `client`, `models` and `metrics` (may be null) must outlive the loop.
  // `judge_runner` runs judge jobs (null: no sandbox; see JobDeps).
  PullLoop(const PullLoopOptions& options, CoordinatorClient* client, ModelCache* models,
           WorkerMetrics* metrics, std::shared_ptr<engine::LoadedModel> judge_runner = nullptr);

  // Runs until drained; returns OK then. Returns the coordinator's error when
  // it refuses registration for a reason retrying cannot fix. Call once.
  absl::Status Run();

  // Thread-safe (not async-signal-safe: call it from a signal-waiting thread).
  // Starts a drain; with `immediately`, the current job is handed back now
  // instead of after drain_timeout. Idempotent.
  void RequestDrain(bool immediately = false);

  // The id from the last successful registration; empty before.
  std::string worker_id() const;
  // Jobs finished by this loop (any result).
  int64_t jobs_finished() const;

 private:
  enum class RegisterResult { kRegistered, kDraining };
  // Registers, retrying with backoff; returns the error that must end Run().
  absl::StatusOr<RegisterResult> RegisterWithRetry();
  absl::Status RegisterOnce();
  // One heartbeat; reacts to its reply (cancel/lost -> job->Stop, drain).
  void HeartbeatOnce(JobExecution* job);
  // Runs `job` to its end, heartbeating meanwhile; with `hand_back`, releases
  // it without running it.
  void RunJob(v1::Job job, bool hand_back);

  bool draining() const;
  void Wake();
  // Sleeps until `deadline`, a Wake(), or a drain request.
  void WaitUntil(absl::Time deadline);

  const PullLoopOptions options_;
  CoordinatorClient* const client_;
  ModelCache* const models_;
  WorkerMetrics* const metrics_;
  const std::shared_ptr<engine::LoadedModel> judge_runner_;
  // Jobs report through it: it attaches the model identity (result cache).
  IdentityStampingClient reports_client_;
  Backoff backoff_;  // used by the Run() thread only

  // Touched by the Run() thread only.
  std::string worker_id_copy_;
  absl::Duration heartbeat_interval_;
  absl::Time next_heartbeat_ = absl::InfinitePast();
  bool need_register_ = false;

  mutable absl::Mutex mu_;
  std::string worker_id_ ABSL_GUARDED_BY(mu_);
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  bool drain_immediately_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time drain_started_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  int64_t jobs_finished_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace proctor::worker

#endif  // PROCTOR_WORKER_PULL_LOOP_H_
