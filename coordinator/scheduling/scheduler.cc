#include "coordinator/scheduling/scheduler.h"

#include <algorithm>
#include <limits>
#include <tuple>
#include <utility>

namespace proctor::coordinator {
namespace {

bool HasModelLoaded(const WorkerProfile& w, const std::string& model_key) {
  if (model_key.empty()) return false;
  return std::find(w.loaded_models.begin(), w.loaded_models.end(), model_key) !=
         w.loaded_models.end();
}

// per_gpu * gpus, saturating at INT64_MAX (hostile registrations must not wrap).
int64_t TotalGpuMemory(int64_t per_gpu, int64_t gpus) {
  if (per_gpu <= 0 || gpus <= 0) return 0;
  if (per_gpu > std::numeric_limits<int64_t>::max() / gpus) {
    return std::numeric_limits<int64_t>::max();
  }
  return per_gpu * gpus;
}

}  // namespace

bool CanRun(const WorkerProfile& w, const JobRecord& job) {
  if (job.judge) return w.sandbox;
  if (!job.backend.empty() && w.backend != job.backend) return false;
  if (job.backend == "cpu") return true;  // no GPU involved
  if (w.gpu_count < job.tensor_parallel) return false;
  if (job.min_gpu_memory_bytes > 0 && w.gpu_memory_bytes > 0) {
    const int64_t gpus = job.tensor_parallel > 0 ? job.tensor_parallel : w.gpu_count;
    if (TotalGpuMemory(w.gpu_memory_bytes, gpus) < job.min_gpu_memory_bytes) return false;
  }
  return true;
}

int Scheduler::ClassOf(v1::Priority p) {
  switch (p) {
    case v1::PRIORITY_UNSPECIFIED:
    case v1::PRIORITY_INTERACTIVE:
      return 0;
    case v1::PRIORITY_SWEEP:
      return 1;
    default:  // BACKFILL and values this build does not know: lowest class
      return 2;
  }
}

Scheduler::LaneKey Scheduler::LaneKeyOf(const JobRecord& job) {
  return LaneKey{job.model_key, job.backend, job.tensor_parallel, job.min_gpu_memory_bytes,
                 job.judge};
}

void Scheduler::Enqueue(const JobRecord& job) {
  Remove(job.job_id);  // replace semantics
  Entry& entry = entries_[job.job_id];
  entry.job = job;
  entry.generation = next_generation_++;
  entry.ready = false;
  ++class_counts_[ClassOf(job.priority)];
  if (job.not_before == absl::InfinitePast()) {
    MakeReady(entry);
    return;
  }
  delayed_.push_back(DelayedItem{job.not_before, job.job_id, entry.generation});
  std::push_heap(delayed_.begin(), delayed_.end());
}

void Scheduler::MakeReady(Entry& entry) {
  entry.ready = true;
  const JobRecord& job = entry.job;
  ClassQueue& cq = classes_[ClassOf(job.priority)];
  auto [it, inserted] = cq.lanes.try_emplace(LaneKeyOf(job));
  if (inserted) {
    JobRecord& req = it->second.requirements;
    req.model_key = job.model_key;
    req.backend = job.backend;
    req.tensor_parallel = job.tensor_parallel;
    req.min_gpu_memory_bytes = job.min_gpu_memory_bytes;
    req.judge = job.judge;
  }
  it->second.leaves[job.submitter].insert(job.job_id);
}

void Scheduler::EraseFromLeaf(const JobRecord& job) {
  ClassQueue& cq = classes_[ClassOf(job.priority)];
  auto lane_it = cq.lanes.find(LaneKeyOf(job));
  if (lane_it == cq.lanes.end()) return;
  auto& leaves = lane_it->second.leaves;
  auto leaf_it = leaves.find(job.submitter);
  if (leaf_it == leaves.end()) return;
  leaf_it->second.erase(job.job_id);
  if (leaf_it->second.empty()) leaves.erase(leaf_it);
  if (leaves.empty()) cq.lanes.erase(lane_it);
}

bool Scheduler::Remove(int64_t job_id) {
  auto it = entries_.find(job_id);
  if (it == entries_.end()) return false;
  if (it->second.ready) EraseFromLeaf(it->second.job);
  --class_counts_[ClassOf(it->second.job.priority)];
  entries_.erase(it);
  DropStaleDelayedTop();
  return true;
}

bool Scheduler::IsStale(const DelayedItem& item) const {
  auto it = entries_.find(item.job_id);
  return it == entries_.end() || it->second.ready || it->second.generation != item.generation;
}

void Scheduler::DropStaleDelayedTop() {
  while (!delayed_.empty() && IsStale(delayed_.front())) {
    std::pop_heap(delayed_.begin(), delayed_.end());
    delayed_.pop_back();
  }
}

void Scheduler::PromoteReady(absl::Time now) {
  DropStaleDelayedTop();
  while (!delayed_.empty() && delayed_.front().not_before <= now) {
    const int64_t id = delayed_.front().job_id;
    std::pop_heap(delayed_.begin(), delayed_.end());
    delayed_.pop_back();
    MakeReady(entries_.find(id)->second);  // the top is never stale
    DropStaleDelayedTop();
  }
}

std::optional<JobRecord> Scheduler::Pick(const WorkerProfile& worker, absl::Time now) {
  PromoteReady(now);
  for (int c = 0; c < kNumClasses; ++c) {
    ClassQueue& cq = classes_[c];
    if (cq.lanes.empty()) continue;
    // Best candidate so far, ordered by (not affine, running leases, head id).
    std::tuple<bool, int64_t, int64_t> best_key;
    Lane* best_lane = nullptr;
    std::set<int64_t>* best_leaf = nullptr;
    for (auto& [key, lane] : cq.lanes) {
      if (!CanRun(worker, lane.requirements)) continue;
      const bool not_affine = !HasModelLoaded(worker, key.model_key);
      if (best_lane != nullptr && not_affine && !std::get<0>(best_key)) continue;
      for (auto& [submitter, leaf] : lane.leaves) {
        auto run_it = running_.find(submitter);
        const int64_t running = run_it == running_.end() ? 0 : run_it->second;
        std::tuple<bool, int64_t, int64_t> k{not_affine, running, *leaf.begin()};
        if (best_lane == nullptr || k < best_key) {
          best_key = k;
          best_lane = &lane;
          best_leaf = &leaf;
        }
      }
    }
    if (best_lane == nullptr) continue;
    const int64_t id = *best_leaf->begin();
    auto entry_it = entries_.find(id);
    JobRecord job = std::move(entry_it->second.job);
    entries_.erase(entry_it);
    --class_counts_[c];
    EraseFromLeaf(job);  // erases the id and any leaf/lane it empties
    return job;
  }
  return std::nullopt;
}

void Scheduler::LeaseStarted(const std::string& submitter) { ++running_[submitter]; }

void Scheduler::LeaseEnded(const std::string& submitter) {
  auto it = running_.find(submitter);
  if (it == running_.end()) return;
  if (--it->second <= 0) running_.erase(it);
}

int64_t Scheduler::running_leases(const std::string& submitter) const {
  auto it = running_.find(submitter);
  return it == running_.end() ? 0 : it->second;
}

int64_t Scheduler::queued() const {
  int64_t total = 0;
  for (int64_t n : class_counts_) total += n;
  return total;
}

int64_t Scheduler::queued(v1::Priority p) const { return class_counts_[ClassOf(p)]; }

std::optional<absl::Time> Scheduler::NextReadyTime() const {
  if (delayed_.empty()) return std::nullopt;
  return delayed_.front().not_before;
}

}  // namespace proctor::coordinator
