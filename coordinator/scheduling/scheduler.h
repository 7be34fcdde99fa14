// The coordinator's in-memory queue of leasable jobs and its lease order.
// Pure bookkeeping: no store, no clock (time is passed in), no gRPC.
//
// Order of Pick (see docs/design/job-lifecycle.md, "Scheduler order"):
//  1. Priority class: INTERACTIVE (and UNSPECIFIED) > SWEEP > BACKFILL. A
//     lower class is considered only when no job of a higher class is ready
//     and runnable on the asking worker.
//  2. Within that class, model affinity: jobs whose model_key the worker has
//     loaded come before all others.
//  3. Fair share across submitters: the submitter with the fewest running
//     leases (LeaseStarted - LeaseEnded) first; ties go to the submitter whose
//     head job is oldest.
//  4. FIFO: by job_id. The store assigns job ids in (run seq, index_in_run)
//     order, so this is "older run first, then the run's shards in order"; a
//     retried job keeps its id and so keeps its place.
//
// Thread-safety: NOT thread-safe. The caller serialises all calls (the
// coordinator core holds its own mutex around the scheduler).
#ifndef PROCTOR_COORDINATOR_SCHEDULING_SCHEDULER_H_
#define PROCTOR_COORDINATOR_SCHEDULING_SCHEDULER_H_

#include <array>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/node_hash_map.h"
#include "absl/time/time.h"
#include "coordinator/store/store.h"
#include "proctor/v1/common.pb.h"

namespace proctor::coordinator {

// What a worker can run, from its registration and latest lease call.
struct WorkerProfile {
  std::string worker_id;
  std::string backend;  // "cpu" or "cuda"
  int32_t gpu_count = 0;
  int64_t gpu_memory_bytes = 0;            // per GPU; 0 = unknown
  bool sandbox = false;                    // may run judge (code-execution) jobs
  std::vector<std::string> loaded_models;  // model keys currently in memory
};

// True when `w` satisfies every requirement of `job`:
//  * Judge jobs run code, not a model: they need `w.sandbox` and nothing else
//    (backend, GPU count and memory are not checked).
//  * Model jobs: job.backend empty = any backend, otherwise w.backend must be
//    equal. Jobs whose backend is "cpu" use no GPU, so GPU requirements are
//    skipped for them. Otherwise w.gpu_count >= job.tensor_parallel, and when
//    both job.min_gpu_memory_bytes and w.gpu_memory_bytes are known (> 0), the
//    memory of the GPUs the job uses (per-GPU memory x tensor_parallel, or x
//    gpu_count when tensor_parallel is 0) must be >= min_gpu_memory_bytes.
bool CanRun(const WorkerProfile& w, const JobRecord& job);

class Scheduler {
 public:
  Scheduler() = default;
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Adds a queued job (a copy is kept). It is not leasable before
  // job.not_before (InfinitePast = at once). Enqueueing a job id that is
  // already queued replaces the queued copy.
  void Enqueue(const JobRecord& job);

  // Removes a queued (ready or delayed) job. Returns true when it was queued,
  // false when the id is unknown (already picked, or never enqueued).
  bool Remove(int64_t job_id);

  // The next job for `worker` in the order above, removed from the queue; or
  // nullopt when no ready job (not_before <= now) is runnable by the worker.
  // Pick does not count a running lease: the caller calls LeaseStarted when
  // it grants the lease (and Enqueue again if it cannot).
  //
  // Cost: O(log n) per delayed job that became ready, plus
  // O(#lanes + #(lane, submitter) pairs) of the best class, where a lane is
  // one (model_key, requirements) combination — typically one per model.
  std::optional<JobRecord> Pick(const WorkerProfile& worker, absl::Time now);

  // Fair-share accounting of running leases per submitter. LeaseEnded on a
  // submitter with no running lease is ignored (never goes negative).
  void LeaseStarted(const std::string& submitter);
  void LeaseEnded(const std::string& submitter);
  // Running leases of `submitter` as counted above.
  int64_t running_leases(const std::string& submitter) const;

  // Jobs queued (ready or delayed), in total and per class. UNSPECIFIED
  // counts as INTERACTIVE.
  int64_t queued() const;
  int64_t queued(v1::Priority p) const;
  bool contains(int64_t job_id) const { return entries_.contains(job_id); }

  // The earliest not_before among jobs not yet moved to the ready queues
  // (it may be <= now when no Pick ran since it passed), or nullopt when no
  // job is delayed. Lets a long-poll sleep exactly until work appears.
  std::optional<absl::Time> NextReadyTime() const;

 private:
  // Invariants:
  //  * Every queued job has exactly one entry in entries_. A ready entry's id
  //    is in exactly one leaf: classes_[class].lanes[lane].leaves[submitter];
  //    a delayed entry's id is in no leaf, and delayed_ holds a heap item with
  //    the entry's generation.
  //  * No empty leaf and no empty lane exists (erased when they empty).
  //  * delayed_ may hold stale items (removed or re-enqueued jobs: generation
  //    mismatch), but its top item, if any, is never stale.
  //  * class_counts_[c] = number of entries (ready or delayed) of class c.
  static constexpr int kNumClasses = 3;

  // Everything CanRun looks at, so a whole lane is runnable or not.
  struct LaneKey {
    std::string model_key;
    std::string backend;
    int32_t tensor_parallel = 0;
    int64_t min_gpu_memory_bytes = 0;
    bool judge = false;
    bool operator==(const LaneKey&) const = default;
    template <typename H>
    friend H AbslHashValue(H h, const LaneKey& k) {
      return H::combine(std::move(h), k.model_key, k.backend, k.tensor_parallel,
                        k.min_gpu_memory_bytes, k.judge);
    }
  };
  struct Lane {
    JobRecord requirements;  // a representative job carrying the LaneKey fields
    absl::flat_hash_map<std::string, std::set<int64_t>> leaves;  // submitter -> FIFO by id
  };
  struct ClassQueue {
    absl::node_hash_map<LaneKey, Lane> lanes;
  };
  struct Entry {
    JobRecord job;
    uint64_t generation = 0;
    bool ready = false;
  };
  struct DelayedItem {
    absl::Time not_before;
    int64_t job_id;
    uint64_t generation;
    // std::push_heap keeps the "largest" item at the front; an earlier item
    // compares larger, so the front is the earliest not_before.
    bool operator<(const DelayedItem& o) const {
      if (not_before != o.not_before) return not_before > o.not_before;
      return job_id > o.job_id;
    }
  };

  static int ClassOf(v1::Priority p);
  static LaneKey LaneKeyOf(const JobRecord& job);
  void MakeReady(Entry& entry);
  void EraseFromLeaf(const JobRecord& job);
  void PromoteReady(absl::Time now);
  void DropStaleDelayedTop();
  bool IsStale(const DelayedItem& item) const;

  absl::flat_hash_map<int64_t, Entry> entries_;
  std::array<ClassQueue, kNumClasses> classes_;
  std::array<int64_t, kNumClasses> class_counts_{};
  std::vector<DelayedItem> delayed_;  // binary heap (std::push_heap order)
  absl::flat_hash_map<std::string, int64_t> running_;
  uint64_t next_generation_ = 1;
};

}  // namespace proctor::coordinator

#endif  // PROCTOR_COORDINATOR_SCHEDULING_SCHEDULER_H_
