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
namespace {
// See kStreamTokens below (defined here too for builds without x86 kernels).
constexpr int64_t kStreamTokensAllIsas = 8;
}  // namespace

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
// At most this many activation rows (decode, batched decode) read each
// weight byte once per call: the weights stream from DRAM and are prefetched.
constexpr int64_t kStreamTokens = kStreamTokensAllIsas;
// Tiles between a weight prefetch and its use (into L2: prefetching into L1
// this far ahead measured slower, see docs/design/kernels.md).
constexpr int64_t kPrefetchTiles = 2;

constexpr bool IsKQuant(WeightFormat f) {
  return f == WeightFormat::kQ4_K || f == WeightFormat::kQ6_K;
}

// Bytes of one 32-value block; 0 for the k-quants, whose 32-value sub-blocks
// are addressed through KSubBlock.
constexpr int64_t BlockBytesOf(WeightFormat f) {
  return f == WeightFormat::kQ8_0                              ? ref::kBlockBytesQ8_0
         : f == WeightFormat::kQ4_0                            ? ref::kBlockBytesQ4_0
         : f == WeightFormat::kQ4_1                            ? ref::kBlockBytesQ4_1
         : f == WeightFormat::kF16 || f == WeightFormat::kBF16 ? kBlockValues * 2
         : IsKQuant(f)                                         ? 0
                                                               : kBlockValues * 4;  // F32
}

// Bytes of `nb` 32-value blocks (k-quants: nb / 8 super-blocks of 256).
constexpr int64_t RowBytesOf(WeightFormat f, int64_t nb) {
  return f == WeightFormat::kQ4_K   ? nb / 8 * ref::kBlockBytesQ4_K
         : f == WeightFormat::kQ6_K ? nb / 8 * ref::kBlockBytesQ6_K
                                    : nb * BlockBytesOf(f);
}

// A 32-value sub-block of a k-quant super-block, as the tile kernels decode
// it: 4-bit (Q4_K) or 6-bit (Q6_K, low 4 bits in `ql`, high 2 in `qh`)
// quants, one value = scale * q - min (Q4_K) or scale * (q - 32) (Q6_K, a
// scale per 16 values). Scales are products rounded exactly as the reference
// decoder's.
struct KSub {
  const uint8_t* ql;  // 32 bytes: the quants' low 4 bits at bit `ql_shift`
  const uint8_t* qh;  // Q6_K: 32 bytes, the high 2 bits at bit `qh_shift`
  int ql_shift, qh_shift;
  float scale0, scale1;  // values 0..15 and 16..31 (equal for Q4_K)
  float min;             // Q4_K
};

template <WeightFormat F>
PROCTOR_TARGET_AVX2 PROCTOR_INLINE KSub KSubBlock(const uint8_t* row, int64_t b) {
  KSub k{};
  if constexpr (F == WeightFormat::kQ4_K) {
    const uint8_t* sp = row + (b / 8) * ref::kBlockBytesQ4_K;
    const int j = static_cast<int>(b % 8);
    const uint8_t* sc = sp + 4;
    uint16_t dh, mh;
    std::memcpy(&dh, sp, 2);
    std::memcpy(&mh, sp + 2, 2);
    int scale, mn;
    if (j < 4) {
      scale = sc[j] & 63;
      mn = sc[j + 4] & 63;
    } else {
      scale = (sc[j + 4] & 0x0f) | ((sc[j - 4] >> 6) << 4);
      mn = (sc[j + 4] >> 4) | ((sc[j] >> 6) << 4);
    }
    k.ql = sp + 16 + 32 * (j / 2);
    k.ql_shift = (j % 2) * 4;
    k.scale0 = k.scale1 = _cvtsh_ss(dh) * static_cast<float>(scale);
    k.min = _cvtsh_ss(mh) * static_cast<float>(mn);
  } else {
    const uint8_t* sp = row + (b / 8) * ref::kBlockBytesQ6_K;
    const int h = static_cast<int>(b % 8) / 4, g = static_cast<int>(b % 4);
    const auto* sc = reinterpret_cast<const int8_t*>(sp + 192 + 8 * h);
    uint16_t dh;
    std::memcpy(&dh, sp + 208, 2);
    const float d = _cvtsh_ss(dh);
    k.ql = sp + 64 * h + 32 * (g % 2);
    k.ql_shift = (g / 2) * 4;
    k.qh = sp + 128 + 32 * h;
    k.qh_shift = 2 * g;
    k.scale0 = d * static_cast<float>(sc[2 * g]);
    k.scale1 = d * static_cast<float>(sc[2 * g + 1]);
  }
  return k;
}

