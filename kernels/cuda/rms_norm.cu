#include "kernels/cuda/common.cuh"
#include "kernels/cuda/rms_norm.cuh"

namespace proctor::kernels::cuda {
namespace {

constexpr int kThreads = 256;

// One block per row. Pass 1 adds the residual (rounding to BF16), stores it and
// accumulates sum(y^2); pass 2 re-reads the values this same thread wrote (so
// no barrier is needed beyond the reduction) and scales them. kVec: 8 BF16
// (16 bytes) per access, requires dim % 8 == 0 and 16-byte aligned pointers.
template <bool kVec>
__global__ void __launch_bounds__(kThreads)
    AddRmsNormKernel(__nv_bfloat16* __restrict__ residual, const __nv_bfloat16* x,
                     const __nv_bfloat16* __restrict__ weight, __nv_bfloat16* out, int dim,
                     float eps) {
  __shared__ float scratch[32];
  const int64_t row_off = static_cast<int64_t>(blockIdx.x) * dim;
  const __nv_bfloat16* xr = x + row_off;
  __nv_bfloat16* rr = residual ? residual + row_off : nullptr;
  __nv_bfloat16* orow = out + row_off;
  // The source for pass 2: the updated residual, or x itself.
  const __nv_bfloat16* yr = rr ? rr : xr;
  float sumsq = 0.0f;
  if constexpr (kVec) {
    for (int i = threadIdx.x * 8; i < dim; i += kThreads * 8) {
      uint4 xv = *reinterpret_cast<const uint4*>(xr + i);
      __nv_bfloat162* xp = reinterpret_cast<__nv_bfloat162*>(&xv);
      if (rr) {
        uint4 rv = *reinterpret_cast<const uint4*>(rr + i);
        __nv_bfloat162* rp = reinterpret_cast<__nv_bfloat162*>(&rv);
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          float2 a = __bfloat1622float2(rp[j]), b = __bfloat1622float2(xp[j]);
          xp[j] = __floats2bfloat162_rn(a.x + b.x, a.y + b.y);
        }
        *reinterpret_cast<uint4*>(rr + i) = xv;
      }
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        float2 f = __bfloat1622float2(xp[j]);
        sumsq += f.x * f.x + f.y * f.y;
      }
    }
  } else {
    for (int i = threadIdx.x; i < dim; i += kThreads) {
      float v = __bfloat162float(xr[i]);
      if (rr) {
        __nv_bfloat16 s = __float2bfloat16_rn(__bfloat162float(rr[i]) + v);
        rr[i] = s;
        v = __bfloat162float(s);
      }
      sumsq += v * v;
    }
  }
  const float total = BlockReduceSum(sumsq, scratch);
  const float inv = rsqrtf(total / static_cast<float>(dim) + eps);
  if constexpr (kVec) {
    for (int i = threadIdx.x * 8; i < dim; i += kThreads * 8) {
      uint4 yv = *reinterpret_cast<const uint4*>(yr + i);
      uint4 wv = *reinterpret_cast<const uint4*>(weight + i);
      __nv_bfloat162* yp = reinterpret_cast<__nv_bfloat162*>(&yv);
      const __nv_bfloat162* wp = reinterpret_cast<const __nv_bfloat162*>(&wv);
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        float2 y = __bfloat1622float2(yp[j]), w = __bfloat1622float2(wp[j]);
        yp[j] = __floats2bfloat162_rn(y.x * inv * w.x, y.y * inv * w.y);
      }
      *reinterpret_cast<uint4*>(orow + i) = yv;
    }
  } else {
    for (int i = threadIdx.x; i < dim; i += kThreads) {
      orow[i] = __float2bfloat16_rn(__bfloat162float(yr[i]) * inv * __bfloat162float(weight[i]));
    }
  }
}

}  // namespace

cudaError_t AddRmsNormBf16(__nv_bfloat16* residual_inout, const __nv_bfloat16* x,
                           const __nv_bfloat16* weight, __nv_bfloat16* out, int64_t rows,
                           int64_t dim, float eps, cudaStream_t stream) {
  if (rows < 0 || dim <= 0 || dim > INT32_MAX || rows > INT32_MAX || !(eps >= 0.0f) ||
      x == nullptr || weight == nullptr || out == nullptr || out == residual_inout) {
    return cudaErrorInvalidValue;
  }
  if (rows == 0) return cudaSuccess;
  const bool vec = dim % 8 == 0 && Aligned16(x) && Aligned16(weight) && Aligned16(out) &&
                   (residual_inout == nullptr || Aligned16(residual_inout));
  const dim3 grid(static_cast<unsigned>(rows));
  if (vec) {
    AddRmsNormKernel<true>
        <<<grid, kThreads, 0, stream>>>(residual_inout, x, weight, out, static_cast<int>(dim), eps);
  } else {
    AddRmsNormKernel<false>
        <<<grid, kThreads, 0, stream>>>(residual_inout, x, weight, out, static_cast<int>(dim), eps);
  }
  return cudaGetLastError();
}

}  // namespace proctor::kernels::cuda
