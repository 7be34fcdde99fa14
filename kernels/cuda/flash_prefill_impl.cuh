// Flash-attention-2 style prefill kernel, templated on the head dimension.
// Included only by flash_prefill_hdim{64,128}_bf16.cu (one instantiation each).
//
// Tiling: grid (ceil(max_seqlen_q / 64), n_heads, batch); a block of 4 warps
// owns 64 query rows of one head of one sequence, each warp 16 rows. The Q tile
// is loaded once and kept in registers as mma A-fragments. The block walks the
// key/value tiles of 64 rows (double-buffered in shared memory via cp.async:
// tile j+1 is in flight while tile j is computed) and, per tile:
//   S = Q K^T                  (mma.sync, K read with ldmatrix as the B operand)
//   online softmax in base 2   (row max over a quad of lanes; running m, l)
//   O = O * exp2(m_old - m_new) + P V   (P re-packed from the S accumulators
//                              into A-fragments, V read with ldmatrix.trans)
// Invariants: m is the running row max of scale*log2(e)*S over the keys seen
// (-inf until a visible key appears); l is this thread's partial sum of P for
// its two rows (the quad reduction happens once at the end); O holds
// unnormalised sums. Only tiles touching the causal diagonal or the sequence
// end evaluate the mask.
#ifndef PROCTOR_KERNELS_CUDA_FLASH_PREFILL_IMPL_CUH_
#define PROCTOR_KERNELS_CUDA_FLASH_PREFILL_IMPL_CUH_

#include "kernels/cuda/attention_internal.cuh"
#include "kernels/cuda/common.cuh"

