#include "kernels/cpu/ops.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/attention_simd.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/quant_gemm.h"
#include "kernels/cpu/reference.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define PROCTOR_X86 1
#endif

namespace proctor::kernels {
namespace {

float DotPortable(const float* a, const float* b, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
  }
  float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

#ifdef PROCTOR_X86
__attribute__((target("avx2,fma"))) float DotAvx2(const float* a, const float* b, int64_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
  }
  for (; i + 8 <= n; i += 8) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
  }
  acc0 = _mm256_add_ps(acc0, acc1);
  __m128 lo = _mm256_castps256_ps128(acc0);
  __m128 hi = _mm256_extractf128_ps(acc0, 1);
  lo = _mm_add_ps(lo, hi);
  lo = _mm_hadd_ps(lo, lo);
  lo = _mm_hadd_ps(lo, lo);
  float s = _mm_cvtss_f32(lo);
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

uint16_t LoadHalf(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

__attribute__((target("avx2,fma"))) void DequantQ8_0Avx2(const uint8_t* p, float* y, int64_t n) {
  for (int64_t b = 0; b < n / 32; ++b, p += ref::kBlockBytesQ8_0, y += 32) {
    const __m256 d = _mm256_set1_ps(ref::HalfToFloat(LoadHalf(p)));
    for (int j = 0; j < 32; j += 8) {
      const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + 2 + j));
      _mm256_storeu_ps(y + j, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q))));
    }
  }
}

// Q4_0 (has_min = false: y = d * (q - 8)) and Q4_1 (y = d * q + m).
template <bool kHasMin>
__attribute__((target("avx2,fma"))) void DequantQ4Avx2(const uint8_t* p, float* y, int64_t n) {
  const int64_t block_bytes = kHasMin ? ref::kBlockBytesQ4_1 : ref::kBlockBytesQ4_0;
  const __m128i mask = _mm_set1_epi8(0x0f);
  for (int64_t b = 0; b < n / 32; ++b, p += block_bytes, y += 32) {
    const float df = ref::HalfToFloat(LoadHalf(p));
    const __m256 d = _mm256_set1_ps(df);
    const __m256 m = _mm256_set1_ps(kHasMin ? ref::HalfToFloat(LoadHalf(p + 2)) : -8.0f * df);
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + (kHasMin ? 4 : 2)));
    const __m128i lo = _mm_and_si128(q, mask);
    const __m128i hi = _mm_and_si128(_mm_srli_epi16(q, 4), mask);
    const __m128i parts[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
    for (int k = 0; k < 4; ++k) {
      const __m256 f = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(parts[k]));
      _mm256_storeu_ps(y + 8 * k, _mm256_fmadd_ps(f, d, m));
    }
  }
}

__attribute__((target("avx2,fma"))) float Hsum(__m256 v) {
  __m128 lo = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  lo = _mm_hadd_ps(lo, lo);
  lo = _mm_hadd_ps(lo, lo);
  return _mm_cvtss_f32(lo);
}

// r[a * 2 + b] = dot(x[a, :], w[b, :]) for 4 rows of x and 2 rows of w, each
// of length k (a multiple of 8), rows contiguous with stride k.
__attribute__((target("avx2,fma"))) void Block4x2Avx2(const float* x, const float* w, int64_t k,
                                                      float* r) {
  __m256 acc[8];
  for (auto& a : acc) a = _mm256_setzero_ps();
  for (int64_t p = 0; p < k; p += 8) {
    const __m256 w0 = _mm256_loadu_ps(w + p);
    const __m256 w1 = _mm256_loadu_ps(w + k + p);
    for (int a = 0; a < 4; ++a) {
      const __m256 xv = _mm256_loadu_ps(x + a * k + p);
      acc[a * 2] = _mm256_fmadd_ps(xv, w0, acc[a * 2]);
      acc[a * 2 + 1] = _mm256_fmadd_ps(xv, w1, acc[a * 2 + 1]);
    }
  }
  for (int t = 0; t < 8; ++t) r[t] = Hsum(acc[t]);
}

