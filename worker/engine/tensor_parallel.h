// Megatron-style tensor-parallel sharding (ARCHITECTURE.md §4): Q/K/V and
// gate/up are split by output rows (heads, FFN columns), O and down by input
// columns, the embedding and output projection by vocabulary rows. KV heads
// are split across ranks when the group size divides n_kv_heads and
// replicated when n_kv_heads divides the group size (each rank then holds the
// one KV head its query heads read). The backend all-reduces after O and down
// and after the embedding; logits stay vocabulary-parallel.
//
// One piece of code serves every backend: TpShardShape is the arithmetic,
// ShardWeights applies it to host views (the CPU backend computes on them;
// the CUDA backend uploads them, decoding to BF16 on the way).
#ifndef PROCTOR_WORKER_ENGINE_TENSOR_PARALLEL_H_
#define PROCTOR_WORKER_ENGINE_TENSOR_PARALLEL_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "worker/engine/model_config.h"
#include "worker/engine/model_weights.h"

namespace proctor::engine {

// What rank `rank` of `size` holds. Heads and FFN columns are counts (not
// elements); multiply by head_dim for rows.
struct TpShardShape {
  int64_t q_head_begin = 0, q_heads = 0;
  int64_t kv_head_begin = 0, kv_heads = 0;
  bool kv_replicated = false;  // size > n_kv_heads: KV heads are copied, not split
  int64_t ff_begin = 0, ff_cols = 0;
  int64_t vocab_begin = 0, vocab_rows = 0;
};

// INVALID_ARGUMENT (naming the dimension) unless size >= 1, 0 <= rank < size,
// size divides n_heads, hidden_dim and vocab_size, and size divides
// n_kv_heads or n_kv_heads divides size.
absl::StatusOr<TpShardShape> ComputeShardShape(const ModelConfig& c, int rank, int size);

// The shard of `full` for `rank` of `size`: views into the same memory (no
// copy), with `config` holding the local n_heads, n_kv_heads and hidden_dim.
// INVALID_ARGUMENT as ComputeShardShape, or when a column split does not fall
// on a quantisation block boundary (naming the tensor).
absl::StatusOr<ModelWeights> ShardWeights(const ModelWeights& full, int rank, int size);

}  // namespace proctor::engine

#endif  // PROCTOR_WORKER_ENGINE_TENSOR_PARALLEL_H_
