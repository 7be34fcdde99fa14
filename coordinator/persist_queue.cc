#include "coordinator/persist_queue.h"

#include <map>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"

namespace proctor::coordinator {

uint64_t PersistQueue::Enqueue(std::vector<JobRecord> jobs, std::optional<RunRecord> run) {
  absl::MutexLock lock(&mu_);
  const uint64_t ticket = next_ticket_++;
  pending_.push_back(Entry{ticket, std::move(jobs), std::move(run)});
  return ticket;
}

absl::Status PersistQueue::Await(uint64_t ticket) {
  absl::MutexLock lock(&mu_);
  while (true) {
    if (flushed_ >= ticket) {
      for (const auto& [last, status] : results_) {
        if (ticket <= last) return status;
      }
      return absl::OkStatus();  // result aged out: it was an OK batch long ago
    }
    if (!leader_active_) {
      // Become the leader: take everything queued so far.
      leader_active_ = true;
      std::vector<Entry> batch(std::make_move_iterator(pending_.begin()),
                               std::make_move_iterator(pending_.end()));
      pending_.clear();
      const uint64_t last = batch.empty() ? flushed_ : batch.back().ticket;
      mu_.Unlock();
      absl::Status status = WriteBatch(batch);
      mu_.Lock();
      flushed_ = last;
      leader_active_ = false;
      results_.emplace_back(last, status);
      while (results_.size() > 64) results_.pop_front();
      WakeAfterBatch();
      continue;
    }
    Waiter self;
    auto it = waiters_.emplace(ticket, &self);
    self.cv.Wait(&mu_);
    waiters_.erase(it);
  }
}

void PersistQueue::WakeAfterBatch() {
  for (const auto& [ticket, waiter] : waiters_) {
    waiter->cv.Signal();
    if (ticket > flushed_) break;  // the oldest unflushed waiter: it leads next
  }
}

absl::Status PersistQueue::WriteBatch(std::vector<Entry>& batch) {
  // The last record of each job wins; the store sees each job once.
  std::vector<JobRecord> jobs;
  absl::flat_hash_map<int64_t, size_t> position;
  std::map<std::string, RunRecord> runs;
  for (Entry& e : batch) {
    for (JobRecord& j : e.jobs) {
      auto [it, inserted] = position.try_emplace(j.job_id, jobs.size());
      if (inserted) {
        jobs.push_back(std::move(j));
      } else {
        jobs[it->second] = std::move(j);
      }
    }
    if (e.run) runs[e.run->run_id] = std::move(*e.run);
  }
  if (!jobs.empty()) {
    absl::Status s = store_->UpdateJobs(jobs);
    if (!s.ok()) return s;
  }
  for (const auto& [id, run] : runs) {
    absl::Status s = store_->UpdateRun(run);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace proctor::coordinator
