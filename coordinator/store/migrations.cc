#include "coordinator/store/migrations.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/logging.h"
#include "common/status_macros.h"

namespace proctor::coordinator {
namespace {

// Version 1: the tables. Times are Unix microseconds (NULL = InfinitePast);
// enums are their proto numbers; protobuf payloads are serialized BLOBs.
// Runs are referenced internally by their integer `seq`, never by run_id text.
constexpr char kSchemaV1[] = R"sql(
CREATE TABLE meta (
  key   TEXT PRIMARY KEY NOT NULL,
  value NOT NULL
) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('fencing_high_water', 0);

CREATE TABLE runs (
  seq            INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id         TEXT NOT NULL UNIQUE,
  spec           BLOB NOT NULL,
  state          INTEGER NOT NULL,
  created_at_us  INTEGER,
  finished_at_us INTEGER,
  failure_reason TEXT NOT NULL
);

CREATE TABLE run_datasets (
  run_seq         INTEGER NOT NULL REFERENCES runs (seq),
  position        INTEGER NOT NULL,
  dataset         TEXT NOT NULL,
  planned_samples INTEGER NOT NULL,
  PRIMARY KEY (run_seq, position)
) WITHOUT ROWID;

CREATE TABLE jobs (
  job_id               INTEGER PRIMARY KEY AUTOINCREMENT,
  run_seq              INTEGER NOT NULL REFERENCES runs (seq),
  index_in_run         INTEGER NOT NULL,
  state                INTEGER NOT NULL,
  attempts             INTEGER NOT NULL,
  fencing_token        INTEGER NOT NULL,
  worker_id            TEXT NOT NULL,
  lease_expires_at_us  INTEGER,
  not_before_us        INTEGER,
  failure_reason       TEXT NOT NULL,
  model_key            TEXT NOT NULL,
  priority             INTEGER NOT NULL,
  submitter            TEXT NOT NULL,
  judge                INTEGER NOT NULL,
  estimated_tokens     INTEGER NOT NULL,
  num_requests         INTEGER NOT NULL,
  tensor_parallel      INTEGER NOT NULL,
  min_gpu_memory_bytes INTEGER NOT NULL,
  backend              TEXT NOT NULL,
  UNIQUE (run_seq, index_in_run)
);

CREATE TABLE job_payloads (
  job_id  INTEGER PRIMARY KEY REFERENCES jobs (job_id),
  payload BLOB NOT NULL
);

CREATE TABLE samples (
  run_seq      INTEGER NOT NULL REFERENCES runs (seq),
  dataset      TEXT NOT NULL,
  sample_index INTEGER NOT NULL,
  target       BLOB NOT NULL,
  request_ids  BLOB NOT NULL,
  UNIQUE (run_seq, dataset, sample_index)
);

CREATE TABLE outputs (
  run_seq    INTEGER NOT NULL REFERENCES runs (seq),
  request_id INTEGER NOT NULL,
  job_id     INTEGER NOT NULL REFERENCES jobs (job_id),
  output     BLOB NOT NULL,
  PRIMARY KEY (run_seq, request_id)
);

CREATE TABLE sample_scores (
  run_seq      INTEGER NOT NULL REFERENCES runs (seq),
  dataset      TEXT NOT NULL,
  sample_index INTEGER NOT NULL,
  score        BLOB NOT NULL,
  PRIMARY KEY (run_seq, dataset, sample_index)
) WITHOUT ROWID;
)sql";

// Version 2: secondary indexes for recovery (active jobs without scanning
// finished ones) and for per-job output lookups (resumable reports).
constexpr char kSchemaV2[] = R"sql(
CREATE INDEX jobs_active ON jobs (job_id) WHERE state IN (1, 2);
CREATE INDEX outputs_by_job ON outputs (run_seq, job_id, request_id);
)sql";

// Version 3: sweeps (docs/sweeps.md). `definition` is a serialized
// proctor.v1.Sweep without its output-only fields; the firing state is in
// columns so that it is updated without rewriting the definition.
constexpr char kSchemaV3[] = R"sql(
CREATE TABLE sweeps (
  name               TEXT PRIMARY KEY NOT NULL,
  definition         BLOB NOT NULL,
  paused             INTEGER NOT NULL,
  created_at_us      INTEGER NOT NULL,
  last_fired_slot_us INTEGER,
  pending_slot_us    INTEGER
) WITHOUT ROWID;
)sql";

