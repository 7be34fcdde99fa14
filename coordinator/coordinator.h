// The coordinator's core: runs, jobs, leases, workers, outputs and scores,
// with no gRPC in sight. The gRPC services are thin adapters over this class;
// tests drive it directly with a FakeClockForTest.
//
// Invariants (all under mu_):
//  * Every job of a non-terminal run is in `jobs_`; a queued job is in the
//    scheduler exactly once (or pending in `delayed` through its not_before),
//    except a judge job blocked on its generate outputs (in `judges_`);
//    a leased job has a fencing token no other lease ever had.
//  * The store is written before a caller is told anything it could act on:
//    a granted lease, an acknowledged output, a finished job.
//  * requests_done of a run equals the number of distinct stored outputs.
//
// Thread-safety: every public method may be called from any thread.
#ifndef PROCTOR_COORDINATOR_COORDINATOR_H_
#define PROCTOR_COORDINATOR_COORDINATOR_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/periodic_thread.h"
#include "coordinator/judging.h"
#include "coordinator/metrics.h"
#include "coordinator/persist_queue.h"
#include "coordinator/result_cache.h"
#include "coordinator/scheduling/job_state.h"
#include "coordinator/scheduling/planner.h"
#include "coordinator/scheduling/scheduler.h"
#include "coordinator/store/store.h"
#include "eval/catalog.h"
#include "proctor/v1/admin.pb.h"
#include "proctor/v1/evaluation.pb.h"
#include "proctor/v1/worker.pb.h"

namespace proctor::coordinator {

struct CoordinatorOptions {
  absl::Duration lease_ttl = absl::Seconds(30);
  absl::Duration heartbeat_interval = absl::Seconds(5);
  // Longest a Lease call is held waiting for work.
  absl::Duration max_lease_wait = absl::Seconds(20);
  // A worker silent for this long is reported LOST and forgotten later.
  absl::Duration worker_lost_after = absl::Seconds(60);
  PlannerOptions planner;
  // When set, RunSpec.model.path must lie under this directory (relative
  // paths are taken relative to it): submitters cannot point workers at
  // arbitrary files.
  std::string model_root;
};

class Coordinator {
 public:
  // Recovers every run, job and score from `store` (which must outlive the
  // coordinator, as must `catalog`, `clock` and `metrics`; `metrics` may be
  // null). Leases recorded in the store are kept for one TTL so that their
  // workers can re-attach through Heartbeat.
  static absl::StatusOr<std::unique_ptr<Coordinator>> Create(Store* store,
                                                             const eval::Catalog* catalog,
                                                             const Clock* clock,
                                                             CoordinatorMetrics* metrics,
                                                             CoordinatorOptions options);
  ~Coordinator();

  // ---- EvaluationService ----------------------------------------------------
  absl::StatusOr<v1::Run> SubmitRun(v1::RunSpec spec);
  absl::StatusOr<v1::Run> GetRun(const std::string& run_id);
  absl::StatusOr<v1::ListRunsResponse> ListRuns(const v1::ListRunsRequest& request);
  absl::StatusOr<v1::Run> CancelRun(const std::string& run_id);
  absl::StatusOr<v1::Results> GetResults(const std::string& run_id);
  // The run's record and, per planned set (plan order), its stored opaque
  // sample scores sorted by sample index (eval::SetScores without indexes is
  // not enough for pairing, so indexes come alongside). NOT_FOUND for an
  // unknown run. For paired comparisons (eval/compare_samples.h).
  struct RunSampleScores {
    RunRecord record;
    struct Set {
      std::string dataset;
      int64_t num_samples_planned = 0;
      std::vector<std::pair<int64_t, std::string>> scores;  // (sample index, bytes)
    };
    std::vector<Set> sets;
  };
  absl::StatusOr<RunSampleScores> GetSampleScores(const std::string& run_id);
  // Blocks until the run's state or progress changes after `*version` (0 =
  // return at once) or `deadline` passes; returns the run and updates
  // `*version`. Returns early when the coordinator shuts down (UNAVAILABLE).
  absl::StatusOr<v1::Run> WaitForRunChange(const std::string& run_id, uint64_t* version,
                                           absl::Time deadline);
  const eval::Catalog& catalog() const { return *catalog_; }

