// GEMM on tensor cores, BF16 or FP16 inputs, F32 accumulation: the linear
// layers. Every function here may be called from any thread (the per-device
// facts they cache are atomics or function-local statics).
#ifndef PROCTOR_KERNELS_CUDA_GEMM_CUH_
#define PROCTOR_KERNELS_CUDA_GEMM_CUH_

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

namespace proctor::kernels::cuda {

// Which kernel family runs a GEMM.
//   kAuto:  kSm90a when it is available and m > 64, else kSm80 (decode-sized
//           m keeps the mma.sync kernel: a 128-row wgmma tile would be mostly
//           padding; the rule is revisited once scripts/gpu-check has run).
//   kSm80:  mma.sync m16n8k16 + ldmatrix + 4-stage cp.async
//           (gemm_sm80.cu); runs on sm_80 and later.
//   kSm90a: wgmma m64n256k16 on TMA-loaded, 128B-swizzled shared memory,
//           warp-specialised persistent kernel (gemm_sm90a.cu); only on
//           compute capability 9.0 with the binary built for `90a`, else the
//           call returns cudaErrorNotSupported without launching.
enum class GemmImpl { kAuto, kSm80, kSm90a };

// The implementation kAuto picks for `m` on the current device. Setting the
// environment variable PROCTOR_CUDA_GEMM=sm80 (read once per process) makes
// kAuto always pick kSm80: the operator's fallback should the Hopper path
// misbehave on some driver or device.
GemmImpl SelectGemmImpl(int64_t m);

// True when PROCTOR_CUDA_GEMM=sm80 is set (see SelectGemmImpl).
bool GemmSm90aDisabledByEnv();

// True when the current device has compute capability 9.0 and this binary
// carries the sm_90a kernels (built with CUDA architecture `90a`). Cached per
// device; false when no device can be queried.
bool GemmSm90aAvailable();

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
// Implementation: see GemmImpl; both families share these requirements and
// the epilogue. Asynchronous on `stream`; needs no workspace. `impl` other
// than kAuto is for tests and benchmarks (arguments are validated first, so
// a bad call returns cudaErrorInvalidValue whatever `impl` says).
cudaError_t GemmBf16(const __nv_bfloat16* a, const __nv_bfloat16* b, float* c,
                     const float* residual, const __nv_bfloat16* bias, int64_t m, int64_t n,
                     int64_t k, cudaStream_t stream, GemmImpl impl = GemmImpl::kAuto);
cudaError_t GemmBf16(const __nv_bfloat16* a, const __nv_bfloat16* b, __nv_bfloat16* c,
                     const __nv_bfloat16* residual, const __nv_bfloat16* bias, int64_t m, int64_t n,
                     int64_t k, cudaStream_t stream, GemmImpl impl = GemmImpl::kAuto);

// The same with FP16 inputs and bias (IEEE half; C and residual F32 or FP16),
// same requirements, same kernels instantiated for FP16 (mma.sync / wgmma
// .f16 with F32 accumulation). Outputs beyond the FP16 range become inf.
cudaError_t GemmF16(const __half* a, const __half* b, float* c, const float* residual,
                    const __half* bias, int64_t m, int64_t n, int64_t k, cudaStream_t stream,
                    GemmImpl impl = GemmImpl::kAuto);
cudaError_t GemmF16(const __half* a, const __half* b, __half* c, const __half* residual,
                    const __half* bias, int64_t m, int64_t n, int64_t k, cudaStream_t stream,
                    GemmImpl impl = GemmImpl::kAuto);

// Gate/up projection with the SwiGLU activation fused into the epilogue:
//   out[m, j] = bf16(silu(A[m] . G[j]) * (A[m] . U[j])),  j < n,
// where the gate and up weight matrices are stored interleaved row by row in
// b_gate_up [2n, k]: row 2j is gate row j, row 2j+1 is up row j (the engine
// interleaves them once at load time). Saves writing and re-reading the
// [m, 2n] intermediate. Same requirements as GemmBf16 (k % 8 == 0, a and
// b_gate_up 16-byte aligned); out is [m, n] BF16. `impl` as for GemmBf16.
cudaError_t GemmSwiGluBf16(const __nv_bfloat16* a, const __nv_bfloat16* b_gate_up,
                           __nv_bfloat16* out, int64_t m, int64_t n, int64_t k, cudaStream_t stream,
                           GemmImpl impl = GemmImpl::kAuto);

}  // namespace proctor::kernels::cuda

#endif  // PROCTOR_KERNELS_CUDA_GEMM_CUH_
