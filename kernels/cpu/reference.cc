#include "kernels/cpu/reference.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <numbers>
#include <vector>

namespace proctor::kernels::ref {

void Gemm(const float* a, const float* b, float* c, int64_t m, int64_t n, int64_t k) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      float acc = 0.0f;
      for (int64_t p = 0; p < k; ++p) acc += a[i * k + p] * b[j * k + p];
      c[i * n + j] = acc;
    }
  }
}

void RmsNorm(const float* x, const float* weight, float* out, int64_t rows, int64_t dim,
             float eps) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * dim;
    float* o = out + r * dim;
    float ss = 0.0f;
    for (int64_t i = 0; i < dim; ++i) ss += xr[i] * xr[i];
    const float inv = 1.0f / std::sqrt(ss / static_cast<float>(dim) + eps);
    for (int64_t i = 0; i < dim; ++i) o[i] = xr[i] * inv * weight[i];
  }
}

void AddRmsNorm(float* residual_inout, const float* x, const float* weight, float* out,
                int64_t rows, int64_t dim, float eps) {
  for (int64_t i = 0; i < rows * dim; ++i) residual_inout[i] += x[i];
  RmsNorm(residual_inout, weight, out, rows, dim, eps);
}

float RopeInvFreq(const RopeParams& p, int64_t i, int64_t n_rot) {
  float freq = std::pow(p.theta, -2.0f * static_cast<float>(i) / static_cast<float>(n_rot));
  if (p.llama3_factor > 0.0f) {
    const float two_pi = 2.0f * std::numbers::pi_v<float>;
    const float low_wavelen = p.llama3_original_max_position / p.llama3_low_freq_factor;
    const float high_wavelen = p.llama3_original_max_position / p.llama3_high_freq_factor;
    const float wavelen = two_pi / freq;
    if (wavelen < high_wavelen) {
      // High frequency: unchanged.
    } else if (wavelen > low_wavelen) {
      freq = freq / p.llama3_factor;
    } else {
      const float smooth = (p.llama3_original_max_position / wavelen - p.llama3_low_freq_factor) /
                           (p.llama3_high_freq_factor - p.llama3_low_freq_factor);
      freq = (1.0f - smooth) * freq / p.llama3_factor + smooth * freq;
    }
  }
  return freq;
}

void Rope(float* x, const int32_t* positions, int64_t tokens, int64_t n_heads, int64_t head_dim,
          const RopeParams& params) {
  const int64_t n_rot = params.n_rot > 0 ? params.n_rot : head_dim;
  const int64_t half = n_rot / 2;
  for (int64_t t = 0; t < tokens; ++t) {
    const float pos = static_cast<float>(positions[t]) / params.linear_factor;
    for (int64_t h = 0; h < n_heads; ++h) {
      float* v = x + (t * n_heads + h) * head_dim;
      for (int64_t i = 0; i < half; ++i) {
        const float angle = pos * RopeInvFreq(params, i, n_rot);
        const float c = std::cos(angle), s = std::sin(angle);
        const int64_t i0 = params.neox_layout ? i : 2 * i;
        const int64_t i1 = params.neox_layout ? i + half : 2 * i + 1;
        const float x0 = v[i0], x1 = v[i1];
        v[i0] = x0 * c - x1 * s;
        v[i1] = x0 * s + x1 * c;
      }
    }
  }
}

void SwiGlu(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void EmbeddingGather(const float* table, const int32_t* ids, int64_t n, int64_t dim, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    std::memcpy(out + i * dim, table + static_cast<int64_t>(ids[i]) * dim,
                static_cast<size_t>(dim) * sizeof(float));
  }
}

void Softmax(const float* x, float* out, int64_t n) {
  if (n <= 0) return;
  float mx = x[0];
  for (int64_t i = 1; i < n; ++i) mx = std::max(mx, x[i]);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    out[i] = std::exp(x[i] - mx);
    sum += out[i];
  }
  for (int64_t i = 0; i < n; ++i) out[i] /= sum;
}

