// Group commit: many threads submit mutations concurrently; they are executed
// in batches, one batch at a time, by whichever submitting thread is at the
// head of the queue (the "leader", as in LevelDB's DBImpl::Write). A batch is
// everything queued when the leader starts, up to `max_batch` mutations, so
// while one batch commits (and fsyncs) the next one accumulates.
//
// Invariants:
//  * queue_ holds the waiting writers in arrival order; the front writer is
//    the only one allowed to run a batch, and it runs with mu_ released.
//  * A writer is removed from queue_ only after its `done` flag and status
//    are set, and only by the leader of the batch that contained it.
//
// Thread-safety: Submit may be called from any number of threads.
#ifndef PROCTOR_COORDINATOR_STORE_GROUP_COMMIT_H_
#define PROCTOR_COORDINATOR_STORE_GROUP_COMMIT_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"

namespace proctor::coordinator {

class GroupCommitQueue {
 public:
  using Mutation = absl::FunctionRef<absl::Status()>;
  // Runs one batch: must return exactly one status per mutation, in order.
  // Called on the leader's thread, never concurrently with itself.
  using BatchExecutor = std::function<std::vector<absl::Status>(absl::Span<const Mutation>)>;

  GroupCommitQueue(BatchExecutor executor, int max_batch);
  GroupCommitQueue(const GroupCommitQueue&) = delete;
  GroupCommitQueue& operator=(const GroupCommitQueue&) = delete;

  // Queues `mutation`, waits until a batch containing it has been executed
  // and returns the status the executor reported for it. `mutation` runs on
  // some (possibly other) submitting thread while this call blocks, so it may
  // capture this thread's locals by reference.
  absl::Status Submit(Mutation mutation);

  // Number of batches executed so far (for tests and benchmarks).
  int64_t batches() const;
  // Submit calls not yet answered: the running batch plus those waiting.
  int64_t queued() const;

 private:
  struct Writer {
    explicit Writer(Mutation m) : mutation(m) {}
    Mutation mutation;
    absl::Status status;
    bool done = false;
    absl::CondVar cv;
  };

  const BatchExecutor executor_;
  const int max_batch_;
  mutable absl::Mutex mu_;
  std::deque<Writer*> queue_ ABSL_GUARDED_BY(mu_);
  int64_t batches_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace proctor::coordinator

#endif  // PROCTOR_COORDINATOR_STORE_GROUP_COMMIT_H_
