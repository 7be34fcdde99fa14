#include "coordinator/store/sqlite_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "coordinator/store/migrations.h"
#include "coordinator/store/store_rows.h"
#include "proctor/v1/worker.pb.h"

// PROCTOR_RETURN_IF_ERROR around a call whose lambda argument itself uses
// the macro would shadow the macro's local; this variant uses another name.
#define PROCTOR_RETURN_IF_ERROR_OUTER(expr)        \
  do {                                             \
    ::absl::Status outer_status_ = (expr);         \
    if (!outer_status_.ok()) return outer_status_; \
  } while (0)

namespace proctor::coordinator {
namespace {

using sqlite::Connection;
using sqlite::Statement;
using store_rows::BindJobFields;
using store_rows::BindTime;
using store_rows::CollectJobs;
using store_rows::ColumnTime;
using store_rows::DecodeInt64s;
using store_rows::EncodeInt64s;
using store_rows::JobFromRow;
using store_rows::JobRunSeq;
using store_rows::kInsertJobSql;
using store_rows::kJobColumns;
using store_rows::kRunColumns;
using store_rows::kUpdateJobSql;
using store_rows::RunFromRow;
using store_rows::RunSeq;
using store_rows::ValidateJob;
using store_rows::ValidateRun;

constexpr char kSqliteMagic[] = "SQLite format 3";  // 15 chars + NUL = 16 header bytes

absl::Status ReplaceRunDatasets(Connection& db, int64_t seq, const RunRecord& run) {
  PROCTOR_ASSIGN_OR_RETURN(Statement del,
                           db.Prepare("DELETE FROM run_datasets WHERE run_seq = ?1"));
  del.BindInt64(1, seq);
  PROCTOR_RETURN_IF_ERROR(del.Run());
  PROCTOR_ASSIGN_OR_RETURN(
      Statement insert,
      db.Prepare("INSERT INTO run_datasets (run_seq, position, dataset, planned_samples) "
                 "VALUES (?1, ?2, ?3, ?4)"));
  for (size_t i = 0; i < run.datasets.size(); ++i) {
    insert.BindInt64(1, seq);
    insert.BindInt64(2, static_cast<int64_t>(i));
    insert.BindText(3, run.datasets[i].first);
    insert.BindInt64(4, run.datasets[i].second);
    absl::Status status = insert.Run();
    if (!status.ok()) {
      return absl::Status(
          status.code(), absl::StrCat("run ", run.run_id, ": dataset ", run.datasets[i].first, ": ",
                                      status.message()));
    }
    insert.Reset();
  }
  return absl::OkStatus();
}

// Loads every run_datasets row for the runs in `by_seq` (seq -> run).
absl::Status LoadDatasets(Connection& db, std::optional<int64_t> only_seq,
                          absl::flat_hash_map<int64_t, RunRecord*>& by_seq) {
  PROCTOR_ASSIGN_OR_RETURN(
      Statement stmt, only_seq.has_value()
                          ? db.Prepare("SELECT run_seq, dataset, planned_samples FROM run_datasets "
                                       "WHERE run_seq = ?1 ORDER BY position")
                          : db.Prepare("SELECT run_seq, dataset, planned_samples FROM run_datasets "
                                       "ORDER BY run_seq, position"));
  if (only_seq.has_value()) stmt.BindInt64(1, *only_seq);
  while (true) {
    PROCTOR_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    auto it = by_seq.find(stmt.ColumnInt64(0));
    if (it == by_seq.end()) continue;
    it->second->datasets.emplace_back(std::string(stmt.ColumnText(1)), stmt.ColumnInt64(2));
  }
  return absl::OkStatus();
}

// Adds the store path and the "not modified" promise to an error met while
// inspecting an existing file, before anything was written to it.
absl::Status RefuseUnmodified(const std::string& path, const absl::Status& status) {
  if (status.code() == absl::StatusCode::kDataLoss) {
    return absl::DataLossError(
        absl::StrCat("store at ", path, " is corrupt or not a SQLite database (", status.message(),
                     "). The file was NOT modified; restore it from a backup or move it aside. "
                     "Proctor never resets a store"));
  }
  return status;
}

// Checks the 16-byte SQLite header of a non-empty existing file.
absl::Status CheckHeader(const std::string& path, int64_t size) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read store file ", path, ": ", std::strerror(errno)));
  }
  char header[16] = {};
  in.read(header, sizeof(header));
  if (in.gcount() != static_cast<std::streamsize>(sizeof(header)) ||
      std::memcmp(header, kSqliteMagic, sizeof(header)) != 0) {
    return absl::DataLossError(
        absl::StrCat("the file (", size, " bytes) does not start with the SQLite header"));
  }
  return absl::OkStatus();
}