void Attention(const float* q, const float* k, const float* v, float* out, int64_t t, int64_t s,
               int64_t n_heads, int64_t n_kv, int64_t hd, int64_t q_pos_offset, float scale) {
  const int64_t group = n_heads / n_kv;
  std::vector<float> scores(static_cast<size_t>(s));
  for (int64_t i = 0; i < t; ++i) {
    const int64_t last = std::min<int64_t>(s - 1, q_pos_offset + i);
    for (int64_t h = 0; h < n_heads; ++h) {
      const float* qv = q + (i * n_heads + h) * hd;
      const int64_t kvh = h / group;
      float* o = out + (i * n_heads + h) * hd;
      for (int64_t d = 0; d < hd; ++d) o[d] = 0.0f;
      if (last < 0) continue;
      for (int64_t j = 0; j <= last; ++j) {
        const float* kv = k + (j * n_kv + kvh) * hd;
        float dot = 0.0f;
        for (int64_t d = 0; d < hd; ++d) dot += qv[d] * kv[d];
        scores[static_cast<size_t>(j)] = dot * scale;
      }
      Softmax(scores.data(), scores.data(), last + 1);
      for (int64_t j = 0; j <= last; ++j) {
        const float* vv = v + (j * n_kv + kvh) * hd;
        const float w = scores[static_cast<size_t>(j)];
        for (int64_t d = 0; d < hd; ++d) o[d] += w * vv[d];
      }
    }
  }
}

int64_t Argmax(const float* x, int64_t n) {
  if (n <= 0) return -1;
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i) {
    if (x[i] > x[best]) best = i;
  }
  return best;
}

void LogSoftmaxGather(const float* logits, const int32_t* targets, float* logprob_out,
                      int32_t* argmax_out, int64_t rows, int64_t vocab) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* l = logits + r * vocab;
    const int64_t am = Argmax(l, vocab);
    if (argmax_out != nullptr) argmax_out[r] = static_cast<int32_t>(am);
    if (logprob_out != nullptr) {
      const float mx = l[am];
      double sum = 0.0;
      for (int64_t i = 0; i < vocab; ++i) sum += std::exp(static_cast<double>(l[i] - mx));
      logprob_out[r] = static_cast<float>(static_cast<double>(l[targets[r]] - mx) - std::log(sum));
    }
  }
}

// ---- formats ----------------------------------------------------------------

float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h >> 15) << 31;
  const uint32_t exp = (h >> 10) & 0x1f;
  const uint32_t mant = h & 0x3ff;
  float out;
  if (exp == 0) {
    // Zero or subnormal: mant * 2^-24.
    out = std::ldexp(static_cast<float>(mant), -24);
    if (sign) out = -out;
    return out;
  }
  uint32_t bits;
  if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  }
  std::memcpy(&out, &bits, sizeof(out));
  return out;
}

uint16_t FloatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, sizeof(x));
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  const uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u) {  // Inf or NaN
    return static_cast<uint16_t>(sign | 0x7c00 | (absx > 0x7f800000u ? 0x200 : 0));
  }
  if (absx >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00);  // overflow
  if (absx < 0x38800000u) {
    // Subnormal half (or zero): value = round(|f| * 2^24).
    float a;
    std::memcpy(&a, &absx, sizeof(a));
    const float scaled = std::nearbyint(a * 16777216.0f);  // round-half-even (default mode)
    return static_cast<uint16_t>(sign | static_cast<uint16_t>(scaled));
  }
  const uint32_t e = ((absx >> 23) - 112) << 10;
  const uint32_t m = absx & 0x7fffffu;
  uint32_t h = e | (m >> 13);
  const uint32_t rest = m & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;
  return static_cast<uint16_t>(sign | h);
}

float Bf16ToFloat(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float out;
  std::memcpy(&out, &bits, sizeof(out));
  return out;
}

namespace {
uint16_t LoadU16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
}  // namespace

void DequantizeRow_F32(const void* src, float* dst, int64_t n) {
  std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}

void DequantizeRow_F16(const void* src, float* dst, int64_t n) {
  const uint8_t* p = static_cast<const uint8_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = HalfToFloat(LoadU16(p + 2 * i));
}

void DequantizeRow_BF16(const void* src, float* dst, int64_t n) {
  const uint8_t* p = static_cast<const uint8_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = Bf16ToFloat(LoadU16(p + 2 * i));
}

