// Reference CPU kernels: the oracle every optimised kernel (CPU SIMD, CUDA) is
// tested against. Plain row-major F32, simple loops, no threads, no SIMD;
// written for clarity and exactness rather than speed.
//
// Conventions:
//  * All matrices are dense row-major. "[R, C]" means R rows of C floats.
//  * Weight matrices are stored as [out, in] (the GGUF / PyTorch layout), so a
//    linear layer is C = A * B^T.
//  * No function allocates except where noted; outputs must not alias inputs
//    unless stated ("in place").
//  * Functions are pure and thread-compatible (no shared state).
#ifndef PROCTOR_KERNELS_CPU_REFERENCE_H_
#define PROCTOR_KERNELS_CPU_REFERENCE_H_

#include <cstddef>
#include <cstdint>

namespace proctor::kernels::ref {

// C[m, n] = A[m, k] * B[n, k]^T. Accumulates in double-free F32 order k=0..k-1.
void Gemm(const float* a, const float* b, float* c, int64_t m, int64_t n, int64_t k);

// out[r, :] = x[r, :] / sqrt(mean(x[r, :]^2) + eps) * weight[:], r < rows.
// `out` may alias `x`.
void RmsNorm(const float* x, const float* weight, float* out, int64_t rows, int64_t dim, float eps);

// residual[r, :] += x[r, :]; out[r, :] = RmsNorm(residual[r, :]). `out` may
// alias `x` but not `residual`.
void AddRmsNorm(float* residual_inout, const float* x, const float* weight, float* out,
                int64_t rows, int64_t dim, float eps);

// Rotary position embedding parameters.
struct RopeParams {
  float theta = 10000.0f;  // base frequency
  // true: GPT-NeoX layout, element i is paired with i + head_dim/2.
  // false: interleaved (GPT-J / llama.cpp "normal" / llama2.c) layout, element
  // 2i is paired with 2i+1.
  bool neox_layout = false;
  // Number of leading dims of each head that are rotated (0 = all of head_dim).
  int64_t n_rot = 0;
  // Linear position interpolation: positions are divided by this (1 = off).
  float linear_factor = 1.0f;
  // Llama-3 frequency scaling (applied when llama3_factor > 0):
  float llama3_factor = 0.0f;
  float llama3_low_freq_factor = 1.0f;
  float llama3_high_freq_factor = 4.0f;
  float llama3_original_max_position = 8192.0f;
};

// Inverse frequency of pair i (0 <= i < n_rot/2) after Llama-3 scaling:
// theta^(-2i/n_rot), adjusted as Meta's apply_scaling does when enabled.
float RopeInvFreq(const RopeParams& p, int64_t i, int64_t n_rot);

// Rotates x[tokens, n_heads, head_dim] in place; token t is at position
// positions[t]. Angle of pair i = (positions[t] / linear_factor) * inv_freq(i).
void Rope(float* x, const int32_t* positions, int64_t tokens, int64_t n_heads, int64_t head_dim,
          const RopeParams& params);

// out[i] = silu(gate[i]) * up[i], silu(x) = x / (1 + exp(-x)). `out` may alias.
void SwiGlu(const float* gate, const float* up, float* out, int64_t n);

// out[i, :] = table[ids[i], :], i < n. Ids must be in range (caller checks).
void EmbeddingGather(const float* table, const int32_t* ids, int64_t n, int64_t dim, float* out);

// Causal multi-head attention with grouped KV heads (GQA).
//   q[t, n_heads, hd], k[s, n_kv, hd], v[s, n_kv, hd], out[t, n_heads, hd].
// Query i (0 <= i < t) attends to keys j <= q_pos_offset + i (and j < s).
// Query head h reads KV head h / (n_heads / n_kv). scores = q.k * scale.
void Attention(const float* q, const float* k, const float* v, float* out, int64_t t, int64_t s,
               int64_t n_heads, int64_t n_kv, int64_t hd, int64_t q_pos_offset, float scale);

// For each row r: logprob_out[r] = log_softmax(logits[r, :])[targets[r]] and
// argmax_out[r] = argmax(logits[r, :]) (lowest index on ties). Either output
// may be null. targets may be null when logprob_out is null.
void LogSoftmaxGather(const float* logits, const int32_t* targets, float* logprob_out,
                      int32_t* argmax_out, int64_t rows, int64_t vocab);

// Index of the largest of x[0..n) (lowest index on ties); -1 when n == 0.
int64_t Argmax(const float* x, int64_t n);

// out[i] = softmax(x)[i] over n elements; out may alias x.
void Softmax(const float* x, float* out, int64_t n);

// ---- Weight formats (GGML block layouts, little-endian) ---------------------
// Each DequantizeRow_* decodes n values (n must be a multiple of the block
// size: 32 for Q8_0/Q4_0/Q4_1, 256 for Q4_K/Q6_K, 1 for F16/BF16) from `src`
// into dst[n]. RowBytes gives the bytes a row of n values occupies.
float HalfToFloat(uint16_t h);
uint16_t FloatToHalf(float f);  // round to nearest even
float Bf16ToFloat(uint16_t h);

inline constexpr int64_t kQK8_0 = 32, kQK4_0 = 32, kQK4_1 = 32, kQK_K = 256;
inline constexpr int64_t kBlockBytesQ8_0 = 34;   // f16 d; int8 qs[32]
inline constexpr int64_t kBlockBytesQ4_0 = 18;   // f16 d; u8 qs[16]
inline constexpr int64_t kBlockBytesQ4_1 = 20;   // f16 d, m; u8 qs[16]
inline constexpr int64_t kBlockBytesQ4_K = 144;  // f16 d, dmin; u8 scales[12]; u8 qs[128]
inline constexpr int64_t kBlockBytesQ6_K = 210;  // u8 ql[128], qh[64]; i8 scales[16]; f16 d

void DequantizeRow_F32(const void* src, float* dst, int64_t n);
void DequantizeRow_F16(const void* src, float* dst, int64_t n);
void DequantizeRow_BF16(const void* src, float* dst, int64_t n);
void DequantizeRow_Q8_0(const void* src, float* dst, int64_t n);
void DequantizeRow_Q4_0(const void* src, float* dst, int64_t n);
void DequantizeRow_Q4_1(const void* src, float* dst, int64_t n);
void DequantizeRow_Q4_K(const void* src, float* dst, int64_t n);
void DequantizeRow_Q6_K(const void* src, float* dst, int64_t n);

}  // namespace proctor::kernels::ref

#endif  // PROCTOR_KERNELS_CPU_REFERENCE_H_
