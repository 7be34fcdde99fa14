// The "cuda" Engine: loads a model onto the GPUs of this process and runs
// jobs with the same JobRunner and Transformer as the "cpu" engine, over one
// CUDA backend per tensor-parallel rank (backend_cuda.h), one thread per GPU,
// NCCL between them (kernels/comm/nccl_communicator.h).
//
// Load: resolve and confine the path (as the CPU engine) -> Model::Load (the
// file stays memory-mapped) -> free memory of every GPU -> MemoryPlan with the
// tensor-parallel degree (memory_plan.h) -> ncclCommInitAll over the first tp
// GPUs -> per rank, in parallel: ShardWeights + upload.
#ifndef PROCTOR_WORKER_ENGINE_CUDA_CUDA_ENGINE_H_
#define PROCTOR_WORKER_ENGINE_CUDA_CUDA_ENGINE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/comm/nccl_communicator.h"
#include "worker/engine/backend.h"
#include "worker/engine/cuda/memory_plan.h"
#include "worker/engine/engine.h"
#include "worker/engine/model_weights.h"

namespace proctor::engine::cuda {

struct CudaEngineOptions {
  // As CpuEngineOptions::allowed_model_roots.
  std::vector<std::string> allowed_model_roots;
  // Tensor parallelism, page size, KV share, reserve (plan.tp = 0: choose).
  MemoryPlanOptions plan;
  // Reuse the KV cache across requests sharing a token prefix.
  bool prefix_sharing = true;
  // Generate requests decoded together per job (JobRunnerOptions::max_batch;
  // CudaBackendOptions::max_graph_batch bounds the graph-captured sizes).
  int max_batch = 64;
  // Capture decode steps (one row per sequence, per batch size) into CUDA graphs.
  bool cuda_graphs = true;
  // Route the collectives through NCCL even at tp 1 (a one-rank group): the
  // check that the NCCL path works on a single-GPU machine.
  bool nccl_at_tp1 = false;
};

// A model's weights on the GPUs: the plan, the NCCL group (empty at tp 1
// unless nccl_at_tp1) and one backend per rank. Destroy before the weights'
// file mapping only if nothing uses the backends (they keep no host views).
struct CudaRanks {
  MemoryPlan plan;
  kernels::comm::NcclGroup nccl;
  std::vector<std::unique_ptr<Backend>> backends;  // rank order
  std::vector<Backend*> ranks() const;
};

// Plans memory over every visible GPU (ChooseTensorParallel), creates the
// NCCL group and uploads rank r's ShardWeights to GPU r, all ranks in
// parallel. Errors as Load() below, prefixed with the GPU and rank.
absl::StatusOr<std::unique_ptr<CudaRanks>> UploadToGpus(const ModelWeights& weights,
                                                        const CudaEngineOptions& options);

// FAILED_PRECONDITION "no CUDA device" when this process sees no GPU (no
// driver, no device, or CUDA_VISIBLE_DEVICES empty). Load() errors:
// PERMISSION_DENIED (path outside the roots), FAILED_PRECONDITION (missing or
// malformed model, no tokenizer), INVALID_ARGUMENT (a forced tp the shapes do
// not allow), RESOURCE_EXHAUSTED (does not fit, with the numbers), INTERNAL
// (CUDA or NCCL failure, with its message).
absl::StatusOr<std::unique_ptr<Engine>> CreateCudaEngine(const CudaEngineOptions& options);

}  // namespace proctor::engine::cuda

#endif  // PROCTOR_WORKER_ENGINE_CUDA_CUDA_ENGINE_H_
