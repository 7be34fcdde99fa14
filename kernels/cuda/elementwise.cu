#include <cuda_fp16.h>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/elementwise.cuh"

namespace proctor::kernels::cuda {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ float Silu(float g) { return g / (1.0f + __expf(-g)); }

// Grid-stride loop; kVec handles 8 elements (16 bytes) per step and needs
// n % 8 == 0 and 16-byte aligned pointers.
template <bool kVec>
__global__ void SwiGluKernel(const __nv_bfloat16* gate, const __nv_bfloat16* up, __nv_bfloat16* out,
                             int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if constexpr (kVec) {
    for (i *= 8; i < n; i += stride * 8) {
      uint4 gv = *reinterpret_cast<const uint4*>(gate + i);
      uint4 uv = *reinterpret_cast<const uint4*>(up + i);
      __nv_bfloat162* gp = reinterpret_cast<__nv_bfloat162*>(&gv);
      const __nv_bfloat162* up2 = reinterpret_cast<const __nv_bfloat162*>(&uv);
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const float2 g = __bfloat1622float2(gp[j]), u = __bfloat1622float2(up2[j]);
        gp[j] = __floats2bfloat162_rn(Silu(g.x) * u.x, Silu(g.y) * u.y);
      }
      *reinterpret_cast<uint4*>(out + i) = gv;
    }
  } else {
    for (; i < n; i += stride) {
      out[i] = __float2bfloat16_rn(Silu(__bfloat162float(gate[i])) * __bfloat162float(up[i]));
    }
  }
}

// One block per output row; 16-byte copies when dim % 8 == 0 and aligned.
template <bool kVec>
__global__ void EmbeddingGatherKernel(const __nv_bfloat16* __restrict__ table, int64_t vocab,
                                      const int32_t* __restrict__ ids, int64_t dim,
                                      __nv_bfloat16* __restrict__ out) {
  const int64_t row = blockIdx.x;
  const int32_t id = ids[row];
  const bool valid = id >= 0 && id < vocab;
  const __nv_bfloat16* src = table + (valid ? static_cast<int64_t>(id) * dim : 0);
  __nv_bfloat16* dst = out + row * dim;
  if constexpr (kVec) {
    for (int64_t i = threadIdx.x * 8; i < dim; i += blockDim.x * 8) {
      *reinterpret_cast<uint4*>(dst + i) =
          valid ? *reinterpret_cast<const uint4*>(src + i) : make_uint4(0, 0, 0, 0);
    }
  } else {
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
      dst[i] = valid ? src[i] : __float2bfloat16_rn(0.0f);
    }
  }
}

__device__ __forceinline__ float LoadHalfUnaligned(const uint8_t* p) {
  const unsigned short bits = static_cast<unsigned short>(p[0] | (p[1] << 8));
  return __half2float(__ushort_as_half(bits));
}

// GGML block formats the dequantisation kernel decodes.
enum class QuantFormat { kQ8_0, kQ4_0, kQ4_1 };

// One thread per (row, block of 32): reads the block byte-wise (GGUF blocks
// are 34/18/20 bytes, so not aligned) and writes 32 BF16 (64 bytes).
template <int kBlockBytes, QuantFormat kFormat>
__global__ void DequantKernel(const uint8_t* __restrict__ src, int64_t total_blocks,
                              __nv_bfloat16* __restrict__ dst) {
  const int64_t b = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (b >= total_blocks) return;
  // Rows are contiguous runs of blocks, so block b of the whole tensor maps to
  // values [32b, 32b+32) of dst regardless of the row length.
  const uint8_t* p = src + b * kBlockBytes;
  const float d = LoadHalfUnaligned(p);
  __nv_bfloat162 vals[16];
  if constexpr (kFormat == QuantFormat::kQ8_0) {
#pragma unroll
    for (int j = 0; j < 16; ++j) {
      vals[j] = __floats2bfloat162_rn(d * static_cast<float>(static_cast<int8_t>(p[2 + 2 * j])),
                                      d * static_cast<float>(static_cast<int8_t>(p[3 + 2 * j])));
    }
  } else if constexpr (kFormat == QuantFormat::kQ4_0) {
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const int lo0 = p[2 + 2 * j] & 15, lo1 = p[3 + 2 * j] & 15;
      const int hi0 = p[2 + 2 * j] >> 4, hi1 = p[3 + 2 * j] >> 4;
      vals[j] =
          __floats2bfloat162_rn(d * static_cast<float>(lo0 - 8), d * static_cast<float>(lo1 - 8));
      vals[j + 8] =
          __floats2bfloat162_rn(d * static_cast<float>(hi0 - 8), d * static_cast<float>(hi1 - 8));
    }
  } else {
    // Q4_1: value = d * q + m, multiplied and added with separate roundings
    // (no FMA contraction), exactly as the CPU reference computes it.
    const float m = LoadHalfUnaligned(p + 2);
    auto value = [&](int q) { return __fadd_rn(__fmul_rn(d, static_cast<float>(q)), m); };
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const uint8_t q0 = p[4 + 2 * j], q1 = p[5 + 2 * j];
      vals[j] = __floats2bfloat162_rn(value(q0 & 15), value(q1 & 15));
      vals[j + 8] = __floats2bfloat162_rn(value(q0 >> 4), value(q1 >> 4));
    }
  }
  __nv_bfloat162* out = reinterpret_cast<__nv_bfloat162*>(dst + b * 32);