// Settings every connection gets. Touches no page of the file.
absl::Status SetBusyTimeout(Connection& db, const SqliteStoreOptions& options) {
  const int rc = sqlite3_busy_timeout(
      db.db(), static_cast<int>(absl::ToInt64Milliseconds(options.busy_timeout)));
  if (rc != SQLITE_OK) return sqlite::SqliteStatus(rc, db.db(), "setting busy_timeout", db.path());
  return absl::OkStatus();
}

absl::Status ConfigureConnection(Connection& db, const SqliteStoreOptions& options) {
  PROCTOR_RETURN_IF_ERROR(SetBusyTimeout(db, options));
  return db.Exec(
      absl::StrCat("PRAGMA cache_size = ", -static_cast<int64_t>(options.cache_size_kib)));
}

SqliteStoreOptions Sanitized(SqliteStoreOptions options) {
  options.read_connections = std::max(1, options.read_connections);
  options.max_batch = std::max(1, options.max_batch);
  return options;
}

}  // namespace

// Open -----------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path,
                                                               const SqliteStoreOptions& options) {
  if (path.empty()) return absl::InvalidArgumentError("store path is empty");
  if (sqlite3_threadsafe() == 0) {
    return absl::FailedPreconditionError("the linked SQLite library was built without threads");
  }
  // One process per store: two coordinators on one file would hand out the
  // same jobs twice. The lock dies with the process, so a crash never leaves
  // a stale lock behind.
  const std::string lock_path = path + ".lock";
  const int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot open store lock ", lock_path, ": ", std::strerror(errno)));
  }
  if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(lock_fd);
    return absl::FailedPreconditionError(
        absl::StrCat("store ", path, " is in use by another process (", lock_path, " is locked)"));
  }
  struct LockGuard {  // closes (unlocks) unless the store takes the lock over
    int fd;
    ~LockGuard() {
      if (fd >= 0) ::close(fd);
    }
  } lock_guard{lock_fd};
  struct stat st;
  bool existing = false;
  if (::stat(path.c_str(), &st) == 0) {
    if (!S_ISREG(st.st_mode)) {
      return absl::FailedPreconditionError(
          absl::StrCat("store path ", path, " exists but is not a regular file"));
    }
    existing = st.st_size > 0;
    if (existing) {
      PROCTOR_RETURN_IF_ERROR(
          RefuseUnmodified(path, CheckHeader(path, static_cast<int64_t>(st.st_size))));
    }
  } else if (errno != ENOENT) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot stat store path ", path, ": ", std::strerror(errno)));
  }

  PROCTOR_ASSIGN_OR_RETURN(std::unique_ptr<Connection> db,
                           Connection::Open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE));
  PROCTOR_RETURN_IF_ERROR(SetBusyTimeout(*db, options));

  // Inspect before writing anything: a refused file stays byte-for-byte intact.
  absl::StatusOr<SchemaInfo> info = ReadSchemaInfo(*db);
  if (!info.ok()) return RefuseUnmodified(path, info.status());
  PROCTOR_RETURN_IF_ERROR(CheckSchemaCompatible(*info, path));
  if (info->has_tables && options.quick_check_on_open) {
    absl::StatusOr<Statement> check = db->Prepare("PRAGMA quick_check(20)");
    if (!check.ok()) return RefuseUnmodified(path, check.status());
    std::vector<std::string> problems;
    while (true) {
      absl::StatusOr<bool> row = check->Step();
      if (!row.ok()) return RefuseUnmodified(path, row.status());
      if (!*row) break;
      problems.emplace_back(check->ColumnText(0));
    }
    if (problems.size() != 1 || problems[0] != "ok") {
      return RefuseUnmodified(path, absl::DataLossError(absl::StrCat(
                                        "PRAGMA quick_check: ", absl::StrJoin(problems, "; "))));
    }
  }

  // From here on the file is a (new or compatible) Proctor store.
  PROCTOR_RETURN_IF_ERROR(ConfigureConnection(*db, options));
  PROCTOR_ASSIGN_OR_RETURN(std::string journal_mode, db->QueryText("PRAGMA journal_mode = WAL"));
  if (journal_mode != "wal") {
    return absl::FailedPreconditionError(absl::StrCat(
        "store at ", path, ": cannot switch to WAL mode (journal_mode is ", journal_mode, ")"));
  }
  PROCTOR_RETURN_IF_ERROR(db->Exec("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;"));
  PROCTOR_ASSIGN_OR_RETURN(int version, ApplyMigrations(*db));
  if (!existing) {
    PROCTOR_LOG(INFO) << "created store " << path << " at schema version " << version;
  }
  auto store = std::unique_ptr<SqliteStore>(new SqliteStore(path, options, std::move(db)));
  store->lock_fd_ = lock_guard.fd;
  lock_guard.fd = -1;
  return store;
}

