#include "coordinator/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace proctor::coordinator {
namespace {

constexpr const char* kJobStates[] = {"unspecified", "queued", "leased",
                                      "done",        "failed", "cancelled"};
constexpr const char* kRunStates[] = {"unspecified", "queued", "running",
                                      "succeeded",   "failed", "cancelled"};
constexpr const char* kWorkerStates[] = {"unspecified", "idle", "busy", "draining", "lost"};

prometheus::Histogram::BucketBoundaries LatencyBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
}

// Lease grants: finer around the 20 ms p99 target (shared/design/
// PERFORMANCE.md), so that histogram_quantile can tell 15 ms from 25 ms.
prometheus::Histogram::BucketBoundaries LeaseLatencyBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.0125, 0.015, 0.0175, 0.02,
          0.025,  0.05,  0.1,    0.25,  0.5,    1,    2.5,    5,     10,     30};
}

}  // namespace

CoordinatorMetrics::CoordinatorMetrics(std::shared_ptr<prometheus::Registry> registry)
    : registry_(std::move(registry)) {
  auto& r = *registry_;
  jobs_ = &prometheus::BuildGauge()
               .Name("proctor_coordinator_jobs")
               .Help("Jobs of runs known to the coordinator, by state")
               .Register(r);
  for (const char* s : kJobStates) {
    if (std::string(s) != "unspecified") jobs_->Add({{"state", s}});
  }
  jobs_queued_ = &prometheus::BuildGauge()
                      .Name("proctor_coordinator_jobs_queued")
                      .Help("Queued jobs by priority class")
                      .Register(r);
  for (const char* p : {"interactive", "sweep", "backfill"}) jobs_queued_->Add({{"priority", p}});
  transitions_ = &prometheus::BuildCounter()
                      .Name("proctor_coordinator_job_transitions_total")
                      .Help("Job state transitions, by event")
                      .Register(r);
  lease_latency_ =
      &prometheus::BuildHistogram()
           .Name("proctor_coordinator_lease_grant_duration_seconds")
           .Help("Time to pick, fence and persist a lease (excludes long-poll waiting)")
           .Register(r)
           .Add({}, LeaseLatencyBuckets());
  queue_wait_ = &prometheus::BuildHistogram()
                     .Name("proctor_coordinator_job_queue_wait_seconds")
                     .Help("Time a job waited in the queue before it was leased")
                     .Register(r)
                     .Add({}, prometheus::Histogram::BucketBoundaries{0.01, 0.1, 1, 5, 15, 60, 300,
                                                                      900, 3600, 14400});
  lease_expirations_ = &prometheus::BuildCounter()
                            .Name("proctor_coordinator_lease_expirations_total")
                            .Help("Leases that expired without a heartbeat")
                            .Register(r)
                            .Add({});
  retries_ = &prometheus::BuildCounter()
                  .Name("proctor_coordinator_job_retries_total")
                  .Help("Jobs re-queued after a failure or an expired lease")
                  .Register(r)
                  .Add({});
  poisoned_ = &prometheus::BuildCounter()
                   .Name("proctor_coordinator_jobs_poisoned_total")
                   .Help("Jobs failed for good after exhausting their attempts")
                   .Register(r)
                   .Add({});
  outputs_ = &prometheus::BuildCounter()
                  .Name("proctor_coordinator_outputs_ingested_total")
                  .Help("Distinct per-request outputs stored")
                  .Register(r)
                  .Add({});
  samples_scored_ = &prometheus::BuildCounter()
                         .Name("proctor_coordinator_samples_scored_total")
                         .Help("Samples post-processed and scored")
                         .Register(r)
                         .Add({});
  runs_submitted_ = &prometheus::BuildCounter()
                         .Name("proctor_coordinator_runs_submitted_total")
                         .Help("Runs accepted by SubmitRun")
                         .Register(r)
                         .Add({});
  store_errors_ = &prometheus::BuildCounter()
                       .Name("proctor_coordinator_store_errors_total")
                       .Help("Failed store operations, by operation")
                       .Register(r);
  for (const char* op : {"create_run", "update_jobs", "write_outputs", "update_run", "read"}) {
    store_errors_->Add({{"operation", op}});
  }
  runs_ =
      &prometheus::BuildGauge().Name("proctor_coordinator_runs").Help("Runs by state").Register(r);
  for (const char* s : kRunStates) {
    if (std::string(s) != "unspecified") runs_->Add({{"state", s}});
  }
  workers_ = &prometheus::BuildGauge()
                  .Name("proctor_coordinator_workers")
                  .Help("Registered workers by state")
                  .Register(r);
  for (const char* s : kWorkerStates) {
    if (std::string(s) != "unspecified") workers_->Add({{"state", s}});
  }
  rpc_latency_ = &prometheus::BuildHistogram()
                      .Name("proctor_rpc_server_handling_seconds")
                      .Help("gRPC server handling time by method and status code")
                      .Register(r);
  start_time_ = &prometheus::BuildGauge()
                     .Name("proctor_coordinator_start_time_seconds")
                     .Help("Unix time the coordinator process started")
                     .Register(r)
                     .Add({});
  start_time_->Set(absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch()));
  auto& lookups = prometheus::BuildCounter()
                      .Name("proctor_result_cache_lookups_total")
                      .Help("Cacheable requests looked up in the result cache, by result")
                      .Register(r);
  cache_hits_ = &lookups.Add({{"result", "hit"}});
  cache_misses_ = &lookups.Add({{"result", "miss"}});
  cache_entries_ = &prometheus::BuildGauge()
                        .Name("proctor_result_cache_entries")
                        .Help("Outputs held by the result cache")
                        .Register(r)
                        .Add({});
}

