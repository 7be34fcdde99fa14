// The result cache's key and its bookkeeping on the coordinator side
// (docs/design/result-cache.md). An output is reused when everything that can
// change it is the same: the model's content hash, the request exactly as the
// model sees it, the engine build, backend, compute dtype and tensor-parallel
// degree. The store holds the entries (Store::LookupCache, OutputBatch);
// this file decides what is cacheable and what the key is.
//
// Key encoding (version kResultCacheKeyVersion): SHA-256 over a sequence of
// length-prefixed fields (8-byte little-endian length, then the bytes), so no
// two different field tuples encode to the same bytes.
#ifndef PROCTOR_COORDINATOR_RESULT_CACHE_H_
#define PROCTOR_COORDINATOR_RESULT_CACHE_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "coordinator/metrics.h"
#include "coordinator/store/store.h"
#include "proctor/v1/requests.pb.h"
#include "proctor/v1/worker.pb.h"

namespace proctor::coordinator {

// Change it to invalidate every entry ever written.
inline constexpr uint32_t kResultCacheKeyVersion = 1;

// True for requests whose output is a function of the key alone:
// log-likelihood, rolling log-likelihood and greedy generation
// (temperature == 0). Sampled generation (even seeded: the sampler is not
// proven reproducible) and every other kind (judge requests included) are not.
bool IsCacheableRequest(const v1::Request& request);

// SHA-256 (32 raw bytes) of `request` as the model sees it: its kind, the full
// context (prefixes[prefix_index - 1] + context), continuations, stop strings,
// max_new_tokens and the decoding parameters. request_id and prefix_index
// themselves are not part of it. INVALID_ARGUMENT when the request is not
// cacheable or prefix_index is outside [0, prefixes.size()].
absl::StatusOr<std::string> RequestHash(const v1::Request& request,
                                        absl::Span<const std::string> prefixes);

// OK when `identity` is usable as a key part; otherwise INVALID_ARGUMENT
// naming `field` and what is wrong (content_hash must be 64 lowercase hex
// digits; engine_build and backend non-empty; every string bounded;
// tensor_parallel in [0, 64]).
absl::Status ValidateModelIdentity(const v1::ModelIdentity& identity, absl::string_view field);

// The 32-byte cache key of `request_hash` (from RequestHash) computed with
// `identity`. identity.model_key is NOT part of it: a path names a file, the
// content hash identifies it (the same file under two paths shares entries;
// a file overwritten in place does not).
std::string ResultCacheKey(const v1::ModelIdentity& identity, absl::string_view request_hash);

// The coordinator's side of the cache: looks up a leased job's requests and
// builds the entries that fill the cache from a worker's report. Remembers
// the request hashes of recently seen jobs (bounded) so that a report does
// not re-read the job's payload.
//
// Thread-safe. `store` and `metrics` (may be null) must outlive it.
class ResultCache {
 public:
  ResultCache(Store* store, CoordinatorMetrics* metrics);

  // The outputs the cache holds for the cacheable requests of `job` (a job
  // with its payload, as leased) under `identity`, each with its request_id
  // set, in request order; an empty vector when none hit. Counts one lookup
  // per cacheable request in the metrics. Store errors are passed on.
  absl::StatusOr<std::vector<v1::Output>> Lookup(const v1::Job& job,
                                                 const v1::ModelIdentity& identity);

  // Cache entries for those of `outputs` (reported for job `job_id`) whose
  // request is cacheable, computed with `identity`. The job's request hashes
  // come from memory or, after a restart, from the stored payload.
  absl::StatusOr<std::vector<CacheEntry>> EntriesFor(
      int64_t job_id, const v1::ModelIdentity& identity,
      const google::protobuf::RepeatedPtrField<v1::Output>& outputs);

  // Entries held by the store, for the gauge (also published to metrics).
  void RefreshEntriesGauge();

 private:
  // request_id -> (RequestHash, kind number), for the cacheable requests of
  // one job. Request and Output use the same field numbers for a kind.
  struct Hashed {
    std::string hash;
    int kind = 0;
  };
  using JobHashes = absl::flat_hash_map<int64_t, Hashed>;
  static JobHashes HashJob(absl::Span<const std::string> prefixes,
                           absl::Span<const v1::Request* const> requests);
  void Remember(int64_t job_id, std::shared_ptr<const JobHashes> hashes);
  std::shared_ptr<const JobHashes> Recall(int64_t job_id);

  Store* const store_;
  CoordinatorMetrics* const metrics_;

  absl::Mutex mu_;
  absl::flat_hash_map<int64_t, std::shared_ptr<const JobHashes>> jobs_ ABSL_GUARDED_BY(mu_);
  std::deque<int64_t> job_order_ ABSL_GUARDED_BY(mu_);  // oldest first, for the bound
};

}  // namespace proctor::coordinator

#endif  // PROCTOR_COORDINATOR_RESULT_CACHE_H_
