#include "kernels/cpu/attention_simd.h"

#include <algorithm>
#include <cmath>

#include "kernels/cpu/cpu_features.h"

#if defined(__x86_64__) || defined(__i386__)
// See quant_gemm.cc: GCC 12's AVX-512 intrinsics trip -Wuninitialized.
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

// exp(x) for x <= 0 (softmax after max subtraction): x = n ln2 + r with
// |r| <= ln2/2, a degree-6 polynomial for e^r, scaled by 2^n. Inputs below
// -87 flush to 0 (e^-87 is below every F32 normal that matters here).
PROCTOR_TARGET_AVX512 PROCTOR_INLINE __m512 Exp512(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_scalef_ps(p, n);
}

PROCTOR_TARGET_AVX2 PROCTOR_INLINE __m256 Exp256(__m256 x) {
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  // 2^n built in the exponent field (n in [-126, 0] here).
  const __m256i e =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

PROCTOR_TARGET_AVX2 PROCTOR_INLINE float Hsum256(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

PROCTOR_TARGET_AVX512 void Row512(const float* q, const KvRange* ranges, int64_t n_ranges,
                                  int64_t kv_offset, int64_t kv_stride, int64_t last, int64_t hd,
                                  float scale, float* scores, float* out) {
  const int64_t n = last + 1;
  float mx = -INFINITY;
  for (int64_t r = 0, base = 0; r < n_ranges && base < n; base += ranges[r++].count) {
    const float* k = ranges[r].k + kv_offset;
    const int64_t cnt = std::min(ranges[r].count, n - base);
    for (int64_t j = 0; j < cnt; ++j) {
      const float* kj = k + j * kv_stride;
      __m512 acc = _mm512_mul_ps(_mm512_loadu_ps(q), _mm512_loadu_ps(kj));
      for (int64_t d = 16; d < hd; d += 16) {
        acc = _mm512_fmadd_ps(_mm512_loadu_ps(q + d), _mm512_loadu_ps(kj + d), acc);
      }
      const float s = _mm512_reduce_add_ps(acc) * scale;
      scores[base + j] = s;
      mx = s > mx ? s : mx;
    }
  }
  const __m512 vmx = _mm512_set1_ps(mx);
  __m512 vsum = _mm512_setzero_ps();
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) {
    const __m512 e = Exp512(_mm512_sub_ps(_mm512_loadu_ps(scores + j), vmx));
    _mm512_storeu_ps(scores + j, e);
    vsum = _mm512_add_ps(vsum, e);
  }
  if (j < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - j)) - 1);
    const __m512 e = Exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, scores + j), vmx));
    _mm512_mask_storeu_ps(scores + j, m, e);
    vsum = _mm512_add_ps(vsum, _mm512_maskz_mov_ps(m, e));
  }
  const float inv = 1.0f / _mm512_reduce_add_ps(vsum);
  for (int64_t d0 = 0; d0 < hd; d0 += 64) {
    const int64_t width = hd - d0 < 64 ? hd - d0 : 64;  // a multiple of 16
    __m512 o[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
                   _mm512_setzero_ps()};
    for (int64_t r = 0, base = 0; r < n_ranges && base < n; base += ranges[r++].count) {
      const float* v = ranges[r].v + kv_offset + d0;
      const float* sc = scores + base;
      const int64_t cnt = std::min(ranges[r].count, n - base);
      for (int64_t jj = 0; jj < cnt; ++jj) {
        const __m512 p = _mm512_set1_ps(sc[jj]);
        const float* vj = v + jj * kv_stride;
        o[0] = _mm512_fmadd_ps(p, _mm512_loadu_ps(vj), o[0]);
        if (width > 16) o[1] = _mm512_fmadd_ps(p, _mm512_loadu_ps(vj + 16), o[1]);
        if (width > 32) o[2] = _mm512_fmadd_ps(p, _mm512_loadu_ps(vj + 32), o[2]);
        if (width > 48) o[3] = _mm512_fmadd_ps(p, _mm512_loadu_ps(vj + 48), o[3]);
      }
    }
    const __m512 vinv = _mm512_set1_ps(inv);
    for (int64_t c = 0; c < width / 16; ++c) {
      _mm512_storeu_ps(out + d0 + 16 * c, _mm512_mul_ps(o[c], vinv));
    }
  }
}

