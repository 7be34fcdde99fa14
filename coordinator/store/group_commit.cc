#include "coordinator/store/group_commit.h"

#include <utility>

namespace proctor::coordinator {

GroupCommitQueue::GroupCommitQueue(BatchExecutor executor, int max_batch)
    : executor_(std::move(executor)), max_batch_(max_batch < 1 ? 1 : max_batch) {}

absl::Status GroupCommitQueue::Submit(Mutation mutation) {
  Writer self(mutation);
  absl::MutexLock lock(&mu_);
  queue_.push_back(&self);
  while (!self.done && queue_.front() != &self) self.cv.Wait(&mu_);
  if (self.done) return self.status;

  // This thread leads the next batch: the writers at the front of the queue.
  std::vector<Writer*> batch;
  std::vector<Mutation> mutations;
  for (Writer* w : queue_) {
    if (static_cast<int>(batch.size()) == max_batch_) break;
    batch.push_back(w);
    mutations.push_back(w->mutation);
  }
  std::vector<absl::Status> statuses;
  {
    mu_.Unlock();
    statuses = executor_(mutations);
    mu_.Lock();
  }
  ++batches_;
  for (size_t i = 0; i < batch.size(); ++i) {
    Writer* w = queue_.front();
    queue_.pop_front();
    w->status = i < statuses.size()
                    ? std::move(statuses[i])
                    : absl::InternalError("group commit executor returned too few statuses");
    w->done = true;
    if (w != &self) w->cv.Signal();
  }
  if (!queue_.empty()) queue_.front()->cv.Signal();
  return self.status;
}

int64_t GroupCommitQueue::batches() const {
  absl::MutexLock lock(&mu_);
  return batches_;
}

int64_t GroupCommitQueue::queued() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(queue_.size());
}

}  // namespace proctor::coordinator