#pragma unroll
  for (int j = 0; j < 16; ++j) out[j] = vals[j];
}

template <int kBlockBytes, QuantFormat kFormat>
cudaError_t Dequantize(const void* src, int64_t rows, int64_t n, __nv_bfloat16* dst,
                       cudaStream_t stream) {
  if (src == nullptr || dst == nullptr || rows < 0 || n <= 0 || n % 32 != 0 ||
      (reinterpret_cast<uintptr_t>(dst) & 3u) != 0) {
    return cudaErrorInvalidValue;
  }
  const int64_t total_blocks = rows * (n / 32);
  if (total_blocks == 0) return cudaSuccess;
  constexpr int kDqThreads = 128;
  const int64_t grid = (total_blocks + kDqThreads - 1) / kDqThreads;
  if (grid > INT32_MAX) return cudaErrorInvalidValue;
  DequantKernel<kBlockBytes, kFormat><<<static_cast<unsigned>(grid), kDqThreads, 0, stream>>>(
      static_cast<const uint8_t*>(src), total_blocks, dst);
  return cudaGetLastError();
}

}  // namespace

cudaError_t SwiGluBf16(const __nv_bfloat16* gate, const __nv_bfloat16* up, __nv_bfloat16* out,
                       int64_t n, cudaStream_t stream) {
  if (n < 0 || gate == nullptr || up == nullptr || out == nullptr) return cudaErrorInvalidValue;
  if (n == 0) return cudaSuccess;
  const bool vec = n % 8 == 0 && Aligned16(gate) && Aligned16(up) && Aligned16(out);
  const int64_t work = vec ? n / 8 : n;
  // Enough blocks to fill any current GPU; the loop covers the rest.
  const int64_t blocks64 = (work + kThreads - 1) / kThreads;
  const unsigned blocks = static_cast<unsigned>(blocks64 < 4096 ? blocks64 : 4096);
  if (vec) {
    SwiGluKernel<true><<<blocks, kThreads, 0, stream>>>(gate, up, out, n);
  } else {
    SwiGluKernel<false><<<blocks, kThreads, 0, stream>>>(gate, up, out, n);
  }
  return cudaGetLastError();
}

cudaError_t EmbeddingGatherBf16(const __nv_bfloat16* table, int64_t vocab, const int32_t* ids,
                                int64_t n, int64_t dim, __nv_bfloat16* out, cudaStream_t stream) {
  if (table == nullptr || ids == nullptr || out == nullptr || n < 0 || dim <= 0 || vocab <= 0 ||
      n > INT32_MAX) {
    return cudaErrorInvalidValue;
  }
  if (n == 0) return cudaSuccess;
  const bool vec = dim % 8 == 0 && Aligned16(table) && Aligned16(out);
  constexpr int kGatherThreads = 128;
  if (vec) {
    EmbeddingGatherKernel<true>
        <<<static_cast<unsigned>(n), kGatherThreads, 0, stream>>>(table, vocab, ids, dim, out);
  } else {
    EmbeddingGatherKernel<false>
        <<<static_cast<unsigned>(n), kGatherThreads, 0, stream>>>(table, vocab, ids, dim, out);
  }
  return cudaGetLastError();
}

cudaError_t DequantizeQ8_0ToBf16(const void* src, int64_t rows, int64_t n, __nv_bfloat16* dst,
                                 cudaStream_t stream) {
  return Dequantize<34, QuantFormat::kQ8_0>(src, rows, n, dst, stream);
}

cudaError_t DequantizeQ4_0ToBf16(const void* src, int64_t rows, int64_t n, __nv_bfloat16* dst,
                                 cudaStream_t stream) {
  return Dequantize<18, QuantFormat::kQ4_0>(src, rows, n, dst, stream);
}

cudaError_t DequantizeQ4_1ToBf16(const void* src, int64_t rows, int64_t n, __nv_bfloat16* dst,
                                 cudaStream_t stream) {
  return Dequantize<20, QuantFormat::kQ4_1>(src, rows, n, dst, stream);
}

}  // namespace proctor::kernels::cuda
