// GGML k-quant (256-value super-block) dequantisation to BF16: Q4_K and Q6_K.
// Declared in elementwise.cuh next to the 32-value formats; layouts and the
// exact arithmetic mirror ref::DequantizeRow_Q4_K / _Q6_K (kernels/cpu).
//
// One thread decodes one 32-value group of a super-block (8 threads per
// super-block) and writes 64 bytes of BF16. Every product below is exact in
// F32 except Q6_K's (d * scale) * q, which is evaluated in the reference's
// order with explicit round-to-nearest multiplies, so the results round to
// BF16 exactly as the reference's F32 values do.
#include <cuda_fp16.h>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/elementwise.cuh"

namespace proctor::kernels::cuda {
namespace {

constexpr int kBlockBytesQ4K = 144;  // f16 d, dmin; u8 scales[12]; u8 qs[128]
constexpr int kBlockBytesQ6K = 210;  // u8 ql[128], qh[64]; i8 scales[16]; f16 d
constexpr int kGroupsPerBlock = 8;   // 32-value groups per 256-value super-block

enum class KQuant { kQ4_K, kQ6_K };

__device__ __forceinline__ float LoadHalf(const uint8_t* p) {
  return __half2float(__ushort_as_half(static_cast<unsigned short>(p[0] | (p[1] << 8))));
}

template <KQuant kFormat>
__global__ void DequantKQuantKernel(const uint8_t* __restrict__ src, int64_t total_groups,
                                    __nv_bfloat16* __restrict__ dst) {
  const int64_t gid = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (gid >= total_groups) return;
  const int64_t block = gid / kGroupsPerBlock;
  const int s = static_cast<int>(gid % kGroupsPerBlock);  // 32-value group in the super-block
  float v[32];
  if constexpr (kFormat == KQuant::kQ4_K) {
    const uint8_t* p = src + block * kBlockBytesQ4K;
    const float d = LoadHalf(p), dmin = LoadHalf(p + 2);
    const uint8_t* scales = p + 4;
    // 6-bit scale and min of group s (the packing of ref's ScaleMinK4).
    int sc, mn;
    if (s < 4) {
      sc = scales[s] & 63;
      mn = scales[s + 4] & 63;
    } else {
      sc = (scales[s + 4] & 0x0f) | ((scales[s - 4] >> 6) << 4);
      mn = (scales[s + 4] >> 4) | ((scales[s] >> 6) << 4);
    }
    const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(mn);
    // Groups 2c and 2c + 1 share the 32 bytes qs[32c..]: low, then high nibbles.
    const uint8_t* q = p + 16 + 32 * (s / 2);
    const int shift = 4 * (s % 2);
#pragma unroll
    for (int l = 0; l < 32; ++l) {
      v[l] = __fsub_rn(__fmul_rn(d1, static_cast<float>((q[l] >> shift) & 0x0f)), m1);
    }
  } else {
    const uint8_t* p = src + block * kBlockBytesQ6K;
    const int half = s / 4, r = s % 4;  // output values [128 half + 32 r, +32)
    const uint8_t* ql = p + 64 * half + 32 * (r % 2);
    const uint8_t* qh = p + 128 + 32 * half;
    const int8_t* sc = reinterpret_cast<const int8_t*>(p + 192 + 8 * half);
    const float d = LoadHalf(p + 208);
#pragma unroll
    for (int l = 0; l < 32; ++l) {
      const int low = r < 2 ? (ql[l] & 0x0f) : (ql[l] >> 4);
      const int q = (low | (((qh[l] >> (2 * r)) & 3) << 4)) - 32;
      const float scale = __fmul_rn(d, static_cast<float>(sc[l / 16 + 2 * r]));
      v[l] = __fmul_rn(scale, static_cast<float>(q));
    }
  }
  __nv_bfloat162* out = reinterpret_cast<__nv_bfloat162*>(dst + gid * 32);
#pragma unroll
  for (int j = 0; j < 16; ++j) out[j] = __floats2bfloat162_rn(v[2 * j], v[2 * j + 1]);
}

template <KQuant kFormat>
cudaError_t DequantizeKQuant(const void* src, int64_t rows, int64_t n, __nv_bfloat16* dst,
                             cudaStream_t stream) {
  if (src == nullptr || dst == nullptr || rows < 0 || n <= 0 || n % 256 != 0 ||
      (reinterpret_cast<uintptr_t>(dst) & 3u) != 0 || n > (int64_t{1} << 40)) {
    return cudaErrorInvalidValue;
  }
  if (rows > (int64_t{1} << 40) / n) return cudaErrorInvalidValue;  // keeps rows * n in range
  const int64_t total_groups = rows * (n / 32);
  if (total_groups == 0) return cudaSuccess;
  constexpr int kThreads = 128;
  const int64_t grid = (total_groups + kThreads - 1) / kThreads;
  if (grid > INT32_MAX) return cudaErrorInvalidValue;
  DequantKQuantKernel<kFormat><<<static_cast<unsigned>(grid), kThreads, 0, stream>>>(
      static_cast<const uint8_t*>(src), total_groups, dst);
  return cudaGetLastError();
}

}  // namespace

cudaError_t DequantizeQ4_KToBf16(const void* src, int64_t rows, int64_t n, __nv_bfloat16* dst,
                                 cudaStream_t stream) {
  return DequantizeKQuant<KQuant::kQ4_K>(src, rows, n, dst, stream);
}

cudaError_t DequantizeQ6_KToBf16(const void* src, int64_t rows, int64_t n, __nv_bfloat16* dst,
                                 cudaStream_t stream) {
  return DequantizeKQuant<KQuant::kQ6_K>(src, rows, n, dst, stream);
}

}  // namespace proctor::kernels::cuda
