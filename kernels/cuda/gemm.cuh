// BF16 GEMM on tensor cores with F32 accumulation: the linear layers.
#ifndef PROCTOR_KERNELS_CUDA_GEMM_CUH_
#define PROCTOR_KERNELS_CUDA_GEMM_CUH_

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

namespace proctor::kernels::cuda {

// C[m, n] = sum_k A[m, k] * B[n, k]  (+ bias[n])  (+ residual[m, n])
//
// A [m, k] activations and B [n, k] weights (the GGUF/PyTorch [out, in]
// layout) are row-major BF16; accumulation is F32; the epilogue adds the
// optional BF16 bias and the optional residual (same type as C) in F32 and
// rounds once. `residual` may equal `c` (in-place residual add); otherwise no
// aliasing.
//
// Requirements (else cudaErrorInvalidValue, device untouched): m, n, k > 0,
// k % 8 == 0 (rows of A and B are read in 16-byte chunks), a and b 16-byte
// aligned, c non-null, all dims < 2^31. Any m (1 .. 8192 and beyond) and any
// n, k that are not tile multiples are handled by predicated, zero-filled
// loads and guarded stores.
//
// Implementation (gemm_bf16_sm80.cu): mma.sync m16n8k16 + ldmatrix + a
// 4-stage cp.async pipeline; runs on sm_80 and later (also sm_90, where it is
// not the fastest possible path: there is no wgmma/TMA variant yet).
// Asynchronous on `stream`; needs no workspace.
cudaError_t GemmBf16(const __nv_bfloat16* a, const __nv_bfloat16* b, float* c,
                     const float* residual, const __nv_bfloat16* bias, int64_t m, int64_t n,
                     int64_t k, cudaStream_t stream);
cudaError_t GemmBf16(const __nv_bfloat16* a, const __nv_bfloat16* b, __nv_bfloat16* c,
                     const __nv_bfloat16* residual, const __nv_bfloat16* bias, int64_t m, int64_t n,
                     int64_t k, cudaStream_t stream);

// Gate/up projection with the SwiGLU activation fused into the epilogue:
//   out[m, j] = bf16(silu(A[m] . G[j]) * (A[m] . U[j])),  j < n,
// where the gate and up weight matrices are stored interleaved row by row in
// b_gate_up [2n, k]: row 2j is gate row j, row 2j+1 is up row j (the engine
// interleaves them once at load time). Saves writing and re-reading the
// [m, 2n] intermediate. Same requirements as GemmBf16 (k % 8 == 0, a and
// b_gate_up 16-byte aligned); out is [m, n] BF16.
cudaError_t GemmSwiGluBf16(const __nv_bfloat16* a, const __nv_bfloat16* b_gate_up,
                           __nv_bfloat16* out, int64_t m, int64_t n, int64_t k,
                           cudaStream_t stream);

}  // namespace proctor::kernels::cuda

#endif  // PROCTOR_KERNELS_CUDA_GEMM_CUH_
