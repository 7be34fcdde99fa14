#include "worker/model_cache.h"

#include <algorithm>
#include <utility>

#include "absl/time/clock.h"
#include "common/logging.h"

namespace proctor::worker {

ModelCache::ModelCache(engine::Engine* engine, const ModelCacheOptions& options,
                       WorkerMetrics* metrics)
    : engine_(engine), options_(options), metrics_(metrics) {}

absl::StatusOr<std::shared_ptr<engine::LoadedModel>> ModelCache::Get(const std::string& key,
                                                                     const v1::ModelRef& model) {
  std::vector<std::shared_ptr<engine::LoadedModel>> evicted;
  {
    absl::MutexLock lock(&mu_);
    // One load at a time; a concurrent caller may find its model loaded after.
    mu_.Await(absl::Condition(
        +[](bool* loading) { return !*loading; }, &loading_));
    auto it = models_.find(key);
    if (it != models_.end()) {
      lru_.remove(key);
      lru_.push_front(key);
      return it->second.model;
    }
    const size_t max_models = static_cast<size_t>(std::max(1, options_.max_models));
    while (models_.size() >= max_models && EvictOneLocked("", &evicted)) {
    }
    const int64_t expected = model.min_gpu_memory_bytes();
    if (options_.max_bytes > 0 && expected > 0) {
      while (bytes_ + expected > options_.max_bytes && EvictOneLocked("", &evicted)) {
      }
    }
    loading_ = true;
    PublishLocked();
  }
  evicted.clear();  // frees the evicted models' memory before the load

  const absl::Time start = absl::Now();
  absl::StatusOr<std::unique_ptr<engine::LoadedModel>> loaded = engine_->Load(model);
  const absl::Duration took = absl::Now() - start;
  if (metrics_ != nullptr) {
    metrics_->ObserveModelLoad(took);
    if (!loaded.ok()) metrics_->CountError("model_load");
  }

  absl::MutexLock lock(&mu_);
  loading_ = false;
  if (!loaded.ok()) {
    PROCTOR_LOG(WARNING) << "loading model " << key << " failed after " << took << ": "
                         << loaded.status();
    return loaded.status();
  }
  std::shared_ptr<engine::LoadedModel> shared = std::move(loaded).value();
  const int64_t bytes = shared->ResidentBytes();
  models_[key] = Entry{shared, bytes};
  lru_.push_front(key);
  bytes_ += bytes;
  if (options_.max_bytes > 0) {
    while (bytes_ > options_.max_bytes && EvictOneLocked(key, &evicted)) {
    }
  }
  PublishLocked();
  PROCTOR_LOG(INFO) << "loaded model " << key << " (" << bytes << " bytes) in " << took
                    << "; cache holds " << models_.size() << " model(s), " << bytes_ << " bytes";
  // `evicted` is destroyed after the lock is released (declared first).
  return shared;
}

bool ModelCache::EvictOneLocked(const std::string& keep,
                                std::vector<std::shared_ptr<engine::LoadedModel>>* evicted) {
  for (auto it = lru_.rbegin(); it != lru_.rend(); ++it) {
    if (*it == keep) continue;
    auto entry = models_.find(*it);
    PROCTOR_LOG(INFO) << "evicting model " << *it << " (" << entry->second.bytes << " bytes)";
    bytes_ -= entry->second.bytes;
    evicted->push_back(std::move(entry->second.model));
    models_.erase(entry);
    lru_.erase(std::next(it).base());
    return true;
  }
  return false;
}

void ModelCache::PublishLocked() {
  if (metrics_ != nullptr) metrics_->SetModelsLoaded(static_cast<int>(models_.size()), bytes_);
}

std::vector<std::string> ModelCache::LoadedKeys() const {
  absl::MutexLock lock(&mu_);
  return {lru_.begin(), lru_.end()};
}

int64_t ModelCache::ResidentBytes() const {
  absl::MutexLock lock(&mu_);
  return bytes_;
}

}  // namespace proctor::worker