// Version 4: the result cache (docs/design/result-cache.md). `key` is the
// 32-byte SHA-256 cache key; `output` a serialized proctor.v1.Output without
// request_id. The index serves the LRU trim; meta 'result_cache_entries'
// counts the rows (kept in the same transactions, so a gauge need not scan).
// outputs.from_cache marks outputs answered from the cache
// (RunProgress.requests_cached survives restarts).
constexpr char kSchemaV4[] = R"sql(
CREATE TABLE result_cache (
  key             BLOB PRIMARY KEY NOT NULL,
  output          BLOB NOT NULL,
  created_at_us   INTEGER NOT NULL,
  last_used_at_us INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX result_cache_lru ON result_cache (last_used_at_us);
INSERT INTO meta (key, value) VALUES ('result_cache_entries', 0);
ALTER TABLE outputs ADD COLUMN from_cache INTEGER NOT NULL DEFAULT 0;
)sql";

constexpr Migration kMigrations[] = {
    {1,
     "create tables meta, runs, run_datasets, jobs, job_payloads, samples, outputs, "
     "sample_scores",
     kSchemaV1},
    {2, "add indexes jobs_active and outputs_by_job", kSchemaV2},
    {3, "create table sweeps", kSchemaV3},
    {4, "create table result_cache, add outputs.from_cache", kSchemaV4},
};

}  // namespace

absl::Span<const Migration> AllMigrations() { return kMigrations; }

int LatestSchemaVersion() { return AllMigrations().back().version; }

absl::StatusOr<SchemaInfo> ReadSchemaInfo(sqlite::Connection& db) {
  SchemaInfo info;
  PROCTOR_ASSIGN_OR_RETURN(int64_t application_id, db.QueryInt64("PRAGMA application_id"));
  info.application_id = static_cast<int32_t>(application_id);
  PROCTOR_ASSIGN_OR_RETURN(info.user_version, db.QueryInt64("PRAGMA user_version"));
  PROCTOR_ASSIGN_OR_RETURN(
      int64_t tables, db.QueryInt64("SELECT count(*) FROM sqlite_master WHERE type = 'table'"));
  info.has_tables = tables > 0;
  return info;
}

absl::Status CheckSchemaCompatible(const SchemaInfo& info, const std::string& path) {
  const bool empty = info.application_id == 0 && info.user_version == 0 && !info.has_tables;
  if (empty) return absl::OkStatus();
  if (info.application_id != kProctorApplicationId) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s is a SQLite database but not a Proctor store (application_id 0x%08x, expected "
        "0x%08x); refusing to open it. It was NOT modified; point the coordinator at a new or "
        "existing Proctor store file",
        path, static_cast<uint32_t>(info.application_id),
        static_cast<uint32_t>(kProctorApplicationId)));
  }
  if (info.user_version > LatestSchemaVersion()) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "store at %s has schema version %d, this proctor-coordinator supports up to %d; "
        "upgrade proctor",
        path, info.user_version, LatestSchemaVersion()));
  }
  if (info.user_version < 0) {
    return absl::DataLossError(absl::StrFormat(
        "store at %s has invalid schema version %d; it was NOT modified", path, info.user_version));
  }
  return absl::OkStatus();
}

absl::StatusOr<int> ApplyMigrations(sqlite::Connection& db, int target_version) {
  if (target_version < 0) target_version = LatestSchemaVersion();
  if (target_version > LatestSchemaVersion()) {
    return absl::InvalidArgumentError(
        absl::StrCat("ApplyMigrations: target version ", target_version,
                     " is above the latest known version ", LatestSchemaVersion()));
  }
  PROCTOR_ASSIGN_OR_RETURN(int64_t version, db.QueryInt64("PRAGMA user_version"));
  for (const Migration& migration : AllMigrations()) {
    if (migration.version <= version || migration.version > target_version) continue;
    PROCTOR_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
    absl::Status status = [&]() -> absl::Status {
      // Re-read under the write lock: another process may have migrated.
      PROCTOR_ASSIGN_OR_RETURN(int64_t current, db.QueryInt64("PRAGMA user_version"));
      if (current >= migration.version) return absl::OkStatus();
      PROCTOR_RETURN_IF_ERROR(db.Exec(migration.sql));
      if (migration.version == 1) {
        PROCTOR_RETURN_IF_ERROR(
            db.Exec(absl::StrCat("PRAGMA application_id = ", kProctorApplicationId)));
      }
      return db.Exec(absl::StrCat("PRAGMA user_version = ", migration.version));
    }();
    if (status.ok()) status = db.Exec("COMMIT");
    if (!status.ok()) {
      db.Exec("ROLLBACK").IgnoreError();  // may fail if COMMIT already ended it
      return absl::Status(
          status.code(),
          absl::StrCat("migrating store ", db.path(), " to schema version ", migration.version,
                       " (", migration.description, ") failed: ", status.message()));
    }
    PROCTOR_LOG(INFO) << "store " << db.path() << ": applied schema migration " << migration.version
                      << " (" << migration.description << ")";
    version = migration.version;
  }
  return static_cast<int>(version);
}

}  // namespace proctor::coordinator
