// Fused log-softmax + gather over the vocabulary, and argmax (greedy decoding).
#ifndef PROCTOR_KERNELS_CUDA_LOG_SOFTMAX_GATHER_CUH_
#define PROCTOR_KERNELS_CUDA_LOG_SOFTMAX_GATHER_CUH_

#include <cuda_runtime_api.h>

#include <cstdint>

namespace proctor::kernels::cuda {

// For each row r < rows of logits[rows, vocab] (F32, row-major, device):
//   logprob_out[r] = logits[r, targets[r]] - logsumexp(logits[r, :])
//   argmax_out[r]  = index of the largest logit (lowest index on ties)
// The softmax is never materialised: one block per row keeps an online
// (max, sum of exp) per thread and merges them, reading the row once.
// Either output may be null (then it is not computed); targets may be null
// when logprob_out is. A target outside [0, vocab) yields NaN for that row.
// Returns cudaErrorInvalidValue when rows < 0, vocab <= 0, logits is null,
// both outputs are null, or logprob_out is set without targets.
cudaError_t LogSoftmaxGatherF32(const float* logits, const int32_t* targets, float* logprob_out,
                                int32_t* argmax_out, int64_t rows, int64_t vocab,
                                cudaStream_t stream);

}  // namespace proctor::kernels::cuda

#endif  // PROCTOR_KERNELS_CUDA_LOG_SOFTMAX_GATHER_CUH_
