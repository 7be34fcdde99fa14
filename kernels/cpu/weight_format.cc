#include "kernels/cpu/weight_format.h"

#include "kernels/cpu/reference.h"

namespace proctor::kernels {

int64_t BlockValues(WeightFormat f) {
  switch (f) {
    case WeightFormat::kF32:
    case WeightFormat::kF16:
    case WeightFormat::kBF16:
      return 1;
    case WeightFormat::kQ8_0:
    case WeightFormat::kQ4_0:
    case WeightFormat::kQ4_1:
      return 32;
    case WeightFormat::kQ4_K:
    case WeightFormat::kQ6_K:
      return 256;
  }
  return 1;
}

int64_t BlockBytes(WeightFormat f) {
  switch (f) {
    case WeightFormat::kF32:
      return 4;
    case WeightFormat::kF16:
    case WeightFormat::kBF16:
      return 2;
    case WeightFormat::kQ8_0:
      return ref::kBlockBytesQ8_0;
    case WeightFormat::kQ4_0:
      return ref::kBlockBytesQ4_0;
    case WeightFormat::kQ4_1:
      return ref::kBlockBytesQ4_1;
    case WeightFormat::kQ4_K:
      return ref::kBlockBytesQ4_K;
    case WeightFormat::kQ6_K:
      return ref::kBlockBytesQ6_K;
  }
  return 4;
}

const char* WeightFormatName(WeightFormat f) {
  switch (f) {
    case WeightFormat::kF32:
      return "F32";
    case WeightFormat::kF16:
      return "F16";
    case WeightFormat::kBF16:
      return "BF16";
    case WeightFormat::kQ8_0:
      return "Q8_0";
    case WeightFormat::kQ4_0:
      return "Q4_0";
    case WeightFormat::kQ4_1:
      return "Q4_1";
    case WeightFormat::kQ4_K:
      return "Q4_K";
    case WeightFormat::kQ6_K:
      return "Q6_K";
  }
  return "?";
}

void DequantizeRow(WeightFormat f, const void* src, float* dst, int64_t n) {
  switch (f) {
    case WeightFormat::kF32:
      return ref::DequantizeRow_F32(src, dst, n);
    case WeightFormat::kF16:
      return ref::DequantizeRow_F16(src, dst, n);
    case WeightFormat::kBF16:
      return ref::DequantizeRow_BF16(src, dst, n);
    case WeightFormat::kQ8_0:
      return ref::DequantizeRow_Q8_0(src, dst, n);
    case WeightFormat::kQ4_0:
      return ref::DequantizeRow_Q4_0(src, dst, n);
    case WeightFormat::kQ4_1:
      return ref::DequantizeRow_Q4_1(src, dst, n);
    case WeightFormat::kQ4_K:
      return ref::DequantizeRow_Q4_K(src, dst, n);
    case WeightFormat::kQ6_K:
      return ref::DequantizeRow_Q6_K(src, dst, n);
  }
}

}  // namespace proctor::kernels
