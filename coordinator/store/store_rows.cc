#include "coordinator/store/store_rows.h"

#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace proctor::coordinator::store_rows {

using sqlite::Connection;
using sqlite::Statement;

// Times are stored as Unix microseconds; NULL is InfinitePast.
void BindTime(Statement& stmt, int index, absl::Time t) {
  if (t == absl::InfinitePast()) {
    stmt.BindNull(index);
  } else if (t == absl::InfiniteFuture()) {
    stmt.BindInt64(index, std::numeric_limits<int64_t>::max());
  } else {
    stmt.BindInt64(index, absl::ToUnixMicros(t));
  }
}

absl::Time ColumnTime(const Statement& stmt, int col) {
  if (stmt.ColumnIsNull(col)) return absl::InfinitePast();
  const int64_t micros = stmt.ColumnInt64(col);
  if (micros == std::numeric_limits<int64_t>::max()) return absl::InfiniteFuture();
  return absl::FromUnixMicros(micros);
}

// Sample request ids: a BLOB of little-endian int64s.
std::string EncodeInt64s(const std::vector<int64_t>& values) {
  std::string out(values.size() * 8, '\0');
  for (size_t i = 0; i < values.size(); ++i) {
    const uint64_t v = static_cast<uint64_t>(values[i]);
    for (int b = 0; b < 8; ++b) out[i * 8 + b] = static_cast<char>((v >> (8 * b)) & 0xff);
  }
  return out;
}

absl::StatusOr<std::vector<int64_t>> DecodeInt64s(absl::string_view blob) {
  if (blob.size() % 8 != 0) {
    return absl::DataLossError(
        absl::StrCat("request id list of ", blob.size(), " bytes is not a multiple of 8"));
  }
  std::vector<int64_t> values(blob.size() / 8);
  for (size_t i = 0; i < values.size(); ++i) {
    uint64_t v = 0;
    for (int b = 0; b < 8; ++b) {
      v |= static_cast<uint64_t>(static_cast<unsigned char>(blob[i * 8 + b])) << (8 * b);
    }
    values[i] = static_cast<int64_t>(v);
  }
  return values;
}

namespace {

bool ValidRunState(v1::RunState s) { return s >= v1::RUN_STATE_QUEUED && v1::RunState_IsValid(s); }
bool ValidJobState(v1::JobState s) { return s >= v1::JOB_STATE_QUEUED && v1::JobState_IsValid(s); }

}  // namespace

absl::Status ValidateRun(const RunRecord& run) {
  if (run.run_id.empty()) return absl::InvalidArgumentError("run.run_id is empty");
  if (!ValidRunState(run.state)) {
    return absl::InvalidArgumentError(
        absl::StrCat("run ", run.run_id, ": state ", static_cast<int>(run.state), " is invalid"));
  }
  return absl::OkStatus();
}

absl::Status ValidateJob(const JobRecord& job) {
  if (!ValidJobState(job.state)) {
    return absl::InvalidArgumentError(
        absl::StrCat("job ", job.job_id, ": state ", static_cast<int>(job.state), " is invalid"));
  }
  if (!v1::Priority_IsValid(job.priority)) {
    return absl::InvalidArgumentError(absl::StrCat("job ", job.job_id, ": priority ",
                                                   static_cast<int>(job.priority), " is invalid"));
  }
  return absl::OkStatus();
}

// Looks up a run's internal sequence number. NOT_FOUND if unknown.
absl::StatusOr<int64_t> RunSeq(Connection& db, const std::string& run_id) {
  PROCTOR_ASSIGN_OR_RETURN(Statement stmt, db.Prepare("SELECT seq FROM runs WHERE run_id = ?1"));
  stmt.BindText(1, run_id);
  PROCTOR_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return absl::NotFoundError(absl::StrCat("run ", run_id, " not found"));
  return stmt.ColumnInt64(0);
}

// The run_seq a job belongs to. NOT_FOUND if unknown.
absl::StatusOr<int64_t> JobRunSeq(Connection& db, int64_t job_id) {
  PROCTOR_ASSIGN_OR_RETURN(Statement stmt,
                           db.Prepare("SELECT run_seq FROM jobs WHERE job_id = ?1"));
  stmt.BindInt64(1, job_id);
  PROCTOR_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return absl::NotFoundError(absl::StrCat("job ", job_id, " not found"));
  return stmt.ColumnInt64(0);
}

