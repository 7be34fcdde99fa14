// Sweeps: durable cron-scheduled runs of one suite over a set of models
// (docs/sweeps.md). SweepManager validates and stores definitions, and on
// every Tick fires each due sweep once: one run per model, labelled
// sweep=<name> and firing=<slot, RFC 3339 UTC>.
//
// Exactly-once per slot: the slot is recorded as pending (SweepStore) before
// any run is created and as fired after the last one; a pending firing found
// later (after a crash) is resumed, skipping models whose run for that
// firing already exists. A slot missed while the coordinator was down fires
// once on the first Tick, as the most recent missed slot, never once per
// missed slot. Slots missed while paused are not fired on resume.
//
// Thread-safety: every method may be called from any thread; firings are
// serialised by an internal mutex.
#ifndef PROCTOR_COORDINATOR_SWEEPS_SWEEP_MANAGER_H_
#define PROCTOR_COORDINATOR_SWEEPS_SWEEP_MANAGER_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/periodic_thread.h"
#include "coordinator/store/sweep_store.h"
#include "proctor/v1/common.pb.h"
#include "proctor/v1/sweeps.pb.h"

namespace proctor::coordinator {

// What a firing needs from the coordinator (an adapter over Coordinator in
// production, a fake in tests).
class RunLauncher {
 public:
  virtual ~RunLauncher() = default;
  // Runs whose labels contain every entry of `labels` (any state).
  virtual absl::StatusOr<std::vector<v1::Run>> FindRuns(
      const std::map<std::string, std::string>& labels) = 0;
  // Plans and queues a run; returns its id. Errors as Coordinator::SubmitRun.
  virtual absl::StatusOr<std::string> Submit(v1::RunSpec spec) = 0;
  // Cheap checks of a sweep's run template at creation (known suite and set
  // names); INVALID_ARGUMENT naming the field. Default: accept.
  virtual absl::Status Validate(const v1::RunSpec& spec) { return absl::OkStatus(); }
};

// Models matching `glob` (POSIX glob(3), sorted): regular files and
// directories; name = the file name without its last extension. NOT_FOUND
// never: no match is an empty list. INVALID_ARGUMENT for an empty pattern;
// UNAVAILABLE for a read error (retry).
absl::StatusOr<std::vector<v1::ModelRef>> ExpandModelGlob(const std::string& glob,
                                                          const v1::ModelRef& base);

// RFC 3339 UTC with seconds, e.g. "2026-11-27T02:00:00Z" (the firing label).
std::string FiringLabel(absl::Time slot);

class SweepManager {
 public:
  // `store`, `launcher` and `clock` must outlive the manager.
  SweepManager(SweepStore* store, RunLauncher* launcher, const Clock* clock);
  ~SweepManager();

  // ---- SweepService -----------------------------------------------------------
  absl::StatusOr<v1::Sweep> Create(v1::Sweep sweep);
  absl::StatusOr<v1::Sweep> Get(const std::string& name);
  absl::StatusOr<std::vector<v1::Sweep>> List();
  absl::StatusOr<v1::Sweep> Pause(const std::string& name);
  absl::StatusOr<v1::Sweep> Resume(const std::string& name);
  absl::Status Delete(const std::string& name);
  // Fires now, outside the schedule (also when paused). Labels as a
  // scheduled firing (firing = now, to the second) plus trigger=manual.
  // FAILED_PRECONDITION naming the problems when no run could be created.
  absl::StatusOr<v1::TriggerSweepResponse> Trigger(const std::string& name);

  // Fires every due sweep once and resumes pending firings. Returns the
  // first error met (after trying every sweep).
  absl::Status Tick();
  // Calls Tick every `period` on a background thread until Shutdown.
  void StartBackground(absl::Duration period = absl::Seconds(5));
  void Shutdown();  // idempotent

 private:
  absl::StatusOr<v1::Sweep> View(const SweepRecord& record);
  // Creates the runs of one firing (those not already present).
  absl::StatusOr<std::vector<std::string>> Fire(const SweepRecord& record, absl::Time slot,
                                                bool manual)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(fire_mu_);
  absl::Status TickOne(const SweepRecord& record) ABSL_EXCLUSIVE_LOCKS_REQUIRED(fire_mu_);

  SweepStore* const store_;
  RunLauncher* const launcher_;
  const Clock* const clock_;

  absl::Mutex fire_mu_;  // one firing at a time
  absl::Mutex errors_mu_;
  std::map<std::string, std::string> last_error_ ABSL_GUARDED_BY(errors_mu_);

  absl::Mutex thread_mu_;
  std::unique_ptr<PeriodicThread> timer_ ABSL_GUARDED_BY(thread_mu_);
};

}  // namespace proctor::coordinator

#endif  // PROCTOR_COORDINATOR_SWEEPS_SWEEP_MANAGER_H_
