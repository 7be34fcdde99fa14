// Launchers shared between attention.cu (entry points) and the per-head-dim
// instantiation files (flash_prefill_hdim*_bf16.cu). Arguments are already
// validated by the entry point.
#ifndef PROCTOR_KERNELS_CUDA_ATTENTION_INTERNAL_CUH_
#define PROCTOR_KERNELS_CUDA_ATTENTION_INTERNAL_CUH_

#include "kernels/cuda/attention.cuh"

namespace proctor::kernels::cuda::internal {

cudaError_t LaunchFlashPrefillHdim64(const PrefillAttentionArgs& args, cudaStream_t stream);
cudaError_t LaunchFlashPrefillHdim128(const PrefillAttentionArgs& args, cudaStream_t stream);

}  // namespace proctor::kernels::cuda::internal

#endif  // PROCTOR_KERNELS_CUDA_ATTENTION_INTERNAL_CUH_