absl::StatusOr<RunRecord> RunFromRow(const Statement& stmt) {
  RunRecord run;
  run.seq = stmt.ColumnInt64(0);
  run.run_id = std::string(stmt.ColumnText(1));
  const absl::string_view spec = stmt.ColumnBlob(2);
  if (!run.spec.ParseFromArray(spec.data(), static_cast<int>(spec.size()))) {
    return absl::DataLossError(absl::StrCat("run ", run.run_id, ": stored RunSpec (", spec.size(),
                                            " bytes) does not parse"));
  }
  const int64_t state = stmt.ColumnInt64(3);
  if (!v1::RunState_IsValid(static_cast<int>(state))) {
    return absl::DataLossError(
        absl::StrCat("run ", run.run_id, ": stored state ", state, " is not a RunState"));
  }
  run.state = static_cast<v1::RunState>(state);
  run.created_at = ColumnTime(stmt, 4);
  run.finished_at = ColumnTime(stmt, 5);
  run.failure_reason = std::string(stmt.ColumnText(6));
  return run;
}

absl::StatusOr<JobRecord> JobFromRow(const Statement& stmt) {
  JobRecord job;
  job.job_id = stmt.ColumnInt64(0);
  job.run_id = std::string(stmt.ColumnText(1));
  job.index_in_run = static_cast<int32_t>(stmt.ColumnInt64(2));
  const int64_t state = stmt.ColumnInt64(3);
  if (!v1::JobState_IsValid(static_cast<int>(state))) {
    return absl::DataLossError(
        absl::StrCat("job ", job.job_id, ": stored state ", state, " is not a JobState"));
  }
  job.state = static_cast<v1::JobState>(state);
  job.attempts = static_cast<int32_t>(stmt.ColumnInt64(4));
  job.fencing_token = stmt.ColumnInt64(5);
  job.worker_id = std::string(stmt.ColumnText(6));
  job.lease_expires_at = ColumnTime(stmt, 7);
  job.not_before = ColumnTime(stmt, 8);
  job.failure_reason = std::string(stmt.ColumnText(9));
  job.model_key = std::string(stmt.ColumnText(10));
  const int64_t priority = stmt.ColumnInt64(11);
  if (!v1::Priority_IsValid(static_cast<int>(priority))) {
    return absl::DataLossError(
        absl::StrCat("job ", job.job_id, ": stored priority ", priority, " is not a Priority"));
  }
  job.priority = static_cast<v1::Priority>(priority);
  job.submitter = std::string(stmt.ColumnText(12));
  job.judge = stmt.ColumnInt64(13) != 0;
  job.estimated_tokens = stmt.ColumnInt64(14);
  job.num_requests = static_cast<int32_t>(stmt.ColumnInt64(15));
  job.tensor_parallel = static_cast<int32_t>(stmt.ColumnInt64(16));
  job.min_gpu_memory_bytes = stmt.ColumnInt64(17);
  job.backend = std::string(stmt.ColumnText(18));
  return job;
}

absl::StatusOr<std::vector<JobRecord>> CollectJobs(Statement& stmt) {
  std::vector<JobRecord> jobs;
  while (true) {
    PROCTOR_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    PROCTOR_ASSIGN_OR_RETURN(JobRecord job, JobFromRow(stmt));
    jobs.push_back(std::move(job));
  }
  return jobs;
}

// Binds the mutable job columns as ?2..?17 (see kUpdateJobSql / kInsertJobSql).
void BindJobFields(Statement& stmt, const JobRecord& job) {
  stmt.BindInt64(2, job.state);
  stmt.BindInt64(3, job.attempts);
  stmt.BindInt64(4, job.fencing_token);
  stmt.BindText(5, job.worker_id);
  BindTime(stmt, 6, job.lease_expires_at);
  BindTime(stmt, 7, job.not_before);
  stmt.BindText(8, job.failure_reason);
  stmt.BindText(9, job.model_key);
  stmt.BindInt64(10, job.priority);
  stmt.BindText(11, job.submitter);
  stmt.BindInt64(12, job.judge ? 1 : 0);
  stmt.BindInt64(13, job.estimated_tokens);
  stmt.BindInt64(14, job.num_requests);
  stmt.BindInt64(15, job.tensor_parallel);
  stmt.BindInt64(16, job.min_gpu_memory_bytes);
  stmt.BindText(17, job.backend);
}

}  // namespace proctor::coordinator::store_rows