PROCTOR_TARGET_AVX2 PROCTOR_INLINE float Half(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, sizeof(h));
  return _cvtsh_ss(h);
}

// Prefetches rows [a, b) (their first `row_bytes` bytes, rows `ws` apart)
// into L2.
PROCTOR_INLINE void PrefetchRows(const uint8_t* w, int64_t ws, int64_t row_bytes, int64_t a,
                                 int64_t b) {
  for (int64_t q = a; q < b; ++q) {
    const char* row = reinterpret_cast<const char*>(w + q * ws);
    for (int64_t off = 0; off < row_bytes; off += 64) _mm_prefetch(row + off, _MM_HINT_T1);
  }
}

// Streams rows [r0, r1) through `tile(r, rows)` in tiles of R rows (then
// remainder tiles of fewer rows), prefetching the rows kPrefetchTiles tiles
// ahead (the first ones before the loop): with few activation rows every
// weight byte is used once and DRAM latency would otherwise be exposed.
template <int R, typename TileFn>
PROCTOR_INLINE void StreamRows(const uint8_t* w, int64_t ws, int64_t row_bytes, int64_t r0,
                               int64_t r1, TileFn tile) {
  constexpr int64_t kAhead = kPrefetchTiles * R;
  PrefetchRows(w, ws, row_bytes, r0, std::min(r1, r0 + kAhead));
  int64_t r = r0;
  for (; r + R <= r1; r += R) {
    if (r + kAhead < r1) PrefetchRows(w, ws, row_bytes, r + kAhead, std::min(r1, r + kAhead + R));
    tile(r, R);
  }
  if constexpr (R > 2) {
    if (r + 2 <= r1) {
      tile(r, 2);
      r += 2;
    }
  }
  if (r < r1) tile(r, 1);
}

// ---- AVX-512: a block is two 16-lane vectors --------------------------------

// 16 lanes of the F16 value at p (broadcast as 16 bits, then one conversion).
PROCTOR_TARGET_AVX512 PROCTOR_INLINE __m512 HalfBroadcast512(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, sizeof(h));
  return _mm512_cvtph_ps(_mm256_set1_epi16(static_cast<short>(h)));
}

