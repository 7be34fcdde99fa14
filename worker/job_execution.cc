#include "worker/job_execution.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/logging.h"

namespace proctor::worker {
namespace {

std::string ModelKeyOf(const v1::Job& job) {
  if (!job.model_key().empty()) return job.model_key();
  return absl::StrCat(job.model().name(), "@", job.model().path());
}

const char* OutputKind(const v1::Output& output) {
  switch (output.result_case()) {
    case v1::Output::kLoglikelihood:
      return "loglikelihood";
    case v1::Output::kLoglikelihoodRolling:
      return "loglikelihood_rolling";
    case v1::Output::kGenerate:
      return "generate";
    case v1::Output::kExecuteCode:
      return "execute_code";
    case v1::Output::RESULT_NOT_SET:
      break;
  }
  return "other";
}

}  // namespace

const char* JobExecution::ResultName(Result result) {
  switch (result) {
    case Result::kCompleted:
      return "completed";
    case Result::kFailed:
      return "failed";
    case Result::kCancelled:
      return "cancelled";
    case Result::kLost:
      return "lost";
    case Result::kDropped:
      return "dropped";
    case Result::kReleased:
      return "released";
    case Result::kAbandoned:
      return "abandoned";
  }
  return "other";
}

JobExecution::JobExecution(v1::Job job, const JobDeps& deps, std::function<void()> wake)
    : job_(std::move(job)),
      deps_(deps),
      wake_(std::move(wake)),
      reporter_(deps.client, job_.job_id(), job_.fencing_token(), deps.reporter, deps.metrics,
                [this] { OnReporterDone(); }) {}

JobExecution::~JobExecution() {
  if (thread_.joinable()) {
    Stop(Result::kAbandoned);
    thread_.join();
  }
}

void JobExecution::Start() {
  reporter_.Start();
  thread_ = std::thread([this] { Run(); });
}

void JobExecution::Stop(Result why) {
  {
    absl::MutexLock lock(&mu_);
    if (done_ || stop_reason_.has_value()) return;
    stop_reason_ = why;
  }
  cancelled_.store(true);
  reporter_.Abort();
}

void JobExecution::Release() {
  {
    absl::MutexLock lock(&mu_);
    if (done_ || engine_ended_ || stop_reason_.has_value()) return;
    release_requested_ = true;
  }
  cancelled_.store(true);
}

bool JobExecution::done() const {
  absl::MutexLock lock(&mu_);
  return done_;
}

JobExecution::Result JobExecution::Wait() {
  if (thread_.joinable()) thread_.join();
  absl::MutexLock lock(&mu_);
  return result_;
}

v1::ActiveLease JobExecution::active_lease() const {
  v1::ActiveLease lease;
  lease.set_job_id(job_.job_id());
  lease.set_fencing_token(job_.fencing_token());
  lease.set_outputs_done(skipped_.load() + reporter_.outputs_added());
  return lease;
}

void JobExecution::OnReporterDone() {
  // A refused report means the job is no longer ours: stop the engine too.
  cancelled_.store(true);
  if (wake_) wake_();
}

std::vector<int64_t> JobExecution::StoredRequestIds() {
  if (job_.attempt() <= 1) return {};
  v1::GetReportStateRequest request;
  request.set_job_id(job_.job_id());
  request.set_fencing_token(job_.fencing_token());
  absl::StatusOr<v1::GetReportStateResponse> state =
      deps_.client->GetReportState(request, deps_.rpc_timeout);
  if (!state.ok()) {
    // Not fatal: outputs are idempotent by (run, request), so running every
    // request again costs time, not correctness.
    if (deps_.metrics != nullptr) deps_.metrics->CountError("report_state");
    PROCTOR_LOG(WARNING) << "job " << job_.job_id() << ": GetReportState failed (" << state.status()
                         << "); running every request";
    return {};
  }
  return {state->stored_request_ids().begin(), state->stored_request_ids().end()};
}

void JobExecution::Run() {
  const absl::Time start = absl::Now();
  // Released or stopped before it started (e.g. leased as the drain began):
  // neither ask the coordinator nor load the model.
  const std::vector<int64_t> skip = cancelled_.load() ? std::vector<int64_t>{} : StoredRequestIds();
  skipped_.store(static_cast<int64_t>(skip.size()));

  absl::Status status;
  std::shared_ptr<engine::LoadedModel> model;
  if (cancelled_.load()) {
    // Nothing to run; the final report below is decided by why.
    status = absl::CancelledError("job stopped before it started");
  } else if (job_.judge()) {
    model = deps_.judge_runner;
    if (model == nullptr) {
      status = absl::FailedPreconditionError(
          absl::StrCat("job ", job_.job_id(), " is a judge job but this worker has no sandbox"));
    }
  } else {
    absl::StatusOr<std::shared_ptr<engine::LoadedModel>> loaded =
        deps_.models->Get(ModelKeyOf(job_), job_.model());
    if (loaded.ok()) {
      model = *std::move(loaded);
    } else {
      status = loaded.status();
    }
  }
  if (model != nullptr && !cancelled_.load()) {
    WorkerMetrics* metrics = deps_.metrics;
    status = model->RunJob(
        job_, skip,
        [this, metrics](v1::Output output) {
          if (metrics != nullptr) {
            metrics->CountRequest(OutputKind(output));
            if (output.has_generate()) metrics->AddDecodeTokens(output.generate().num_tokens());
          }
          reporter_.Add(std::move(output));
        },
        cancelled_);
  } else if (model != nullptr) {
    status = absl::CancelledError("job stopped before it started");
  }

  // Decide the final report.
  std::optional<Result> stopped;
  bool released = false;
  {
    absl::MutexLock lock(&mu_);
    engine_ended_ = true;
    stopped = stop_reason_;
    released = release_requested_ && !stopped.has_value();
  }
  if (stopped.has_value()) {
    reporter_.Abort();
  } else if (released) {
    reporter_.Finish(OutputReporter::Final::kRelease);
  } else if (status.ok()) {
    reporter_.Finish(OutputReporter::Final::kComplete);
  } else if (absl::IsCancelled(status) && cancelled_.load()) {
    // Stopped because the coordinator refused a report; the reporter has
    // already ended and nothing more is sent.
    reporter_.Abort();
  } else {
    if (deps_.metrics != nullptr) deps_.metrics->CountError("engine");
    PROCTOR_LOG(WARNING) << "job " << job_.job_id() << " failed: " << status;
    reporter_.Finish(OutputReporter::Final::kFailure, status);
  }
  const absl::Status outcome = reporter_.Wait();

  Result result;
  {
    absl::MutexLock lock(&mu_);
    if (stop_reason_.has_value()) {
      result = *stop_reason_;
    } else if (!outcome.ok()) {
      result = Result::kDropped;
    } else if (released) {
      result = Result::kReleased;
    } else {
      result = status.ok() ? Result::kCompleted : Result::kFailed;
    }
    result_ = result;
    done_ = true;
  }
  PROCTOR_LOG(INFO) << "job " << job_.job_id() << " (run " << job_.run_id() << ", attempt "
                    << job_.attempt() << ", " << job_.requests_size() << " requests, "
                    << skip.size() << " skipped): " << ResultName(result) << " after "
                    << absl::Now() - start;
  if (wake_) wake_();
}

}  // namespace proctor::worker
