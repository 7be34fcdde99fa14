// The "cuda" Backend: one tensor-parallel rank on one GPU, running the
// transformer (transformer.h) on Proctor's CUDA kernels (kernels/cuda) with
// BF16 activations and weights, F32 accumulation and F32 logits.
//
// Creation uploads the rank's shard (ShardWeights views, any WeightFormat:
// BF16 rows are copied as they are, GGML block formats are copied quantised
// and decoded on the device, F32/F16 are rounded to BF16 on the host — all
// through a 32 MiB pinned staging buffer, never a full host copy), then
// allocates the paged KV cache, the
// activation workspace and the logits buffers of the MemoryPlan.
//
// KV cache: per layer a K and a V page pool [pages, page_tokens, n_kv_local,
// head_dim] plus a pool of final hidden states [pages, page_tokens, dim];
// every KvStore holds a block table over one shared PagePool (page_table.h),
// with a reference count per page: ForkKvStore shares the parent's pages
// (no copy), and a page shared by several stores is copied (copy-on-write,
// one kernel over every pool) before a store appends into it — so a fork of
// a partly filled page copies that page on its first step, never a whole
// prefix. Truncate and destruction release pages; a page returns to the free
// list when its last holder lets go.
//
// Steps: one step carries any mix of sequences (prefill chunks, continuations
// of forks, decode rows), at most chunk_tokens rows and max_step_sequences
// sequences; its per-step values (token ids, positions, KV slots, cu_seqlens,
// key counts, a block table per sequence: step_layout.h) are one host-to-
// device copy. Attention is the paged decode kernel when every sequence has
// one row, else the paged prefill kernel over all sequences.
//
// CUDA graphs: a decode step (every sequence one row) reads every per-step
// value from fixed device buffers, and its layout depends on the batch size
// B only, so per B <= max_graph_batch the second decode step of that size is
// captured into a graph and later ones replay it after that one copy.
//
// Thread-safety: one thread at a time (the Transformer's rank thread); every
// entry point makes `device` current first.
#ifndef PROCTOR_WORKER_ENGINE_CUDA_BACKEND_CUDA_H_
#define PROCTOR_WORKER_ENGINE_CUDA_BACKEND_CUDA_H_

#include <memory>

#include "absl/status/statusor.h"
#include "kernels/comm/nccl_communicator.h"
#include "worker/engine/backend.h"
#include "worker/engine/cuda/memory_plan.h"
#include "worker/engine/model_weights.h"

namespace proctor::engine::cuda {

struct CudaBackendOptions {
  int device = 0;
  MemoryPlan plan;                   // sizes of the KV cache (pages) and the workspace
  int64_t chunk_tokens = 256;        // rows of the largest step (Transformer::max_step_rows())
  int64_t max_step_sequences = 256;  // sequences one step may carry (<= chunk_tokens)
  int64_t logit_rows = 256;          // rows per vocabulary GEMM block
  bool cuda_graphs = true;
  int64_t max_graph_batch = 64;  // decode batch sizes 1..this are captured (one graph each)
  // Decode GGML block formats (Q8_0, Q4_0, Q4_1, Q4_K, Q6_K) on the device
  // (kernels/cuda Dequantize*ToBf16, bit-exact with the CPU decoders); false
  // decodes every format on the host.
  bool device_dequant = true;
};

// Uploads `shard` (ShardWeights(full, rank, tp), or the full model at tp 1)
// to options.device. `comm` is this rank's NCCL handle (not owned; must
// outlive the backend; may be null when shard.tp_size == 1). The host views
// of `shard` are only read during this call.
// RESOURCE_EXHAUSTED when a device allocation fails (with the sizes);
// INVALID_ARGUMENT for shapes the kernels cannot take (head_dim > 256);
// INTERNAL for other CUDA errors.
absl::StatusOr<std::unique_ptr<Backend>> CreateCudaBackend(const ModelWeights& shard,
                                                           kernels::comm::NcclCommunicator* comm,
                                                           const CudaBackendOptions& options);

}  // namespace proctor::engine::cuda

#endif  // PROCTOR_WORKER_ENGINE_CUDA_BACKEND_CUDA_H_
