// The "cpu" Backend: F32 activations in host memory over a ModelWeights
// shard whose matrices are views into the memory-mapped file (any
// WeightFormat; rows are decoded on the fly by kernels/cpu). The reference
// backend: the CUDA backend is tested against it.
#ifndef PROCTOR_WORKER_ENGINE_BACKEND_CPU_H_
#define PROCTOR_WORKER_ENGINE_BACKEND_CPU_H_

#include <memory>

#include "kernels/comm/communicator.h"
#include "kernels/cpu/thread_pool.h"
#include "worker/engine/backend.h"
#include "worker/engine/model_weights.h"

namespace proctor::engine {

// `w` (a full model or a ShardWeights shard) and `pool` (may be null) must
// outlive the backend. For a shard (w->tp_size > 1), `comm` is this rank's
// handle of the group (must not be null then); it is ignored otherwise.
std::unique_ptr<Backend> CreateCpuBackend(const ModelWeights* w, kernels::ThreadPool* pool,
                                          kernels::comm::Communicator* comm);

}  // namespace proctor::engine

#endif  // PROCTOR_WORKER_ENGINE_BACKEND_CPU_H_
