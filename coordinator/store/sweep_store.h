// Durable sweep definitions and their firing state (table `sweeps`, schema
// migration 3; docs/sweeps.md). A second SQLite connection to the
// coordinator's store file: sweeps are written rarely, so they do not share
// SqliteStore's group-commit queue.
//
// Firing protocol (exactly-once per slot across crashes): BeginFiring records
// the slot as pending before any run is created; FinishFiring records it as
// the last fired slot and clears pending. A sweep found with a pending slot at
// start-up resumes that firing (creating only the runs that do not exist yet).
//
// Thread-safety: all methods are thread-safe (one mutex around the connection).
#ifndef PROCTOR_COORDINATOR_STORE_SWEEP_STORE_H_
#define PROCTOR_COORDINATOR_STORE_SWEEP_STORE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "coordinator/store/sqlite_connection.h"
#include "proctor/v1/sweeps.pb.h"

namespace proctor::coordinator {

struct SweepRecord {
  v1::Sweep definition;  // output-only fields cleared
  bool paused = false;
  absl::Time created_at = absl::InfinitePast();
  absl::Time last_fired_slot = absl::InfinitePast();  // InfinitePast = never
  absl::Time pending_slot = absl::InfinitePast();     // InfinitePast = none
};

class SweepStore {
 public:
  // Opens `path` (a Proctor store; created and migrated if new, so tests may
  // use it alone). FAILED_PRECONDITION for a foreign or newer file, as
  // SqliteStore::Open.
  static absl::StatusOr<std::unique_ptr<SweepStore>> Open(const std::string& path);

  // ALREADY_EXISTS when the name is taken.
  absl::Status Create(const SweepRecord& record);
  // NOT_FOUND for an unknown name.
  absl::StatusOr<SweepRecord> Get(const std::string& name);
  // Every sweep, by name.
  absl::StatusOr<std::vector<SweepRecord>> List();
  absl::Status Delete(const std::string& name);
  // Sets paused; when resuming, also sets last_fired_slot to `resume_from`
  // so that slots missed while paused do not fire (pass InfinitePast to
  // leave it).
  absl::Status SetPaused(const std::string& name, bool paused, absl::Time resume_from);
  absl::Status BeginFiring(const std::string& name, absl::Time slot);
  absl::Status FinishFiring(const std::string& name, absl::Time slot);

 private:
  explicit SweepStore(std::unique_ptr<sqlite::Connection> db) : db_(std::move(db)) {}
  absl::Status UpdateOne(const std::string& sql, const std::string& name,
                         const std::vector<int64_t>& ints) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  std::unique_ptr<sqlite::Connection> db_ ABSL_GUARDED_BY(mu_);
};

}  // namespace proctor::coordinator

#endif  // PROCTOR_COORDINATOR_STORE_SWEEP_STORE_H_