SqliteStore::SqliteStore(std::string path, const SqliteStoreOptions& options,
                         std::unique_ptr<Connection> writer)
    : path_(std::move(path)),
      options_(Sanitized(options)),
      writer_(std::move(writer)),
      writes_(
          [this](absl::Span<const GroupCommitQueue::Mutation> batch) {
            return ExecuteBatch(batch);
          },
          options.max_batch) {}

SqliteStore::~SqliteStore() {
  {
    absl::MutexLock lock(&readers_mu_);
    idle_readers_.clear();  // readers first, so the writer's close checkpoints the WAL
  }
  writer_.reset();
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

// Group commit ---------------------------------------------------------------

absl::Status SqliteStore::Write(absl::FunctionRef<absl::Status(Connection&)> mutation) {
  return writes_.Submit([&]() { return mutation(*writer_); });
}

std::vector<absl::Status> SqliteStore::ExecuteBatch(
    absl::Span<const GroupCommitQueue::Mutation> batch) {
  Connection& db = *writer_;
  std::vector<absl::Status> statuses(batch.size());
  auto fail_all = [&](const absl::Status& why) {
    for (absl::Status& s : statuses) {
      if (s.ok()) s = why;
    }
    if (sqlite3_get_autocommit(db.db()) == 0) db.Exec("ROLLBACK").IgnoreError();
    return statuses;
  };
  auto run = [&](const char* sql) -> absl::Status {
    PROCTOR_ASSIGN_OR_RETURN(Statement stmt, db.Prepare(sql));
    return stmt.Run();
  };

  if (absl::Status begin = run("BEGIN IMMEDIATE"); !begin.ok()) return fail_all(begin);
  const bool single = batch.size() == 1;
  for (size_t i = 0; i < batch.size(); ++i) {
    if (!single) {
      if (absl::Status s = run("SAVEPOINT call"); !s.ok()) return fail_all(s);
    }
    statuses[i] = batch[i]();
    if (sqlite3_get_autocommit(db.db()) != 0) {
      // SQLite rolled the whole transaction back (I/O error, disk full):
      // every call of the batch is undone, so none may report success.
      const absl::Status why =
          statuses[i].ok() ? absl::InternalError("transaction ended unexpectedly") : statuses[i];
      for (size_t j = 0; j < batch.size(); ++j) {
        statuses[j] =
            absl::Status(why.code(), absl::StrCat("group commit rolled back: ", why.message()));
      }
      return statuses;
    }
    if (single) {
      if (!statuses[i].ok()) return fail_all(statuses[i]);
      break;
    }
    if (!statuses[i].ok()) {
      if (absl::Status s = run("ROLLBACK TO call"); !s.ok()) {
        statuses[i] = s;
        for (size_t j = 0; j < i; ++j) statuses[j] = s;
        return fail_all(s);
      }
    }
    if (absl::Status s = run("RELEASE call"); !s.ok()) {
      for (size_t j = 0; j <= i; ++j) statuses[j] = s;
      return fail_all(s);
    }
  }
  if (absl::Status commit = run("COMMIT"); !commit.ok()) {
    for (absl::Status& s : statuses) {
      if (s.ok()) s = commit;
    }
    if (sqlite3_get_autocommit(db.db()) == 0) db.Exec("ROLLBACK").IgnoreError();
  }
  return statuses;
}

bool SqliteStore::ReaderAvailable() const {
  return !idle_readers_.empty() || open_readers_ < options_.read_connections;
}

absl::Status SqliteStore::Read(absl::FunctionRef<absl::Status(Connection&)> read) {
  std::unique_ptr<Connection> db;
  {
    absl::MutexLock lock(&readers_mu_);
    readers_mu_.Await(absl::Condition(this, &SqliteStore::ReaderAvailable));
    if (!idle_readers_.empty()) {
      db = std::move(idle_readers_.back());
      idle_readers_.pop_back();
    } else {
      ++open_readers_;
    }
  }
  if (db == nullptr) {
    absl::StatusOr<std::unique_ptr<Connection>> opened =
        Connection::Open(path_, SQLITE_OPEN_READWRITE);
    absl::Status status = opened.status();
    if (status.ok()) {
      db = std::move(*opened);
      status = ConfigureConnection(*db, options_);
      if (status.ok()) status = db->Exec("PRAGMA query_only = ON");
    }
    if (!status.ok()) {
      absl::MutexLock lock(&readers_mu_);
      --open_readers_;
      return status;
    }
  }
  // One read transaction: every query of `read` sees the same snapshot. The
  // BEGIN/COMMIT statements come from the connection's cache (sqlite3_exec
  // would parse them on every read: a third of a point read's cost).
  auto run = [&db](const std::string& sql) -> absl::Status {
    PROCTOR_ASSIGN_OR_RETURN(Statement stmt, db->Prepare(sql));
    return stmt.Run();
  };
  static const std::string kBegin = "BEGIN", kCommit = "COMMIT", kRollback = "ROLLBACK";
  absl::Status status = run(kBegin);
  if (status.ok()) {
    status = read(*db);
    absl::Status end = run(status.ok() ? kCommit : kRollback);
    if (status.ok()) status = end;
  }
  absl::MutexLock lock(&readers_mu_);
  if (sqlite3_get_autocommit(db->db()) != 0) {
    idle_readers_.push_back(std::move(db));
  } else {
    --open_readers_;  // stuck in a transaction: drop it rather than reuse it
  }
  return status;
}

// Runs -------------------------------------------------------------------------

absl::Status SqliteStore::CreateRun(RunRecord& run, std::vector<JobRecord>& jobs,
                                    const std::vector<JobPayload>& payloads,
                                    const std::vector<SampleRecord>& samples) {
  PROCTOR_RETURN_IF_ERROR(ValidateRun(run));
  if (payloads.size() != jobs.size()) {
    return absl::InvalidArgumentError(absl::StrCat("run ", run.run_id, ": ", jobs.size(),
                                                   " jobs but ", payloads.size(), " payloads"));
  }
  for (const JobRecord& job : jobs) PROCTOR_RETURN_IF_ERROR(ValidateJob(job));
  // Serialize on the caller's thread, outside the batch.
  const std::string spec = run.spec.SerializeAsString();
  std::vector<std::string> payload_blobs(payloads.size());
  for (size_t i = 0; i < payloads.size(); ++i) {
    v1::Job job;
    job.mutable_prefixes()->Add(payloads[i].prefixes.begin(), payloads[i].prefixes.end());
    job.mutable_requests()->Add(payloads[i].requests.begin(), payloads[i].requests.end());
    payload_blobs[i] = job.SerializeAsString();
  }

  int64_t seq = 0;
  std::vector<int64_t> job_ids(jobs.size());
  absl::Status status = Write([&](Connection& db) -> absl::Status {
    {
      PROCTOR_ASSIGN_OR_RETURN(Statement exists,
                               db.Prepare("SELECT 1 FROM runs WHERE run_id = ?1"));
      exists.BindText(1, run.run_id);
      PROCTOR_ASSIGN_OR_RETURN(bool row, exists.Step());
      if (row) return absl::AlreadyExistsError(absl::StrCat("run ", run.run_id, " already exists"));
    }
    {
      PROCTOR_ASSIGN_OR_RETURN(
          Statement insert,
          db.Prepare("INSERT INTO runs (run_id, spec, state, created_at_us, finished_at_us, "
                     "failure_reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"));
      insert.BindText(1, run.run_id);
      insert.BindBlobNoCopy(2, spec);
      insert.BindInt64(3, run.state);
      BindTime(insert, 4, run.created_at);
      BindTime(insert, 5, run.finished_at);
      insert.BindText(6, run.failure_reason);
      PROCTOR_RETURN_IF_ERROR(insert.Run());
      seq = sqlite3_last_insert_rowid(db.db());
    }
    PROCTOR_RETURN_IF_ERROR(ReplaceRunDatasets(db, seq, run));
    {
      PROCTOR_ASSIGN_OR_RETURN(Statement insert_job, db.Prepare(kInsertJobSql));
      PROCTOR_ASSIGN_OR_RETURN(
          Statement insert_payload,
          db.Prepare("INSERT INTO job_payloads (job_id, payload) VALUES (?1, ?2)"));
      for (size_t i = 0; i < jobs.size(); ++i) {
        insert_job.BindInt64(1, seq);
        BindJobFields(insert_job, jobs[i]);
        insert_job.BindInt64(18, jobs[i].index_in_run);
        absl::Status s = insert_job.Run();
        if (!s.ok()) {
          return absl::Status(s.code(), absl::StrCat("run ", run.run_id, ": job index_in_run ",
                                                     jobs[i].index_in_run, ": ", s.message()));
        }
        insert_job.Reset();
        job_ids[i] = sqlite3_last_insert_rowid(db.db());
        insert_payload.BindInt64(1, job_ids[i]);
        insert_payload.BindBlobNoCopy(2, payload_blobs[i]);
        PROCTOR_RETURN_IF_ERROR(insert_payload.Run());
        insert_payload.Reset();
      }
    }
    PROCTOR_ASSIGN_OR_RETURN(
        Statement insert_sample,
        db.Prepare("INSERT INTO samples (run_seq, dataset, sample_index, target, request_ids) "
                   "VALUES (?1, ?2, ?3, ?4, ?5)"));
    for (const SampleRecord& sample : samples) {
      insert_sample.BindInt64(1, seq);
      insert_sample.BindText(2, sample.dataset);
      insert_sample.BindInt64(3, sample.sample_index);
      insert_sample.BindBlob(4, sample.target);
      insert_sample.BindBlob(5, EncodeInt64s(sample.request_ids));
      absl::Status s = insert_sample.Run();
      if (!s.ok()) {
        return absl::Status(s.code(), absl::StrCat("run ", run.run_id, ": sample ", sample.dataset,
                                                   "/", sample.sample_index, ": ", s.message()));
      }
      insert_sample.Reset();
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  run.seq = seq;
  for (size_t i = 0; i < jobs.size(); ++i) {
    jobs[i].job_id = job_ids[i];
    jobs[i].run_id = run.run_id;
  }
  return absl::OkStatus();
}

absl::Status SqliteStore::UpdateRun(const RunRecord& run) {
  PROCTOR_RETURN_IF_ERROR(ValidateRun(run));
  const std::string spec = run.spec.SerializeAsString();
  return Write([&](Connection& db) -> absl::Status {
    PROCTOR_ASSIGN_OR_RETURN(int64_t seq, RunSeq(db, run.run_id));
    PROCTOR_ASSIGN_OR_RETURN(
        Statement update, db.Prepare("UPDATE runs SET spec = ?2, state = ?3, created_at_us = ?4, "
                                     "finished_at_us = ?5, failure_reason = ?6 WHERE seq = ?1"));
    update.BindInt64(1, seq);
    update.BindBlobNoCopy(2, spec);
    update.BindInt64(3, run.state);
    BindTime(update, 4, run.created_at);
    BindTime(update, 5, run.finished_at);
    update.BindText(6, run.failure_reason);
    PROCTOR_RETURN_IF_ERROR(update.Run());
    return ReplaceRunDatasets(db, seq, run);
  });
}

absl::StatusOr<RunRecord> SqliteStore::GetRun(const std::string& run_id) {
  RunRecord run;
  PROCTOR_RETURN_IF_ERROR_OUTER(Read([&](Connection& db) -> absl::Status {
    PROCTOR_ASSIGN_OR_RETURN(
        Statement stmt,
        db.Prepare(absl::StrCat("SELECT ", kRunColumns, " FROM runs WHERE run_id = ?1")));
    stmt.BindText(1, run_id);
    PROCTOR_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return absl::NotFoundError(absl::StrCat("run ", run_id, " not found"));
    PROCTOR_ASSIGN_OR_RETURN(run, RunFromRow(stmt));
    absl::flat_hash_map<int64_t, RunRecord*> by_seq = {{run.seq, &run}};
    return LoadDatasets(db, run.seq, by_seq);
  }));
  return run;
}

absl::StatusOr<std::vector<RunRecord>> SqliteStore::LoadRuns() {
  std::vector<RunRecord> runs;
  PROCTOR_RETURN_IF_ERROR_OUTER(Read([&](Connection& db) -> absl::Status {
    PROCTOR_ASSIGN_OR_RETURN(Statement stmt, db.Prepare(absl::StrCat("SELECT ", kRunColumns,
                                                                     " FROM runs ORDER BY seq")));
    while (true) {
      PROCTOR_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      PROCTOR_ASSIGN_OR_RETURN(RunRecord run, RunFromRow(stmt));
      runs.push_back(std::move(run));
    }
    absl::flat_hash_map<int64_t, RunRecord*> by_seq;
    for (RunRecord& run : runs) by_seq[run.seq] = &run;
    return LoadDatasets(db, std::nullopt, by_seq);
  }));
  return runs;
}

// Jobs -------------------------------------------------------------------------

absl::Status SqliteStore::UpdateJobs(const std::vector<JobRecord>& jobs) {
  for (const JobRecord& job : jobs) PROCTOR_RETURN_IF_ERROR(ValidateJob(job));
  if (jobs.empty()) return absl::OkStatus();
  return Write([&](Connection& db) -> absl::Status {
    PROCTOR_ASSIGN_OR_RETURN(Statement update, db.Prepare(kUpdateJobSql));
    for (const JobRecord& job : jobs) {
      update.BindInt64(1, job.job_id);
      BindJobFields(update, job);
      PROCTOR_RETURN_IF_ERROR(update.Run());
      if (update.Changes() == 0) {
        return absl::NotFoundError(absl::StrCat("job ", job.job_id, " not found"));
      }
      update.Reset();
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<JobRecord>> SqliteStore::LoadActiveJobs() {
  std::vector<JobRecord> jobs;
  PROCTOR_RETURN_IF_ERROR_OUTER(Read([&](Connection& db) -> absl::Status {
    PROCTOR_ASSIGN_OR_RETURN(
        Statement stmt,
        db.Prepare(absl::StrCat("SELECT ", kJobColumns,
                                " FROM jobs AS j JOIN runs AS r ON r.seq = j.run_seq "
                                "WHERE j.state IN (1, 2) ORDER BY j.job_id")));
    PROCTOR_ASSIGN_OR_RETURN(jobs, CollectJobs(stmt));
    return absl::OkStatus();
  }));
  return jobs;
}

absl::StatusOr<std::vector<JobRecord>> SqliteStore::LoadJobsOfRun(const std::string& run_id) {
  std::vector<JobRecord> jobs;
  PROCTOR_RETURN_IF_ERROR_OUTER(Read([&](Connection& db) -> absl::Status {
    PROCTOR_ASSIGN_OR_RETURN(int64_t seq, RunSeq(db, run_id));
    PROCTOR_ASSIGN_OR_RETURN(
        Statement stmt,
        db.Prepare(absl::StrCat("SELECT ", kJobColumns,
                                " FROM jobs AS j JOIN runs AS r ON r.seq = j.run_seq "
                                "WHERE j.run_seq = ?1 ORDER BY j.index_in_run")));
    stmt.BindInt64(1, seq);
    PROCTOR_ASSIGN_OR_RETURN(jobs, CollectJobs(stmt));
    return absl::OkStatus();
  }));
  return jobs;
}

absl::StatusOr<JobPayload> SqliteStore::LoadJobPayload(int64_t job_id) {
  JobPayload payload;
  PROCTOR_RETURN_IF_ERROR_OUTER(Read([&](Connection& db) -> absl::Status {
    PROCTOR_ASSIGN_OR_RETURN(Statement stmt,
                             db.Prepare("SELECT payload FROM job_payloads WHERE job_id = ?1"));
    stmt.BindInt64(1, job_id);
    PROCTOR_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return absl::NotFoundError(absl::StrCat("job ", job_id, " not found"));
    const absl::string_view blob = stmt.ColumnBlob(0);
    v1::Job job;
    if (!job.ParseFromArray(blob.data(), static_cast<int>(blob.size()))) {
      return absl::DataLossError(absl::StrCat("job ", job_id, ": stored payload (", blob.size(),
                                              " bytes) does not parse"));
    }
    payload.prefixes.assign(job.prefixes().begin(), job.prefixes().end());
    payload.requests.assign(std::make_move_iterator(job.mutable_requests()->begin()),
                            std::make_move_iterator(job.mutable_requests()->end()));
    return absl::OkStatus();
  }));
  return payload;
}

// Outputs and scores -----------------------------------------------------------

absl::StatusOr<int64_t> SqliteStore::WriteOutputs(const OutputBatch& batch) {
  std::vector<std::string> blobs(batch.outputs.size());
  for (size_t i = 0; i < batch.outputs.size(); ++i) {
    batch.outputs[i].SerializeToString(&blobs[i]);
  }
  int64_t inserted = 0;
  absl::Status status = Write([&](Connection& db) -> absl::Status {
    PROCTOR_ASSIGN_OR_RETURN(int64_t seq, RunSeq(db, batch.run_id));
    PROCTOR_ASSIGN_OR_RETURN(int64_t job_seq, JobRunSeq(db, batch.job_id));
    if (job_seq != seq) {
      return absl::InvalidArgumentError(
          absl::StrCat("job ", batch.job_id, " does not belong to run ", batch.run_id));
    }
    PROCTOR_ASSIGN_OR_RETURN(
        Statement insert,
        db.Prepare("INSERT OR IGNORE INTO outputs (run_seq, request_id, job_id, output, "
                   "from_cache) VALUES (?1, ?2, ?3, ?4, ?5)"));
    int64_t count = 0;
    for (size_t i = 0; i < blobs.size(); ++i) {
      insert.BindInt64(1, seq);
      insert.BindInt64(2, batch.outputs[i].request_id());
      insert.BindInt64(3, batch.job_id);
      insert.BindBlobNoCopy(4, blobs[i]);
      insert.BindInt64(5, batch.from_cache ? 1 : 0);
      PROCTOR_RETURN_IF_ERROR(insert.Run());
      count += insert.Changes();
      insert.Reset();
    }
    if (!batch.scores.empty()) {
      PROCTOR_ASSIGN_OR_RETURN(
          Statement score,
          db.Prepare("INSERT OR IGNORE INTO sample_scores (run_seq, dataset, sample_index, score) "
                     "VALUES (?1, ?2, ?3, ?4)"));
      for (const SampleScore& s : batch.scores) {
        score.BindInt64(1, seq);
        score.BindText(2, s.dataset);
        score.BindInt64(3, s.sample_index);
        score.BindBlob(4, s.score);
        PROCTOR_RETURN_IF_ERROR(score.Run());
        score.Reset();
      }
    }
    PROCTOR_RETURN_IF_ERROR(WriteCacheEntries(db, batch));
    inserted = count;
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return inserted;
}

absl::StatusOr<std::vector<int64_t>> SqliteStore::StoredRequestIds(const std::string& run_id,
                                                                   int64_t job_id) {
  std::vector<int64_t> ids;
  PROCTOR_RETURN_IF_ERROR_OUTER(Read([&](Connection& db) -> absl::Status {
    PROCTOR_ASSIGN_OR_RETURN(int64_t seq, RunSeq(db, run_id));
    PROCTOR_ASSIGN_OR_RETURN(int64_t job_seq, JobRunSeq(db, job_id));
    if (job_seq != seq) {
      return absl::InvalidArgumentError(
          absl::StrCat("job ", job_id, " does not belong to run ", run_id));
    }
    PROCTOR_ASSIGN_OR_RETURN(Statement stmt,
                             db.Prepare("SELECT request_id FROM outputs WHERE run_seq = ?1 AND "
                                        "job_id = ?2 ORDER BY request_id"));
    stmt.BindInt64(1, seq);
    stmt.BindInt64(2, job_id);
    while (true) {
      PROCTOR_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      ids.push_back(stmt.ColumnInt64(0));
    }
    return absl::OkStatus();
  }));
  return ids;
}

absl::StatusOr<std::vector<v1::Output>> SqliteStore::LoadOutputs(
    const std::string& run_id, const std::vector<int64_t>& request_ids) {
  std::vector<v1::Output> outputs;
  PROCTOR_RETURN_IF_ERROR_OUTER(Read([&](Connection& db) -> absl::Status {
    PROCTOR_ASSIGN_OR_RETURN(int64_t seq, RunSeq(db, run_id));
    PROCTOR_ASSIGN_OR_RETURN(
        Statement stmt,
        db.Prepare("SELECT output FROM outputs WHERE run_seq = ?1 AND request_id = ?2"));
    outputs.reserve(request_ids.size());
    for (int64_t request_id : request_ids) {
      stmt.BindInt64(1, seq);
      stmt.BindInt64(2, request_id);
      PROCTOR_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (row) {
        const absl::string_view blob = stmt.ColumnBlob(0);
        v1::Output& output = outputs.emplace_back();
        if (!output.ParseFromArray(blob.data(), static_cast<int>(blob.size()))) {
          return absl::DataLossError(absl::StrCat("run ", run_id, " request ", request_id,
                                                  ": stored output (", blob.size(),
                                                  " bytes) does not parse"));
        }
      }
      stmt.Reset();
    }
    return absl::OkStatus();
  }));
  return outputs;
}

absl::StatusOr<int64_t> SqliteStore::CountOutputs(const std::string& run_id) {
  int64_t count = 0;
  PROCTOR_RETURN_IF_ERROR_OUTER(Read([&](Connection& db) -> absl::Status {
    PROCTOR_ASSIGN_OR_RETURN(int64_t seq, RunSeq(db, run_id));
    PROCTOR_ASSIGN_OR_RETURN(Statement stmt,
                             db.Prepare("SELECT count(*) FROM outputs WHERE run_seq = ?1"));
    stmt.BindInt64(1, seq);
    PROCTOR_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (row) count = stmt.ColumnInt64(0);
    return absl::OkStatus();
  }));
  return count;
}

absl::StatusOr<int64_t> SqliteStore::CountCachedOutputs(const std::string& run_id) {
  int64_t count = 0;
  PROCTOR_RETURN_IF_ERROR_OUTER(Read([&](Connection& db) -> absl::Status {
    PROCTOR_ASSIGN_OR_RETURN(int64_t seq, RunSeq(db, run_id));
    PROCTOR_ASSIGN_OR_RETURN(
        Statement stmt,
        db.Prepare("SELECT count(*) FROM outputs WHERE run_seq = ?1 AND from_cache = 1"));
    stmt.BindInt64(1, seq);
    PROCTOR_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (row) count = stmt.ColumnInt64(0);
    return absl::OkStatus();
  }));
  return count;
}

absl::StatusOr<std::vector<SampleRecord>> SqliteStore::LoadSamples(const std::string& run_id) {
  std::vector<SampleRecord> samples;
  PROCTOR_RETURN_IF_ERROR_OUTER(Read([&](Connection& db) -> absl::Status {
    PROCTOR_ASSIGN_OR_RETURN(int64_t seq, RunSeq(db, run_id));
    PROCTOR_ASSIGN_OR_RETURN(Statement stmt,
                             db.Prepare("SELECT dataset, sample_index, target, request_ids "
                                        "FROM samples WHERE run_seq = ?1 ORDER BY rowid"));
    stmt.BindInt64(1, seq);
    while (true) {
      PROCTOR_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      SampleRecord& sample = samples.emplace_back();
      sample.dataset = std::string(stmt.ColumnText(0));
      sample.sample_index = stmt.ColumnInt64(1);
      sample.target = std::string(stmt.ColumnBlob(2));
      absl::StatusOr<std::vector<int64_t>> ids = DecodeInt64s(stmt.ColumnBlob(3));
      if (!ids.ok()) {
        return absl::DataLossError(absl::StrCat("run ", run_id, " sample ", sample.dataset, "/",
                                                sample.sample_index, ": ", ids.status().message()));
      }
      sample.request_ids = std::move(*ids);
    }
    return absl::OkStatus();
  }));
  return samples;
}

absl::StatusOr<std::vector<SampleScore>> SqliteStore::LoadScores(const std::string& run_id) {
  std::vector<SampleScore> scores;
  PROCTOR_RETURN_IF_ERROR_OUTER(Read([&](Connection& db) -> absl::Status {
    PROCTOR_ASSIGN_OR_RETURN(int64_t seq, RunSeq(db, run_id));
    PROCTOR_ASSIGN_OR_RETURN(Statement stmt,
                             db.Prepare("SELECT dataset, sample_index, score FROM sample_scores "
                                        "WHERE run_seq = ?1 ORDER BY dataset, sample_index"));
    stmt.BindInt64(1, seq);
    while (true) {
      PROCTOR_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      SampleScore& score = scores.emplace_back();
      score.dataset = std::string(stmt.ColumnText(0));
      score.sample_index = stmt.ColumnInt64(1);
      score.score = std::string(stmt.ColumnBlob(2));
    }
    return absl::OkStatus();
  }));
  return scores;
}

// Fencing tokens ---------------------------------------------------------------

absl::StatusOr<int64_t> SqliteStore::ReserveFencingTokens(int64_t count) {
  if (count < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("ReserveFencingTokens: count must be >= 1, got ", count));
  }
  int64_t first = 0;
  PROCTOR_RETURN_IF_ERROR_OUTER(Write([&](Connection& db) -> absl::Status {
    PROCTOR_ASSIGN_OR_RETURN(
        int64_t high_water,
        db.QueryInt64("SELECT value FROM meta WHERE key = 'fencing_high_water'"));
    if (high_water > std::numeric_limits<int64_t>::max() - count) {
      return absl::OutOfRangeError(
          absl::StrCat("fencing tokens exhausted (high water ", high_water, ")"));
    }
    PROCTOR_ASSIGN_OR_RETURN(
        Statement update,
        db.Prepare("UPDATE meta SET value = ?1 WHERE key = 'fencing_high_water'"));
    update.BindInt64(1, high_water + count);
    PROCTOR_RETURN_IF_ERROR(update.Run());
    first = high_water + 1;
    return absl::OkStatus();
  }));
  return first;
}

}  // namespace proctor::coordinator
