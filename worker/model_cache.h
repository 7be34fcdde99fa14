// An LRU cache of loaded models, keyed by the job's model key.
//
// Reloading weights is the most expensive thing a worker does, so a worker
// keeps recently used models resident and tells the coordinator which ones
// (for affinity). The cache is bounded by a model count and, optionally, by
// bytes (LoadedModel::ResidentBytes). When a model must be loaded, least
// recently used models are evicted *before* the load so that their memory is
// free for it: enough to stay under the count, and -- when the ModelRef states
// min_gpu_memory_bytes -- enough for the new model's bytes. After the load,
// further LRU models are evicted while the byte bound is exceeded. The model
// just loaded is never evicted by its own load, even when it alone exceeds
// the byte bound.
//
// Invariants (under mu_): lru_ holds each key once, most recently used first;
// models_ and lru_ hold the same keys; bytes_ is the sum of their
// ResidentBytes; at most one load runs at a time (loading_).
#ifndef PROCTOR_WORKER_MODEL_CACHE_H_
#define PROCTOR_WORKER_MODEL_CACHE_H_

#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "proctor/v1/common.pb.h"
#include "worker/engine/engine.h"
#include "worker/metrics.h"

namespace proctor::worker {

struct ModelCacheOptions {
  int max_models = 1;     // at least 1
  int64_t max_bytes = 0;  // 0 = no byte bound
};

// Thread-safe. Loads run outside the lock, so LoadedKeys() and friends never
// wait for a load; concurrent Get calls for models not in the cache load one
// after the other.
class ModelCache {
 public:
  // `engine` and `metrics` (may be null) must outlive the cache.
  ModelCache(engine::Engine* engine, const ModelCacheOptions& options, WorkerMetrics* metrics);

  // Returns the model cached under `key`, loading `model` through the engine
  // on a miss. The returned pointer stays valid after eviction (the caller
  // shares ownership). A failed load caches nothing and returns the engine's
  // error unchanged (FAILED_PRECONDITION: bad model file, RESOURCE_EXHAUSTED:
  // does not fit, ...).
  absl::StatusOr<std::shared_ptr<engine::LoadedModel>> Get(const std::string& key,
                                                           const v1::ModelRef& model);

  // Keys of the cached models, most recently used first.
  std::vector<std::string> LoadedKeys() const;
  int64_t ResidentBytes() const;

 private:
  struct Entry {
    std::shared_ptr<engine::LoadedModel> model;
    int64_t bytes = 0;
  };

  // Removes the least recently used entry other than `keep` (may be empty) and
  // appends its model to *evicted (destroyed by the caller, outside the lock).
  // Returns false when there is nothing to evict.
  bool EvictOneLocked(const std::string& keep,
                      std::vector<std::shared_ptr<engine::LoadedModel>>* evicted)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PublishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  engine::Engine* const engine_;
  const ModelCacheOptions options_;
  WorkerMetrics* const metrics_;

  mutable absl::Mutex mu_;
  std::map<std::string, Entry> models_ ABSL_GUARDED_BY(mu_);
  std::list<std::string> lru_ ABSL_GUARDED_BY(mu_);
  int64_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool loading_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace proctor::worker

#endif  // PROCTOR_WORKER_MODEL_CACHE_H_
