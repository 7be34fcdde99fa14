// The coordinator's Prometheus metrics. Names follow Prometheus conventions
// (base units, `_total` counters, `_seconds`); labels are bounded sets
// (states, events, RPC methods and codes) — never a run, job or worker id.
//
// Thread-safety: every method may be called concurrently.
#ifndef PROCTOR_COORDINATOR_METRICS_H_
#define PROCTOR_COORDINATOR_METRICS_H_

#include <array>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace prometheus {
class Registry;
class Counter;
class Gauge;
class Histogram;
template <typename T>
class Family;
}  // namespace prometheus

namespace proctor::coordinator {

class CoordinatorMetrics {
 public:
  // Registers every family in `registry` (which the caller exposes).
  explicit CoordinatorMetrics(std::shared_ptr<prometheus::Registry> registry);
  ~CoordinatorMetrics();

  const std::shared_ptr<prometheus::Registry>& registry() const { return registry_; }

  // Jobs: state gauges (index = v1::JobState value), transitions by event.
  void SetJobs(const std::array<int64_t, 6>& by_state);
  void SetQueuedJobs(absl::string_view priority, int64_t n);
  void JobTransition(absl::string_view event);
  void LeaseGranted(double scheduling_seconds, double queue_wait_seconds);
  void LeaseExpired();
  void JobRetried();
  void JobPoisoned();
  void OutputsIngested(int64_t n);
  void SamplesScored(int64_t n);
  void StoreError(absl::string_view operation);
  // Runs and workers by state (index = proto enum value).
  void SetRuns(const std::array<int64_t, 6>& by_state);
  void SetWorkers(const std::array<int64_t, 5>& by_state);
  void RunSubmitted();
  // Result cache (docs/design/result-cache.md): cacheable requests looked up,
  // by outcome, and the entries held by the store.
  void CacheLookups(int64_t hits, int64_t misses);
  void SetCacheEntries(int64_t n);
  // One finished RPC: method name ("SubmitRun") and gRPC code name ("OK").
  void Rpc(absl::string_view method, absl::string_view code, double seconds);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Gauge>* jobs_;
  prometheus::Family<prometheus::Gauge>* jobs_queued_;
  prometheus::Family<prometheus::Counter>* transitions_;
  prometheus::Histogram* lease_latency_;
  prometheus::Histogram* queue_wait_;
  prometheus::Counter* lease_expirations_;
  prometheus::Counter* retries_;
  prometheus::Counter* poisoned_;
  prometheus::Counter* outputs_;
  prometheus::Counter* samples_scored_;
  prometheus::Counter* runs_submitted_;
  prometheus::Family<prometheus::Counter>* store_errors_;
  prometheus::Family<prometheus::Gauge>* runs_;
  prometheus::Family<prometheus::Gauge>* workers_;
  prometheus::Family<prometheus::Histogram>* rpc_latency_;
  prometheus::Gauge* start_time_;
  prometheus::Counter* cache_hits_;
  prometheus::Counter* cache_misses_;
  prometheus::Gauge* cache_entries_;

  // Family::Add takes a lock and hashes labels; cache the children.
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, prometheus::Counter*> transition_children_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, prometheus::Histogram*> rpc_children_ ABSL_GUARDED_BY(mu_);
};

}  // namespace proctor::coordinator

#endif  // PROCTOR_COORDINATOR_METRICS_H_
