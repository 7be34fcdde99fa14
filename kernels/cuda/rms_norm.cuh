// RMSNorm fused with the residual add of a pre-norm transformer block.
#ifndef PROCTOR_KERNELS_CUDA_RMS_NORM_CUH_
#define PROCTOR_KERNELS_CUDA_RMS_NORM_CUH_

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

namespace proctor::kernels::cuda {

// For each row r < rows (all tensors row-major [rows, dim], BF16):
//   if residual_inout != nullptr: residual[r] = bf16(residual[r] + x[r]); y = residual[r]
//   else:                         y = x[r]
//   out[r] = bf16(y / sqrt(mean(y^2) + eps) * weight)
// The norm is computed in F32 from the BF16-rounded residual (what a BF16 model
// stores). `out` must not alias `residual_inout`; it may alias `x`.
// Returns cudaErrorInvalidValue (device untouched) when rows < 0, dim <= 0,
// eps < 0 or a required pointer is null; otherwise the launch error.
// Asynchronous on `stream`.
cudaError_t AddRmsNormBf16(__nv_bfloat16* residual_inout, const __nv_bfloat16* x,
                           const __nv_bfloat16* weight, __nv_bfloat16* out, int64_t rows,
                           int64_t dim, float eps, cudaStream_t stream);

}  // namespace proctor::kernels::cuda

#endif  // PROCTOR_KERNELS_CUDA_RMS_NORM_CUH_
