// Streams one job's outputs to the coordinator (WorkerService.ReportOutputs)
// as the engine produces them, and survives broken streams.
//
// The engine thread hands each output to Add(); a sender thread batches them
// (a message goes out when max_batch_outputs or max_batch_bytes are reached,
// or flush_interval after the oldest unsent output) and writes them to an open
// stream. Finish() queues the job's final message (complete, failure or
// release), sent after every queued output.
//
// Resumption: a message is known stored only once its stream's Finish returns
// OK, so every output written on the current stream is kept. When a stream
// breaks with a retryable error, the sender backs off, asks GetReportState
// which request ids the coordinator stored, and re-queues only the others
// (ahead of newer outputs) for a fresh stream: no output is lost, and none is
// sent again once stored. A stream older than stream_rotate_after is closed
// cleanly at the next quiet moment, which bounds both its deadline and the
// outputs kept for resending.
//
// A non-retryable answer (FAILED_PRECONDITION: the fencing token is stale;
// NOT_FOUND: the coordinator does not know the job) ends the reporter: the
// job is no longer this worker's and nothing more is sent.
//
// Invariants (under mu_): each output is in at most one of pending_ and the
// sender's in-flight list; pending_bytes_ is the byte size of pending_.
#ifndef PROCTOR_WORKER_OUTPUT_REPORTER_H_
#define PROCTOR_WORKER_OUTPUT_REPORTER_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "proctor/v1/requests.pb.h"
#include "worker/backoff.h"
#include "worker/coordinator_client.h"
#include "worker/metrics.h"

namespace proctor::worker {

struct ReporterOptions {
  int max_batch_outputs = 64;
  int64_t max_batch_bytes = 1 << 20;
  absl::Duration flush_interval = absl::Milliseconds(200);
  absl::Duration rpc_timeout = absl::Seconds(10);  // GetReportState
  absl::Duration stream_timeout = absl::Minutes(10);
  absl::Duration stream_rotate_after = absl::Minutes(2);
  BackoffOptions backoff;
};

// Thread-safe: Add/Finish from the engine thread, Abort/Wait/accessors from
// any thread. The destructor aborts and joins a still-running sender.
class OutputReporter {
 public:
  enum class Final { kComplete, kFailure, kRelease };

  // `client` and `metrics` (may be null) must outlive the reporter. `on_done`
  // (may be empty) is called once, from the sender thread, when the reporter
  // reaches its outcome; it must not call Wait().
  OutputReporter(CoordinatorClient* client, int64_t job_id, int64_t fencing_token,
                 const ReporterOptions& options, WorkerMetrics* metrics,
                 std::function<void()> on_done);
  ~OutputReporter();
  OutputReporter(const OutputReporter&) = delete;
  OutputReporter& operator=(const OutputReporter&) = delete;

  // Starts the sender thread. Call once.
  void Start();

  // Queues one output. Never blocks on the network. Ignored after Finish or
  // Abort.
  void Add(v1::Output output);

  // Queues the final message, sent after every queued output: `complete`,
  // `failure` (with `failure`'s code and message; it must not be OK) or
  // `release`. The first call wins; later ones are ignored.
  void Finish(Final kind, const absl::Status& failure = absl::OkStatus());

  // Stops at once: cancels the open stream and sends nothing more (the
  // coordinator cancelled the job or the lease is lost).
  void Abort();

  // True once the outcome is known (Wait would not block).
  bool done() const;

  // Blocks until the outcome: OK when the final message was stored;
  // the coordinator's error (FAILED_PRECONDITION, NOT_FOUND, ...) when it
  // refused the job's reports; CANCELLED when aborted.
  absl::Status Wait();

  // Outputs passed to Add (before Finish/Abort).
  int64_t outputs_added() const;

 private:
  void Loop();
  // Sends what is due; returns the outcome when the reporter has ended.
  absl::Status RunSender();
  // After a broken stream: asks which outputs are stored and re-queues the
  // rest. Returns non-OK when the reporter must end.
  absl::Status Recover(const absl::Status& cause, std::vector<v1::Output>* inflight,
                       Backoff* backoff);
  bool WorkDueLocked(absl::Time stream_opened, bool stream_open) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Complete(const absl::Status& outcome);

  CoordinatorClient* const client_;
  const int64_t job_id_;
  const int64_t fencing_token_;
  const ReporterOptions options_;
  WorkerMetrics* const metrics_;
  const std::function<void()> on_done_;
  std::thread sender_;

  mutable absl::Mutex mu_;
  std::deque<v1::Output> pending_ ABSL_GUARDED_BY(mu_);
  int64_t pending_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time oldest_pending_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  int64_t added_ ABSL_GUARDED_BY(mu_) = 0;
  bool final_set_ ABSL_GUARDED_BY(mu_) = false;
  Final final_kind_ ABSL_GUARDED_BY(mu_) = Final::kComplete;
  absl::Status final_failure_ ABSL_GUARDED_BY(mu_);
  bool aborted_ ABSL_GUARDED_BY(mu_) = false;
  ReportStream* stream_ ABSL_GUARDED_BY(mu_) = nullptr;  // the sender's open stream
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status outcome_ ABSL_GUARDED_BY(mu_);
};

}  // namespace proctor::worker

#endif  // PROCTOR_WORKER_OUTPUT_REPORTER_H_