  // ---- WorkerService --------------------------------------------------------
  absl::StatusOr<v1::RegisterResponse> Register(const v1::RegisterRequest& request);
  // Long-poll: waits up to min(request.wait, max_lease_wait) for a job.
  absl::StatusOr<v1::LeaseResponse> Lease(const v1::LeaseRequest& request);
  absl::StatusOr<v1::HeartbeatResponse> Heartbeat(const v1::HeartbeatRequest& request);
  // One message of a ReportOutputs stream. FAILED_PRECONDITION when the
  // fencing token is not the job's current lease.
  absl::StatusOr<v1::ReportOutputsResponse> ReportOutputs(const v1::ReportOutputsRequest& request);
  absl::StatusOr<v1::GetReportStateResponse> GetReportState(
      const v1::GetReportStateRequest& request);

  // ---- AdminService ---------------------------------------------------------
  absl::StatusOr<v1::ListWorkersResponse> ListWorkers();
  absl::StatusOr<v1::WorkerInfo> DrainWorker(const std::string& worker_id);

  // Expires leases, marks silent workers lost, wakes long-polls for jobs
  // whose backoff ended. Called by the background thread (StartBackground)
  // or by tests.
  void Tick();
  // Runs Tick every `period` on a background thread until Shutdown.
  void StartBackground(absl::Duration period = absl::Milliseconds(200));
  // Wakes every waiting call and stops the background thread. Idempotent.
  void Shutdown();

 private:
  struct SampleSlot {
    std::string dataset;
    int64_t sample_index = 0;
    std::string target;
    std::vector<int64_t> request_ids;
    bool scored = false;
  };
  struct RunEntry {
    RunRecord record;
    int32_t max_attempts = 3;
    uint64_t version = 1;
    int64_t requests_total = 0;
    int64_t requests_done = 0;
    int64_t requests_cached = 0;  // of requests_done, answered by the result cache
    std::map<v1::JobState, int64_t> job_counts;
    // Only for runs that are not terminal:
    std::vector<int64_t> job_ids;
    std::vector<SampleSlot> samples;
    std::vector<int32_t> request_to_sample;  // index by request_id (1-based)
    // Outputs of samples with several requests, until the sample is scored.
    absl::flat_hash_map<int64_t, v1::Output> pending_outputs;
  };
  struct WorkerEntry {
    v1::WorkerInfo info;
    WorkerProfile profile;
    absl::Time last_seen;
    bool drain_requested = false;
    bool draining = false;
    absl::flat_hash_set<int64_t> leased_jobs;
  };

  Coordinator(Store* store, const eval::Catalog* catalog, const Clock* clock,
              CoordinatorMetrics* metrics, CoordinatorOptions options);
  absl::Status Recover();
  absl::Status RecoverRun(RunRecord record);
  void IndexSamples(RunEntry& run, const std::vector<SampleRecord>& samples);

