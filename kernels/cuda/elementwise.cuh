// Memory-bound element-wise ops: SwiGLU, embedding gather, weight dequantisation
// (Q8_0, Q4_0, Q4_1, Q4_K, Q6_K to BF16).
#ifndef PROCTOR_KERNELS_CUDA_ELEMENTWISE_CUH_
#define PROCTOR_KERNELS_CUDA_ELEMENTWISE_CUH_

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

namespace proctor::kernels::cuda {

// out[i] = bf16(silu(gate[i]) * up[i]) for i < n, silu(x) = x / (1 + exp(-x)),
// computed in F32. `out` may alias `gate` or `up`.
// Returns cudaErrorInvalidValue when n < 0 or a pointer is null.
cudaError_t SwiGluBf16(const __nv_bfloat16* gate, const __nv_bfloat16* up, __nv_bfloat16* out,
                       int64_t n, cudaStream_t stream);

// out[i, :] = table[ids[i], :] for i < n (table [vocab, dim], out [n, dim], BF16).
// Ids outside [0, vocab) cannot be reported from the device: their rows are
// written as zeros (callers validate ids on the host, where the tokenizer is).
// Returns cudaErrorInvalidValue when n < 0, dim <= 0, vocab <= 0 or a pointer is null.
cudaError_t EmbeddingGatherBf16(const __nv_bfloat16* table, int64_t vocab, const int32_t* ids,
                                int64_t n, int64_t dim, __nv_bfloat16* out, cudaStream_t stream);

// GGML block formats (little-endian, blocks of 32 values):
//   Q8_0: 34 bytes = f16 scale d; int8 q[32];          value j = d * q[j]
//   Q4_0: 18 bytes = f16 scale d; u8 qs[16];           value j = d * ((qs[j] & 15) - 8),
//                                                      value j+16 = d * ((qs[j] >> 4) - 8)
//   Q4_1: 20 bytes = f16 scale d, f16 min m; u8 qs[16]; value j = d * (qs[j] & 15) + m,
//                                                      value j+16 = d * (qs[j] >> 4) + m
//         (product and sum rounded separately, as ref::DequantizeRow_Q4_1)
// Decodes `rows` rows of `n` values each (row r starts at src + r * row_bytes,
// row_bytes = n / 32 * block bytes) into dst[rows, n] as BF16.
// Returns cudaErrorInvalidValue when n <= 0 or n % 32 != 0, rows < 0, or a
// pointer is null. `src` needs no alignment.
cudaError_t DequantizeQ8_0ToBf16(const void* src, int64_t rows, int64_t n, __nv_bfloat16* dst,
                                 cudaStream_t stream);
cudaError_t DequantizeQ4_0ToBf16(const void* src, int64_t rows, int64_t n, __nv_bfloat16* dst,
                                 cudaStream_t stream);
cudaError_t DequantizeQ4_1ToBf16(const void* src, int64_t rows, int64_t n, __nv_bfloat16* dst,
                                 cudaStream_t stream);

// GGML k-quants (super-blocks of 256 values; dequant_kquants.cu):
//   Q4_K: 144 bytes = f16 d, f16 dmin; u8 scales[12] (8 packed 6-bit scale/min
//         pairs); u8 qs[128]; group j of 32 values = d * sc_j * q - dmin * m_j
//   Q6_K: 210 bytes = u8 ql[128] (low 4 bits), u8 qh[64] (high 2 bits);
//         i8 scales[16] (one per 16 values); f16 d; value = d * scale * (q - 32)
// Decoded bit-exactly as ref::DequantizeRow_Q4_K / _Q6_K, then rounded to BF16.
// Returns cudaErrorInvalidValue when n <= 0 or n % 256 != 0, rows < 0,
// rows * n >= 2^40, a pointer is null or dst is not 4-byte aligned.
cudaError_t DequantizeQ4_KToBf16(const void* src, int64_t rows, int64_t n, __nv_bfloat16* dst,
                                 cudaStream_t stream);
cudaError_t DequantizeQ6_KToBf16(const void* src, int64_t rows, int64_t n, __nv_bfloat16* dst,
                                 cudaStream_t stream);

}  // namespace proctor::kernels::cuda

#endif  // PROCTOR_KERNELS_CUDA_ELEMENTWISE_CUH_
