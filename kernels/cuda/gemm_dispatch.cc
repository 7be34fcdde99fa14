// The GEMM entry points of gemm.cuh: argument validation, then the choice
// between the sm_80 and sm_90a kernel families (GemmImpl).
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "kernels/cuda/gemm.cuh"
#include "kernels/cuda/gemm_internal.cuh"

namespace proctor::kernels::cuda {
namespace {

// Decode-sized GEMMs (m <= this) stay on the sm80 kernel under kAuto.
constexpr int64_t kMaxDecodeM = 64;

bool Aligned16Bytes(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

// Shared checks of every entry point; `n_cols` is the number of B rows (2n
// for the SwiGLU projection).
bool ValidGemmArgs(const void* a, const void* b, const void* c, int64_t m, int64_t n_cols,
                   int64_t k) {
  return a != nullptr && b != nullptr && c != nullptr && m > 0 && n_cols > 0 && k > 0 &&
         k % 8 == 0 && Aligned16Bytes(a) && Aligned16Bytes(b) && m <= INT32_MAX &&
         n_cols <= INT32_MAX && k <= INT32_MAX;
}

// kAuto resolved; kSm90a where it is not available stays kSm90a (the
// launcher then reports cudaErrorNotSupported).
GemmImpl Resolve(GemmImpl impl, int64_t m) {
  return impl == GemmImpl::kAuto ? SelectGemmImpl(m) : impl;
}

template <typename InT, typename OutT>
cudaError_t Gemm(const InT* a, const InT* b, OutT* c, const OutT* residual, const InT* bias,
                 int64_t m, int64_t n, int64_t k, cudaStream_t stream, GemmImpl impl) {
  if (!ValidGemmArgs(a, b, c, m, n, k)) return cudaErrorInvalidValue;
  // Paired stores need an even row length and pair-aligned C and residual.
  constexpr uintptr_t kPairAlign = 2 * sizeof(OutT) - 1;
  const bool pair_stores = n % 2 == 0 && (reinterpret_cast<uintptr_t>(c) & kPairAlign) == 0 &&
                           (reinterpret_cast<uintptr_t>(residual) & kPairAlign) == 0;
  if (Resolve(impl, m) == GemmImpl::kSm90a) {
    return GemmSm90a<InT, OutT>(a, b, c, residual, bias, m, n, k, pair_stores, stream);
  }
  return GemmSm80<InT, OutT>(a, b, c, residual, bias, m, n, k, pair_stores, stream);
}

}  // namespace

int CurrentDeviceSmCount() {
  static std::atomic<int> cached[64];
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess || device < 0 || device >= 64) return 0;
  int n = cached[device].load(std::memory_order_relaxed);
  if (n == 0 && cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device) == cudaSuccess) {
    cached[device].store(n, std::memory_order_relaxed);
  }
  return n;
}

bool GemmSm90aDisabledByEnv() {
  static const bool disabled = [] {
    const char* v = std::getenv("PROCTOR_CUDA_GEMM");
    return v != nullptr && std::strcmp(v, "sm80") == 0;
  }();
  return disabled;
}

GemmImpl SelectGemmImpl(int64_t m) {
  return m > kMaxDecodeM && !GemmSm90aDisabledByEnv() && GemmSm90aAvailable() ? GemmImpl::kSm90a
                                                                              : GemmImpl::kSm80;
}

cudaError_t GemmBf16(const __nv_bfloat16* a, const __nv_bfloat16* b, float* c,
                     const float* residual, const __nv_bfloat16* bias, int64_t m, int64_t n,
                     int64_t k, cudaStream_t stream, GemmImpl impl) {
  return Gemm<__nv_bfloat16, float>(a, b, c, residual, bias, m, n, k, stream, impl);
}

cudaError_t GemmBf16(const __nv_bfloat16* a, const __nv_bfloat16* b, __nv_bfloat16* c,
                     const __nv_bfloat16* residual, const __nv_bfloat16* bias, int64_t m, int64_t n,
                     int64_t k, cudaStream_t stream, GemmImpl impl) {
  return Gemm<__nv_bfloat16, __nv_bfloat16>(a, b, c, residual, bias, m, n, k, stream, impl);
}

cudaError_t GemmF16(const __half* a, const __half* b, float* c, const float* residual,
                    const __half* bias, int64_t m, int64_t n, int64_t k, cudaStream_t stream,
                    GemmImpl impl) {
  return Gemm<__half, float>(a, b, c, residual, bias, m, n, k, stream, impl);
}

cudaError_t GemmF16(const __half* a, const __half* b, __half* c, const __half* residual,
                    const __half* bias, int64_t m, int64_t n, int64_t k, cudaStream_t stream,
                    GemmImpl impl) {
  return Gemm<__half, __half>(a, b, c, residual, bias, m, n, k, stream, impl);
}

cudaError_t GemmSwiGluBf16(const __nv_bfloat16* a, const __nv_bfloat16* b_gate_up,
                           __nv_bfloat16* out, int64_t m, int64_t n, int64_t k, cudaStream_t stream,
                           GemmImpl impl) {
  if (n <= 0 || n > INT32_MAX || !ValidGemmArgs(a, b_gate_up, out, m, 2 * n, k)) {
    return cudaErrorInvalidValue;
  }
  if (Resolve(impl, m) == GemmImpl::kSm90a) {
    return GemmSwiGluBf16Sm90a(a, b_gate_up, out, m, n, k, stream);
  }
  return GemmSwiGluBf16Sm80(a, b_gate_up, out, m, n, k, stream);
}

}  // namespace proctor::kernels::cuda
