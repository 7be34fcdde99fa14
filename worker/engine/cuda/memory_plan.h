// Device memory planning for the CUDA backend, and the choice of the
// tensor-parallel degree. Pure arithmetic (no CUDA), so it is tested on any
// machine. See docs/design/cuda-backend.md ("Memory plan").
//
// Per GPU (rank) the plan reserves, in this order:
//   1. weights: this rank's shard (TpShardShape) in BF16, whatever the file's
//      format (GGUF quant types are decoded to BF16 on upload);
//   2. workspace: activations of one step of up to chunk_tokens rows, logits
//      of one scoring block, split-K decode-attention scratch for a decode
//      step of max_step_sequences rows, and the per-step int32 arrays
//      (step_layout.h) with a block table per sequence;
//   3. a fixed reserve for the CUDA context, cuBLAS-free kernels, NCCL
//      buffers and fragmentation;
//   4. the paged KV cache: `kv_fraction` of what is left, in pages of
//      `page_tokens` positions (K and V of every layer plus the final hidden
//      state of each position), at least one full context.
#ifndef PROCTOR_WORKER_ENGINE_CUDA_MEMORY_PLAN_H_
#define PROCTOR_WORKER_ENGINE_CUDA_MEMORY_PLAN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/engine/model_config.h"

namespace proctor::engine::cuda {

struct MemoryPlanOptions {
  int64_t chunk_tokens = 256;  // rows of one step (Transformer::max_step_rows())
  // Sequences one step may carry (forks scored together, a batch of decode
  // rows); each gets a block table in the step array. At most chunk_tokens.
  int64_t max_step_sequences = 256;
  int64_t logit_rows = 256;   // rows of one vocabulary GEMM block
  int64_t page_tokens = 16;   // positions per KV page
  double kv_fraction = 0.90;  // share of the remaining memory given to the KV cache
  int64_t reserve_bytes = int64_t{768} << 20;  // context, NCCL, fragmentation
  // Tensor-parallel degree; 0 = choose (ChooseTensorParallel).
  int tp = 0;
  // ChooseTensorParallel prefers the smallest degree whose KV cache holds at
  // least this many full contexts (one worker per TP group is faster than one
  // wide group: fewer all-reduces per token).
  int64_t min_contexts = 4;
};

struct MemoryPlan {
  int tp = 1;
  int64_t weight_bytes = 0;     // per rank (the largest rank's shard)
  int64_t workspace_bytes = 0;  // per rank
  int64_t reserve_bytes = 0;
  int64_t kv_bytes_per_token = 0;  // per rank
  int64_t page_tokens = 0;
  int64_t kv_pages = 0;    // per rank
  int64_t kv_bytes = 0;    // kv_pages * page_tokens * kv_bytes_per_token
  int64_t free_bytes = 0;  // the smallest free memory among the group's GPUs
  int64_t kv_tokens() const { return kv_pages * page_tokens; }
  // One line with every figure, in GiB/MiB, for logs and error messages.
  std::string DebugString() const;
};

// The workspace of one rank, by part (bytes).
struct WorkspacePlan {
  int64_t activations = 0;     // BF16 tensors of one step of chunk_tokens rows
  int64_t logits = 0;          // one scoring block: hidden rows, F32 logits, statistics
  int64_t decode_scratch = 0;  // split-K partials for max_step_sequences decode rows
  int64_t step_arrays = 0;     // MaxStepArrayInts(chunk_tokens, max_step_sequences, pages)
  int64_t total() const { return activations + logits + decode_scratch + step_arrays; }
};

// INVALID_ARGUMENT as ComputeShardShape.
absl::StatusOr<WorkspacePlan> PlanWorkspace(const ModelConfig& c, int tp,
                                            const MemoryPlanOptions& options);

// BF16 bytes of rank `rank`'s weights at degree `tp` (INVALID_ARGUMENT as
// ComputeShardShape).
absl::StatusOr<int64_t> ShardWeightBytes(const ModelConfig& c, int rank, int tp);

// Bytes of KV cache (+ final hidden state) one position costs one rank.
absl::StatusOr<int64_t> KvBytesPerToken(const ModelConfig& c, int tp);

// The plan at degree `tp` given the free memory of the group's GPUs (one
// entry per GPU, at least tp entries; the first tp are used).
// INVALID_ARGUMENT when tp does not fit the model's shapes or there are fewer
// GPUs than tp; RESOURCE_EXHAUSTED, with every figure, when the weights,
// workspace, reserve and one full context of KV do not fit the smallest GPU.
absl::StatusOr<MemoryPlan> PlanMemory(const ModelConfig& c, int tp,
                                      const std::vector<int64_t>& free_bytes,
                                      const MemoryPlanOptions& options);

// options.tp > 0: PlanMemory at that degree. Otherwise the smallest degree
// (1, 2, 3, ... up to the GPU count) that the shapes allow and whose plan
// holds options.min_contexts full contexts; failing that, the degree with the
// largest KV cache that holds at least one. FAILED_PRECONDITION without GPUs;
// RESOURCE_EXHAUSTED listing every degree tried and why it failed.
absl::StatusOr<MemoryPlan> ChooseTensorParallel(const ModelConfig& c,
                                                const std::vector<int64_t>& free_bytes,
                                                const MemoryPlanOptions& options);

}  // namespace proctor::engine::cuda

#endif  // PROCTOR_WORKER_ENGINE_CUDA_MEMORY_PLAN_H_
