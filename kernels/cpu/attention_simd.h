// SIMD bodies of ops.h's Attention: one (query row, head) pair at a time,
// scores with vector dot products, a vectorised exp, and the weighted sum of
// V rows accumulated in registers. Semantics are ref::Attention's (softmax in
// F32 after subtracting the row maximum); results differ from it only by
// summation order, FMA rounding and the exp approximation (< 2 ulp).
//
// Thread-safety: pure; concurrent calls on different (i, h) are safe.
#ifndef PROCTOR_KERNELS_CPU_ATTENTION_SIMD_H_
#define PROCTOR_KERNELS_CPU_ATTENTION_SIMD_H_

#include <cstdint>

namespace proctor::kernels {

// True when AttentionRowSimd handles head dimension `hd` on the active ISA
// (AVX-512 with hd % 16 == 0, or AVX2 with hd % 8 == 0).
bool AttentionSimdSupports(int64_t hd);

// A contiguous run of cached keys: `count` rows of K and of V, row j at
// k + j * kv_stride and v + j * kv_stride (the stride is the caller's). A
// query's keys may be split over several ranges (a forked KV store reads its
// parent's rows, then its own): their concatenation is one key sequence with
// one softmax over it. Not owned.
struct KvRange {
  const float* k = nullptr;
  const float* v = nullptr;
  int64_t count = 0;
};

// out[hd] = softmax(q . k_j * scale for j <= last) weighted sum of v_j, where
// key j is row j of the concatenation of ranges[0 .. n_ranges), each row read
// at kv_offset floats past its range's row start (the KV head's columns).
// `scores` is caller scratch of at least last + 1 + 16 floats. Requires
// 0 <= last < the ranges' total count and AttentionSimdSupports(hd).
void AttentionRowSimd(const float* q, const KvRange* ranges, int64_t n_ranges, int64_t kv_offset,
                      int64_t kv_stride, int64_t last, int64_t hd, float scale, float* scores,
                      float* out);

}  // namespace proctor::kernels

#endif  // PROCTOR_KERNELS_CPU_ATTENTION_SIMD_H_
