// Hopper (sm_90a) PTX wrappers: mbarrier, TMA bulk tensor copies, wgmma and
// setmaxnreg. Only included by .cu files, and every definition below exists
// only in the sm_90a device pass (PROCTOR_SM90A_DEVICE): the sm_80 and host
// passes see none of it, so a kernel using these wrappers must guard its body
// with `#if PROCTOR_SM90A_DEVICE`.
//
// References: PTX ISA 8.x, sections "mbarrier", "cp.async.bulk.tensor",
// "Asynchronous Warpgroup Level Matrix Multiply-Accumulate" (wgmma) and
// "setmaxnreg". Nothing here is copied from a library.
//
// Shared-memory addresses are 32-bit `.shared::cta` addresses (from
// SharedAddress), never generic pointers.
#ifndef PROCTOR_KERNELS_CUDA_SM90_PTX_CUH_
#define PROCTOR_KERNELS_CUDA_SM90_PTX_CUH_

#include <cuda.h>  // CUtensorMap (a plain 128-byte struct; no driver library is linked)
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define PROCTOR_SM90A_DEVICE 1
#else
#define PROCTOR_SM90A_DEVICE 0
#endif

namespace proctor::kernels::cuda::sm90 {

#if PROCTOR_SM90A_DEVICE

__device__ __forceinline__ uint32_t SharedAddress(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// ---- mbarrier ------------------------------------------------------------
// A barrier completes its current phase when `count` arrivals have happened
// and its transaction count (bytes announced with ArriveExpectTx, consumed by
// TMA completions) is back to zero; the phase parity then flips.

__device__ __forceinline__ void MbarInit(uint32_t bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}

// Makes barrier initialisation visible to the other threads and to the async
// proxy (TMA). Follow with __syncthreads().
__device__ __forceinline__ void MbarInitFence() {
  asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

// One arrival that also announces `bytes` of incoming TMA transactions.
__device__ __forceinline__ void MbarArriveExpectTx(uint32_t bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes)
               : "memory");
}

__device__ __forceinline__ void MbarArrive(uint32_t bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}

// Blocks until the phase with parity `parity` has completed. On a freshly
// initialised barrier (phase 0 in progress) waiting for parity 1 returns at
// once: that is how a producer treats every stage as free on its first lap.
//
// A wait that lasts more than 2^36 SM clock cycles (about 40 s at 1.7 GHz)
// can only be a pipeline bug (a missed arrival or a wrong parity): the
// thread traps, so the launch fails with cudaErrorLaunchFailure instead of
// hanging the process that is testing it.
__device__ __forceinline__ bool MbarTryWait(uint32_t bar, uint32_t parity) {
  uint32_t done = 0;
  asm volatile(
      "{\n"
      ".reg .pred p;\n"
      "mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
      "selp.u32 %0, 1, 0, p;\n"
      "}\n"
      : "=r"(done)
      : "r"(bar), "r"(parity)
      : "memory");
  return done != 0;
}
__device__ __forceinline__ void MbarWait(uint32_t bar, uint32_t parity) {
  if (MbarTryWait(bar, parity)) return;
  const long long start = clock64();
  while (!MbarTryWait(bar, parity)) {
    if (clock64() - start > (1LL << 36)) __trap();
  }
}

// ---- TMA -------------------------------------------------------------------

__device__ __forceinline__ void PrefetchTensorMap(const CUtensorMap* map) {
  asm volatile("prefetch.tensormap [%0];\n" ::"l"(reinterpret_cast<uint64_t>(map)) : "memory");
}

// Copies the box at element coordinates (c0 = innermost, c1) of `map` into
// shared memory at `dst` and signals completion of its bytes on `bar`.
// Elements outside the tensor are written as zeros (and still counted).
__device__ __forceinline__ void TmaLoad2d(uint32_t dst, const CUtensorMap* map, int32_t c0,
                                          int32_t c1, uint32_t bar) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes"
      " [%0], [%1, {%2, %3}], [%4];\n" ::"r"(dst),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(c0), "r"(c1), "r"(bar)
      : "memory");
}

// ---- Register reallocation ----------------------------------------------------
// Executed by all threads of a warpgroup; the count is per thread and must be
// a multiple of 8 in [24, 256].
template <int kRegs>
__device__ __forceinline__ void SetMaxRegsDec() {
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(kRegs));
}
template <int kRegs>
__device__ __forceinline__ void SetMaxRegsInc() {
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(kRegs));
}

