#include "kernels/cuda/tma_tensor_map.h"

namespace proctor::kernels::cuda {
namespace {

using EncodeTiledFn = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*,
                                   const cuuint64_t*, const cuuint64_t*, const cuuint32_t*,
                                   const cuuint32_t*, CUtensorMapInterleave, CUtensorMapSwizzle,
                                   CUtensorMapL2promotion, CUtensorMapFloatOOBfill);

// The driver's cuTensorMapEncodeTiled with its CUDA 12.0 signature, or
// nullptr when no driver (or too old a driver) is installed.
EncodeTiledFn EncodeTiled() {
  static const EncodeTiledFn fn = [] {
    void* p = nullptr;
    cudaDriverEntryPointQueryResult found = cudaDriverEntryPointSymbolNotFound;
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &p, 12000, cudaEnableDefault,
                                         &found) != cudaSuccess ||
        found != cudaDriverEntryPointSuccess) {
      cudaGetLastError();  // do not leave a sticky-looking error for the caller
      return static_cast<EncodeTiledFn>(nullptr);
    }
    return reinterpret_cast<EncodeTiledFn>(p);
  }();
  return fn;
}

}  // namespace

cudaError_t EncodeRowTileMap16(CUtensorMap* map, CUtensorMapDataType element_type, const void* base,
                               int64_t rows, int64_t cols, uint32_t box_rows, uint32_t box_cols) {
  constexpr int64_t kMaxDim = int64_t{1} << 31;
  if (map == nullptr || base == nullptr ||
      (element_type != CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 &&
       element_type != CU_TENSOR_MAP_DATA_TYPE_FLOAT16) ||
      (reinterpret_cast<uintptr_t>(base) & 15u) != 0 || rows <= 0 || cols <= 0 || cols % 8 != 0 ||
      rows >= kMaxDim || cols >= kMaxDim || box_cols * 2 != 128 || box_rows < 1 || box_rows > 256) {
    return cudaErrorInvalidValue;
  }
  const EncodeTiledFn encode = EncodeTiled();
  if (encode == nullptr) return cudaErrorNotSupported;
  const cuuint64_t dims[2] = {static_cast<cuuint64_t>(cols), static_cast<cuuint64_t>(rows)};
  const cuuint64_t strides[1] = {static_cast<cuuint64_t>(cols) * 2};  // bytes, dims 1..rank-1
  const cuuint32_t box[2] = {box_cols, box_rows};
  const cuuint32_t element_strides[2] = {1, 1};
  const CUresult r =
      encode(map, element_type, 2, const_cast<void*>(base), dims, strides, box, element_strides,
             CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
             CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  return r == CUDA_SUCCESS ? cudaSuccess : cudaErrorInvalidValue;
}

}  // namespace proctor::kernels::cuda
