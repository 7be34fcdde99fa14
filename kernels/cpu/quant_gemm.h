// Register-tiled matrix multiplication against block-quantised (and F32)
// weights, decoding each weight block into SIMD registers once per tile and
// reusing it for up to eight activation rows (prefill) — the weights are never
// expanded to F32 in memory and activations stay F32 (no 8-bit rounding of the
// activations, unlike llama.cpp: log-likelihoods keep their float accuracy).
//
// Tile kernels: AVX-512 (4 weight rows x 4 activation rows, 16 lanes) and AVX2
// (2 x 4, 8 lanes), chosen by ActiveIsa(). Each output is one F32 dot product
// over the decoded row, accumulated in 16 (8) partial sums and reduced at the
// end; the result differs from ref::Gemm over the dequantised weights only by
// summation order and FMA rounding.
//
// Thread-safety: pure functions; concurrent calls on disjoint output rows are
// safe (that is how ops.h's MatMul splits the work).
#ifndef PROCTOR_KERNELS_CPU_QUANT_GEMM_H_
#define PROCTOR_KERNELS_CPU_QUANT_GEMM_H_

#include <cstdint>

#include "kernels/cpu/ops.h"

namespace proctor::kernels {

// Rows of weights per tile: row ranges passed to QuantGemmRows should start
// at multiples of this so that tiles are full (any range is correct).
inline constexpr int64_t kQuantGemmRowTile = 4;

// True when QuantGemmRows can run `w` on the active ISA: format Q8_0, Q4_0,
// Q4_1 or F32, w.cols a multiple of 32, and ActiveIsa() >= kAvx2.
bool QuantGemmSupports(const WeightMatrix& w);

// For i < m and row_begin <= r < row_end:
//   out[i * w.rows + r] = dot(x[i * w.cols ...], decode(W[r, :])) (+ bias[r]).
// Requires QuantGemmSupports(w). `bias` may be null. Does not allocate.
void QuantGemmRows(const float* x, int64_t m, const WeightMatrix& w, const float* bias, float* out,
                   int64_t row_begin, int64_t row_end);

}  // namespace proctor::kernels

#endif  // PROCTOR_KERNELS_CPU_QUANT_GEMM_H_
