// Attention for Llama-family models: flash-style prefill over packed
// variable-length sequences, and split-K decode over a paged KV cache.
#ifndef PROCTOR_KERNELS_CUDA_ATTENTION_CUH_
#define PROCTOR_KERNELS_CUDA_ATTENTION_CUH_

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace proctor::kernels::cuda {

// Prefill attention over `batch` sequences packed back to back.
//   q   [total_q, n_heads, head_dim]   (sequence b = rows cu_seqlens_q[b] .. cu_seqlens_q[b+1])
//   k,v [total_k, n_kv,    head_dim]   (sequence b = rows cu_seqlens_k[b] .. cu_seqlens_k[b+1])
//   out [total_q, n_heads, head_dim]
// all BF16 row-major on the device; cu_seqlens_* are device int32 [batch + 1],
// non-decreasing, starting at 0. Query head h reads KV head h / (n_heads / n_kv)
// (GQA, any ratio). Scores are q.k * scale, softmax in F32, P rounded to BF16
// for the P.V product, F32 accumulation.
// Causal masking is bottom-right aligned, as in FlashAttention 2 and in
// ref::Attention with q_pos_offset = len_k - len_q: query i of a sequence
// sees keys j <= i + len_k - len_q. A query that sees no key gets zeros.
// Paged K/V (block_table != nullptr): k and v are page pools [num_pages,
// page_size, n_kv, head_dim]; key j of sequence b is slot j % page_size of page
// block_table[b * max_pages_per_seq + j / page_size]; cu_seqlens_k then only
// gives the key counts. Sequences may share pages: that is the prefix-sharing
// mode (many continuations attending to one cached prefix, each query run
// placed after it by the bottom-right causal alignment). Keys whose page id is
// out of range (or past max_pages_per_seq pages) read as zeros, never out of
// bounds.
// max_seqlen_q bounds the longest query run (it sizes the grid; rows past a
// sequence's own length are skipped).
// Requirements (else cudaErrorInvalidValue): head_dim 64 or 128, n_kv > 0,
// n_heads % n_kv == 0, batch > 0, max_seqlen_q >= 0, q/k/v/out 16-byte
// aligned, scale finite; when paged: page_size, num_pages, max_pages_per_seq > 0
// and max_pages_per_seq * page_size < 2^31.
struct PrefillAttentionArgs {
  const __nv_bfloat16* q = nullptr;
  const __nv_bfloat16* k = nullptr;
  const __nv_bfloat16* v = nullptr;
  __nv_bfloat16* out = nullptr;
  const int32_t* cu_seqlens_q = nullptr;
  const int32_t* cu_seqlens_k = nullptr;
  int64_t batch = 0;
  int64_t max_seqlen_q = 0;
  int64_t n_heads = 0;
  int64_t n_kv = 0;
  int64_t head_dim = 0;
  float scale = 0.0f;
  bool causal = true;
  // Optional paged K/V (see above).
  const int32_t* block_table = nullptr;
  int64_t page_size = 0;
  int64_t num_pages = 0;
  int64_t max_pages_per_seq = 0;
};
cudaError_t PrefillAttentionBf16(const PrefillAttentionArgs& args, cudaStream_t stream);

// Decode attention (one new query token per sequence) over a paged KV cache.
//   q   [batch, n_heads, head_dim] BF16
//   k_pages, v_pages [num_pages, page_size, n_kv, head_dim] BF16
//   block_table [batch, max_pages_per_seq] int32: page id of each logical page
//   seq_lens [batch] int32: keys 0 .. seq_lens[b]-1 are attended (the query is
//   the last position, so no causal mask is needed)
//   out [batch, n_heads, head_dim] BF16
// Split-K (flash-decoding): the key range is cut into num_splits chunks
// processed by separate blocks, each writing (max, sum, unnormalised output)
// to `workspace`; a second kernel combines them. Keys past
// max_pages_per_seq * page_size and pages whose id is outside [0, num_pages)
// are ignored (never read). A sequence with no key gets zeros.
// Requirements (else cudaErrorInvalidValue): head_dim 64 or 128, n_heads % n_kv
// == 0, page_size > 0, pointers non-null, workspace_bytes >=
// DecodeAttentionWorkspaceBytes(batch, n_heads, head_dim, max_seq_len).
struct DecodeAttentionArgs {
  const __nv_bfloat16* q = nullptr;
  const __nv_bfloat16* k_pages = nullptr;
  const __nv_bfloat16* v_pages = nullptr;
  const int32_t* block_table = nullptr;
  const int32_t* seq_lens = nullptr;
  __nv_bfloat16* out = nullptr;
  int64_t batch = 0;
  int64_t n_heads = 0;
  int64_t n_kv = 0;
  int64_t head_dim = 0;
  int64_t num_pages = 0;
  int64_t page_size = 0;
  int64_t max_pages_per_seq = 0;
  int64_t max_seq_len = 0;  // host-side bound on seq_lens; chooses num_splits
  float scale = 0.0f;
};
// Number of key chunks used for a given longest sequence (1 .. 32).
int DecodeAttentionNumSplits(int64_t max_seq_len);
// Bytes of F32 workspace DecodeAttentionBf16 needs.
size_t DecodeAttentionWorkspaceBytes(int64_t batch, int64_t n_heads, int64_t head_dim,
                                     int64_t max_seq_len);
cudaError_t DecodeAttentionBf16(const DecodeAttentionArgs& args, void* workspace,
                                size_t workspace_bytes, cudaStream_t stream);

}  // namespace proctor::kernels::cuda

#endif  // PROCTOR_KERNELS_CUDA_ATTENTION_CUH_
