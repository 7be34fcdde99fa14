#include "kernels/cpu/quant_gemm.h"

#include <algorithm>
#include <cstring>

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/reference.h"

#if defined(__x86_64__) || defined(__i386__)
// GCC 12's AVX-512 intrinsics start from _mm512_undefined_*() (a deliberate
// self-initialisation) and trip -Wuninitialized once inlined.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#define PROCTOR_X86 1
#endif

namespace proctor::kernels {

#ifdef PROCTOR_X86
namespace {

#define PROCTOR_TARGET_AVX2 __attribute__((target("avx2,fma,f16c")))
#define PROCTOR_TARGET_AVX512 \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")))
#define PROCTOR_INLINE inline __attribute__((always_inline))

// Activation rows per token block: the x rows of one block stay in L2 while
// the weight rows of a tile (a few KiB) stay in L1 across the block.
constexpr int64_t kTokenBlock = 64;
constexpr int64_t kBlockValues = 32;
// Decode tiles between a weight prefetch and its use.
constexpr int64_t kPrefetchTiles = 8;

constexpr int64_t BlockBytesOf(WeightFormat f) {
  return f == WeightFormat::kQ8_0   ? ref::kBlockBytesQ8_0
         : f == WeightFormat::kQ4_0 ? ref::kBlockBytesQ4_0
         : f == WeightFormat::kQ4_1 ? ref::kBlockBytesQ4_1
                                    : kBlockValues * 4;  // F32
}

PROCTOR_TARGET_AVX2 PROCTOR_INLINE float Half(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, sizeof(h));
  return _cvtsh_ss(h);
}

// ---- AVX-512: a block is two 16-lane vectors --------------------------------

// 16 lanes of the F16 value at p (broadcast as 16 bits, then one conversion).
PROCTOR_TARGET_AVX512 PROCTOR_INLINE __m512 HalfBroadcast512(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, sizeof(h));
  return _mm512_cvtph_ps(_mm256_set1_epi16(static_cast<short>(h)));
}

template <WeightFormat F>
PROCTOR_TARGET_AVX512 PROCTOR_INLINE void Decode512(const uint8_t* p, __m512* w0, __m512* w1) {
  if constexpr (F == WeightFormat::kF32) {
    *w0 = _mm512_loadu_ps(p);
    *w1 = _mm512_loadu_ps(p + 64);
  } else if constexpr (F == WeightFormat::kQ8_0) {
    const __m512 d = HalfBroadcast512(p);
    const __m128i q0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2));
    const __m128i q1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 18));
    *w0 = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q0)));
    *w1 = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q1)));
  } else {
    constexpr bool kHasMin = F == WeightFormat::kQ4_1;
    __m512 d, m;
    if constexpr (kHasMin) {
      // d and m are adjacent: one 32-bit load, one narrow conversion.
      uint32_t dm;
      std::memcpy(&dm, p, sizeof(dm));
      const __m128 both = _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(dm)));
      d = _mm512_broadcastss_ps(both);
      m = _mm512_broadcastss_ps(_mm_movehdup_ps(both));
    } else {
      d = HalfBroadcast512(p);
      // Q4_0: d * (q - 8) == fma(q, d, -8d) exactly (-8d is exact).
      m = _mm512_mul_ps(d, _mm512_set1_ps(-8.0f));
    }
    // The 16 possible values d * i + m (one FMA each, rounded exactly as a
    // per-element FMA would be), looked up by nibble: vpermps reads only the
    // low 4 bits of each 32-bit index, so no masking is needed.
    const __m512 lut =
        _mm512_fmadd_ps(_mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), d, m);
    const __m512i bytes = _mm512_cvtepu8_epi32(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + (kHasMin ? 4 : 2))));
    *w0 = _mm512_permutexvar_ps(bytes, lut);
    *w1 = _mm512_permutexvar_ps(_mm512_srli_epi32(bytes, 4), lut);
  }
}

// out[t * n + r] = dot(x[t], W[r]) for r < R, t < T; w rows `ws` bytes apart,
// x rows `k` floats apart, nb blocks per row.
template <WeightFormat F, int R, int T>
PROCTOR_TARGET_AVX512 void Tile512(const uint8_t* w, int64_t ws, const float* x, int64_t k,
                                   int64_t nb, const float* bias, float* out, int64_t n) {
  constexpr int64_t kBB = BlockBytesOf(F);
  __m512 acc[R][T];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
  }
  for (int64_t b = 0; b < nb; ++b) {
    __m512 w0[R], w1[R];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) Decode512<F>(w + r * ws + b * kBB, &w0[r], &w1[r]);
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) {
      const float* xp = x + t * k + b * kBlockValues;
      const __m512 x0 = _mm512_loadu_ps(xp);
      const __m512 x1 = _mm512_loadu_ps(xp + 16);
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        acc[r][t] = _mm512_fmadd_ps(w0[r], x0, acc[r][t]);
        acc[r][t] = _mm512_fmadd_ps(w1[r], x1, acc[r][t]);
      }
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) {
      out[t * n + r] = _mm512_reduce_add_ps(acc[r][t]) + (bias != nullptr ? bias[r] : 0.0f);
    }
  }
}