// Decodes 32-value block b of the row at `row` into two 16-lane vectors.
template <WeightFormat F>
PROCTOR_TARGET_AVX512 PROCTOR_INLINE void Decode512(const uint8_t* row, int64_t b, __m512* w0,
                                                    __m512* w1) {
  const uint8_t* p = row + b * BlockBytesOf(F);
  if constexpr (F == WeightFormat::kQ4_K) {
    // scale * q - min, multiplied then subtracted as the reference does,
    // looked up by nibble as for Q4_1.
    const KSub ks = KSubBlock<F>(row, b);
    const __m512 lut = _mm512_sub_ps(
        _mm512_mul_ps(_mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                      _mm512_set1_ps(ks.scale0)),
        _mm512_set1_ps(ks.min));
    const __m512i shift = _mm512_set1_epi32(ks.ql_shift);
    const __m512i b0 =
        _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(ks.ql)));
    const __m512i b1 =
        _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(ks.ql + 16)));
    *w0 = _mm512_permutexvar_ps(_mm512_srlv_epi32(b0, shift), lut);
    *w1 = _mm512_permutexvar_ps(_mm512_srlv_epi32(b1, shift), lut);
  } else if constexpr (F == WeightFormat::kQ6_K) {
    const KSub ks = KSubBlock<F>(row, b);
    const __m512i lo_shift = _mm512_set1_epi32(ks.ql_shift);
    const __m512i hi_shift = _mm512_set1_epi32(ks.qh_shift);
    __m512 v[2];
    for (int i = 0; i < 2; ++i) {
      const __m512i lo = _mm512_and_si512(
          _mm512_srlv_epi32(_mm512_cvtepu8_epi32(
                                _mm_loadu_si128(reinterpret_cast<const __m128i*>(ks.ql + 16 * i))),
                            lo_shift),
          _mm512_set1_epi32(0x0f));
      const __m512i hi = _mm512_and_si512(
          _mm512_srlv_epi32(_mm512_cvtepu8_epi32(
                                _mm_loadu_si128(reinterpret_cast<const __m128i*>(ks.qh + 16 * i))),
                            hi_shift),
          _mm512_set1_epi32(3));
      const __m512i q =
          _mm512_sub_epi32(_mm512_or_si512(lo, _mm512_slli_epi32(hi, 4)), _mm512_set1_epi32(32));
      v[i] = _mm512_mul_ps(_mm512_cvtepi32_ps(q), _mm512_set1_ps(i == 0 ? ks.scale0 : ks.scale1));
    }
    *w0 = v[0];
    *w1 = v[1];
  } else if constexpr (F == WeightFormat::kF32) {
    *w0 = _mm512_loadu_ps(p);
    *w1 = _mm512_loadu_ps(p + 64);
  } else if constexpr (F == WeightFormat::kF16) {
    *w0 = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    *w1 = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32)));
  } else if constexpr (F == WeightFormat::kBF16) {
    // A BF16 value is the top half of its F32 bit pattern.
    *w0 = _mm512_castsi512_ps(_mm512_slli_epi32(
        _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))), 16));
    *w1 = _mm512_castsi512_ps(_mm512_slli_epi32(
        _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32))), 16));
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
  __m512 acc[R][T];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
  }
  for (int64_t b = 0; b < nb; ++b) {
    __m512 w0[R], w1[R];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) Decode512<F>(w + r * ws, b, &w0[r], &w1[r]);
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

// Tile512<F, R, T> for a run-time T in [1, 8] (R = 4: T in [1, 4] only; 4 x 8
// accumulators would not fit the 32 registers, and no caller asks for it).
template <WeightFormat F, int R>
PROCTOR_TARGET_AVX512 void TileAnyT512(int64_t t, const uint8_t* w, int64_t ws, const float* x,
                                       int64_t k, int64_t nb, const float* bias, float* out,
                                       int64_t n) {
  switch (t) {
    case 1:
      return Tile512<F, R, 1>(w, ws, x, k, nb, bias, out, n);
    case 2:
      return Tile512<F, R, 2>(w, ws, x, k, nb, bias, out, n);
    case 3:
      return Tile512<F, R, 3>(w, ws, x, k, nb, bias, out, n);
    case 4:
      return Tile512<F, R, 4>(w, ws, x, k, nb, bias, out, n);
    default:
      break;
  }
  if constexpr (R <= 2) {
    switch (t) {
      case 5:
        return Tile512<F, R, 5>(w, ws, x, k, nb, bias, out, n);
      case 6:
        return Tile512<F, R, 6>(w, ws, x, k, nb, bias, out, n);
      case 7:
        return Tile512<F, R, 7>(w, ws, x, k, nb, bias, out, n);
      case 8:
        return Tile512<F, R, 8>(w, ws, x, k, nb, bias, out, n);
      default:
        break;
    }
  }
}

