// Megatron-style tensor-parallel sharding of ModelWeights (ARCHITECTURE.md
// §4): Q/K/V and gate/up are split by output rows (heads, FFN columns), O and
// down by input columns, the embedding and output projection by vocabulary
// rows. A shard is a set of views into the same memory map (no copy); the
// Transformer given a Communicator all-reduces after O and down, all-reduces
// the embedding and all-gathers the logits.
#ifndef PROCTOR_WORKER_ENGINE_TENSOR_PARALLEL_H_
#define PROCTOR_WORKER_ENGINE_TENSOR_PARALLEL_H_

#include "absl/status/statusor.h"
#include "worker/engine/model_weights.h"

namespace proctor::engine {

// The shard of `full` for `rank` of `size`. INVALID_ARGUMENT unless size
// divides n_kv_heads (replicating KV heads for size > n_kv_heads is not
// implemented), hidden_dim and vocab_size, and every column split falls on a
// quantisation block boundary.
absl::StatusOr<ModelWeights> ShardWeights(const ModelWeights& full, int rank, int size);

}  // namespace proctor::engine

#endif  // PROCTOR_WORKER_ENGINE_TENSOR_PARALLEL_H_