PROCTOR_TARGET_AVX2 void Row256(const float* q, const KvRange* ranges, int64_t n_ranges,
                                int64_t kv_offset, int64_t kv_stride, int64_t last, int64_t hd,
                                float scale, float* scores, float* out) {
  const int64_t n = last + 1;
  float mx = -INFINITY;
  for (int64_t r = 0, base = 0; r < n_ranges && base < n; base += ranges[r++].count) {
    const float* k = ranges[r].k + kv_offset;
    const int64_t cnt = std::min(ranges[r].count, n - base);
    for (int64_t j = 0; j < cnt; ++j) {
      const float* kj = k + j * kv_stride;
      __m256 acc = _mm256_mul_ps(_mm256_loadu_ps(q), _mm256_loadu_ps(kj));
      for (int64_t d = 8; d < hd; d += 8) {
        acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), _mm256_loadu_ps(kj + d), acc);
      }
      const float s = Hsum256(acc) * scale;
      scores[base + j] = s;
      mx = s > mx ? s : mx;
    }
  }
  const __m256 vmx = _mm256_set1_ps(mx);
  __m256 vsum = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 e = Exp256(_mm256_sub_ps(_mm256_loadu_ps(scores + j), vmx));
    _mm256_storeu_ps(scores + j, e);
    vsum = _mm256_add_ps(vsum, e);
  }
  float sum = Hsum256(vsum);
  for (; j < n; ++j) {
    const float e = std::exp(scores[j] - mx);
    scores[j] = e;
    sum += e;
  }
  const float inv = 1.0f / sum;
  for (int64_t d0 = 0; d0 < hd; d0 += 32) {
    const int64_t width = hd - d0 < 32 ? hd - d0 : 32;  // a multiple of 8
    __m256 o[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                   _mm256_setzero_ps()};
    for (int64_t r = 0, base = 0; r < n_ranges && base < n; base += ranges[r++].count) {
      const float* v = ranges[r].v + kv_offset + d0;
      const float* sc = scores + base;
      const int64_t cnt = std::min(ranges[r].count, n - base);
      for (int64_t jj = 0; jj < cnt; ++jj) {
        const __m256 p = _mm256_set1_ps(sc[jj]);
        const float* vj = v + jj * kv_stride;
        o[0] = _mm256_fmadd_ps(p, _mm256_loadu_ps(vj), o[0]);
        if (width > 8) o[1] = _mm256_fmadd_ps(p, _mm256_loadu_ps(vj + 8), o[1]);
        if (width > 16) o[2] = _mm256_fmadd_ps(p, _mm256_loadu_ps(vj + 16), o[2]);
        if (width > 24) o[3] = _mm256_fmadd_ps(p, _mm256_loadu_ps(vj + 24), o[3]);
      }
    }
    const __m256 vinv = _mm256_set1_ps(inv);
    for (int64_t c = 0; c < width / 8; ++c) {
      _mm256_storeu_ps(out + d0 + 8 * c, _mm256_mul_ps(o[c], vinv));
    }
  }
}

}  // namespace
#endif  // PROCTOR_X86

bool AttentionSimdSupports(int64_t hd) {
#ifdef PROCTOR_X86
  const Isa isa = ActiveIsa();
  if (hd <= 0) return false;
  if (isa >= Isa::kAvx512) return hd % 16 == 0;
  if (isa >= Isa::kAvx2) return hd % 8 == 0;
#else
  (void)hd;
#endif
  return false;
}

void AttentionRowSimd(const float* q, const KvRange* ranges, int64_t n_ranges, int64_t kv_offset,
                      int64_t kv_stride, int64_t last, int64_t hd, float scale, float* scores,
                      float* out) {
#ifdef PROCTOR_X86
  if (ActiveIsa() >= Isa::kAvx512) {
    return Row512(q, ranges, n_ranges, kv_offset, kv_stride, last, hd, scale, scores, out);
  }
  return Row256(q, ranges, n_ranges, kv_offset, kv_stride, last, hd, scale, scores, out);
#else
  (void)q, (void)ranges, (void)n_ranges, (void)kv_offset, (void)kv_stride, (void)last, (void)hd,
      (void)scale, (void)scores, (void)out;
#endif
}

}  // namespace proctor::kernels
