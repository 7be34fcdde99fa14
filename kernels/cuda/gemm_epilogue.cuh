// The GEMM epilogue shared by the sm_80 and sm_90a kernels: both produce F32
// accumulator pairs for two adjacent columns (col even) of one row, so one
// function applies bias, residual add or the fused SwiGLU and stores.
#ifndef PROCTOR_KERNELS_CUDA_GEMM_EPILOGUE_CUH_
#define PROCTOR_KERNELS_CUDA_GEMM_EPILOGUE_CUH_

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

namespace proctor::kernels::cuda {

// Element types: float, __nv_bfloat16 or __half.
template <typename T>
__device__ __forceinline__ float GemmLoadOut(const T* p) {
  if constexpr (std::is_same_v<T, float>) {
    return *p;
  } else if constexpr (std::is_same_v<T, __half>) {
    return __half2float(*p);
  } else {
    return __bfloat162float(*p);
  }
}

// Stores x (and y at p + 1 when `both`, as one paired store).
template <typename OutT>
__device__ __forceinline__ void GemmStorePair(OutT* p, float x, float y, bool both) {
  if constexpr (std::is_same_v<OutT, float>) {
    if (both) {
      *reinterpret_cast<float2*>(p) = make_float2(x, y);
    } else {
      p[0] = x;
    }
  } else if constexpr (std::is_same_v<OutT, __half>) {
    if (both) {
      *reinterpret_cast<__half2*>(p) = __floats2half2_rn(x, y);
    } else {
      p[0] = __float2half_rn(x);
    }
  } else {
    if (both) {
      *reinterpret_cast<__nv_bfloat162*>(p) = __floats2bfloat162_rn(x, y);
    } else {
      p[0] = __float2bfloat16_rn(x);
    }
  }
}

// Finishes accumulators x = acc[row][col], y = acc[row][col + 1] (col even)
// of C[M, N]; rows >= M and columns >= N are dropped. BiasT is the input
// element type (BF16 or FP16).
//   kSwiGlu: columns (col, col + 1) are one interleaved (gate, up) pair;
//            writes silu(x) * y to C[row, col / 2] (C is [M, N / 2]); bias
//            and residual must be null.
//   else:    C[row, col..] = acc + bias[col..] + residual[row, col..] (bias,
//            residual optional; residual may equal C: each element is read
//            before the same thread writes it). pair_stores: C and residual
//            are pair-aligned and N is even.
template <typename OutT, bool kSwiGlu, typename BiasT>
__device__ __forceinline__ void GemmEpiloguePair(OutT* C, const OutT* residual, const BiasT* bias,
                                                 int64_t M, int64_t N, int64_t row, int64_t col,
                                                 float x, float y, bool pair_stores) {
  if (row >= M || col >= N) return;
  if constexpr (kSwiGlu) {
    const float out = x / (1.0f + __expf(-x)) * y;
    GemmStorePair(C + row * (N / 2) + col / 2, out, 0.0f, false);
  } else {
    const bool has2 = col + 1 < N;
    if (bias != nullptr) {
      x += GemmLoadOut(bias + col);
      if (has2) y += GemmLoadOut(bias + col + 1);
    }
    if (residual != nullptr) {
      x += GemmLoadOut(residual + row * N + col);
      if (has2) y += GemmLoadOut(residual + row * N + col + 1);
    }
    GemmStorePair(C + row * N + col, x, y, has2 && pair_stores);
    if (has2 && !pair_stores) GemmStorePair(C + row * N + col + 1, y, 0.0f, false);
  }
}

}  // namespace proctor::kernels::cuda

#endif  // PROCTOR_KERNELS_CUDA_GEMM_EPILOGUE_CUH_