namespace proctor::kernels::cuda::internal {

constexpr int kFlashBlockM = 64;
constexpr int kFlashBlockN = 64;
constexpr int kFlashThreads = 128;

template <int HD>
struct FlashSmem {
  static constexpr int kStride = HD + 8;  // padding: conflict-free ldmatrix rows
  static constexpr int kTileElems = kFlashBlockM * kStride;
  // Q, then K[2], then V[2].
  static constexpr int kBytes = 5 * kTileElems * 2;
};

// Where the logical key rows of one sequence live: contiguous (table ==
// nullptr: row r is row r of the packed K/V) or in a paged pool (row r is slot
// r % page_size of page table[r / page_size]).
struct KvRows {
  const int32_t* table;
  int page_size;
  int num_pages;
  int max_pages;
};

// Physical row of logical row r, or -1 when its page id is out of range.
__device__ __forceinline__ int64_t PhysicalRow(const KvRows& kv, int r) {
  if (kv.table == nullptr) return r;
  const int logical_page = r / kv.page_size;
  if (logical_page >= kv.max_pages) return -1;
  const int page = kv.table[logical_page];
  if (page < 0 || page >= kv.num_pages) return -1;
  return static_cast<int64_t>(page) * kv.page_size + r % kv.page_size;
}

// Copies logical rows [row0, row0 + 64) of a [rows, row_stride] matrix (the
// head's HD columns start at `base`) into dst[64][kStride]; rows >= n_rows and
// rows whose page is invalid are zero-filled.
template <int HD>
__device__ __forceinline__ void FlashLoadTile(__nv_bfloat16* dst, const __nv_bfloat16* base,
                                              int row0, int n_rows, int64_t row_stride,
                                              const KvRows& rows) {
  constexpr int kChunks = HD / 8;
  for (int c = threadIdx.x; c < kFlashBlockM * kChunks; c += kFlashThreads) {
    const int r = c / kChunks, col = (c % kChunks) * 8;
    const int64_t phys = row0 + r < n_rows ? PhysicalRow(rows, row0 + r) : -1;
    const bool pred = phys >= 0;
    const __nv_bfloat16* src = pred ? base + phys * row_stride + col : base;
    CpAsync16(dst + r * FlashSmem<HD>::kStride + col, src, pred);
  }
}

template <int HD>
__global__ void __launch_bounds__(kFlashThreads)
    FlashPrefillKernel(const __nv_bfloat16* __restrict__ q, const __nv_bfloat16* __restrict__ k,
                       const __nv_bfloat16* __restrict__ v, __nv_bfloat16* __restrict__ out,
                       const int32_t* __restrict__ cu_q, const int32_t* __restrict__ cu_k,
                       int n_heads, int n_kv, float scale_log2, bool causal, KvRows kv_rows) {
  using Smem = FlashSmem<HD>;
  constexpr int kStride = Smem::kStride;
  constexpr int kKSteps = HD / 16;  // k-steps of the Q K^T product
  constexpr int kOTiles = HD / 8;   // n-tiles of the O accumulator
  extern __shared__ __align__(16) unsigned char smem_raw[];
  __nv_bfloat16* s_q = reinterpret_cast<__nv_bfloat16*>(smem_raw);
  __nv_bfloat16* s_k = s_q + Smem::kTileElems;      // 2 buffers
  __nv_bfloat16* s_v = s_k + 2 * Smem::kTileElems;  // 2 buffers

  const int b = blockIdx.z, h = blockIdx.y;
  const int q_begin = cu_q[b], len_q = cu_q[b + 1] - q_begin;
  const int k_begin = cu_k[b], len_k = cu_k[b + 1] - k_begin;
  // Heaviest (latest, under the causal mask) query tiles are scheduled first
  // so that they do not form the tail of the grid.
  const int m0 = (gridDim.x - 1 - blockIdx.x) * kFlashBlockM;
  if (m0 >= len_q) return;
  const int kv_head = h / (n_heads / n_kv);
  const int offset = len_k - len_q;  // causal: query i sees keys <= i + offset
  const int64_t q_stride = static_cast<int64_t>(n_heads) * HD;
  const int64_t kv_stride = static_cast<int64_t>(n_kv) * HD;
  const __nv_bfloat16* q_base = q + static_cast<int64_t>(q_begin) * q_stride + h * HD;
  // Paged: rows index the page pool and the table row of this sequence;
  // packed: rows index this sequence's slice of k/v.
  const int64_t k_row0 = kv_rows.table ? 0 : k_begin;
  if (kv_rows.table) kv_rows.table += static_cast<int64_t>(b) * kv_rows.max_pages;
  const __nv_bfloat16* k_base = k + k_row0 * kv_stride + kv_head * HD;
  const __nv_bfloat16* v_base = v + k_row0 * kv_stride + kv_head * HD;
  const KvRows q_rows{nullptr, 1, 0, 0};

  // Keys this block may see: [0, n_end).
  int n_end = len_k;
  if (causal) n_end = min(len_k, m0 + kFlashBlockM + offset);
  const int n_tiles = n_end > 0 ? (n_end + kFlashBlockN - 1) / kFlashBlockN : 0;

  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int g = lane / 4, t = lane % 4;

  FlashLoadTile<HD>(s_q, q_base, m0, len_q, q_stride, q_rows);
  CpAsyncCommit();
  if (n_tiles > 0) {
    FlashLoadTile<HD>(s_k, k_base, 0, len_k, kv_stride, kv_rows);
    FlashLoadTile<HD>(s_v, v_base, 0, len_k, kv_stride, kv_rows);
  }
  CpAsyncCommit();
  CpAsyncWait<1>();  // Q landed
  __syncthreads();

  unsigned qf[kKSteps][4];
#pragma unroll
  for (int kk = 0; kk < kKSteps; ++kk) {
    LdMatrixX4(qf[kk], s_q + (warp * 16 + lane % 16) * kStride + kk * 16 + (lane / 16) * 8);
  }

  float o[kOTiles][4];
#pragma unroll
  for (int i = 0; i < kOTiles; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;
  float row_m[2] = {-INFINITY, -INFINITY};
  float row_l[2] = {0.0f, 0.0f};
  // Absolute (within the sequence) query rows this thread accumulates.
  const int qrow[2] = {m0 + warp * 16 + g, m0 + warp * 16 + g + 8};

  for (int j = 0; j < n_tiles; ++j) {
    const int buf = j % 2;
    if (j + 1 < n_tiles) {
      const int nb = buf ^ 1;
      FlashLoadTile<HD>(s_k + nb * Smem::kTileElems, k_base, (j + 1) * kFlashBlockN, len_k,
                        kv_stride, kv_rows);
      FlashLoadTile<HD>(s_v + nb * Smem::kTileElems, v_base, (j + 1) * kFlashBlockN, len_k,
                        kv_stride, kv_rows);
    }
    CpAsyncCommit();
    CpAsyncWait<1>();  // tile j landed (tile j+1 may still be in flight)
    __syncthreads();
    const __nv_bfloat16* sk = s_k + buf * Smem::kTileElems;
    const __nv_bfloat16* sv = s_v + buf * Smem::kTileElems;

    // S = Q K^T for this warp's 16 rows x 64 keys: 8 n-tiles.
    float s[8][4];
#pragma unroll
    for (int i = 0; i < 8; ++i) s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < kKSteps; ++kk) {
#pragma unroll
      for (int np = 0; np < 4; ++np) {
        unsigned bf[4];
        LdMatrixX4(bf, sk + (np * 16 + lane % 8 + (lane / 16) * 8) * kStride + kk * 16 +
                           ((lane / 8) % 2) * 8);
        MmaBf16(s[2 * np], qf[kk], bf[0], bf[1]);
        MmaBf16(s[2 * np + 1], qf[kk], bf[2], bf[3]);
      }
    }

    // Scale into the log2 domain and mask where this tile needs it.
    const int key0 = j * kFlashBlockN;
    const bool need_mask =
        key0 + kFlashBlockN > len_k || (causal && key0 + kFlashBlockN - 1 > m0 + offset);
#pragma unroll
    for (int nt = 0; nt < 8; ++nt) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        float x = s[nt][e] * scale_log2;
        if (need_mask) {
          const int key = key0 + nt * 8 + 2 * t + (e & 1);
          const int row = qrow[e / 2];
          if (key >= len_k || (causal && key > row + offset)) x = -INFINITY;
        }
        s[nt][e] = x;
      }
    }

