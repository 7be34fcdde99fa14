// Internal to SqliteStore: how records map to rows of the schema in
// migrations.cc (times, enums, packed id lists), shared SQL text, and the
// validation of records before they are written. See docs/design/store.md.
#ifndef PROCTOR_COORDINATOR_STORE_STORE_ROWS_H_
#define PROCTOR_COORDINATOR_STORE_STORE_ROWS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "coordinator/store/sqlite_connection.h"
#include "coordinator/store/store.h"

namespace proctor::coordinator::store_rows {

// Times are Unix microseconds; NULL is InfinitePast, INT64_MAX InfiniteFuture.
// Sub-microsecond parts are truncated.
void BindTime(sqlite::Statement& stmt, int index, absl::Time t);
absl::Time ColumnTime(const sqlite::Statement& stmt, int col);

// Sample request ids: a BLOB of little-endian int64s. Decoding a BLOB whose
// length is not a multiple of 8 is DATA_LOSS.
std::string EncodeInt64s(const std::vector<int64_t>& values);
absl::StatusOr<std::vector<int64_t>> DecodeInt64s(absl::string_view blob);

// INVALID_ARGUMENT for an empty run id or an enum outside its proto range
// (UNSPECIFIED included for states).
absl::Status ValidateRun(const RunRecord& run);
absl::Status ValidateJob(const JobRecord& job);

// A run's internal sequence number / the run_seq a job belongs to.
// NOT_FOUND if unknown.
absl::StatusOr<int64_t> RunSeq(sqlite::Connection& db, const std::string& run_id);
absl::StatusOr<int64_t> JobRunSeq(sqlite::Connection& db, int64_t job_id);

// The columns RunFromRow expects, in order (from table runs).
inline constexpr char kRunColumns[] =
    "seq, run_id, spec, state, created_at_us, finished_at_us, failure_reason";
// Decodes a row selected with kRunColumns. `datasets` is left empty.
// DATA_LOSS if the spec does not parse or the state is not a RunState.
absl::StatusOr<RunRecord> RunFromRow(const sqlite::Statement& stmt);

// The columns JobFromRow expects (jobs AS j JOIN runs AS r).
inline constexpr char kJobColumns[] =
    "j.job_id, r.run_id, j.index_in_run, j.state, j.attempts, j.fencing_token, j.worker_id, "
    "j.lease_expires_at_us, j.not_before_us, j.failure_reason, j.model_key, j.priority, "
    "j.submitter, j.judge, j.estimated_tokens, j.num_requests, j.tensor_parallel, "
    "j.min_gpu_memory_bytes, j.backend";
// DATA_LOSS if the state or priority is out of range.
absl::StatusOr<JobRecord> JobFromRow(const sqlite::Statement& stmt);
// Steps `stmt` to the end, decoding every row with JobFromRow.
absl::StatusOr<std::vector<JobRecord>> CollectJobs(sqlite::Statement& stmt);

// Binds the mutable job columns as ?2..?17 of kUpdateJobSql / kInsertJobSql.
void BindJobFields(sqlite::Statement& stmt, const JobRecord& job);
// ?1 = job_id.
inline constexpr char kUpdateJobSql[] =
    "UPDATE jobs SET state = ?2, attempts = ?3, fencing_token = ?4, worker_id = ?5, "
    "lease_expires_at_us = ?6, not_before_us = ?7, failure_reason = ?8, model_key = ?9, "
    "priority = ?10, submitter = ?11, judge = ?12, estimated_tokens = ?13, num_requests = ?14, "
    "tensor_parallel = ?15, min_gpu_memory_bytes = ?16, backend = ?17 WHERE job_id = ?1";
// ?1 = run_seq, ?18 = index_in_run.
inline constexpr char kInsertJobSql[] =
    "INSERT INTO jobs (run_seq, state, attempts, fencing_token, worker_id, lease_expires_at_us, "
    "not_before_us, failure_reason, model_key, priority, submitter, judge, estimated_tokens, "
    "num_requests, tensor_parallel, min_gpu_memory_bytes, backend, index_in_run) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)";

}  // namespace proctor::coordinator::store_rows

#endif  // PROCTOR_COORDINATOR_STORE_STORE_ROWS_H_