template <WeightFormat F, int R>
PROCTOR_TARGET_AVX512 void TokenRun512(const uint8_t* w, int64_t ws, const float* x, int64_t k,
                                       int64_t nb, const float* bias, float* out, int64_t n,
                                       int64_t tokens) {
  int64_t t = 0;
  for (; t + 8 <= tokens; t += 8) Tile512<F, R, 8>(w, ws, x + t * k, k, nb, bias, out + t * n, n);
  if (t + 4 <= tokens) {
    Tile512<F, R, 4>(w, ws, x + t * k, k, nb, bias, out + t * n, n);
    t += 4;
  }
  if (t + 2 <= tokens) {
    Tile512<F, R, 2>(w, ws, x + t * k, k, nb, bias, out + t * n, n);
    t += 2;
  }
  if (t < tokens) Tile512<F, R, 1>(w, ws, x + t * k, k, nb, bias, out + t * n, n);
}

template <WeightFormat F>
PROCTOR_TARGET_AVX512 void Rows512(const float* x, int64_t m, const uint8_t* w, int64_t ws,
                                   int64_t k, const float* bias, float* out, int64_t n, int64_t r0,
                                   int64_t r1) {
  const int64_t nb = k / kBlockValues;
  for (int64_t t0 = 0; t0 < m; t0 += kTokenBlock) {
    const int64_t tokens = std::min(kTokenBlock, m - t0);
    const float* xb = x + t0 * k;
    float* ob = out + t0 * n;
    int64_t r = r0;
    if (tokens == 1) {
      // Decode: one activation row, four weight rows per tile; each weight
      // byte is used once, so the tile kPrefetchTiles ahead is prefetched
      // (the hardware prefetcher alone leaves DRAM latency exposed).
      for (; r + 4 <= r1; r += 4) {
        if (kPrefetchTiles > 0 && r + 4 * (kPrefetchTiles + 1) <= r1) {
          const uint8_t* ahead = w + (r + 4 * kPrefetchTiles) * ws;
          for (int64_t off = 0; off < 4 * ws; off += 64) {
            _mm_prefetch(reinterpret_cast<const char*>(ahead + off), _MM_HINT_T0);
          }
        }
        Tile512<F, 4, 1>(w + r * ws, ws, xb, k, nb, bias ? bias + r : nullptr, ob + r, n);
      }
    }
    for (; r + 2 <= r1; r += 2) {
      TokenRun512<F, 2>(w + r * ws, ws, xb, k, nb, bias ? bias + r : nullptr, ob + r, n, tokens);
    }
    for (; r < r1; ++r) {
      TokenRun512<F, 1>(w + r * ws, ws, xb, k, nb, bias ? bias + r : nullptr, ob + r, n, tokens);
    }
  }
}

// ---- AVX2: a block is four 8-lane vectors, handled as two halves -------------

// Decodes values [16h, 16h + 16) of the block at p into two 8-lane vectors.
template <WeightFormat F>
PROCTOR_TARGET_AVX2 PROCTOR_INLINE void Decode256(const uint8_t* p, int h, __m256* w0, __m256* w1) {
  if constexpr (F == WeightFormat::kF32) {
    *w0 = _mm256_loadu_ps(reinterpret_cast<const float*>(p) + 16 * h);
    *w1 = _mm256_loadu_ps(reinterpret_cast<const float*>(p) + 16 * h + 8);
  } else if constexpr (F == WeightFormat::kQ8_0) {
    const __m256 d = _mm256_set1_ps(Half(p));
    const __m128i q0 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + 2 + 16 * h));
    const __m128i q1 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + 10 + 16 * h));
    *w0 = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q0)));
    *w1 = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q1)));
  } else {
    constexpr bool kHasMin = F == WeightFormat::kQ4_1;
    const float df = Half(p);
    const __m256 d = _mm256_set1_ps(df);
    const __m256 m = _mm256_set1_ps(kHasMin ? Half(p + 2) : -8.0f * df);
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + (kHasMin ? 4 : 2)));
    const __m128i mask = _mm_set1_epi8(0x0f);
    const __m128i nib = h == 0 ? _mm_and_si128(q, mask) : _mm_and_si128(_mm_srli_epi16(q, 4), mask);
    *w0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(nib)), d, m);
    *w1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(nib, 8))), d, m);
  }
}

