// Fast CPU kernels (threads + SIMD with runtime dispatch), each tested against
// its counterpart in reference.h. Shapes and semantics are those of the
// reference; `pool` may be null (single-threaded).
#ifndef PROCTOR_KERNELS_CPU_OPS_H_
#define PROCTOR_KERNELS_CPU_OPS_H_

#include <cstdint>

#include "kernels/cpu/attention_simd.h"
#include "kernels/cpu/reference.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/cpu/weight_format.h"

namespace proctor::kernels {

// A weight matrix [rows = out, cols = in] in one of the WeightFormats, row r
// starting at data + r * stride(); not owned. A non-zero `row_stride` (bytes)
// describes a column slice of a wider matrix (tensor parallelism).
struct WeightMatrix {
  WeightFormat format = WeightFormat::kF32;
  const void* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t row_stride = 0;  // 0 = dense: RowBytes(format, cols)
  int64_t stride() const { return row_stride > 0 ? row_stride : RowBytes(format, cols); }
};

// True when the AVX2+FMA code paths are in use on this CPU.
bool HaveAvx2();

// DequantizeRow with SIMD decoders for Q8_0/Q4_0/Q4_1 when AVX2 is present
// (equal to the reference up to FMA rounding); other formats use the reference.
void DequantizeRowFast(WeightFormat f, const void* src, float* dst, int64_t n);

// Dot product of two F32 vectors (8-way accumulation; AVX2 when available).
float Dot(const float* a, const float* b, int64_t n);

// out[m, w.rows] = x[m, w.cols] * W^T (+ bias[w.rows] when bias != null).
// Every format with w.cols % 32 == 0 (Q4_K/Q6_K: % 256) runs the
// register-tiled kernels of quant_gemm.h when AVX2 is present (AVX-512 or
// AVX2; threads split output rows, one chunk per thread for m <= 8);
// otherwise each weight row is decoded once per call and reused for all m
// inputs.
void MatMul(const float* x, int64_t m, const WeightMatrix& w, const float* bias, float* out,
            ThreadPool* pool);

// Same contract as ref::Attention, parallel over (query, head).
void Attention(const float* q, const float* k, const float* v, float* out, int64_t t, int64_t s,
               int64_t n_heads, int64_t n_kv, int64_t hd, int64_t q_pos_offset, float scale,
               ThreadPool* pool);

// The queries of one sequence in AttentionBatch: rows [row, row + t) of q and
// out. Its keys are the concatenation of ranges[0 .. n_ranges) (KvRange rows
// of [n_kv, hd], i.e. kv_stride n_kv * hd), and its query i attends to keys
// j <= q_pos_offset + i (zeros when there is none). Not owned.
struct AttentionSequence {
  int64_t row = 0;
  int64_t t = 0;
  int64_t q_pos_offset = 0;
  const KvRange* ranges = nullptr;
  int64_t n_ranges = 0;
};

// Attention of several sequences in one call (a batched step), parallel over
// all their (query row, head) pairs: for each sequence, ref::Attention's
// contract with k and v the concatenation of its ranges (one softmax spans
// all of a query's keys). q, out: [rows, n_heads, hd].
void AttentionBatch(const float* q, float* out, const AttentionSequence* seqs, int64_t n_seqs,
                    int64_t n_heads, int64_t n_kv, int64_t hd, float scale, ThreadPool* pool);

// Same contract and bit-identical results as ref::Rope, but each rotation
// angle's cos/sin (and each pair's inverse frequency) is computed once per
// token instead of once per (token, head): ~n_heads times fewer libm calls.
// Allocates O(head_dim) scratch per call. Call it qualified (kernels::Rope):
// its ref::RopeParams argument makes argument-dependent lookup find ref::Rope
// as well.
void Rope(float* x, const int32_t* positions, int64_t tokens, int64_t n_heads, int64_t head_dim,
          const ref::RopeParams& params);

}  // namespace proctor::kernels

#endif  // PROCTOR_KERNELS_CPU_OPS_H_
