// The Store on one SQLite file in WAL mode. Layout, durability rules and
// error behaviour: docs/design/store.md.
//
// Durability: synchronous=FULL, so a method that returned OK has its writes
// in the fsynced WAL and they survive power loss.
//
// Concurrency: every method is thread-safe. Writes from concurrent callers go
// through a GroupCommitQueue: one transaction per batch, each caller's
// mutation inside its own SAVEPOINT, so a failing call is rolled back alone
// and the others in the batch still commit. Reads use a small pool of
// separate read connections and see every write that returned before the
// read began.
//
// The file is never reset or deleted: a corrupt or foreign file is refused at
// Open and left exactly as it was.
#ifndef PROCTOR_COORDINATOR_STORE_SQLITE_STORE_H_
#define PROCTOR_COORDINATOR_STORE_SQLITE_STORE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "coordinator/store/group_commit.h"
#include "coordinator/store/sqlite_connection.h"
#include "coordinator/store/store.h"

namespace proctor::coordinator {

struct SqliteStoreOptions {
  // How long a connection waits for a lock held by another process (e.g. an
  // operator's sqlite3 shell) before the call fails with UNAVAILABLE.
  absl::Duration busy_timeout = absl::Seconds(5);
  // Read connections kept open (at least 1); reads beyond this many at once
  // wait for a free one.
  int read_connections = 4;
  // Most mutations executed in one group-commit transaction (at least 1).
  int max_batch = 256;
  // Page cache per connection, in KiB.
  int cache_size_kib = 64 * 1024;
  // Run PRAGMA quick_check at Open (reads every page: O(file size)).
  // Turning it off trades corruption detection at start-up for speed; SQLite
  // still reports corruption it meets later as DATA_LOSS.
  bool quick_check_on_open = true;
  // Result-cache entries kept (0 = no bound). A write that takes the cache
  // past this bound deletes the least recently used entries down to 99% of it.
  int64_t result_cache_max_entries = 1'000'000;
};

class SqliteStore final : public Store {
 public:
  // Opens (creating if absent) the store at `path` and migrates its schema to
  // the latest version. Errors, all leaving an existing file unmodified:
  //  * DATA_LOSS: not a SQLite database, or PRAGMA quick_check fails;
  //  * FAILED_PRECONDITION: a SQLite file that is not a Proctor store, or a
  //    store with a newer schema than this binary knows, or an unusable path
  //    (missing directory, no permission);
  //  * INTERNAL/UNAVAILABLE: I/O errors.
  static absl::StatusOr<std::unique_ptr<SqliteStore>> Open(const std::string& path,
                                                           const SqliteStoreOptions& options = {});

  // Closes the connections (checkpointing the WAL). No call may be in flight.
  ~SqliteStore() override;

  absl::Status CreateRun(RunRecord& run, std::vector<JobRecord>& jobs,
                         const std::vector<JobPayload>& payloads,
                         const std::vector<SampleRecord>& samples) override;
  // Writes every field of `run` except `seq` (fixed at creation); `datasets`
  // replaces the stored list. NOT_FOUND for an unknown run id.
  absl::Status UpdateRun(const RunRecord& run) override;
  absl::StatusOr<RunRecord> GetRun(const std::string& run_id) override;
  absl::StatusOr<std::vector<RunRecord>> LoadRuns() override;

  // Writes every field except the identity (job_id, run_id, index_in_run).
  absl::Status UpdateJobs(const std::vector<JobRecord>& jobs) override;
  // Ordered by job id.
  absl::StatusOr<std::vector<JobRecord>> LoadActiveJobs() override;
  // Ordered by index_in_run; NOT_FOUND for an unknown run id.
  absl::StatusOr<std::vector<JobRecord>> LoadJobsOfRun(const std::string& run_id) override;
  absl::StatusOr<JobPayload> LoadJobPayload(int64_t job_id) override;

