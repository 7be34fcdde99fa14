// The only head_dim=64 instantiation of the flash prefill kernel.
#include "kernels/cuda/flash_prefill_impl.cuh"

namespace proctor::kernels::cuda::internal {

cudaError_t LaunchFlashPrefillHdim64(const PrefillAttentionArgs& args, cudaStream_t stream) {
  return LaunchFlashPrefill<64>(args, stream);
}

}  // namespace proctor::kernels::cuda::internal
