// The Llama-family decoder forward pass, written once against the Backend
// interface (backend.h) and run by the "cpu" and "cuda" backends alike. The
// KV cache also keeps each position's final (normalised) hidden state so
// logits can be computed later for exactly the positions that are scored.
//
// Prefix reuse: a KvCache holds one token sequence; Truncate(n) rewinds it to
// its first n tokens so another sequence sharing that prefix continues from
// there without recomputing it (the engine walks a job's sequences in trie
// order, see job_runner.h). Fork(parent, n) makes a cache that shares the
// parent's first n positions, so several continuations of one prefix can be
// extended together in one batched step (ExtendBatch) and scored together.
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
#include <span>
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
  // Bytes currently held (all ranks), not counting positions shared with the
  // cache this one was forked from.
  int64_t Bytes() const;

 private:
  friend class Transformer;
  std::vector<std::unique_ptr<KvStore>> stores_;  // one per rank
  std::vector<int32_t> tokens_;
};

// One cache to extend in a batched step.
struct ExtendItem {
  KvCache* cache = nullptr;
  std::span<const int32_t> tokens;
};

// A cached position of a cache, for Logits and LogProbs over several caches.
struct CacheRow {
  const KvCache* cache = nullptr;
  int64_t position = 0;
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

  // Extends several distinct caches at once: the tokens of all items go
  // through each matmul together, in steps of at most max_step_rows() rows
  // (an item longer than a step's room continues in the next step). Results
  // equal Extend on each cache alone up to float summation order. Same errors
  // as Extend (naming the item); on any error every cache is rewound to where
  // it was.
  absl::Status ExtendBatch(std::span<const ExtendItem> items) const;

  // Rows per forward step (bounds activation memory).
  static constexpr int64_t max_step_rows() { return 256; }

  // Makes *out (any previous content dropped) a cache holding the first n
  // positions of `parent` (0 <= n <= parent.length()), sharing its storage:
  // while *out lives, `parent` must stay alive and must not be truncated below
  // n (extending it is allowed). INVALID_ARGUMENT for a bad n.
  absl::Status Fork(const KvCache& parent, int64_t n, KvCache* out) const;

  // logits[i, :] for the hidden state at cached position positions[i]
  // (the prediction of the token at positions[i] + 1). out: [n, vocab].
  void Logits(const KvCache& cache, const int64_t* positions, int64_t n, float* out) const;
  // The same over rows of several caches (one vocabulary matmul for all).
  // INVALID_ARGUMENT for a position that is not cached.
  absl::Status Logits(std::span<const CacheRow> rows, float* out) const;

  // Vocabulary-parallel scoring: logprob[i] = log p(targets[i] | position
  // positions[i]) and argmax[i] = the most likely token there, computed
  // without gathering logits across ranks. Positions must be cached.
  absl::Status LogProbs(const KvCache& cache, const int64_t* positions, const int32_t* targets,
                        int64_t n, float* logprob, int32_t* argmax) const;
  // The same over rows of several caches, targets[i] for rows[i].
  absl::Status LogProbs(std::span<const CacheRow> rows, const int32_t* targets, float* logprob,
                        int32_t* argmax) const;

 private:
  class RankThreads;
  // One forward step of `seqs` (this rank's stores) on backend b.
  absl::Status ExtendChunk(Backend* b, std::span<const StepSequence> seqs) const;
  // INVALID_ARGUMENT unless every row names a cached position of a cache
  // whose storage this transformer made.
  absl::Status CheckRows(std::span<const CacheRow> rows) const;
  // Runs fn(rank) on every rank concurrently; returns the first error.
  absl::Status OnAllRanks(const std::function<absl::Status(int)>& fn) const;

  std::unique_ptr<Backend> owned_;
  std::vector<Backend*> ranks_;
  std::unique_ptr<RankThreads> threads_;
};

}  // namespace proctor::engine

#endif  // PROCTOR_WORKER_ENGINE_TRANSFORMER_H_
