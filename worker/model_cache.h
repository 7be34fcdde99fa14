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
// Each load also hashes the model's files (ModelHasher) and records the
// model's identity for the result cache (docs/design/result-cache.md):
// content hash, engine build, backend, compute dtype, tensor-parallel degree.
// A model whose files cannot be hashed (the scripted double's made-up paths,
// a file changed during the load) simply has no identity: it still loads.
// A resident model whose files changed since its load (overwritten in place)
// is reloaded by the next Get instead of being served stale.
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
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "proctor/v1/common.pb.h"
#include "proctor/v1/worker.pb.h"
#include "worker/coordinator_client.h"
#include "worker/engine/engine.h"
#include "worker/metrics.h"
#include "worker/model_hash.h"

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

  // The identity of the model cached under `key` as it was loaded; nullopt
  // when it is not cached or has no identity.
  std::optional<v1::ModelIdentity> Identity(const std::string& key) const;
  // Identities of the models loaded by this cache (resident or evicted since;
  // at most kMaxIdentities, most recently loaded first) whose files are
  // unchanged now: one stat per file, no reads. For LeaseRequest.
  std::vector<v1::ModelIdentity> FreshIdentities() const;
  static constexpr size_t kMaxIdentities = 64;

  // The hasher (tests: count bytes read).
  const ModelHasher& hasher() const { return hasher_; }

 private:
  struct Entry {
    std::shared_ptr<engine::LoadedModel> model;
    int64_t bytes = 0;
    std::optional<v1::ModelIdentity> identity;
  };
  struct Known {
    std::string path;       // what was hashed
    std::string file_hash;  // ModelHasher's hash of `path` at load time
    v1::ModelIdentity identity;
  };

  // Hashes `model` and returns its identity under `key`; nullopt (logged)
  // when its files cannot be hashed.
  std::optional<Known> IdentityOf(const std::string& key, const v1::ModelRef& model);

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
  ModelHasher hasher_;
  // Identities by model key, most recently loaded first (bounded).
  std::list<std::pair<std::string, Known>> known_ ABSL_GUARDED_BY(mu_);
};

// A CoordinatorClient that attaches the model identity to every
// ReportOutputs message of a tracked job, so that the coordinator can add the
// outputs to the result cache; every other call passes through unchanged.
// The identity is looked up when a message is written (after the model was
// loaded). Thread-safe; `inner` and `models` must outlive it.
class IdentityStampingClient final : public CoordinatorClient {
 public:
  IdentityStampingClient(CoordinatorClient* inner, const ModelCache* models);

  // Reports for `job` carry the identity of its model until Untrack.
  void Track(const v1::Job& job);
  void Untrack(int64_t job_id);

  absl::StatusOr<v1::RegisterResponse> Register(const v1::RegisterRequest& request,
                                                absl::Duration timeout) override;
  absl::StatusOr<v1::LeaseResponse> Lease(const v1::LeaseRequest& request,
                                          absl::Duration timeout) override;
  absl::StatusOr<v1::HeartbeatResponse> Heartbeat(const v1::HeartbeatRequest& request,
                                                  absl::Duration timeout) override;
  absl::StatusOr<v1::GetReportStateResponse> GetReportState(
      const v1::GetReportStateRequest& request, absl::Duration timeout) override;
  std::unique_ptr<ReportStream> OpenReportStream(absl::Duration timeout) override;

  // The identity to attach to a report for `job_id`; nullopt when untracked
  // or the model has none.
  std::optional<v1::ModelIdentity> IdentityFor(int64_t job_id) const;

 private:
  CoordinatorClient* const inner_;
  const ModelCache* const models_;
  mutable absl::Mutex mu_;
  std::map<int64_t, std::string> model_key_of_job_ ABSL_GUARDED_BY(mu_);
};

}  // namespace proctor::worker

#endif  // PROCTOR_WORKER_MODEL_CACHE_H_
