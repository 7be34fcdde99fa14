// The Llama-family decoder forward pass on CPU over ModelWeights, with a KV
// cache that also keeps each position's final (normalised) hidden state so
// logits can be computed later for exactly the positions that are scored.
//
// Prefix reuse: a KvCache holds one token sequence; Truncate(n) rewinds it to
// its first n tokens so another sequence sharing that prefix continues from
// there without recomputing it (the engine walks a job's sequences in trie
// order, see prefix_scheduler.h).
#ifndef PROCTOR_WORKER_ENGINE_TRANSFORMER_H_
#define PROCTOR_WORKER_ENGINE_TRANSFORMER_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "kernels/comm/communicator.h"
#include "kernels/cpu/thread_pool.h"
#include "worker/engine/model_weights.h"

namespace proctor::engine {

class KvCache {
 public:
  KvCache() = default;
  explicit KvCache(const ModelConfig& c);

  int64_t length() const { return static_cast<int64_t>(tokens_.size()); }
  const std::vector<int32_t>& tokens() const { return tokens_; }
  // Drops every position >= n (no-op when n >= length()).
  void Truncate(int64_t n);
  // Bytes currently held.
  int64_t Bytes() const;

 private:
  friend class Transformer;
  int64_t kv_dim_ = 0, dim_ = 0;
  std::vector<std::vector<float>> k_, v_;  // per layer [length, kv_dim]
  std::vector<float> hidden_;              // [length, dim], after the final norm
  std::vector<int32_t> tokens_;
};

class Transformer {
 public:
  // `w` and `pool` must outlive the transformer; `pool` may be null. For a
  // tensor-parallel shard (w->tp_size > 1) `comm` is this rank's handle of the
  // group and every rank must make the same Extend/Logits calls.
  Transformer(const ModelWeights* w, kernels::ThreadPool* pool,
              kernels::comm::Communicator* comm = nullptr)
      : w_(w), pool_(pool), comm_(w->tp_size > 1 ? comm : nullptr) {}

  const ModelConfig& config() const { return w_->config; }

  // Runs `tokens` at positions cache->length()... and appends them to the
  // cache. INVALID_ARGUMENT for an out-of-vocabulary id or when the sequence
  // would exceed the model's context length.
  absl::Status Extend(const std::vector<int32_t>& tokens, KvCache* cache) const;

  // logits[i, :] for the hidden state at cached position positions[i]
  // (the prediction of the token at positions[i] + 1). out: [n, vocab].
  void Logits(const KvCache& cache, const int64_t* positions, int64_t n, float* out) const;

 private:
  absl::Status ExtendChunk(const int32_t* tokens, int64_t n, KvCache* cache) const;

  const ModelWeights* w_;
  kernels::ThreadPool* pool_;
  kernels::comm::Communicator* comm_;
};

}  // namespace proctor::engine

#endif  // PROCTOR_WORKER_ENGINE_TRANSFORMER_H_
