#include "worker/output_reporter.h"

#include <algorithm>
#include <memory>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/logging.h"

namespace proctor::worker {

OutputReporter::OutputReporter(CoordinatorClient* client, int64_t job_id, int64_t fencing_token,
                               const ReporterOptions& options, WorkerMetrics* metrics,
                               std::function<void()> on_done)
    : client_(client),
      job_id_(job_id),
      fencing_token_(fencing_token),
      options_(options),
      metrics_(metrics),
      on_done_(std::move(on_done)) {}

OutputReporter::~OutputReporter() {
  if (sender_.joinable()) {
    Abort();
    sender_.join();
  }
}

void OutputReporter::Start() {
  sender_ = std::thread([this] { Loop(); });
}

void OutputReporter::Add(v1::Output output) {
  absl::MutexLock lock(&mu_);
  if (final_set_ || aborted_) return;
  if (pending_.empty()) oldest_pending_ = absl::Now();
  pending_bytes_ += static_cast<int64_t>(output.ByteSizeLong());
  pending_.push_back(std::move(output));
  ++added_;
}

void OutputReporter::Finish(Final kind, const absl::Status& failure) {
  absl::MutexLock lock(&mu_);
  if (final_set_ || aborted_) return;
  final_set_ = true;
  final_kind_ = kind;
  final_failure_ = failure;
  if (kind == Final::kFailure && failure.ok()) {
    final_failure_ = absl::InternalError("job failed without a reason");
  }
}

void OutputReporter::Abort() {
  absl::MutexLock lock(&mu_);
  aborted_ = true;
  if (stream_ != nullptr) stream_->Cancel();
}

bool OutputReporter::done() const {
  absl::MutexLock lock(&mu_);
  return done_;
}

absl::Status OutputReporter::Wait() {
  if (sender_.joinable()) sender_.join();
  absl::MutexLock lock(&mu_);
  return outcome_;
}

int64_t OutputReporter::outputs_added() const {
  absl::MutexLock lock(&mu_);
  return added_;
}

void OutputReporter::Loop() { Complete(RunSender()); }

void OutputReporter::Complete(const absl::Status& outcome) {
  {
    absl::MutexLock lock(&mu_);
    outcome_ = outcome;
    done_ = true;
  }
  if (!outcome.ok() && !absl::IsCancelled(outcome)) {
    PROCTOR_LOG(WARNING) << "job " << job_id_ << ": coordinator refused its reports: " << outcome;
  }
  if (on_done_) on_done_();
}

bool OutputReporter::WorkDueLocked(absl::Time stream_opened, bool stream_open) const {
  if (aborted_ || final_set_) return true;
  if (static_cast<int>(pending_.size()) >= options_.max_batch_outputs) return true;
  if (pending_bytes_ >= options_.max_batch_bytes) return true;
  const absl::Time now = absl::Now();
  if (!pending_.empty() && now >= oldest_pending_ + options_.flush_interval) return true;
  return stream_open && now >= stream_opened + options_.stream_rotate_after;
}

absl::Status OutputReporter::RunSender() {
  std::unique_ptr<ReportStream> stream;
  absl::Time stream_opened = absl::InfinitePast();
  std::vector<v1::Output> inflight;  // written on `stream`, not yet known stored
  std::unordered_set<int64_t> written_ids;
  Backoff backoff(options_.backoff);

  auto close_stream = [&]() {
    absl::MutexLock lock(&mu_);
    stream_ = nullptr;
  };

  while (true) {
    v1::ReportOutputsRequest message;
    bool final_message = false;
    {
      absl::MutexLock lock(&mu_);
      const bool stream_open = stream != nullptr;
      while (!WorkDueLocked(stream_opened, stream_open)) {
        absl::Time wake = absl::InfiniteFuture();
        if (!pending_.empty()) wake = oldest_pending_ + options_.flush_interval;
        if (stream_open) wake = std::min(wake, stream_opened + options_.stream_rotate_after);
        // Wake early for anything that changes what is due: a full batch, the
        // first pending output (which starts the flush clock), Finish, Abort.
        const bool was_empty = pending_.empty();
        auto changed = [this, was_empty]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
          return aborted_ || final_set_ || (was_empty && !pending_.empty()) ||
                 static_cast<int>(pending_.size()) >= options_.max_batch_outputs ||
                 pending_bytes_ >= options_.max_batch_bytes;
        };
        mu_.AwaitWithDeadline(absl::Condition(&changed), wake);
      }
      if (aborted_) {
        stream_ = nullptr;
        break;
      }
      int64_t bytes = 0;
      while (!pending_.empty() && message.outputs_size() < options_.max_batch_outputs &&
             (message.outputs_size() == 0 || bytes < options_.max_batch_bytes)) {
        const int64_t size = static_cast<int64_t>(pending_.front().ByteSizeLong());
        if (message.outputs_size() > 0 && bytes + size > options_.max_batch_bytes) break;
        bytes += size;
        pending_bytes_ -= size;
        *message.add_outputs() = std::move(pending_.front());
        pending_.pop_front();
      }
      oldest_pending_ = pending_.empty() ? absl::InfiniteFuture() : absl::Now();
      final_message = final_set_ && pending_.empty();
      if (final_message) {
        switch (final_kind_) {
          case Final::kComplete:
            message.set_complete(true);
            break;
          case Final::kFailure:
            message.mutable_failure()->set_code(static_cast<int32_t>(final_failure_.code()));
            message.mutable_failure()->set_message(std::string(final_failure_.message()));
            break;
          case Final::kRelease:
            message.set_release(true);
            break;
        }
      }
    }

    if (message.outputs_size() == 0 && !final_message) {
      // Nothing to send: the stream is old. Close it cleanly, which also
      // confirms that everything written on it is stored.
      if (stream == nullptr) continue;
      absl::StatusOr<v1::ReportOutputsResponse> closed = stream->Finish();
      close_stream();
      stream.reset();
      if (closed.ok()) {
        inflight.clear();
        continue;
      }
      absl::Status recovered = Recover(closed.status(), &inflight, &backoff);
      if (!recovered.ok()) return recovered;
      continue;
    }

    if (stream == nullptr) {
      stream = client_->OpenReportStream(options_.stream_timeout);
      stream_opened = absl::Now();
      absl::MutexLock lock(&mu_);
      if (aborted_) break;
      stream_ = stream.get();
    }
    message.set_job_id(job_id_);
    message.set_fencing_token(fencing_token_);
    const bool written = stream->Write(message);
    int64_t fresh = 0;
    for (v1::Output& output : *message.mutable_outputs()) {
      if (written && written_ids.insert(output.request_id()).second) ++fresh;
      inflight.push_back(std::move(output));
    }
    if (fresh > 0 && metrics_ != nullptr) metrics_->AddOutputsReported(fresh);

    absl::Status broken;
    if (!written) {
      absl::StatusOr<v1::ReportOutputsResponse> finished = stream->Finish();
      broken = finished.ok() ? absl::UnavailableError("stream closed by the coordinator")
                             : finished.status();
    } else if (final_message) {
      absl::StatusOr<v1::ReportOutputsResponse> finished = stream->Finish();
      if (finished.ok()) {
        close_stream();
        PROCTOR_LOG(INFO) << "job " << job_id_ << ": final report stored ("
                          << finished->outputs_stored() << " outputs stored, state "
                          << v1::JobState_Name(finished->job_state()) << ")";
        return absl::OkStatus();
      }
      broken = finished.status();
    } else {
      backoff.Reset();
      continue;
    }
    close_stream();
    stream.reset();
    absl::Status recovered = Recover(broken, &inflight, &backoff);
    if (!recovered.ok()) return recovered;
  }
  // Aborted: end the open stream without waiting for the coordinator.
  if (stream != nullptr) {
    stream->Cancel();
    stream->Finish().status().IgnoreError();
  }
  return absl::CancelledError(absl::StrCat("job ", job_id_, ": reporting aborted"));
}

