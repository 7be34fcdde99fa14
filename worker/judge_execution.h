// Judge jobs on a worker: each ExecuteCodeRequest of a job with Job.judge
// set runs in the code sandbox (worker/sandbox/sandbox.h), several at once,
// and becomes an ExecuteCodeOutput streamed like any other output.
//
// The runner plugs into JobExecution as JobDeps::judge_runner: it is an
// engine::LoadedModel whose "model" is the sandbox, so retries (skipped
// request ids), cancellation and the reporting path are the model path's.
//
// Error classes (for the coordinator's retry rules): a request that is not
// execute_code, or asks for a language other than "python", is
// INVALID_ARGUMENT (the job is wrong; no retry); a sandbox that cannot start
// a process is UNAVAILABLE (retried, possibly elsewhere). A program that
// fails, hangs or misbehaves is a normal output with its outcome.
#ifndef PROCTOR_WORKER_JUDGE_EXECUTION_H_
#define PROCTOR_WORKER_JUDGE_EXECUTION_H_

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proctor/v1/worker.pb.h"
#include "worker/engine/engine.h"
#include "worker/sandbox/sandbox.h"

namespace proctor::worker {

struct JudgeRunnerOptions {
  // Programs run at once (each is one python process tree).
  int parallelism = 4;
  // Used when a request carries no timeout; requests asking for more than
  // `max_timeout` get `max_timeout`.
  absl::Duration default_timeout = absl::Seconds(3);
  absl::Duration max_timeout = absl::Seconds(10);
  // Everything but the timeout (memory, CPU, file size, processes, output).
  sandbox::SandboxLimits limits;
};

// The program the sandbox runs for one request: program, then tests.
std::string JudgeProgramOf(const v1::ExecuteCodeRequest& request);

// The wire form of a sandbox result (stderr cut to its last 4 KiB).
v1::ExecuteCodeOutput ExecuteCodeOutputOf(const sandbox::SandboxResult& result);

class JudgeRunner final : public engine::LoadedModel {
 public:
  // `sandbox` must outlive the runner. INVALID_ARGUMENT for bad options.
  static absl::StatusOr<std::unique_ptr<JudgeRunner>> Create(const sandbox::Sandbox* sandbox,
                                                             JudgeRunnerOptions options);

  // Runs every execute_code request of `job` not in `skip_request_ids`, at
  // most `parallelism` at once; `sink` is called from the calling thread, in
  // completion order. Unlike a model, a JudgeRunner may run several jobs at
  // once (from several pull loops) and keeps no state between jobs. Stops starting programs once
  // `cancelled` is set (running ones finish within their timeout) and then returns CANCELLED.
  absl::Status RunJob(const v1::Job& job, const std::vector<int64_t>& skip_request_ids,
                      const engine::OutputSink& sink, const std::atomic<bool>& cancelled) override;
  int64_t ResidentBytes() const override { return 0; }

 private:
  JudgeRunner(const sandbox::Sandbox* sandbox, JudgeRunnerOptions options)
      : sandbox_(sandbox), options_(std::move(options)) {}

  const sandbox::Sandbox* const sandbox_;
  const JudgeRunnerOptions options_;
};

}  // namespace proctor::worker

#endif  // PROCTOR_WORKER_JUDGE_EXECUTION_H_
