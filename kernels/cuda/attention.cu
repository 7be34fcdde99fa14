// Entry points for attention (validation) and the split-K paged decode kernels.
#include <cmath>

#include "kernels/cuda/attention.cuh"
#include "kernels/cuda/attention_internal.cuh"
#include "kernels/cuda/common.cuh"

namespace proctor::kernels::cuda {
namespace {

constexpr int kDecodeWarps = 4;
constexpr int kDecodeThreads = kDecodeWarps * 32;
constexpr int kDecodeMaxGroup = 8;  // query heads per block (larger GQA groups use more blocks)
constexpr int kDecodeKeysPerSplit = 256;
constexpr int kDecodeMaxSplits = 32;

// Split-K decode. Grid: (num_splits, n_kv * head_chunks, batch). A block
// handles up to 8 query heads that share one KV head, over keys
// [split * chunk, (split + 1) * chunk) of its sequence. Warp w takes keys
// w, w + 4, ... (loading 4 of them ahead); each lane holds HD/32 consecutive
// dims of q, k, v and o.
// Per key and head: a warp-wide dot product, then an online-softmax update
// (running max m, sum l, unnormalised o) that is identical on all lanes.
// At the end the 4 warps merge through shared memory and the block writes
// either the final output (num_splits == 1) or its partial (m, l, o).
template <int HD>
__global__ void __launch_bounds__(kDecodeThreads)
    DecodeSplitKernel(const __nv_bfloat16* __restrict__ q,
                      const __nv_bfloat16* __restrict__ k_pages,
                      const __nv_bfloat16* __restrict__ v_pages,
                      const int32_t* __restrict__ block_table, const int32_t* __restrict__ seq_lens,
                      __nv_bfloat16* __restrict__ out, float* __restrict__ ws_o,
                      float* __restrict__ ws_ml, int n_heads, int n_kv, int num_pages,
                      int page_size, int max_pages, int chunk, float scale) {
  constexpr int kPer = HD / 32;  // dims per lane: 2 or 4
  __shared__ float sm_m[kDecodeWarps][kDecodeMaxGroup];
  __shared__ float sm_l[kDecodeWarps][kDecodeMaxGroup];
  __shared__ float sm_o[kDecodeWarps][kDecodeMaxGroup][HD];

  const int split = blockIdx.x, b = blockIdx.z;
  const int group = n_heads / n_kv;
  const int chunks_per_kv = (group + kDecodeMaxGroup - 1) / kDecodeMaxGroup;
  const int kv_head = blockIdx.y / chunks_per_kv;
  const int h0 = kv_head * group + (blockIdx.y % chunks_per_kv) * kDecodeMaxGroup;
  const int n_h = min(kDecodeMaxGroup, kv_head * group + group - h0);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;

  int seq_len = seq_lens[b];
  seq_len = max(0, min(seq_len, max_pages * page_size));
  const int key_begin = split * chunk;
  const int key_end = min(seq_len, key_begin + chunk);

  float qv[kDecodeMaxGroup][kPer];
  float o[kDecodeMaxGroup][kPer];
  float m[kDecodeMaxGroup], l[kDecodeMaxGroup];
#pragma unroll
  for (int hh = 0; hh < kDecodeMaxGroup; ++hh) {
    m[hh] = -INFINITY;
    l[hh] = 0.0f;
#pragma unroll
    for (int d = 0; d < kPer; ++d) {
      o[hh][d] = 0.0f;
      qv[hh][d] =
          hh < n_h ? __bfloat162float(
                         q[(static_cast<int64_t>(b) * n_heads + h0 + hh) * HD + lane * kPer + d]) *
                         scale
                   : 0.0f;
    }
  }

  const int64_t kv_stride = static_cast<int64_t>(n_kv) * HD;
  // Each warp takes keys key_begin + warp + 4i. The loads of kUnroll keys are
  // issued before any of them is used so that several K/V rows per warp are
  // in flight (decode is bound by memory latency x parallelism).
  constexpr int kUnroll = 4;
  for (int base = key_begin + warp; base < key_end; base += kDecodeWarps * kUnroll) {
    float kf[kUnroll][kPer], vf[kUnroll][kPer];
    bool valid[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int key = base + u * kDecodeWarps;
      valid[u] = false;
#pragma unroll
      for (int d = 0; d < kPer; ++d) kf[u][d] = vf[u][d] = 0.0f;
      if (key >= key_end) continue;
      const int page = block_table[static_cast<int64_t>(b) * max_pages + key / page_size];
      if (page < 0 || page >= num_pages) continue;  // hostile table entry: skip the key
      valid[u] = true;
      const int64_t row = static_cast<int64_t>(page) * page_size + key % page_size;
      const __nv_bfloat16* kp = k_pages + row * kv_stride + kv_head * HD + lane * kPer;
      const __nv_bfloat16* vp = v_pages + row * kv_stride + kv_head * HD + lane * kPer;
#pragma unroll
      for (int d = 0; d < kPer; d += 2) {
        const float2 k2 = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(kp + d));
        const float2 v2 = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(vp + d));
        kf[u][d] = k2.x;
        kf[u][d + 1] = k2.y;
        vf[u][d] = v2.x;
        vf[u][d + 1] = v2.y;
      }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      if (!valid[u]) continue;  // uniform across the warp: one key per warp
#pragma unroll
      for (int hh = 0; hh < kDecodeMaxGroup; ++hh) {
        if (hh >= n_h) break;
        float dot = 0.0f;
#pragma unroll
        for (int d = 0; d < kPer; ++d) dot += qv[hh][d] * kf[u][d];
        dot = WarpReduceSum(dot);
        const float m_new = fmaxf(m[hh], dot);
        const float corr = __expf(m[hh] - m_new);  // 0 for the first key
        const float p = __expf(dot - m_new);
        m[hh] = m_new;
        l[hh] = l[hh] * corr + p;
#pragma unroll
        for (int d = 0; d < kPer; ++d) o[hh][d] = o[hh][d] * corr + p * vf[u][d];
      }
    }
  }

