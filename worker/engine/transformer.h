// The Llama-family decoder forward pass, written once against the Backend
// interface (backend.h) and run by the "cpu" and "cuda" backends alike. The
// KV cache also keeps each position's final (normalised) hidden state so
// logits can be computed later for exactly the positions that are scored.
//
// Prefix reuse: a KvCache holds one token sequence; Truncate(n) rewinds it to
// its first n tokens so another sequence sharing that prefix continues from
// there without recomputing it (the engine walks a job's sequences in trie
// order, see job_runner.h).
//
// Tensor parallelism: a Transformer over k backends (one per rank, each with
// its rank's Communicator) runs every call on k threads, one per rank (rank 0
// on the calling thread), so that their collectives pair up; results come
// from rank 0.
#ifndef PROCTOR_WORKER_ENGINE_TRANSFORMER_H_
#define PROCTOR_WORKER_ENGINE_TRANSFORMER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "kernels/comm/communicator.h"
#include "kernels/cpu/thread_pool.h"
#include "worker/engine/backend.h"
#include "worker/engine/model_weights.h"

namespace proctor::engine {

class KvCache {
 public:
  KvCache() = default;
  // `c` is accepted for call-site compatibility; storage comes from the
  // transformer's backends on the first Extend.
  explicit KvCache(const ModelConfig& c);

  int64_t length() const { return static_cast<int64_t>(tokens_.size()); }
  const std::vector<int32_t>& tokens() const { return tokens_; }
  // Drops every position >= n (no-op when n >= length()).
  void Truncate(int64_t n);
  // Bytes currently held (all ranks).
  int64_t Bytes() const;

 private:
  friend class Transformer;
  std::vector<std::unique_ptr<KvStore>> stores_;  // one per rank
  std::vector<int32_t> tokens_;
};

class Transformer {
 public:
  // The CPU reference: an owned "cpu" backend over `w`. `w` and `pool` must
  // outlive the transformer; `pool` may be null. For a tensor-parallel shard
  // (w->tp_size > 1) `comm` is this rank's handle of the group and every rank
  // must make the same Extend/Logits calls (each rank its own Transformer).
  Transformer(const ModelWeights* w, kernels::ThreadPool* pool,
              kernels::comm::Communicator* comm = nullptr);

  // One backend per rank, in rank order (not owned; must outlive this). Every
  // call runs on all ranks, one thread each.
  explicit Transformer(std::vector<Backend*> ranks);
  ~Transformer();

  // The local configuration of rank 0 (== the model's at tp_size 1).
  const ModelConfig& config() const { return ranks_[0]->local_config(); }
  int tp_size() const { return static_cast<int>(ranks_.size()); }

  // Runs `tokens` at positions cache->length()... and appends them to the
  // cache. INVALID_ARGUMENT for an out-of-vocabulary id or when the sequence
  // would exceed the model's context length; the backend's error otherwise
  // (the cache is then rewound to where it was).
  absl::Status Extend(const std::vector<int32_t>& tokens, KvCache* cache) const;

  // logits[i, :] for the hidden state at cached position positions[i]
  // (the prediction of the token at positions[i] + 1). out: [n, vocab].
  void Logits(const KvCache& cache, const int64_t* positions, int64_t n, float* out) const;

  // Vocabulary-parallel scoring: logprob[i] = log p(targets[i] | position
  // positions[i]) and argmax[i] = the most likely token there, computed
  // without gathering logits across ranks. Positions must be cached.
  absl::Status LogProbs(const KvCache& cache, const int64_t* positions, const int32_t* targets,
                        int64_t n, float* logprob, int32_t* argmax) const;

 private:
  class RankThreads;
  absl::Status ExtendChunk(Backend* b, KvStore* store, const int32_t* tokens, int64_t n,
                           int64_t start) const;
  // Runs fn(rank) on every rank concurrently; returns the first error.
  absl::Status OnAllRanks(const std::function<absl::Status(int)>& fn) const;

  std::unique_ptr<Backend> owned_;
  std::vector<Backend*> ranks_;
  std::unique_ptr<RankThreads> threads_;
};

}  // namespace proctor::engine

#endif  // PROCTOR_WORKER_ENGINE_TRANSFORMER_H_
