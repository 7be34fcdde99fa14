#include <algorithm>
#include <cfloat>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/engine_ops.cuh"

namespace proctor::kernels::cuda {
namespace {

constexpr int kThreads = 256;

unsigned Blocks(int64_t n) {
  const int64_t b = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(b < 65535 * 16 ? (b > 0 ? b : 1) : 65535 * 16);
}

__global__ void AddKernel(__nv_bfloat16* x, const __nv_bfloat16* d, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    x[i] = __float2bfloat16_rn(__bfloat162float(x[i]) + __bfloat162float(d[i]));
  }
}

__global__ void ScatterRowsKernel(const __nv_bfloat16* src, int64_t cols, const int32_t* dst_rows,
                                  __nv_bfloat16* dst) {
  const int64_t r = blockIdx.x;
  const int32_t to = dst_rows[r];
  if (to < 0) return;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    dst[static_cast<int64_t>(to) * cols + c] = src[r * cols + c];
  }
}

// Grid (x: chunks of the rows' elements, y: pool).
__global__ void CopyPoolRowsKernel(__nv_bfloat16* base, int64_t pool_stride, int64_t src,
                                   int64_t dst, int64_t n) {
  __nv_bfloat16* pool = base + static_cast<int64_t>(blockIdx.y) * pool_stride;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    pool[dst + i] = pool[src + i];
  }
}

__global__ void VocabStatsKernel(const float* logits, const int32_t* targets, int64_t n,
                                 int64_t vocab_begin, float* stats) {
  __shared__ float s_max[kThreads], s_sum[kThreads], s_best[kThreads];
  __shared__ int64_t s_idx[kThreads];
  const int64_t r = blockIdx.x;
  const float* row = logits + r * n;
  float m = -INFINITY, sum = 0.0f, best = -INFINITY;
  int64_t idx = n;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const float x = row[i];
    if (x > best) {  // strided ascending: the first hit of a value is its lowest index
      best = x;
      idx = i;
    }
    if (x > m) {
      sum = sum * __expf(m - x) + 1.0f;
      m = x;
    } else {
      sum += __expf(x - m);
    }
  }
  s_max[threadIdx.x] = m;
  s_sum[threadIdx.x] = sum;
  s_best[threadIdx.x] = best;
  s_idx[threadIdx.x] = idx;
  __syncthreads();
  for (int off = blockDim.x / 2; off > 0; off >>= 1) {
    if (threadIdx.x < off) {
      const int o = threadIdx.x + off;
      const float m1 = s_max[threadIdx.x], m2 = s_max[o];
      const float mm = fmaxf(m1, m2);
      float s = 0.0f;
      if (mm != -INFINITY) {
        s = s_sum[threadIdx.x] * __expf(m1 - mm) + s_sum[o] * __expf(m2 - mm);
      }
      s_max[threadIdx.x] = mm;
      s_sum[threadIdx.x] = s;
      if (s_best[o] > s_best[threadIdx.x] ||
          (s_best[o] == s_best[threadIdx.x] && s_idx[o] < s_idx[threadIdx.x])) {
        s_best[threadIdx.x] = s_best[o];
        s_idx[threadIdx.x] = s_idx[o];
      }
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    const int64_t local = static_cast<int64_t>(targets[r]) - vocab_begin;
    const bool has = local >= 0 && local < n;
    float* out = stats + r * 5;
    out[0] = s_max[0];
    out[1] = s_sum[0];
    out[2] = has ? row[local] : 0.0f;
    out[3] = has ? 1.0f : 0.0f;
    out[4] = static_cast<float>(vocab_begin + (s_idx[0] < n ? s_idx[0] : 0));
  }
}

template <typename OutT>
__global__ void GemmPortableKernel(const __nv_bfloat16* a, const __nv_bfloat16* b, OutT* c,
                                   const __nv_bfloat16* bias, int64_t m, int64_t n, int64_t k) {
  // One warp per output element.
  const int64_t warp = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / kWarpSize;
  const int lane = threadIdx.x % kWarpSize;
  if (warp >= m * n) return;
  const int64_t i = warp / n, j = warp % n;
  float acc = 0.0f;
  for (int64_t x = lane; x < k; x += kWarpSize) {
    acc += __bfloat162float(a[i * k + x]) * __bfloat162float(b[j * k + x]);
  }
  acc = WarpReduceSum(acc);
  if (lane == 0) {
    if (bias != nullptr) acc += __bfloat162float(bias[j]);
    if constexpr (sizeof(OutT) == 4) {
      c[i * n + j] = acc;
    } else {
      c[i * n + j] = __float2bfloat16_rn(acc);
    }
  }
}