// One tile of `rows` (1, 2 or 4) weight rows against `tokens` <= 8
// activation rows, every weight block decoded once.
template <WeightFormat F>
PROCTOR_TARGET_AVX512 void SmallTile512(int rows, int64_t tokens, const uint8_t* w, int64_t ws,
                                        const float* x, int64_t k, int64_t nb, const float* bias,
                                        float* out, int64_t n) {
  if (rows == 4) return TileAnyT512<F, 4>(tokens, w, ws, x, k, nb, bias, out, n);
  if (rows == 2) return TileAnyT512<F, 2>(tokens, w, ws, x, k, nb, bias, out, n);
  TileAnyT512<F, 1>(tokens, w, ws, x, k, nb, bias, out, n);
}

template <WeightFormat F>
PROCTOR_TARGET_AVX512 void Rows512(const float* x, int64_t m, const uint8_t* w, int64_t ws,
                                   int64_t k, const float* bias, float* out, int64_t n, int64_t r0,
                                   int64_t r1) {
  const int64_t nb = k / kBlockValues;
  if (m <= kStreamTokens) {
    // Decode and batched decode: 4 weight rows per tile (2 beyond 4 tokens,
    // to stay within 32 registers), the weights streamed with prefetch.
    auto tile = [&](int64_t r, int rows) {
      SmallTile512<F>(rows, m, w + r * ws, ws, x, k, nb, bias ? bias + r : nullptr, out + r, n);
    };
    if (m <= 4) {
      StreamRows<4>(w, ws, RowBytesOf(F, nb), r0, r1, tile);
    } else {
      StreamRows<2>(w, ws, RowBytesOf(F, nb), r0, r1, tile);
    }
    return;
  }
  // Prefill: 2 weight rows x 8 activation rows per tile, the activation rows
  // walked in cache blocks; a remainder of tokens is one exact-size tile.
  for (int64_t t0 = 0; t0 < m; t0 += kTokenBlock) {
    const int64_t tokens = std::min(kTokenBlock, m - t0);
    const float* xb = x + t0 * k;
    float* ob = out + t0 * n;
    for (int64_t r = r0; r < r1;) {
      const int rows = r + 2 <= r1 ? 2 : 1;
      const float* br = bias ? bias + r : nullptr;
      int64_t t = 0;
      for (; t + 8 <= tokens; t += 8) {
        SmallTile512<F>(rows, 8, w + r * ws, ws, xb + t * k, k, nb, br, ob + t * n + r, n);
      }
      if (t < tokens) {
        SmallTile512<F>(rows, tokens - t, w + r * ws, ws, xb + t * k, k, nb, br, ob + t * n + r, n);
      }
      r += rows;
    }
  }
}

// ---- AVX2: a block is four 8-lane vectors, handled as two halves -------------

