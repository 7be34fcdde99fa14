// One leased job in progress on this worker.
//
// Start() spawns the job thread, which (1) on a retried job (attempt > 1)
// asks the coordinator which outputs it already stored and skips them,
// (2) gets the model from the ModelCache (loading it if needed), (3) runs the
// job through the engine, handing each output to an OutputReporter that
// streams it to the coordinator, and (4) queues the final report: complete,
// failure{code, message} for an engine or model-load error, or release when
// the job was handed back. Meanwhile the pull loop's thread heartbeats and may
// call Stop() (cancelled or lost lease: report nothing more) or Release()
// (drain timeout: stop the engine, report release=true).
//
// State machine (docs/design/worker.md):
//   running --engine ends--> finishing --final stored--> completed | failed | released
//   running/finishing --Stop(r)--> r (cancelled | lost | abandoned)
//   running/finishing --coordinator refuses a report--> dropped
#ifndef PROCTOR_WORKER_JOB_EXECUTION_H_
#define PROCTOR_WORKER_JOB_EXECUTION_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "proctor/v1/worker.pb.h"
#include "worker/coordinator_client.h"
#include "worker/engine/engine.h"
#include "worker/metrics.h"
#include "worker/model_cache.h"
#include "worker/output_reporter.h"

namespace proctor::worker {

// What a JobExecution needs; everything must outlive it.
struct JobDeps {
  CoordinatorClient* client = nullptr;
  ModelCache* models = nullptr;
  WorkerMetrics* metrics = nullptr;  // may be null
  // Runs judge (code-execution) jobs; null when this worker has no sandbox,
  // in which case a judge job fails with FAILED_PRECONDITION.
  std::shared_ptr<engine::LoadedModel> judge_runner;
  ReporterOptions reporter;
  absl::Duration rpc_timeout = absl::Seconds(10);
};

class JobExecution {
 public:
  enum class Result { kCompleted, kFailed, kCancelled, kLost, kDropped, kReleased, kAbandoned };
  // The metric label for `result` ("completed", "failed", ...).
  static const char* ResultName(Result result);

  // `wake` (may be empty) is called, from any of the job's threads, whenever
  // done() may have become true.
  JobExecution(v1::Job job, const JobDeps& deps, std::function<void()> wake);
  // Stops and joins a job still running (as Stop(kAbandoned)).
  ~JobExecution();
  JobExecution(const JobExecution&) = delete;
  JobExecution& operator=(const JobExecution&) = delete;

  void Start();

  // Thread-safe. Stops the engine and the reporting at once; nothing more is
  // sent. `why` is kCancelled, kLost or kAbandoned and becomes the result.
  void Stop(Result why);
  // Thread-safe. Stops the engine and hands the job back (release=true) after
  // flushing the outputs already produced. No effect once the engine ended.
  // Called before Start(), the job is handed back without loading its model.
  void Release();

  bool done() const;
  // Blocks until the job thread has ended.
  Result Wait();

  const v1::Job& job() const { return job_; }
  // job id, fencing token and outputs done so far, for heartbeats.
  v1::ActiveLease active_lease() const;

 private:
  void Run();
  // The outputs the coordinator already stored for a retried job.
  std::vector<int64_t> StoredRequestIds();
  void OnReporterDone();

  const v1::Job job_;
  const JobDeps deps_;
  const std::function<void()> wake_;
  std::atomic<bool> cancelled_{false};  // read by the engine
  std::atomic<int64_t> skipped_{0};
  OutputReporter reporter_;
  std::thread thread_;

  mutable absl::Mutex mu_;
  std::optional<Result> stop_reason_ ABSL_GUARDED_BY(mu_);
  bool release_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool engine_ended_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  Result result_ ABSL_GUARDED_BY(mu_) = Result::kFailed;
};

}  // namespace proctor::worker

#endif  // PROCTOR_WORKER_JOB_EXECUTION_H_