  // Merge the warps.
#pragma unroll
  for (int hh = 0; hh < kDecodeMaxGroup; ++hh) {
    if (lane == 0) {
      sm_m[warp][hh] = m[hh];
      sm_l[warp][hh] = l[hh];
    }
#pragma unroll
    for (int d = 0; d < kPer; ++d) sm_o[warp][hh][lane * kPer + d] = o[hh][d];
  }
  __syncthreads();
  const int num_splits = gridDim.x;
  for (int idx = threadIdx.x; idx < n_h * HD; idx += kDecodeThreads) {
    const int hh = idx / HD, d = idx % HD;
    float mx = -INFINITY;
#pragma unroll
    for (int w = 0; w < kDecodeWarps; ++w) mx = fmaxf(mx, sm_m[w][hh]);
    float lsum = 0.0f, osum = 0.0f;
    if (mx != -INFINITY) {
#pragma unroll
      for (int w = 0; w < kDecodeWarps; ++w) {
        const float f = __expf(sm_m[w][hh] - mx);
        lsum += sm_l[w][hh] * f;
        osum += sm_o[w][hh][d] * f;
      }
    }
    const int64_t bh = static_cast<int64_t>(b) * n_heads + h0 + hh;
    if (num_splits == 1) {
      out[bh * HD + d] = __float2bfloat16_rn(lsum > 0.0f ? osum / lsum : 0.0f);
    } else {
      ws_o[(bh * num_splits + split) * HD + d] = osum;
      if (d == 0) {
        ws_ml[(bh * num_splits + split) * 2] = mx;
        ws_ml[(bh * num_splits + split) * 2 + 1] = lsum;
      }
    }
  }
}

// Combines the split partials of one (batch, head): grid (n_heads, batch),
// HD threads, one output dim each.
__global__ void DecodeCombineKernel(const float* __restrict__ ws_o, const float* __restrict__ ws_ml,
                                    __nv_bfloat16* __restrict__ out, int n_heads, int hd,
                                    int num_splits) {
  const int64_t bh = static_cast<int64_t>(blockIdx.y) * n_heads + blockIdx.x;
  const int d = threadIdx.x;
  float mx = -INFINITY;
  for (int s = 0; s < num_splits; ++s) mx = fmaxf(mx, ws_ml[(bh * num_splits + s) * 2]);
  float lsum = 0.0f, osum = 0.0f;
  if (mx != -INFINITY) {
    for (int s = 0; s < num_splits; ++s) {
      const float f = __expf(ws_ml[(bh * num_splits + s) * 2] - mx);
      lsum += ws_ml[(bh * num_splits + s) * 2 + 1] * f;
      osum += ws_o[(bh * num_splits + s) * hd + d] * f;
    }
  }
  out[bh * hd + d] = __float2bfloat16_rn(lsum > 0.0f ? osum / lsum : 0.0f);
}

}  // namespace

cudaError_t PrefillAttentionBf16(const PrefillAttentionArgs& a, cudaStream_t stream) {
  if (a.q == nullptr || a.k == nullptr || a.v == nullptr || a.out == nullptr ||
      a.cu_seqlens_q == nullptr || a.cu_seqlens_k == nullptr || a.batch <= 0 || a.batch > 65535 ||
      a.max_seqlen_q < 0 || a.max_seqlen_q > INT32_MAX || a.n_kv <= 0 || a.n_heads <= 0 ||
      a.n_heads > 65535 || a.n_heads % a.n_kv != 0 || (a.head_dim != 64 && a.head_dim != 128) ||
      !std::isfinite(a.scale) || !Aligned16(a.q) || !Aligned16(a.k) || !Aligned16(a.v) ||
      !Aligned16(a.out)) {
    return cudaErrorInvalidValue;
  }
  if (a.block_table != nullptr &&
      (a.page_size <= 0 || a.num_pages <= 0 || a.num_pages > INT32_MAX ||
       a.max_pages_per_seq <= 0 || a.max_pages_per_seq * a.page_size > INT32_MAX)) {
    return cudaErrorInvalidValue;
  }
  if (a.max_seqlen_q == 0) return cudaSuccess;
  return a.head_dim == 64 ? internal::LaunchFlashPrefillHdim64(a, stream)
                          : internal::LaunchFlashPrefillHdim128(a, stream);
}