  // NOT_FOUND if the run or job is unknown; INVALID_ARGUMENT if the job
  // belongs to another run. Does not check that request ids belong to the
  // job (the caller validates reports against the payload it leased).
  absl::StatusOr<int64_t> WriteOutputs(const OutputBatch& batch) override;
  // Ascending.
  absl::StatusOr<std::vector<int64_t>> StoredRequestIds(const std::string& run_id,
                                                        int64_t job_id) override;
  // Outputs for those of `request_ids` that are stored, in the order given;
  // ids without a stored output are skipped.
  absl::StatusOr<std::vector<v1::Output>> LoadOutputs(
      const std::string& run_id, const std::vector<int64_t>& request_ids) override;
  absl::StatusOr<int64_t> CountOutputs(const std::string& run_id) override;
  absl::StatusOr<int64_t> CountCachedOutputs(const std::string& run_id) override;

  // Result cache (result_cache_store.cc). Keys of any length are looked up
  // as given (a key that is not 32 bytes is simply absent). An entry whose
  // stored output does not parse is DATA_LOSS naming the key.
  absl::StatusOr<std::vector<std::optional<v1::Output>>> LookupCache(
      const std::vector<std::string>& keys) override;
  // O(1): a counter kept in the same transactions as the entries.
  absl::StatusOr<int64_t> CountCacheEntries() override;

  // In the order given to CreateRun.
  absl::StatusOr<std::vector<SampleRecord>> LoadSamples(const std::string& run_id) override;
  // Ordered by (dataset, sample_index).
  absl::StatusOr<std::vector<SampleScore>> LoadScores(const std::string& run_id) override;

  // INVALID_ARGUMENT unless count >= 1. The first token ever returned is 1.
  absl::StatusOr<int64_t> ReserveFencingTokens(int64_t count) override;

  const std::string& path() const { return path_; }
  // Group-commit transactions committed so far (for benchmarks and tests).
  int64_t write_batches() const { return writes_.batches(); }

  // Tests only. Runs `fn` on the writer connection as one mutation of a
  // group-commit batch (e.g. to run "PRAGMA max_page_count = N", or to hold
  // the writer while other calls queue up).
  absl::Status RunInWriteBatchForTest(absl::FunctionRef<absl::Status(sqlite::Connection&)> fn) {
    return Write(fn);
  }
  // Tests only. Calls queued for or inside the running write batch.
  int64_t queued_writes_for_test() const { return writes_.queued(); }

 private:
  SqliteStore(std::string path, const SqliteStoreOptions& options,
              std::unique_ptr<sqlite::Connection> writer);

  // Runs `mutation` on the writer connection inside a group-commit batch.
  absl::Status Write(absl::FunctionRef<absl::Status(sqlite::Connection&)> mutation);
  std::vector<absl::Status> ExecuteBatch(absl::Span<const GroupCommitQueue::Mutation> batch);

  // Borrows a read connection for the duration of `read`, which runs inside
  // one read transaction (a consistent snapshot).
  absl::Status Read(absl::FunctionRef<absl::Status(sqlite::Connection&)> read);
  bool ReaderAvailable() const ABSL_SHARED_LOCKS_REQUIRED(readers_mu_);
  // Inside a WriteOutputs mutation: upserts batch.cache_entries, trims the
  // cache to its bound and keeps the entry counter.
  absl::Status WriteCacheEntries(sqlite::Connection& db, const OutputBatch& batch);

  const std::string path_;
  const SqliteStoreOptions options_;
  int lock_fd_ = -1;  // flock on `path_ + ".lock"`: one process per store
  std::unique_ptr<sqlite::Connection> writer_;  // used only by the batch leader
  GroupCommitQueue writes_;

  absl::Mutex readers_mu_;
  std::vector<std::unique_ptr<sqlite::Connection>> idle_readers_ ABSL_GUARDED_BY(readers_mu_);
  int open_readers_ ABSL_GUARDED_BY(readers_mu_) = 0;
};

}  // namespace proctor::coordinator

#endif  // PROCTOR_COORDINATOR_STORE_SQLITE_STORE_H_