// ---- wgmma -------------------------------------------------------------------
// Shared-memory matrix descriptor for a K-major BF16 tile whose rows are 64
// elements (128 bytes) written by TMA with CU_TENSOR_MAP_SWIZZLE_128B: eight
// rows form one 1024-byte swizzle atom, so the stride byte offset (between
// 8-row groups) is 1024; the leading byte offset is unused for swizzled
// K-major layouts (1 by convention); layout type 1 = 128B swizzle. The tile
// must start on a 1024-byte boundary (base offset 0). Bits: [0,14) start
// address >> 4, [16,30) LBO >> 4, [32,46) SBO >> 4, [62,64) layout type.
__device__ __forceinline__ uint64_t MakeSmemDescSw128(uint32_t smem_addr) {
  uint64_t desc = (smem_addr & 0x3FFFFu) >> 4;
  desc |= uint64_t{1} << 16;
  desc |= uint64_t{1024 >> 4} << 32;
  desc |= uint64_t{1} << 62;
  return desc;
}

__device__ __forceinline__ void WgmmaFence() {
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void WgmmaCommit() {
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
// Waits until at most kPending committed wgmma groups are still in flight.
template <int kPending>
__device__ __forceinline__ void WgmmaWait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(kPending) : "memory");
}

// Pins accumulator registers so the compiler neither reads nor moves them
// across a wgmma fence / wait (they are written asynchronously).
template <int kN>
__device__ __forceinline__ void FenceAccumulators(float (&d)[kN]) {
#pragma unroll
  for (int i = 0; i < kN; ++i) asm volatile("" : "+f"(d[i])::"memory");
}

// d[64 x 256 per warpgroup] (+)= A[64 x 16] * B[256 x 16]^T, both operands
// K-major 16-bit floats (InT = __nv_bfloat16 or __half) in shared memory, F32
// accumulation. accumulate == 0 ignores the old contents of d (first k-step
// of a tile). Fragment layout of d for thread (warp w of the warpgroup, lane
// l, g = l / 4, t = l % 4): for column group j < 32, d[4j], d[4j+1] =
// D[16w + g][8j + 2t + {0,1}] and d[4j+2], d[4j+3] = D[16w + g + 8][8j + 2t +
// {0,1}].
#define PROCTOR_WGMMA_M64N256K16(kType)                                                            \
  asm volatile(                                                                                    \
      "{\n"                                                                                        \
      ".reg .pred p;\n"                                                                            \
      "setp.ne.b32 p, %130, 0;\n"                                                                  \
      "wgmma.mma_async.sync.aligned.m64n256k16.f32." kType "." kType                               \
      " {"                                                                                         \
      "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "                     \
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "           \
      "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "           \
      "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, "           \
      "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, "           \
      "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, "           \
      "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, "     \
      "%111, %112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, "       \
      "%125, %126, %127},"                                                                         \
      " %128, %129, p, 1, 1, 0, 0;\n"                                                              \
      "}\n"                                                                                        \
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]),        \
        "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]),    \
        "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), \
        "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), \
        "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), \
        "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), \
        "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), \
        "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), \
        "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), \
        "+f"(d[63]), "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), \
        "+f"(d[70]), "+f"(d[71]), "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), \
        "+f"(d[77]), "+f"(d[78]), "+f"(d[79]), "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), \
        "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]), "+f"(d[88]), "+f"(d[89]), "+f"(d[90]), \
        "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]), "+f"(d[96]), "+f"(d[97]), \
        "+f"(d[98]), "+f"(d[99]), "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]),          \
        "+f"(d[104]), "+f"(d[105]), "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]),        \
        "+f"(d[110]), "+f"(d[111]), "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]),        \
        "+f"(d[116]), "+f"(d[117]), "+f"(d[118]), "+f"(d[119]), "+f"(d[120]), "+f"(d[121]),        \
        "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]), "+f"(d[126]), "+f"(d[127])         \
      : "l"(desc_a), "l"(desc_b), "r"(accumulate)                                                  \
      : "memory");

template <typename InT>
__device__ __forceinline__ void WgmmaM64N256K16(float (&d)[128], uint64_t desc_a, uint64_t desc_b,
                                                uint32_t accumulate) {
  if constexpr (std::is_same_v<InT, __half>) {
    PROCTOR_WGMMA_M64N256K16("f16");
  } else {
    PROCTOR_WGMMA_M64N256K16("bf16");
  }
}
#undef PROCTOR_WGMMA_M64N256K16

#endif  // PROCTOR_SM90A_DEVICE

}  // namespace proctor::kernels::cuda::sm90

#endif  // PROCTOR_KERNELS_CUDA_SM90_PTX_CUH_