    // Online softmax for rows g (e = 0, 1) and g + 8 (e = 2, 3).
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float mx = -INFINITY;
#pragma unroll
      for (int nt = 0; nt < 8; ++nt) mx = fmaxf(mx, fmaxf(s[nt][2 * r], s[nt][2 * r + 1]));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      const float m_new = fmaxf(row_m[r], mx);
      // With no visible key yet, subtract 0: every p is exp2(-inf) = 0.
      const float base = m_new == -INFINITY ? 0.0f : m_new;
      const float corr = exp2f(row_m[r] - base);
      row_m[r] = m_new;
      float sum = 0.0f;
#pragma unroll
      for (int nt = 0; nt < 8; ++nt) {
        s[nt][2 * r] = exp2f(s[nt][2 * r] - base);
        s[nt][2 * r + 1] = exp2f(s[nt][2 * r + 1] - base);
        sum += s[nt][2 * r] + s[nt][2 * r + 1];
      }
      row_l[r] = row_l[r] * corr + sum;
#pragma unroll
      for (int i = 0; i < kOTiles; ++i) {
        o[i][2 * r] *= corr;
        o[i][2 * r + 1] *= corr;
      }
    }

    // O += P V. The S accumulators of n-tiles 2kk and 2kk+1 are exactly the
    // A fragment of keys [16kk, 16kk+16).
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) {
      const unsigned pa[4] = {PackBf16x2(s[2 * kk][0], s[2 * kk][1]),
                              PackBf16x2(s[2 * kk][2], s[2 * kk][3]),
                              PackBf16x2(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                              PackBf16x2(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
      for (int dp = 0; dp < HD / 16; ++dp) {
        // Matrices: keys 0-7 / 8-15 x dims 0-7 (b0, b1), then dims 8-15.
        unsigned bf[4];
        LdMatrixX4Trans(bf, sv + (kk * 16 + lane % 8 + ((lane / 8) % 2) * 8) * kStride + dp * 16 +
                                (lane / 16) * 8);
        MmaBf16(o[2 * dp], pa, bf[0], bf[1]);
        MmaBf16(o[2 * dp + 1], pa, bf[2], bf[3]);
      }
    }
    __syncthreads();  // everyone is done with `buf` before iteration j+1 refills it
  }
  CpAsyncWait<0>();

  // Normalise and store rows that exist.
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float l = row_l[r];
    l += __shfl_xor_sync(0xffffffffu, l, 1);
    l += __shfl_xor_sync(0xffffffffu, l, 2);
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
    if (qrow[r] >= len_q) continue;
    __nv_bfloat16* dst = out + (static_cast<int64_t>(q_begin) + qrow[r]) * q_stride + h * HD;
#pragma unroll
    for (int i = 0; i < kOTiles; ++i) {
      *reinterpret_cast<__nv_bfloat162*>(dst + i * 8 + 2 * t) =
          __floats2bfloat162_rn(o[i][2 * r] * inv, o[i][2 * r + 1] * inv);
    }
  }
}

template <int HD>
cudaError_t LaunchFlashPrefill(const PrefillAttentionArgs& a, cudaStream_t stream) {
  auto kernel = FlashPrefillKernel<HD>;
  constexpr int kBytes = FlashSmem<HD>::kBytes;
  cudaError_t err =
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kBytes);
  if (err != cudaSuccess) return err;
  const dim3 grid(static_cast<unsigned>((a.max_seqlen_q + kFlashBlockM - 1) / kFlashBlockM),
                  static_cast<unsigned>(a.n_heads), static_cast<unsigned>(a.batch));
  const float scale_log2 = a.scale * 1.4426950408889634f;
  const KvRows rows{a.block_table, static_cast<int>(a.page_size), static_cast<int>(a.num_pages),
                    static_cast<int>(a.max_pages_per_seq)};
  kernel<<<grid, kFlashThreads, kBytes, stream>>>(
      a.q, a.k, a.v, a.out, a.cu_seqlens_q, a.cu_seqlens_k, static_cast<int>(a.n_heads),
      static_cast<int>(a.n_kv), scale_log2, a.causal, rows);
  return cudaGetLastError();
}

}  // namespace proctor::kernels::cuda::internal

#endif  // PROCTOR_KERNELS_CUDA_FLASH_PREFILL_IMPL_CUH_
