// Small ops the engine's CUDA backend needs around the main kernels
// (worker/engine/cuda): residual add, KV-cache row scatter, the per-shard
// summary of vocabulary-parallel log-softmax, and portable fallbacks of GEMM
// and attention for shapes the tensor-core kernels do not take (k % 8 != 0,
// head_dim other than 64/128: tiny test models such as stories260K).
// Same conventions as the other entry points (common.cuh): validate, return
// cudaErrorInvalidValue without touching the device, never synchronise,
// never allocate; asynchronous on `stream`; safe to capture in a CUDA graph.
#ifndef PROCTOR_KERNELS_CUDA_ENGINE_OPS_CUH_
#define PROCTOR_KERNELS_CUDA_ENGINE_OPS_CUH_

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

namespace proctor::kernels::cuda {

// x[i] = bf16(x[i] + delta[i]) for i < n (sum in F32).
cudaError_t AddBf16(__nv_bfloat16* x, const __nv_bfloat16* delta, int64_t n, cudaStream_t stream);

// dst[dst_rows[r], :] = src[r, :] for r < rows (src [rows, cols], dst rows of
// `cols` elements). Rows whose index is negative are skipped. The index array
// lives on the device, so a captured graph can be replayed with new indices.
cudaError_t ScatterRowsBf16(const __nv_bfloat16* src, int64_t rows, int64_t cols,
                            const int32_t* dst_rows, __nv_bfloat16* dst, cudaStream_t stream);

// Copies rows inside each of `pools` equally spaced pools: for i < pools,
// rows [dst_row, dst_row + rows) of pool i = rows [src_row, src_row + rows)
// of pool i, where pool i starts at base + i * pool_stride elements and a row
// has `cols` elements (the KV cache's copy-on-write of a partly filled page:
// every layer's K and V pool in one launch). The two row ranges must not
// overlap, and pool_stride >= (max(src_row, dst_row) + rows) * cols.
cudaError_t CopyPoolRowsBf16(__nv_bfloat16* base, int64_t pools, int64_t pool_stride, int64_t cols,
                             int64_t src_row, int64_t dst_row, int64_t rows, cudaStream_t stream);

// Per-row summary of logits[rows, n] (F32), a slice of the vocabulary
// starting at id vocab_begin, written as five floats per row to stats[rows, 5]:
//   max, sum of exp(logit - max), logit of targets[r] (0 when not in the
//   slice), 1/0 whether the slice holds targets[r], argmax as a global id
//   (lowest id on ties).
// The layout is worker/engine/backend_vocab_parallel.h's VocabShardStats.
cudaError_t VocabShardStatsF32(const float* logits, const int32_t* targets, int64_t rows, int64_t n,
                               int64_t vocab_begin, float* stats, cudaStream_t stream);

// Portable GEMM: C[m, n] = sum_k A[m, k] * B[n, k] (+ bias[n]), F32
// accumulation, for any k > 0 (no alignment needs). Slow; for small models.
cudaError_t GemmBf16Portable(const __nv_bfloat16* a, const __nv_bfloat16* b, __nv_bfloat16* c,
                             const __nv_bfloat16* bias, int64_t m, int64_t n, int64_t k,
                             cudaStream_t stream);
cudaError_t GemmBf16PortableF32Out(const __nv_bfloat16* a, const __nv_bfloat16* b, float* c,
                                   int64_t m, int64_t n, int64_t k, cudaStream_t stream);

// Portable causal GQA attention of one sequence over a paged KV cache, any
// head_dim <= 256: q [len_q, n_heads, head_dim]; key j (< *len_k, read on the
// device) is slot j % page_size of page block_table[j / page_size] of the
// pools k_pages/v_pages [pages, page_size, n_kv, head_dim]; query i sees keys
// j <= i + *len_k - len_q (bottom-right alignment). One warp per (query,
// head), online softmax in F32. out [len_q, n_heads, head_dim].
cudaError_t AttentionPortableBf16(const __nv_bfloat16* q, const __nv_bfloat16* k_pages,
                                  const __nv_bfloat16* v_pages, const int32_t* block_table,
                                  const int32_t* len_k, int64_t len_q, int64_t n_heads,
                                  int64_t n_kv, int64_t head_dim, int64_t page_size, float scale,
                                  __nv_bfloat16* out, cudaStream_t stream);

}  // namespace proctor::kernels::cuda

#endif  // PROCTOR_KERNELS_CUDA_ENGINE_OPS_CUH_