  // Applies `event` to a job in memory (state, counts, scheduler, leases,
  // metrics). Returns the new state. Does not touch the store.
  absl::StatusOr<v1::JobState> ApplyJobEvent(JobRecord& job, JobEvent event,
                                             const std::string& reason)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Re-derives the run's state after a job change; returns true when it changed.
  bool UpdateRunState(RunEntry& run) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void BumpRun(RunEntry& run) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  v1::Run RunProto(const RunEntry& run) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<RunEntry*> FindRun(const std::string& run_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Releases the in-memory indexes of a run that reached a terminal state.
  void ForgetRunDetail(RunEntry& run) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<JobRecord*> FindLeasedJob(int64_t job_id, int64_t fencing_token)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int64_t NextFencingToken() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Recomputes the state gauges: O(runs + workers), so only Tick, Register,
  // SubmitRun, CancelRun and recovery call it, never the per-job paths.
  void RefreshGauges() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // `from_cache`: the outputs come from the result cache, not a worker.
  absl::StatusOr<v1::ReportOutputsResponse> StoreOutputs(const v1::ReportOutputsRequest& request,
                                                         bool from_cache = false);
  // One pick-and-lease of Lease (no cache involved).
  absl::StatusOr<v1::LeaseResponse> LeaseOnce(const v1::LeaseRequest& request, absl::Time deadline);
  // Answers the requests of `job`, just leased to the caller of `request`,
  // from the result cache (docs/design/result-cache.md). Returns true when
  // every request was answered and the job completed; otherwise removes the
  // answered requests from *job, which the worker runs.
  absl::StatusOr<bool> AnswerFromCache(const v1::LeaseRequest& request, v1::Job* job);
  absl::StatusOr<v1::ReportOutputsResponse> EndJob(const v1::ReportOutputsRequest& request);
  // ---- Judge jobs (judging.cc; rules in judging.h) ----
  bool IsJudgeJob(int64_t job_id);
  // Blocks a recovered QUEUED judge job on its missing generate outputs, or
  // enqueues it.
  absl::Status RecoverJudgeJob(RunEntry& run, const JobRecord& job)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Schedules the judge jobs that `request`'s (stored) outputs unblocked.
  void ReleaseJudgeJobs(RunEntry& run, const v1::ReportOutputsRequest& request)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Cancels blocked judge jobs once no model job of the run can run.
  void CancelStrandedJudgeJobs(RunEntry& run) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Fills program and tests of a leased judge job's requests.
  absl::Status FillJudgePayload(const JobRecord& job, JobPayload& payload);
  absl::StatusOr<v1::ReportOutputsResponse> StoreJudgeOutputs(
      const v1::ReportOutputsRequest& request);
  // Persists `job` (and its run record when `with_run`) in mutation order.
  uint64_t Persist(const JobRecord& job, bool with_run) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint64_t PersistRun(const RunEntry& run) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReleaseWorkerLeases(WorkerEntry& worker, const std::string& reason,
                           std::vector<uint64_t>& tickets) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Store* const store_;
  const eval::Catalog* const catalog_;
  const Clock* const clock_;
  CoordinatorMetrics* const metrics_;
  const CoordinatorOptions options_;

  mutable absl::Mutex mu_;
  absl::CondVar work_available_;  // signalled when jobs become leasable
  absl::CondVar run_changed_;     // signalled on any run version bump
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, RunEntry> runs_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> run_order_ ABSL_GUARDED_BY(mu_);  // oldest first
  absl::flat_hash_map<int64_t, JobRecord> jobs_ ABSL_GUARDED_BY(mu_);
  Scheduler scheduler_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, WorkerEntry> workers_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::string> worker_by_name_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<int64_t> leased_ ABSL_GUARDED_BY(mu_);
  // Outputs stored under each job's id (what Store::StoredRequestIds counts),
  // kept for the open model jobs of runs submitted by this process, so that
  // completing a job needs no store read. StoreOutputs adds what it inserted;
  // a job leaves the map when it ends. Jobs not in it (recovered runs, judge
  // jobs, whose outputs judging.cc writes) are counted by the store.
  absl::flat_hash_map<int64_t, int64_t> stored_outputs_ ABSL_GUARDED_BY(mu_);
  PersistQueue persist_;
  ResultCache result_cache_;
  JudgeBook judges_ ABSL_GUARDED_BY(mu_);
  std::string incarnation_;  // random, distinguishes worker ids across restarts
  int64_t next_token_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t token_limit_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t worker_seq_ ABSL_GUARDED_BY(mu_) = 0;

  absl::Mutex background_mu_;
  std::unique_ptr<PeriodicThread> background_ ABSL_GUARDED_BY(background_mu_);
};

}  // namespace proctor::coordinator

#endif  // PROCTOR_COORDINATOR_COORDINATOR_H_