// dot(decode(row), x) for one Q8_0 / Q4_0 / Q4_1 row of k values, decoding
// each block into registers only (the decode path for small batches).
template <WeightFormat kFormat>
__attribute__((target("avx2,fma"))) float FusedDotAvx2(const uint8_t* p, const float* x,
                                                       int64_t k) {
  constexpr int64_t kBlockBytes = kFormat == WeightFormat::kQ8_0   ? ref::kBlockBytesQ8_0
                                  : kFormat == WeightFormat::kQ4_1 ? ref::kBlockBytesQ4_1
                                                                   : ref::kBlockBytesQ4_0;
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  const __m128i mask = _mm_set1_epi8(0x0f);
  for (int64_t b = 0; b < k / 32; ++b, p += kBlockBytes, x += 32) {
    const float df = ref::HalfToFloat(LoadHalf(p));
    const __m256 d = _mm256_set1_ps(df);
    __m256 f[4];
    __m256 m = _mm256_setzero_ps();
    if constexpr (kFormat == WeightFormat::kQ8_0) {
      for (int j = 0; j < 4; ++j) {
        const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + 2 + 8 * j));
        f[j] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q));
      }
    } else {
      m = _mm256_set1_ps(kFormat == WeightFormat::kQ4_1 ? ref::HalfToFloat(LoadHalf(p + 2))
                                                        : -8.0f * df);
      const __m128i q = _mm_loadu_si128(
          reinterpret_cast<const __m128i*>(p + (kFormat == WeightFormat::kQ4_1 ? 4 : 2)));
      const __m128i lo = _mm_and_si128(q, mask);
      const __m128i hi = _mm_and_si128(_mm_srli_epi16(q, 4), mask);
      f[0] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(lo));
      f[1] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8)));
      f[2] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(hi));
      f[3] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8)));
    }
    for (int j = 0; j < 4; ++j) {
      const __m256 y = _mm256_fmadd_ps(f[j], d, m);
      if (j % 2 == 0) {
        acc0 = _mm256_fmadd_ps(y, _mm256_loadu_ps(x + 8 * j), acc0);
      } else {
        acc1 = _mm256_fmadd_ps(y, _mm256_loadu_ps(x + 8 * j), acc1);
      }
    }
  }
  return Hsum(_mm256_add_ps(acc0, acc1));
}

#endif

}  // namespace

bool HaveAvx2() { return ActiveIsa() >= Isa::kAvx2; }

void DequantizeRowFast(WeightFormat f, const void* src, float* dst, int64_t n) {
#ifdef PROCTOR_X86
  if (HaveAvx2()) {
    const uint8_t* p = static_cast<const uint8_t*>(src);
    switch (f) {
      case WeightFormat::kQ8_0:
        return DequantQ8_0Avx2(p, dst, n);
      case WeightFormat::kQ4_0:
        return DequantQ4Avx2<false>(p, dst, n);
      case WeightFormat::kQ4_1:
        return DequantQ4Avx2<true>(p, dst, n);
      default:
        break;
    }
  }
#endif
  DequantizeRow(f, src, dst, n);
}

float Dot(const float* a, const float* b, int64_t n) {
#ifdef PROCTOR_X86
  if (HaveAvx2()) return DotAvx2(a, b, n);
#endif
  return DotPortable(a, b, n);
}

