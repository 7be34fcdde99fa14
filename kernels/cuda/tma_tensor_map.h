// TMA tensor maps (CUtensorMap) for row-major 16-bit float matrices, encoded on the
// host without linking the CUDA driver library: cuTensorMapEncodeTiled is
// looked up once through cudaGetDriverEntryPointByVersion (TOOLCHAIN.md: a
// binary linked to libcuda fails to load on a machine without a driver).
//
// Thread-safety: EncodeRowTileMap16 may be called from any thread; the
// one-time entry-point lookup is a function-local static.
#ifndef PROCTOR_KERNELS_CUDA_TMA_TENSOR_MAP_H_
#define PROCTOR_KERNELS_CUDA_TMA_TENSOR_MAP_H_

#include <cuda.h>  // CUtensorMap and the encode function's types (header only)
#include <cuda_runtime_api.h>

#include <cstdint>

namespace proctor::kernels::cuda {

// Describes the row-major matrix `base[rows, cols]` of 2-byte elements of
// `element_type` (CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 or _FLOAT16; row pitch =
// cols elements) as a 2-D TMA tensor read in boxes of box_rows x box_cols
// elements, with the 128-byte swizzle (so box_cols * 2 must be 128) and zero
// fill outside the matrix. The map stores `base`; it is valid as long as the
// allocation is, and is passed to a kernel by value (__grid_constant__).
//
// Returns cudaErrorInvalidValue (and leaves *map unspecified) when map or
// base is null, element_type is not one of the two 16-bit float types, base is not 16-byte aligned,
// rows or cols is not positive, cols % 8 != 0 (the row pitch must be a multiple of 16 bytes), a
// dimension is >= 2^31, box_cols * 2 != 128, or box_rows is not in [1, 256]; cudaErrorNotSupported
// when the installed driver does not provide cuTensorMapEncodeTiled (driver older than CUDA 12.0,
// or no driver at all); cudaErrorInvalidValue when the driver rejects the description.
cudaError_t EncodeRowTileMap16(CUtensorMap* map, CUtensorMapDataType element_type, const void* base,
                               int64_t rows, int64_t cols, uint32_t box_rows, uint32_t box_cols);

}  // namespace proctor::kernels::cuda

#endif  // PROCTOR_KERNELS_CUDA_TMA_TENSOR_MAP_H_