absl::Status OutputReporter::Recover(const absl::Status& cause, std::vector<v1::Output>* inflight,
                                     Backoff* backoff) {
  {
    absl::MutexLock lock(&mu_);
    if (aborted_) return absl::CancelledError(absl::StrCat("job ", job_id_, ": reporting aborted"));
  }
  if (metrics_ != nullptr) metrics_->CountError("report");
  if (!IsRetryableRpcError(cause)) return cause;
  PROCTOR_LOG(WARNING) << "job " << job_id_ << ": report stream broke (" << cause
                       << "); resuming from the coordinator's report state";
  v1::GetReportStateRequest request;
  request.set_job_id(job_id_);
  request.set_fencing_token(fencing_token_);
  absl::StatusOr<v1::GetReportStateResponse> state;
  while (true) {
    const absl::Duration delay = backoff->Next();
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&aborted_), delay);
      if (aborted_) {
        return absl::CancelledError(absl::StrCat("job ", job_id_, ": reporting aborted"));
      }
    }
    state = client_->GetReportState(request, options_.rpc_timeout);
    if (state.ok()) break;
    if (metrics_ != nullptr) metrics_->CountError("report_state");
    if (!IsRetryableRpcError(state.status())) return state.status();
  }
  const std::unordered_set<int64_t> stored(state->stored_request_ids().begin(),
                                           state->stored_request_ids().end());
  absl::MutexLock lock(&mu_);
  // Re-queue what the coordinator lacks, oldest first, ahead of newer outputs.
  for (auto it = inflight->rbegin(); it != inflight->rend(); ++it) {
    if (stored.contains(it->request_id())) continue;
    pending_bytes_ += static_cast<int64_t>(it->ByteSizeLong());
    pending_.push_front(std::move(*it));
  }
  inflight->clear();
  if (!pending_.empty()) oldest_pending_ = absl::InfinitePast();  // send at once
  return absl::OkStatus();
}

}  // namespace proctor::worker