int DecodeAttentionNumSplits(int64_t max_seq_len) {
  const int64_t splits = (max_seq_len + kDecodeKeysPerSplit - 1) / kDecodeKeysPerSplit;
  return static_cast<int>(splits < 1 ? 1 : (splits > kDecodeMaxSplits ? kDecodeMaxSplits : splits));
}

size_t DecodeAttentionWorkspaceBytes(int64_t batch, int64_t n_heads, int64_t head_dim,
                                     int64_t max_seq_len) {
  if (batch <= 0 || n_heads <= 0 || head_dim <= 0) return 0;
  const int splits = DecodeAttentionNumSplits(max_seq_len);
  if (splits == 1) return 0;
  return static_cast<size_t>(batch * n_heads * splits * (head_dim + 2)) * sizeof(float);
}

cudaError_t DecodeAttentionBf16(const DecodeAttentionArgs& a, void* workspace,
                                size_t workspace_bytes, cudaStream_t stream) {
  if (a.q == nullptr || a.k_pages == nullptr || a.v_pages == nullptr || a.block_table == nullptr ||
      a.seq_lens == nullptr || a.out == nullptr || a.batch <= 0 || a.batch > 65535 || a.n_kv <= 0 ||
      a.n_heads <= 0 || a.n_heads % a.n_kv != 0 || (a.head_dim != 64 && a.head_dim != 128) ||
      a.page_size <= 0 || a.num_pages <= 0 || a.num_pages > INT32_MAX || a.max_pages_per_seq <= 0 ||
      a.max_pages_per_seq * a.page_size > INT32_MAX || a.max_seq_len < 0 ||
      !std::isfinite(a.scale) || (reinterpret_cast<uintptr_t>(a.k_pages) & 3u) != 0 ||
      (reinterpret_cast<uintptr_t>(a.v_pages) & 3u) != 0) {
    return cudaErrorInvalidValue;
  }
  const size_t need = DecodeAttentionWorkspaceBytes(a.batch, a.n_heads, a.head_dim, a.max_seq_len);
  if (workspace_bytes < need || (need > 0 && workspace == nullptr)) return cudaErrorInvalidValue;
  const int num_splits = DecodeAttentionNumSplits(a.max_seq_len);
  // Keys per split, so that num_splits chunks cover max_seq_len. Sequences
  // longer than max_seq_len (a caller bug) are truncated, never overrun.
  const int64_t max_len = a.max_seq_len < 1 ? 1 : a.max_seq_len;
  const int chunk = static_cast<int>((max_len + num_splits - 1) / num_splits);
  const int64_t group = a.n_heads / a.n_kv;
  const int64_t chunks_per_kv = (group + kDecodeMaxGroup - 1) / kDecodeMaxGroup;
  if (a.n_kv * chunks_per_kv > 65535) return cudaErrorInvalidValue;
  float* ws = static_cast<float*>(workspace);
  const int64_t bhs = a.batch * a.n_heads * num_splits;
  float* ws_o = ws;
  float* ws_ml = ws ? ws + bhs * a.head_dim : nullptr;
  const dim3 grid(static_cast<unsigned>(num_splits), static_cast<unsigned>(a.n_kv * chunks_per_kv),
                  static_cast<unsigned>(a.batch));
  auto launch_split = [&](auto kernel) {
    kernel<<<grid, kDecodeThreads, 0, stream>>>(
        a.q, a.k_pages, a.v_pages, a.block_table, a.seq_lens, a.out, ws_o, ws_ml,
        static_cast<int>(a.n_heads), static_cast<int>(a.n_kv), static_cast<int>(a.num_pages),
        static_cast<int>(a.page_size), static_cast<int>(a.max_pages_per_seq), chunk, a.scale);
  };
  if (a.head_dim == 64) {
    launch_split(DecodeSplitKernel<64>);
  } else {
    launch_split(DecodeSplitKernel<128>);
  }
  if (num_splits > 1) {
    DecodeCombineKernel<<<dim3(static_cast<unsigned>(a.n_heads), static_cast<unsigned>(a.batch)),
                          static_cast<unsigned>(a.head_dim), 0, stream>>>(
        ws_o, ws_ml, a.out, static_cast<int>(a.n_heads), static_cast<int>(a.head_dim), num_splits);
  }
  return cudaGetLastError();
}

}  // namespace proctor::kernels::cuda