PROCTOR_TARGET_AVX2 PROCTOR_INLINE float Hsum256(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

template <WeightFormat F, int R, int T>
PROCTOR_TARGET_AVX2 void Tile256(const uint8_t* w, int64_t ws, const float* x, int64_t k,
                                 int64_t nb, const float* bias, float* out, int64_t n) {
  constexpr int64_t kBB = BlockBytesOf(F);
  __m256 acc[R][T];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
  }
  for (int64_t b = 0; b < nb; ++b) {
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      __m256 w0[R], w1[R];
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) Decode256<F>(w + r * ws + b * kBB, h, &w0[r], &w1[r]);
#pragma GCC unroll 16
      for (int t = 0; t < T; ++t) {
        const float* xp = x + t * k + b * kBlockValues + 16 * h;
        const __m256 x0 = _mm256_loadu_ps(xp);
        const __m256 x1 = _mm256_loadu_ps(xp + 8);
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
          acc[r][t] = _mm256_fmadd_ps(w0[r], x0, acc[r][t]);
          acc[r][t] = _mm256_fmadd_ps(w1[r], x1, acc[r][t]);
        }
      }
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) {
      out[t * n + r] = Hsum256(acc[r][t]) + (bias != nullptr ? bias[r] : 0.0f);
    }
  }
}

template <WeightFormat F, int R>
PROCTOR_TARGET_AVX2 void TokenRun256(const uint8_t* w, int64_t ws, const float* x, int64_t k,
                                     int64_t nb, const float* bias, float* out, int64_t n,
                                     int64_t tokens) {
  int64_t t = 0;
  for (; t + 4 <= tokens; t += 4) Tile256<F, R, 4>(w, ws, x + t * k, k, nb, bias, out + t * n, n);
  switch (tokens - t) {
    case 3:
      return Tile256<F, R, 3>(w, ws, x + t * k, k, nb, bias, out + t * n, n);
    case 2:
      return Tile256<F, R, 2>(w, ws, x + t * k, k, nb, bias, out + t * n, n);
    case 1:
      return Tile256<F, R, 1>(w, ws, x + t * k, k, nb, bias, out + t * n, n);
    default:
      return;
  }
}

template <WeightFormat F>
PROCTOR_TARGET_AVX2 void Rows256(const float* x, int64_t m, const uint8_t* w, int64_t ws, int64_t k,
                                 const float* bias, float* out, int64_t n, int64_t r0, int64_t r1) {
  const int64_t nb = k / kBlockValues;
  for (int64_t t0 = 0; t0 < m; t0 += kTokenBlock) {
    const int64_t tokens = std::min(kTokenBlock, m - t0);
    const float* xb = x + t0 * k;
    float* ob = out + t0 * n;
    int64_t r = r0;
    for (; r + 2 <= r1; r += 2) {
      TokenRun256<F, 2>(w + r * ws, ws, xb, k, nb, bias ? bias + r : nullptr, ob + r, n, tokens);
    }
    for (; r < r1; ++r) {
      TokenRun256<F, 1>(w + r * ws, ws, xb, k, nb, bias ? bias + r : nullptr, ob + r, n, tokens);
    }
  }
}

template <WeightFormat F>
void Dispatch(Isa isa, const float* x, int64_t m, const WeightMatrix& w, const float* bias,
              float* out, int64_t r0, int64_t r1) {
  const auto* base = static_cast<const uint8_t*>(w.data);
  if (isa >= Isa::kAvx512) {
    Rows512<F>(x, m, base, w.stride(), w.cols, bias, out, w.rows, r0, r1);
  } else {
    Rows256<F>(x, m, base, w.stride(), w.cols, bias, out, w.rows, r0, r1);
  }
}

}  // namespace
#endif  // PROCTOR_X86

bool QuantGemmSupports(const WeightMatrix& w) {
#ifdef PROCTOR_X86
  if (ActiveIsa() < Isa::kAvx2 || w.cols % 32 != 0) return false;
  switch (w.format) {
    case WeightFormat::kF32:
    case WeightFormat::kQ8_0:
    case WeightFormat::kQ4_0:
    case WeightFormat::kQ4_1:
      return true;
    default:
      return false;
  }
#else
  (void)w;
  return false;
#endif
}

void QuantGemmRows(const float* x, int64_t m, const WeightMatrix& w, const float* bias, float* out,
                   int64_t row_begin, int64_t row_end) {
#ifdef PROCTOR_X86
  const Isa isa = ActiveIsa();
  switch (w.format) {
    case WeightFormat::kF32:
      return Dispatch<WeightFormat::kF32>(isa, x, m, w, bias, out, row_begin, row_end);
    case WeightFormat::kQ8_0:
      return Dispatch<WeightFormat::kQ8_0>(isa, x, m, w, bias, out, row_begin, row_end);
    case WeightFormat::kQ4_0:
      return Dispatch<WeightFormat::kQ4_0>(isa, x, m, w, bias, out, row_begin, row_end);
    case WeightFormat::kQ4_1:
      return Dispatch<WeightFormat::kQ4_1>(isa, x, m, w, bias, out, row_begin, row_end);
    default:
      return;
  }
#else
  (void)x, (void)m, (void)w, (void)bias, (void)out, (void)row_begin, (void)row_end;
#endif
}

}  // namespace proctor::kernels