constexpr int kMaxHeadDim = 256;
constexpr int kPerLane = kMaxHeadDim / kWarpSize;

__global__ void AttentionPortableKernel(const __nv_bfloat16* q, const __nv_bfloat16* kp,
                                        const __nv_bfloat16* vp, const int32_t* table,
                                        const int32_t* len_k_ptr, int len_q, int n_heads, int n_kv,
                                        int hd, int page_size, float scale, __nv_bfloat16* out) {
  const int warps = blockDim.x / kWarpSize;
  const int64_t item = static_cast<int64_t>(blockIdx.x) * warps + threadIdx.x / kWarpSize;
  const int lane = threadIdx.x % kWarpSize;
  if (item >= static_cast<int64_t>(len_q) * n_heads) return;
  const int i = static_cast<int>(item / n_heads), h = static_cast<int>(item % n_heads);
  const int kvh = h / (n_heads / n_kv);
  const int len_k = *len_k_ptr;
  const int last = min(len_k - 1, i + len_k - len_q);  // last visible key
  float qv[kPerLane], acc[kPerLane];
  const __nv_bfloat16* qrow = q + (static_cast<int64_t>(i) * n_heads + h) * hd;
#pragma unroll
  for (int e = 0; e < kPerLane; ++e) {
    const int d = lane + e * kWarpSize;
    qv[e] = d < hd ? __bfloat162float(qrow[d]) : 0.0f;
    acc[e] = 0.0f;
  }
  float m = -INFINITY, l = 0.0f;
  for (int j = 0; j <= last; ++j) {
    const int64_t row = static_cast<int64_t>(table[j / page_size]) * page_size + j % page_size;
    const int64_t off = (row * n_kv + kvh) * hd;
    float s = 0.0f;
#pragma unroll
    for (int e = 0; e < kPerLane; ++e) {
      const int d = lane + e * kWarpSize;
      if (d < hd) s += qv[e] * __bfloat162float(kp[off + d]);
    }
    s = WarpReduceSum(s) * scale;
    const float m_new = fmaxf(m, s);
    const float corr = __expf(m - m_new), p = __expf(s - m_new);
    l = l * corr + p;
#pragma unroll
    for (int e = 0; e < kPerLane; ++e) {
      const int d = lane + e * kWarpSize;
      acc[e] = acc[e] * corr + (d < hd ? p * __bfloat162float(vp[off + d]) : 0.0f);
    }
    m = m_new;
  }
  const float inv = l > 0.0f ? 1.0f / l : 0.0f;
  __nv_bfloat16* orow = out + (static_cast<int64_t>(i) * n_heads + h) * hd;
#pragma unroll
  for (int e = 0; e < kPerLane; ++e) {
    const int d = lane + e * kWarpSize;
    if (d < hd) orow[d] = __float2bfloat16_rn(acc[e] * inv);
  }
}

}  // namespace

cudaError_t AddBf16(__nv_bfloat16* x, const __nv_bfloat16* delta, int64_t n, cudaStream_t stream) {
  if (n < 0 || x == nullptr || delta == nullptr) return cudaErrorInvalidValue;
  if (n == 0) return cudaSuccess;
  AddKernel<<<Blocks(n), kThreads, 0, stream>>>(x, delta, n);
  return cudaGetLastError();
}

cudaError_t ScatterRowsBf16(const __nv_bfloat16* src, int64_t rows, int64_t cols,
                            const int32_t* dst_rows, __nv_bfloat16* dst, cudaStream_t stream) {
  if (rows < 0 || cols <= 0 || src == nullptr || dst_rows == nullptr || dst == nullptr ||
      rows > 2147483647) {
    return cudaErrorInvalidValue;
  }
  if (rows == 0) return cudaSuccess;
  ScatterRowsKernel<<<static_cast<unsigned>(rows), 128, 0, stream>>>(src, cols, dst_rows, dst);
  return cudaGetLastError();
}

