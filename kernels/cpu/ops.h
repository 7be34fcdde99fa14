// Fast CPU kernels (threads + SIMD with runtime dispatch), each tested against
// its counterpart in reference.h. Shapes and semantics are those of the
// reference; `pool` may be null (single-threaded).
#ifndef PROCTOR_KERNELS_CPU_OPS_H_
#define PROCTOR_KERNELS_CPU_OPS_H_

#include <cstdint>

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
// Each weight row is decoded once per call and reused for all m inputs.
void MatMul(const float* x, int64_t m, const WeightMatrix& w, const float* bias, float* out,
            ThreadPool* pool);

// Same contract as ref::Attention, parallel over (query, head).
void Attention(const float* q, const float* k, const float* v, float* out, int64_t t, int64_t s,
               int64_t n_heads, int64_t n_kv, int64_t hd, int64_t q_pos_offset, float scale,
               ThreadPool* pool);

}  // namespace proctor::kernels

#endif  // PROCTOR_KERNELS_CPU_OPS_H_