void DequantizeRow_Q8_0(const void* src, float* dst, int64_t n) {
  const uint8_t* p = static_cast<const uint8_t*>(src);
  for (int64_t b = 0; b < n / kQK8_0; ++b, p += kBlockBytesQ8_0) {
    const float d = HalfToFloat(LoadU16(p));
    for (int j = 0; j < 32; ++j)
      dst[b * 32 + j] = d * static_cast<float>(static_cast<int8_t>(p[2 + j]));
  }
}

void DequantizeRow_Q4_0(const void* src, float* dst, int64_t n) {
  const uint8_t* p = static_cast<const uint8_t*>(src);
  for (int64_t b = 0; b < n / kQK4_0; ++b, p += kBlockBytesQ4_0) {
    const float d = HalfToFloat(LoadU16(p));
    const uint8_t* qs = p + 2;
    for (int j = 0; j < 16; ++j) {
      dst[b * 32 + j] = d * static_cast<float>((qs[j] & 0x0f) - 8);
      dst[b * 32 + j + 16] = d * static_cast<float>((qs[j] >> 4) - 8);
    }
  }
}

void DequantizeRow_Q4_1(const void* src, float* dst, int64_t n) {
  const uint8_t* p = static_cast<const uint8_t*>(src);
  for (int64_t b = 0; b < n / kQK4_1; ++b, p += kBlockBytesQ4_1) {
    const float d = HalfToFloat(LoadU16(p));
    const float m = HalfToFloat(LoadU16(p + 2));
    const uint8_t* qs = p + 4;
    for (int j = 0; j < 16; ++j) {
      dst[b * 32 + j] = d * static_cast<float>(qs[j] & 0x0f) + m;
      dst[b * 32 + j + 16] = d * static_cast<float>(qs[j] >> 4) + m;
    }
  }
}

namespace {
// Unpacks the 6-bit scale and min of sub-block j (0..7) of a Q4_K block.
void ScaleMinK4(int j, const uint8_t* q, uint8_t* sc, uint8_t* mn) {
  if (j < 4) {
    *sc = q[j] & 63;
    *mn = q[j + 4] & 63;
  } else {
    *sc = static_cast<uint8_t>((q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4));
    *mn = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}
}  // namespace

void DequantizeRow_Q4_K(const void* src, float* dst, int64_t n) {
  const uint8_t* p = static_cast<const uint8_t*>(src);
  for (int64_t b = 0; b < n / kQK_K; ++b, p += kBlockBytesQ4_K) {
    const float d = HalfToFloat(LoadU16(p));
    const float dmin = HalfToFloat(LoadU16(p + 2));
    const uint8_t* scales = p + 4;
    const uint8_t* q = p + 16;
    float* y = dst + b * kQK_K;
    int is = 0;
    for (int j = 0; j < 256; j += 64) {
      uint8_t sc, mn;
      ScaleMinK4(is, scales, &sc, &mn);
      const float d1 = d * sc, m1 = dmin * mn;
      ScaleMinK4(is + 1, scales, &sc, &mn);
      const float d2 = d * sc, m2 = dmin * mn;
      for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0x0f) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
      q += 32;
      is += 2;
    }
  }
}

void DequantizeRow_Q6_K(const void* src, float* dst, int64_t n) {
  const uint8_t* p = static_cast<const uint8_t*>(src);
  for (int64_t b = 0; b < n / kQK_K; ++b, p += kBlockBytesQ6_K) {
    const uint8_t* ql = p;
    const uint8_t* qh = p + 128;
    const int8_t* sc = reinterpret_cast<const int8_t*>(p + 192);
    const float d = HalfToFloat(LoadU16(p + 208));
    float* y = dst + b * kQK_K;
    for (int half = 0; half < 2; ++half) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * sc[is] * static_cast<float>(q1);
        y[l + 32] = d * sc[is + 2] * static_cast<float>(q2);
        y[l + 64] = d * sc[is + 4] * static_cast<float>(q3);
        y[l + 96] = d * sc[is + 6] * static_cast<float>(q4);
      }
      y += 128;
      ql += 64;
      qh += 32;
      sc += 8;
    }
  }
}

}  // namespace proctor::kernels::ref
