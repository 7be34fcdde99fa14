// The coordinator's durable state: runs, jobs, per-request outputs and
// per-sample scores. One implementation today (SqliteStore); the interface is
// what a PostgreSQL store for HA would implement.
//
// Contract for every implementation:
//  * All methods are thread-safe. Concurrent writers may be batched into one
//    transaction (group commit), but a method returns only after its own
//    writes are durable (a committed write survives power loss).
//  * A method that fails leaves the store unchanged (each call is atomic).
//  * Errors: NOT_FOUND for unknown ids, ALREADY_EXISTS for a duplicate run id,
//    DATA_LOSS for a corrupt file, FAILED_PRECONDITION for a store written by
//    a newer Proctor, INTERNAL/UNAVAILABLE for I/O failures.
#ifndef PROCTOR_COORDINATOR_STORE_STORE_H_
#define PROCTOR_COORDINATOR_STORE_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proctor/v1/common.pb.h"
#include "proctor/v1/requests.pb.h"

namespace proctor::coordinator {

struct RunRecord {
  std::string run_id;
  v1::RunSpec spec;
  v1::RunState state = v1::RUN_STATE_QUEUED;
  absl::Time created_at = absl::InfinitePast();
  absl::Time finished_at = absl::InfinitePast();  // InfinitePast = not finished
  std::string failure_reason;
  // Datasets of the plan with their planned sample counts (for results).
  std::vector<std::pair<std::string, int64_t>> datasets;
  int64_t seq = 0;  // creation order, assigned by the store (1, 2, ...)
};

// Scheduling-relevant fields of a job. The payload (prefixes + requests) is
// stored separately and loaded only when the job is leased.
struct JobRecord {
  int64_t job_id = 0;  // assigned by the store in CreateRun (1, 2, ...)
  std::string run_id;
  int32_t index_in_run = 0;
  v1::JobState state = v1::JOB_STATE_QUEUED;
  int32_t attempts = 0;          // leases granted so far
  int64_t fencing_token = 0;     // token of the current or last lease; 0 = never leased
  std::string worker_id;         // holder of the current lease
  absl::Time lease_expires_at = absl::InfinitePast();
  absl::Time not_before = absl::InfinitePast();  // retry backoff
  std::string failure_reason;    // last failure (kept after a retry)
  std::string model_key;
  v1::Priority priority = v1::PRIORITY_INTERACTIVE;
  std::string submitter;
  bool judge = false;
  int64_t estimated_tokens = 0;
  int32_t num_requests = 0;
  int32_t tensor_parallel = 0;        // copied from the model ref (capability match)
  int64_t min_gpu_memory_bytes = 0;
  std::string backend;                // required backend, "" = any
};

// What a job carries to a worker besides its lease fields.
struct JobPayload {
  std::vector<std::string> prefixes;
  std::vector<v1::Request> requests;
};

// One evaluation sample: its scoring target and the requests it owns.
struct SampleRecord {
  std::string dataset;
  int64_t sample_index = 0;
  std::string target;                // opaque, from eval::PlannedSample::target
  std::vector<int64_t> request_ids;  // in the order eval expects the outputs
};

struct SampleScore {
  std::string dataset;
  int64_t sample_index = 0;
  std::string score;  // opaque, from eval::Catalog::ScoreSample
};

// One result-cache entry (docs/design/result-cache.md): `key` is the 32-byte
// key from coordinator/result_cache.h; `output` carries no request_id.
struct CacheEntry {
  std::string key;
  v1::Output output;
};

struct OutputBatch {
  std::string run_id;
  int64_t job_id = 0;
  std::vector<v1::Output> outputs;
  // The outputs were answered from the result cache (counted separately).
  bool from_cache = false;
  // Result-cache entries written in the same transaction: inserted when the
  // key is new (an existing entry keeps its output), and in every case marked
  // used at `now` (the LRU clock).
  std::vector<CacheEntry> cache_entries;
  absl::Time now = absl::InfinitePast();
  // Scores of samples completed by these outputs; written in the same
  // transaction. Existing scores for the same (run, dataset, sample) are kept.
  std::vector<SampleScore> scores;
};

class Store {
 public:
  virtual ~Store() = default;

  // Persists a planned run atomically. Assigns `seq` to the run and job ids
  // to `jobs` (in place, in order). `payloads[i]` belongs to `jobs[i]`.
  virtual absl::Status CreateRun(RunRecord& run, std::vector<JobRecord>& jobs,
                                 const std::vector<JobPayload>& payloads,
                                 const std::vector<SampleRecord>& samples) = 0;

  virtual absl::Status UpdateRun(const RunRecord& run) = 0;
  virtual absl::StatusOr<RunRecord> GetRun(const std::string& run_id) = 0;
  // Every run, oldest first (recovery and listing).
  virtual absl::StatusOr<std::vector<RunRecord>> LoadRuns() = 0;

  // Writes the given job records (state, lease, attempts, ...) in one
  // transaction. Unknown job ids are NOT_FOUND and nothing is written.
  virtual absl::Status UpdateJobs(const std::vector<JobRecord>& jobs) = 0;
  // Jobs not in a terminal state (queued or leased), for recovery.
  virtual absl::StatusOr<std::vector<JobRecord>> LoadActiveJobs() = 0;
  virtual absl::StatusOr<std::vector<JobRecord>> LoadJobsOfRun(const std::string& run_id) = 0;
  virtual absl::StatusOr<JobPayload> LoadJobPayload(int64_t job_id) = 0;

  // Stores outputs keyed by (run_id, request_id): an output already stored is
  // ignored (idempotent re-delivery). Returns how many were new.
  virtual absl::StatusOr<int64_t> WriteOutputs(const OutputBatch& batch) = 0;
  // Request ids of `job_id` that have a stored output.
  virtual absl::StatusOr<std::vector<int64_t>> StoredRequestIds(const std::string& run_id,
                                                                int64_t job_id) = 0;
  virtual absl::StatusOr<std::vector<v1::Output>> LoadOutputs(const std::string& run_id,
                                                               const std::vector<int64_t>& request_ids) = 0;
  virtual absl::StatusOr<int64_t> CountOutputs(const std::string& run_id) = 0;
  // Of those, the outputs written with OutputBatch::from_cache.
  virtual absl::StatusOr<int64_t> CountCachedOutputs(const std::string& run_id) = 0;

  // Result cache. One batched read: the output stored under each of `keys`
  // (nullopt where absent), in the order given. Does not mark entries used
  // (writing them back in an OutputBatch does).
  virtual absl::StatusOr<std::vector<std::optional<v1::Output>>> LookupCache(
      const std::vector<std::string>& keys) = 0;
  // Entries in the cache now.
  virtual absl::StatusOr<int64_t> CountCacheEntries() = 0;

  virtual absl::StatusOr<std::vector<SampleRecord>> LoadSamples(const std::string& run_id) = 0;
  virtual absl::StatusOr<std::vector<SampleScore>> LoadScores(const std::string& run_id) = 0;

  // Reserves `count` fencing tokens durably and returns the first one. Tokens
  // are strictly increasing across calls and across restarts.
  virtual absl::StatusOr<int64_t> ReserveFencingTokens(int64_t count) = 0;
};

}  // namespace proctor::coordinator

#endif  // PROCTOR_COORDINATOR_STORE_STORE_H_
