// Per-architecture GEMM launchers behind the entry points of gemm.cuh
// (gemm_dispatch.cc validates the arguments and picks one). Every function
// here assumes arguments that passed that validation: m, n, k in (0, 2^31),
// k % 8 == 0, a and b 16-byte aligned, c non-null. Asynchronous on `stream`.
#ifndef PROCTOR_KERNELS_CUDA_GEMM_INTERNAL_CUH_
#define PROCTOR_KERNELS_CUDA_GEMM_INTERNAL_CUH_

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

namespace proctor::kernels::cuda {

// Streaming multiprocessors of the current device (cached per device id); 0
// when the device cannot be queried.
int CurrentDeviceSmCount();

// mma.sync + cp.async kernels (gemm_sm80.cu), sm_80 and later.
// InT: __nv_bfloat16 or __half; OutT: float or InT (the instantiations).
// pair_stores: n is even and c / residual are aligned to two elements.
template <typename InT, typename OutT>
cudaError_t GemmSm80(const InT* a, const InT* b, OutT* c, const OutT* residual, const InT* bias,
                     int64_t m, int64_t n, int64_t k, bool pair_stores, cudaStream_t stream);
// b_gate_up is [2n, k] with gate/up rows interleaved; out is [m, n].
cudaError_t GemmSwiGluBf16Sm80(const __nv_bfloat16* a, const __nv_bfloat16* b_gate_up,
                               __nv_bfloat16* out, int64_t m, int64_t n, int64_t k,
                               cudaStream_t stream);

// wgmma + TMA kernels (gemm_sm90a.cu). Only valid where
// GemmSm90aAvailable() (gemm.cuh) is true; otherwise they return
// cudaErrorNotSupported without launching.
template <typename InT, typename OutT>
cudaError_t GemmSm90a(const InT* a, const InT* b, OutT* c, const OutT* residual, const InT* bias,
                      int64_t m, int64_t n, int64_t k, bool pair_stores, cudaStream_t stream);
cudaError_t GemmSwiGluBf16Sm90a(const __nv_bfloat16* a, const __nv_bfloat16* b_gate_up,
                                __nv_bfloat16* out, int64_t m, int64_t n, int64_t k,
                                cudaStream_t stream);

}  // namespace proctor::kernels::cuda

#endif  // PROCTOR_KERNELS_CUDA_GEMM_INTERNAL_CUH_
