// Ordered, group-committed persistence of job and run records.
//
// The coordinator mutates its in-memory state under its own lock and calls
// Enqueue() while still holding it, so the queue order is the mutation order;
// it then releases the lock and calls Await(). Whichever caller awaits first
// becomes the leader and writes everything queued so far in one batch (one
// UpdateJobs transaction, then the run records), while later callers wait.
// A stale record can therefore never overwrite a newer one, and concurrent
// leases share one fsync. When a batch is written, the leader wakes exactly
// the waiters it made durable plus the oldest remaining one (the next
// leader), not every waiter: under hundreds of concurrent leases a broadcast
// would wake the next batch's callers only to put them back to sleep.
//
// Thread-safety: all methods may be called concurrently. Every Enqueue must be
// followed by an Await of its ticket (by someone), or it is written only when
// a later ticket is awaited.
#ifndef PROCTOR_COORDINATOR_PERSIST_QUEUE_H_
#define PROCTOR_COORDINATOR_PERSIST_QUEUE_H_

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "coordinator/store/store.h"

namespace proctor::coordinator {

class PersistQueue {
 public:
  explicit PersistQueue(Store* store) : store_(store) {}

  // Queues records for writing; returns a ticket for Await.
  uint64_t Enqueue(std::vector<JobRecord> jobs, std::optional<RunRecord> run = std::nullopt);

  // Returns once every write up to `ticket` is durable, with the status of
  // the batch that contained it.
  absl::Status Await(uint64_t ticket);

 private:
  struct Entry {
    uint64_t ticket;
    std::vector<JobRecord> jobs;
    std::optional<RunRecord> run;
  };
  struct Waiter {
    absl::CondVar cv;
  };
  absl::Status WriteBatch(std::vector<Entry>& batch);
  // Signals the waiters whose tickets are flushed and the first one that is
  // not (it leads the next batch).
  void WakeAfterBatch() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Store* const store_;
  absl::Mutex mu_;
  // Threads blocked in Await, by the ticket they wait for.
  std::multimap<uint64_t, Waiter*> waiters_ ABSL_GUARDED_BY(mu_);
  std::deque<Entry> pending_ ABSL_GUARDED_BY(mu_);
  uint64_t next_ticket_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t flushed_ ABSL_GUARDED_BY(mu_) = 0;  // every ticket <= flushed_ is done
  bool leader_active_ ABSL_GUARDED_BY(mu_) = false;
  // Status of each finished batch, by its last ticket (kept short).
  std::deque<std::pair<uint64_t, absl::Status>> results_ ABSL_GUARDED_BY(mu_);
};

}  // namespace proctor::coordinator

#endif  // PROCTOR_COORDINATOR_PERSIST_QUEUE_H_