void MatMul(const float* x, int64_t m, const WeightMatrix& w, const float* bias, float* out,
            ThreadPool* pool) {
  const int64_t n = w.rows, k = w.cols;
  const int64_t row_bytes = w.stride();
  if (m <= 0 || n <= 0) return;
  // Register-tiled SIMD kernels (quant_gemm.h): threads split the output rows
  // in whole tiles.
  if (QuantGemmSupports(w)) {
    const int64_t tiles = (n + kQuantGemmRowTile - 1) / kQuantGemmRowTile;
    auto tiled = [&](int64_t begin, int64_t end) {
      QuantGemmRows(x, m, w, bias, out, begin * kQuantGemmRowTile,
                    std::min(n, end * kQuantGemmRowTile));
    };
    if (pool == nullptr) {
      tiled(0, tiles);
    } else {
      pool->ParallelFor(tiles, tiled, QuantGemmChunkTiles(m, k, tiles, pool->num_threads()));
    }
    return;
  }
  const bool have_avx2 = HaveAvx2();
  (void)have_avx2;
#ifdef PROCTOR_X86
  // Small batches (decode): fused decode + dot, no F32 copy of the weights.
  if (have_avx2 && m < 4 &&
      (w.format == WeightFormat::kQ8_0 || w.format == WeightFormat::kQ4_0 ||
       w.format == WeightFormat::kQ4_1)) {
    auto fused = [&](int64_t begin, int64_t end) {
      const auto* base = static_cast<const uint8_t*>(w.data);
      for (int64_t j = begin; j < end; ++j) {
        const uint8_t* row = base + j * row_bytes;
        for (int64_t i = 0; i < m; ++i) {
          float v = w.format == WeightFormat::kQ8_0
                        ? FusedDotAvx2<WeightFormat::kQ8_0>(row, x + i * k, k)
                    : w.format == WeightFormat::kQ4_1
                        ? FusedDotAvx2<WeightFormat::kQ4_1>(row, x + i * k, k)
                        : FusedDotAvx2<WeightFormat::kQ4_0>(row, x + i * k, k);
          if (bias != nullptr) v += bias[j];
          out[i * n + j] = v;
        }
      }
    };
    if (pool == nullptr) {
      fused(0, n);
    } else {
      pool->ParallelFor(n, fused, 16);
    }
    return;
  }
#endif
  auto body = [&](int64_t begin, int64_t end) {
    // Tile over inputs so a block of x stays in cache while rows stream by.
    constexpr int64_t kRowTile = 16;
    std::vector<float> rows;
    for (int64_t j0 = begin; j0 < end; j0 += kRowTile) {
      const int64_t j1 = std::min(end, j0 + kRowTile);
      const float* wrows;
      if (w.format == WeightFormat::kF32 && row_bytes == k * 4) {
        wrows = static_cast<const float*>(w.data) + j0 * k;
      } else {
        rows.resize(static_cast<size_t>((j1 - j0) * k));
        for (int64_t j = j0; j < j1; ++j) {
          DequantizeRowFast(w.format, static_cast<const uint8_t*>(w.data) + j * row_bytes,
                            rows.data() + (j - j0) * k, k);
        }
        wrows = rows.data();
      }
      int64_t i = 0;
#ifdef PROCTOR_X86
      // Register-blocked 4 inputs x 2 weight rows when the batch allows.
      if (have_avx2 && k % 8 == 0) {
        float r[8];
        for (; i + 4 <= m; i += 4) {
          int64_t j = j0;
          for (; j + 2 <= j1; j += 2) {
            Block4x2Avx2(x + i * k, wrows + (j - j0) * k, k, r);
            for (int a = 0; a < 4; ++a) {
              for (int b = 0; b < 2; ++b) {
                out[(i + a) * n + j + b] = r[a * 2 + b] + (bias != nullptr ? bias[j + b] : 0.0f);
              }
            }
          }
          for (; j < j1; ++j) {
            for (int a = 0; a < 4; ++a) {
              out[(i + a) * n + j] = Dot(x + (i + a) * k, wrows + (j - j0) * k, k) +
                                     (bias != nullptr ? bias[j] : 0.0f);
            }
          }
        }
      }
#endif
      for (; i < m; ++i) {
        const float* xi = x + i * k;
        for (int64_t j = j0; j < j1; ++j) {
          float v = Dot(xi, wrows + (j - j0) * k, k);
          if (bias != nullptr) v += bias[j];
          out[i * n + j] = v;
        }
      }
    }
  };
  if (pool == nullptr) {
    body(0, n);
  } else {
    pool->ParallelFor(n, body, 16);
  }
}

namespace {

// AttentionRowSimd's contract without SIMD (any head dimension).
void AttentionRowPortable(const float* q, const KvRange* ranges, int64_t n_ranges,
                          int64_t kv_offset, int64_t kv_stride, int64_t last, int64_t hd,
                          float scale, float* scores, float* out) {
  const int64_t n = last + 1;
  float mx = -INFINITY;
  for (int64_t r = 0, base = 0; r < n_ranges && base < n; base += ranges[r++].count) {
    const int64_t cnt = std::min(ranges[r].count, n - base);
    for (int64_t j = 0; j < cnt; ++j) {
      const float sc = Dot(q, ranges[r].k + kv_offset + j * kv_stride, hd) * scale;
      scores[base + j] = sc;
      mx = std::max(mx, sc);
    }
  }
  float sum = 0.0f;
  for (int64_t j = 0; j < n; ++j) {
    const float e = std::exp(scores[j] - mx);
    scores[j] = e;
    sum += e;
  }
  const float inv = 1.0f / sum;
  std::fill(out, out + hd, 0.0f);
  for (int64_t r = 0, base = 0; r < n_ranges && base < n; base += ranges[r++].count) {
    const int64_t cnt = std::min(ranges[r].count, n - base);
    for (int64_t j = 0; j < cnt; ++j) {
      const float wgt = scores[base + j] * inv;
      const float* vv = ranges[r].v + kv_offset + j * kv_stride;
      for (int64_t d = 0; d < hd; ++d) out[d] += wgt * vv[d];
    }
  }
}

}  // namespace

