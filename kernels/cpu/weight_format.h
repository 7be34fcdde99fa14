// Weight storage formats the CPU kernels understand, with their block
// geometry and a row dequantiser that dispatches to the reference decoders.
#ifndef PROCTOR_KERNELS_CPU_WEIGHT_FORMAT_H_
#define PROCTOR_KERNELS_CPU_WEIGHT_FORMAT_H_

#include <cstdint>

namespace proctor::kernels {

enum class WeightFormat : int { kF32, kF16, kBF16, kQ8_0, kQ4_0, kQ4_1, kQ4_K, kQ6_K };

// Values per block (1 for the float formats).
int64_t BlockValues(WeightFormat f);
// Bytes per block.
int64_t BlockBytes(WeightFormat f);
// Bytes one row of `n` values occupies; n must be a multiple of BlockValues.
inline int64_t RowBytes(WeightFormat f, int64_t n) { return n / BlockValues(f) * BlockBytes(f); }
const char* WeightFormatName(WeightFormat f);

// Decodes n values of format `f` at `src` into dst[n] (reference decoders).
void DequantizeRow(WeightFormat f, const void* src, float* dst, int64_t n);

}  // namespace proctor::kernels

#endif  // PROCTOR_KERNELS_CPU_WEIGHT_FORMAT_H_