cudaError_t CopyPoolRowsBf16(__nv_bfloat16* base, int64_t pools, int64_t pool_stride, int64_t cols,
                             int64_t src_row, int64_t dst_row, int64_t rows, cudaStream_t stream) {
  if (base == nullptr || pools < 0 || pools > 65535 || cols <= 0 || rows < 0 || src_row < 0 ||
      dst_row < 0 || (src_row < dst_row + rows && dst_row < src_row + rows) ||
      pool_stride < (std::max(src_row, dst_row) + rows) * cols) {
    return cudaErrorInvalidValue;
  }
  if (pools == 0 || rows == 0) return cudaSuccess;
  const int64_t n = rows * cols;
  const dim3 grid(std::min<unsigned>(Blocks(n), 1024u), static_cast<unsigned>(pools));
  CopyPoolRowsKernel<<<grid, kThreads, 0, stream>>>(base, pool_stride, src_row * cols,
                                                    dst_row * cols, n);
  return cudaGetLastError();
}

cudaError_t VocabShardStatsF32(const float* logits, const int32_t* targets, int64_t rows, int64_t n,
                               int64_t vocab_begin, float* stats, cudaStream_t stream) {
  if (rows < 0 || n <= 0 || logits == nullptr || targets == nullptr || stats == nullptr ||
      rows > 2147483647) {
    return cudaErrorInvalidValue;
  }
  if (rows == 0) return cudaSuccess;
  VocabStatsKernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(logits, targets, n,
                                                                         vocab_begin, stats);
  return cudaGetLastError();
}

cudaError_t GemmBf16Portable(const __nv_bfloat16* a, const __nv_bfloat16* b, __nv_bfloat16* c,
                             const __nv_bfloat16* bias, int64_t m, int64_t n, int64_t k,
                             cudaStream_t stream) {
  if (m <= 0 || n <= 0 || k <= 0 || a == nullptr || b == nullptr || c == nullptr) {
    return cudaErrorInvalidValue;
  }
  const int64_t threads = m * n * kWarpSize;
  GemmPortableKernel<__nv_bfloat16>
      <<<static_cast<unsigned>((threads + kThreads - 1) / kThreads), kThreads, 0, stream>>>(
          a, b, c, bias, m, n, k);
  return cudaGetLastError();
}

cudaError_t GemmBf16PortableF32Out(const __nv_bfloat16* a, const __nv_bfloat16* b, float* c,
                                   int64_t m, int64_t n, int64_t k, cudaStream_t stream) {
  if (m <= 0 || n <= 0 || k <= 0 || a == nullptr || b == nullptr || c == nullptr) {
    return cudaErrorInvalidValue;
  }
  const int64_t threads = m * n * kWarpSize;
  GemmPortableKernel<float>
      <<<static_cast<unsigned>((threads + kThreads - 1) / kThreads), kThreads, 0, stream>>>(
          a, b, c, nullptr, m, n, k);
  return cudaGetLastError();
}

cudaError_t AttentionPortableBf16(const __nv_bfloat16* q, const __nv_bfloat16* k_pages,
                                  const __nv_bfloat16* v_pages, const int32_t* block_table,
                                  const int32_t* len_k, int64_t len_q, int64_t n_heads,
                                  int64_t n_kv, int64_t head_dim, int64_t page_size, float scale,
                                  __nv_bfloat16* out, cudaStream_t stream) {
  if (q == nullptr || k_pages == nullptr || v_pages == nullptr || block_table == nullptr ||
      len_k == nullptr || out == nullptr || len_q < 0 || n_kv <= 0 || n_heads % n_kv != 0 ||
      head_dim <= 0 || head_dim > kMaxHeadDim || page_size <= 0 || !(scale == scale)) {
    return cudaErrorInvalidValue;
  }
  if (len_q == 0) return cudaSuccess;
  const int64_t items = len_q * n_heads;
  constexpr int kWarpsPerBlock = 4;
  AttentionPortableKernel<<<static_cast<unsigned>((items + kWarpsPerBlock - 1) / kWarpsPerBlock),
                            kWarpsPerBlock * kWarpSize, 0, stream>>>(
      q, k_pages, v_pages, block_table, len_k, static_cast<int>(len_q), static_cast<int>(n_heads),
      static_cast<int>(n_kv), static_cast<int>(head_dim), static_cast<int>(page_size), scale, out);
  return cudaGetLastError();
}

}  // namespace proctor::kernels::cuda
