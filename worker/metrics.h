// The worker's Prometheus metrics (ARCHITECTURE.md §5: base units, `_total`,
// `_seconds`, bounded label sets -- never a run, job or request id as a label).
//
//   proctor_worker_requests_total{kind}          requests run by the engine;
//                                                kind = loglikelihood |
//                                                loglikelihood_rolling | generate
//   proctor_worker_jobs_total{result}            finished jobs; result = completed |
//                                                failed | cancelled | lost | dropped |
//                                                released | abandoned
//   proctor_worker_job_duration_seconds          lease to last report, histogram
//   proctor_worker_model_load_seconds            histogram (failed loads included)
//   proctor_worker_models_loaded                 gauge, models in the cache
//   proctor_worker_model_resident_bytes          gauge, bytes held by cached models
//   proctor_worker_errors_total{kind}            kind = register | lease | heartbeat |
//                                                report | report_state | model_load |
//                                                engine
//   proctor_worker_outputs_reported_total        distinct outputs written to the
//                                                coordinator (resends not counted)
//   proctor_worker_prefill_tokens_total          fed by AddPrefillTokens (engine hook)
//   proctor_worker_decode_tokens_total           generated tokens (GenerateOutput.num_tokens)
//
// Thread-safe: every method may be called from any thread. prometheus-cpp is
// kept out of this header.
#ifndef PROCTOR_WORKER_METRICS_H_
#define PROCTOR_WORKER_METRICS_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace prometheus {
class Exposer;
class Registry;
}  // namespace prometheus

namespace proctor::worker {

class WorkerMetrics {
 public:
  WorkerMetrics();
  ~WorkerMetrics();
  WorkerMetrics(const WorkerMetrics&) = delete;
  WorkerMetrics& operator=(const WorkerMetrics&) = delete;

  // Serves /metrics over HTTP on `address` ("host:port"; port 0 picks a free
  // one). Returns the bound port, or UNAVAILABLE naming the address when it
  // cannot be bound. Call at most once.
  absl::StatusOr<int> StartExposer(const std::string& address);

  // Request kinds: see the list above; an unknown kind is counted as "other".
  void CountRequest(absl::string_view kind);
  // Result names: see the list above; an unknown result is counted as "other".
  void CountJob(absl::string_view result, absl::Duration duration);
  void ObserveModelLoad(absl::Duration duration);
  void SetModelsLoaded(int count, int64_t resident_bytes);
  void CountError(absl::string_view kind);
  void AddOutputsReported(int64_t n);
  // Hook for engines that count prompt tokens.
  void AddPrefillTokens(int64_t n);
  void AddDecodeTokens(int64_t n);

  // The text exposition of every metric, as /metrics would serve it.
  std::string RenderText() const;

 private:
  struct Families;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<Families> families_;
  std::unique_ptr<prometheus::Exposer> exposer_;
};

}  // namespace proctor::worker

#endif  // PROCTOR_WORKER_METRICS_H_