CoordinatorMetrics::~CoordinatorMetrics() = default;

void CoordinatorMetrics::SetJobs(const std::array<int64_t, 6>& by_state) {
  for (size_t i = 1; i < by_state.size(); ++i) {
    jobs_->Add({{"state", kJobStates[i]}}).Set(static_cast<double>(by_state[i]));
  }
}

void CoordinatorMetrics::SetQueuedJobs(absl::string_view priority, int64_t n) {
  jobs_queued_->Add({{"priority", std::string(priority)}}).Set(static_cast<double>(n));
}

void CoordinatorMetrics::JobTransition(absl::string_view event) {
  prometheus::Counter* c;
  {
    absl::MutexLock lock(&mu_);
    auto [it, inserted] = transition_children_.try_emplace(std::string(event), nullptr);
    if (inserted) it->second = &transitions_->Add({{"event", std::string(event)}});
    c = it->second;
  }
  c->Increment();
}

void CoordinatorMetrics::LeaseGranted(double scheduling_seconds, double queue_wait_seconds) {
  lease_latency_->Observe(scheduling_seconds);
  queue_wait_->Observe(queue_wait_seconds);
}

void CoordinatorMetrics::LeaseExpired() { lease_expirations_->Increment(); }
void CoordinatorMetrics::JobRetried() { retries_->Increment(); }
void CoordinatorMetrics::JobPoisoned() { poisoned_->Increment(); }
void CoordinatorMetrics::OutputsIngested(int64_t n) { outputs_->Increment(static_cast<double>(n)); }
void CoordinatorMetrics::SamplesScored(int64_t n) {
  samples_scored_->Increment(static_cast<double>(n));
}
void CoordinatorMetrics::RunSubmitted() { runs_submitted_->Increment(); }

void CoordinatorMetrics::CacheLookups(int64_t hits, int64_t misses) {
  cache_hits_->Increment(static_cast<double>(hits));
  cache_misses_->Increment(static_cast<double>(misses));
}

void CoordinatorMetrics::SetCacheEntries(int64_t n) { cache_entries_->Set(static_cast<double>(n)); }

void CoordinatorMetrics::StoreError(absl::string_view operation) {
  store_errors_->Add({{"operation", std::string(operation)}}).Increment();
}

void CoordinatorMetrics::SetRuns(const std::array<int64_t, 6>& by_state) {
  for (size_t i = 1; i < by_state.size(); ++i) {
    runs_->Add({{"state", kRunStates[i]}}).Set(static_cast<double>(by_state[i]));
  }
}

void CoordinatorMetrics::SetWorkers(const std::array<int64_t, 5>& by_state) {
  for (size_t i = 1; i < by_state.size(); ++i) {
    workers_->Add({{"state", kWorkerStates[i]}}).Set(static_cast<double>(by_state[i]));
  }
}

void CoordinatorMetrics::Rpc(absl::string_view method, absl::string_view code, double seconds) {
  prometheus::Histogram* h;
  {
    absl::MutexLock lock(&mu_);
    std::string key = absl::StrCat(method, "/", code);
    auto [it, inserted] = rpc_children_.try_emplace(key, nullptr);
    if (inserted) {
      it->second = &rpc_latency_->Add(
          {{"method", std::string(method)}, {"code", std::string(code)}}, LatencyBuckets());
    }
    h = it->second;
  }
  h->Observe(seconds);
}

}  // namespace proctor::coordinator
