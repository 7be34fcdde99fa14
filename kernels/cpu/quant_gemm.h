// Register-tiled matrix multiplication against block-quantised (Q8_0, Q4_0,
// Q4_1, Q4_K, Q6_K) and F32 / F16 / BF16 weights, decoding each weight block into SIMD registers
// once per tile and reusing it for every activation row of the tile — the weights are never
// expanded to F32 in memory and activations stay F32 (no 8-bit rounding of the activations, unlike
// llama.cpp: log-likelihoods keep their float accuracy).
//
// Tiles, chosen by ActiveIsa() and the number m of activation rows:
//   m <= 8 (decode, batched decode; every weight byte is used once per call):
//     AVX-512 4 weight rows x m (2 x m for m > 4), AVX2 2 x m; the weight rows
//     a few tiles ahead are prefetched into L2, so DRAM latency overlaps the
//     decoding.
//   m > 8 (prefill): 2 weight rows x 8 activation rows (AVX2: 2 x 4), the
//     activation rows walked in cache blocks of 64.
// Each output is one F32 dot product over the decoded row, accumulated in 16
// (8) partial sums and reduced at the end; every weight is decoded exactly as
// the reference decoder rounds it, so the result differs from ref::Gemm over
// the dequantised weights only by summation order and FMA rounding.
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

// Minimum tiles per ParallelFor chunk when `num_threads` threads split the
// `tiles` row tiles of a call with m activation rows of k values: at least
// ~16k multiply-adds per chunk (tiny matrices stay on one thread), and for
// m <= 8 (decode, batched decode: the weights stream from memory) one chunk
// per thread, so that each thread's rows are one prefetched stream.
int64_t QuantGemmChunkTiles(int64_t m, int64_t k, int64_t tiles, int num_threads);

// True when QuantGemmRows can run `w` on the active ISA: ActiveIsa() >=
// kAvx2 and either format Q8_0, Q4_0, Q4_1, F32, F16 or BF16 with w.cols a
// multiple of 32, or Q4_K / Q6_K with w.cols a multiple of 256.
bool QuantGemmSupports(const WeightMatrix& w);

// For i < m and row_begin <= r < row_end:
//   out[i * w.rows + r] = dot(x[i * w.cols ...], decode(W[r, :])) (+ bias[r]).
// Requires QuantGemmSupports(w). `bias` may be null. Does not allocate.
void QuantGemmRows(const float* x, int64_t m, const WeightMatrix& w, const float* bias, float* out,
                   int64_t row_begin, int64_t row_end);

}  // namespace proctor::kernels

#endif  // PROCTOR_KERNELS_CPU_QUANT_GEMM_H_
