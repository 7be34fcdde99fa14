// Device-side helpers shared by the Proctor CUDA kernels: BF16 conversion,
// warp reductions, cp.async / ldmatrix / mma.sync wrappers. Only included by
// .cu files (never by host-only code).
//
// Conventions for every op in this folder (llm.c / ggml layout):
//   device math -> kernel -> launcher -> entry point.
// Entry points validate shapes and pointers first and return
// cudaErrorInvalidValue without touching the device when they are wrong; they
// never synchronise and never allocate.
#ifndef PROCTOR_KERNELS_CUDA_COMMON_CUH_
#define PROCTOR_KERNELS_CUDA_COMMON_CUH_

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace proctor::kernels::cuda {

constexpr int kWarpSize = 32;

__device__ __forceinline__ float WarpReduceSum(float v) {
#pragma unroll
  for (int offset = kWarpSize / 2; offset > 0; offset >>= 1) {
    v += __shfl_xor_sync(0xffffffffu, v, offset);
  }
  return v;
}

__device__ __forceinline__ float WarpReduceMax(float v) {
#pragma unroll
  for (int offset = kWarpSize / 2; offset > 0; offset >>= 1) {
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  }
  return v;
}

// Block-wide sum for blockDim.x a multiple of 32 (<= 1024). `scratch` must hold
// 32 floats. Every thread receives the total. Contains __syncthreads().
__device__ __forceinline__ float BlockReduceSum(float v, float* scratch) {
  const int lane = threadIdx.x % kWarpSize;
  const int warp = threadIdx.x / kWarpSize;
  const int n_warps = blockDim.x / kWarpSize;
  v = WarpReduceSum(v);
  __syncthreads();  // scratch may still be read by a previous reduction
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < n_warps ? scratch[lane] : 0.0f;
  return WarpReduceSum(v);
}

// ---- Asynchronous copies (sm_80+) ------------------------------------------
// Copies 16 bytes global -> shared; when `pred` is false the destination is
// zero-filled and nothing is read (src-size 0), so `src` only needs to be a
// valid address expression, not a readable one.
__device__ __forceinline__ void CpAsync16(void* smem_dst, const void* gmem_src, bool pred) {
  const unsigned dst = static_cast<unsigned>(__cvta_generic_to_shared(smem_dst));
  const int src_bytes = pred ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(gmem_src),
               "r"(src_bytes));
}
__device__ __forceinline__ void CpAsyncCommit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int kPending>
__device__ __forceinline__ void CpAsyncWait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending));
}

// ---- Tensor-core fragments (mma.sync m16n8k16, BF16 in, F32 accumulate) -----
// Fragment ownership (PTX ISA, "Matrix fragments for mma.m16n8k16"), with
// g = lane / 4 and t = lane % 4:
//   A (16x16, row-major): a0 = A[g][2t..2t+1], a1 = A[g+8][2t..], a2 = A[g][2t+8..],
//                         a3 = A[g+8][2t+8..]
//   B (16x8, "col", i.e. B^T row-major [n][k]): b0 = B[k=2t..2t+1][n=g],
//                         b1 = B[k=2t+8..2t+9][n=g]
//   C (16x8, f32): c0,c1 = C[g][2t..2t+1], c2,c3 = C[g+8][2t..2t+1]

// Four 8x8 b16 matrices; lane l supplies the address of row (l % 8) of matrix
// (l / 8). Register i receives matrix i's row (lane / 4), cols 2*(lane%4)+{0,1}.
__device__ __forceinline__ void LdMatrixX4(unsigned (&r)[4], const void* smem_row) {
  const unsigned addr = static_cast<unsigned>(__cvta_generic_to_shared(smem_row));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}
// As LdMatrixX4 but each 8x8 matrix is transposed on the way: register i
// receives matrix i's elements (row 2*(lane%4)+{0,1}, col lane/4).
__device__ __forceinline__ void LdMatrixX4Trans(unsigned (&r)[4], const void* smem_row) {
  const unsigned addr = static_cast<unsigned>(__cvta_generic_to_shared(smem_row));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

// d += a * b for one m16n8k16 tile.
__device__ __forceinline__ void MmaBf16(float (&d)[4], const unsigned (&a)[4], unsigned b0,
                                        unsigned b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, "
      "{%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// The same for FP16 inputs (identical fragment layout).
__device__ __forceinline__ void MmaF16(float (&d)[4], const unsigned (&a)[4], unsigned b0,
                                       unsigned b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, "
      "{%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Packs two floats into one register of two BF16 (lo = first element).
__device__ __forceinline__ unsigned PackBf16x2(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<unsigned*>(&v);
}

inline bool Aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

inline int CeilDiv(int64_t a, int64_t b) { return static_cast<int>((a + b - 1) / b); }

}  // namespace proctor::kernels::cuda

#endif  // PROCTOR_KERNELS_CUDA_COMMON_CUH_