void Attention(const float* q, const float* k, const float* v, float* out, int64_t t, int64_t s,
               int64_t n_heads, int64_t n_kv, int64_t hd, int64_t q_pos_offset, float scale,
               ThreadPool* pool) {
  const KvRange range{k, v, s};
  const AttentionSequence seq{0, t, q_pos_offset, &range, 1};
  AttentionBatch(q, out, &seq, 1, n_heads, n_kv, hd, scale, pool);
}

void AttentionBatch(const float* q, float* out, const AttentionSequence* seqs, int64_t n_seqs,
                    int64_t n_heads, int64_t n_kv, int64_t hd, float scale, ThreadPool* pool) {
  const int64_t group = n_heads / n_kv, kv_stride = n_kv * hd;
  // Work item idx is (sequence s, query i, head h), numbered sequence by
  // sequence: first[s] is the first item of sequence s.
  std::vector<int64_t> first(static_cast<size_t>(n_seqs + 1), 0), keys(static_cast<size_t>(n_seqs));
  int64_t max_keys = 0;
  for (int64_t s = 0; s < n_seqs; ++s) {
    int64_t n = 0;
    for (int64_t r = 0; r < seqs[s].n_ranges; ++r) n += seqs[s].ranges[r].count;
    keys[static_cast<size_t>(s)] = n;
    max_keys = std::max(max_keys, n);
    first[static_cast<size_t>(s + 1)] = first[static_cast<size_t>(s)] + seqs[s].t * n_heads;
  }
  const bool simd = AttentionSimdSupports(hd);
  auto body = [&](int64_t begin, int64_t end) {
    std::vector<float> scores(static_cast<size_t>(max_keys + 16));
    size_t s = static_cast<size_t>(std::upper_bound(first.begin(), first.end(), begin) -
                                   first.begin() - 1);
    for (int64_t idx = begin; idx < end; ++idx) {
      while (idx >= first[s + 1]) ++s;
      const AttentionSequence& seq = seqs[s];
      const int64_t i = (idx - first[s]) / n_heads, h = (idx - first[s]) % n_heads;
      const int64_t last = std::min<int64_t>(keys[s] - 1, seq.q_pos_offset + i);
      const float* qv = q + ((seq.row + i) * n_heads + h) * hd;
      float* o = out + ((seq.row + i) * n_heads + h) * hd;
      if (last < 0) {
        std::fill(o, o + hd, 0.0f);
        continue;
      }
      const int64_t kv_offset = (h / group) * hd;
      if (simd) {
        AttentionRowSimd(qv, seq.ranges, seq.n_ranges, kv_offset, kv_stride, last, hd, scale,
                         scores.data(), o);
      } else {
        AttentionRowPortable(qv, seq.ranges, seq.n_ranges, kv_offset, kv_stride, last, hd, scale,
                             scores.data(), o);
      }
    }
  };
  const int64_t total = first.back();
  if (pool == nullptr) {
    body(0, total);
  } else {
    pool->ParallelFor(total, body, 1);
  }
}

void Rope(float* x, const int32_t* positions, int64_t tokens, int64_t n_heads, int64_t head_dim,
          const ref::RopeParams& params) {
  const int64_t n_rot = params.n_rot > 0 ? params.n_rot : head_dim;
  const int64_t half = n_rot / 2;
  std::vector<float> inv_freq(static_cast<size_t>(half)), cs(static_cast<size_t>(2 * half));
  for (int64_t i = 0; i < half; ++i) inv_freq[i] = ref::RopeInvFreq(params, i, n_rot);
  for (int64_t t = 0; t < tokens; ++t) {
    // The same expressions, in the same order, as ref::Rope.
    const float pos = static_cast<float>(positions[t]) / params.linear_factor;
    for (int64_t i = 0; i < half; ++i) {
      const float angle = pos * inv_freq[i];
      cs[2 * i] = std::cos(angle);
      cs[2 * i + 1] = std::sin(angle);
    }
    for (int64_t h = 0; h < n_heads; ++h) {
      float* v = x + (t * n_heads + h) * head_dim;
      for (int64_t i = 0; i < half; ++i) {
        const float c = cs[2 * i], s = cs[2 * i + 1];
        const int64_t i0 = params.neox_layout ? i : 2 * i;
        const int64_t i1 = params.neox_layout ? i + half : 2 * i + 1;
        const float x0 = v[i0], x1 = v[i1];
        v[i0] = x0 * c - x1 * s;
        v[i1] = x0 * s + x1 * c;
      }
    }
  }
}

}  // namespace proctor::kernels