// Decodes values [16h, 16h + 16) of 32-value block b of the row at `row`
// into two 8-lane vectors.
template <WeightFormat F>
PROCTOR_TARGET_AVX2 PROCTOR_INLINE void Decode256(const uint8_t* row, int64_t b, int h, __m256* w0,
                                                  __m256* w1) {
  const uint8_t* p = row + b * BlockBytesOf(F);
  if constexpr (IsKQuant(F)) {
    const KSub ks = KSubBlock<F>(row, b);
    const __m128i lo_shift = _mm_cvtsi32_si128(ks.ql_shift);
    const __m128i hi_shift = _mm_cvtsi32_si128(ks.qh_shift);
    __m256 v[2];
    for (int i = 0; i < 2; ++i) {
      const int at = 16 * h + 8 * i;
      __m256i q = _mm256_and_si256(
          _mm256_srl_epi32(
              _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(ks.ql + at))),
              lo_shift),
          _mm256_set1_epi32(0x0f));
      if constexpr (F == WeightFormat::kQ4_K) {
        v[i] = _mm256_sub_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(q), _mm256_set1_ps(ks.scale0)),
                             _mm256_set1_ps(ks.min));
      } else {
        const __m256i hi = _mm256_and_si256(
            _mm256_srl_epi32(
                _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(ks.qh + at))),
                hi_shift),
            _mm256_set1_epi32(3));
        q = _mm256_sub_epi32(_mm256_or_si256(q, _mm256_slli_epi32(hi, 4)), _mm256_set1_epi32(32));
        v[i] = _mm256_mul_ps(_mm256_cvtepi32_ps(q), _mm256_set1_ps(h == 0 ? ks.scale0 : ks.scale1));
      }
    }
    *w0 = v[0];
    *w1 = v[1];
  } else if constexpr (F == WeightFormat::kF32) {
    *w0 = _mm256_loadu_ps(reinterpret_cast<const float*>(p) + 16 * h);
    *w1 = _mm256_loadu_ps(reinterpret_cast<const float*>(p) + 16 * h + 8);
  } else if constexpr (F == WeightFormat::kF16) {
    *w0 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 32 * h)));
    *w1 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 32 * h + 16)));
  } else if constexpr (F == WeightFormat::kBF16) {
    *w0 = _mm256_castsi256_ps(_mm256_slli_epi32(
        _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 32 * h))), 16));
    *w1 = _mm256_castsi256_ps(_mm256_slli_epi32(
        _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 32 * h + 16))),
        16));
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
      for (int r = 0; r < R; ++r) Decode256<F>(w + r * ws, b, h, &w0[r], &w1[r]);
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
  if (m <= kStreamTokens) {
    // Decode and batched decode: the weights stream once, with prefetch.
    StreamRows<2>(w, ws, RowBytesOf(F, nb), r0, r1, [&](int64_t r, int rows) {
      const float* br = bias ? bias + r : nullptr;
      if (rows == 2) return TokenRun256<F, 2>(w + r * ws, ws, x, k, nb, br, out + r, n, m);
      TokenRun256<F, 1>(w + r * ws, ws, x, k, nb, br, out + r, n, m);
    });
    return;
  }
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

int64_t QuantGemmChunkTiles(int64_t m, int64_t k, int64_t tiles, int num_threads) {
  const int64_t small = std::max<int64_t>(1, 16384 / (kQuantGemmRowTile * k * m + 1));
  if (m > kStreamTokensAllIsas || num_threads <= 1) return small;
  return std::max(small, (tiles + num_threads - 1) / num_threads);
}

bool QuantGemmSupports(const WeightMatrix& w) {
#ifdef PROCTOR_X86
  if (ActiveIsa() < Isa::kAvx2 || w.cols % BlockValues(w.format) != 0 || w.cols % 32 != 0) {
    return false;
  }
  switch (w.format) {
    case WeightFormat::kF32:
    case WeightFormat::kF16:
    case WeightFormat::kBF16:
    case WeightFormat::kQ8_0:
    case WeightFormat::kQ4_0:
    case WeightFormat::kQ4_1:
    case WeightFormat::kQ4_K:
    case WeightFormat::kQ6_K:
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
    case WeightFormat::kF16:
      return Dispatch<WeightFormat::kF16>(isa, x, m, w, bias, out, row_begin, row_end);
    case WeightFormat::kBF16:
      return Dispatch<WeightFormat::kBF16>(isa, x, m, w, bias, out, row_begin, row_end);
    case WeightFormat::kQ8_0:
      return Dispatch<WeightFormat::kQ8_0>(isa, x, m, w, bias, out, row_begin, row_end);
    case WeightFormat::kQ4_0:
      return Dispatch<WeightFormat::kQ4_0>(isa, x, m, w, bias, out, row_begin, row_end);
    case WeightFormat::kQ4_1:
      return Dispatch<WeightFormat::kQ4_1>(isa, x, m, w, bias, out, row_begin, row_end);
    case WeightFormat::kQ4_K:
      return Dispatch<WeightFormat::kQ4_K>(isa, x, m, w, bias, out, row_begin, row_end);
    case WeightFormat::kQ6_K:
      return Dispatch<WeightFormat::kQ6_K>(isa, x, m, w, bias, out, row_begin, row_end);
    default:
      return;
  }
#else
  (void)x, (void)m, (void)w, (void)bias, (void)out, (void)row_begin, (void)row_end;
#endif
}

}  // namespace proctor::kernels
