// Hopper GEMM (sm_90a): C = A·Bᵀ, BF16 or FP16 inputs, F32 accumulation,
// with wgmma.mma_async on operands that TMA lays out in shared memory,
// warp-specialised and persistent. See gemm.cuh
// for the contract and docs/design/kernels.md for the design.
//
// Block: 3 warpgroups (384 threads). Warpgroup 0 is the producer: after
// setmaxnreg.dec to 40 registers one thread issues every TMA load. Warpgroups
// 1 and 2 are consumers (setmaxnreg.inc to 232): each owns 64 rows of the
// 128 x 256 output tile and issues wgmma m64n256k16 (128 F32 accumulators
// per thread). K advances in steps of 64 (one 128-byte swizzled row).
//
// Pipeline invariants (kStages = 4 stages of A[128][64] + B[256][64], 48 KiB
// each; barriers full[s] and empty[s] per stage):
//  * full[s] expects 1 arrival (the producer's arrive.expect_tx announcing
//    48 KiB) plus the TMA transactions of exactly those bytes (out-of-bounds
//    box elements are zero-filled and still counted); empty[s] expects 8
//    arrivals, lane 0 of each consumer warp.
//  * Producer and consumers walk the same sequence of (tile, k-tile) steps;
//    step i uses stage i % kStages in lap i / kStages. The producer waits
//    empty[s] for parity (lap & 1) ^ 1 (lap 0 passes on the fresh barrier),
//    consumers wait full[s] for parity lap & 1.
//  * A consumer releases stage s only after wgmma.wait_group guarantees the
//    wgmma groups reading it are complete: with one group in flight, the
//    release of k-tile kt-1 follows wait_group(1) after issuing k-tile kt,
//    and the last k-tile of a tile is released after wait_group(0).
//  * Tiles are persistent: block b computes tiles b, b + grid, ... in the
//    grouped order of the sm80 kernel, so the producer already streams the
//    next tile's operands while the consumers run the epilogue.
#include <cuda_fp16.h>

#include <atomic>
#include <type_traits>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/gemm.cuh"
#include "kernels/cuda/gemm_epilogue.cuh"
#include "kernels/cuda/gemm_internal.cuh"
#include "kernels/cuda/sm90_ptx.cuh"
#include "kernels/cuda/tma_tensor_map.h"

namespace proctor::kernels::cuda {
namespace {

constexpr int kBM = 128;
constexpr int kBN = 256;
constexpr int kBK = 64;  // 64 BF16 = 128 bytes = the swizzle span
constexpr int kStages = 4;
constexpr int kConsumers = 2;  // consumer warpgroups, 64 tile rows each
constexpr int kThreads = 128 * (1 + kConsumers);
constexpr int kProducerRegs = 40;
constexpr int kConsumerRegs = 232;
constexpr int kGroupM = 8;  // tile rows per rasterisation group
constexpr uint32_t kStageBytesA = kBM * kBK * 2;
constexpr uint32_t kStageBytesB = kBN * kBK * 2;
// 1024 bytes of slack to align the 128B-swizzled tiles to 1024 bytes.
constexpr int kDynamicSmemBytes = 1024 + kStages * static_cast<int>(kStageBytesA + kStageBytesB);

static_assert(kBK * 2 == 128, "a tile row must be exactly one 128-byte swizzle row");
static_assert(128 * kProducerRegs + 128 * kConsumers * kConsumerRegs <= 65536,
              "register file: 64K 32-bit registers per SM");
static_assert(kStageBytesA % 1024 == 0 && kStageBytesB % 1024 == 0,
              "every stage must stay 1024-byte aligned");
static_assert(kDynamicSmemBytes + 2 * kStages * 8 <= 227 * 1024, "shared memory per block");

struct TileOrigin {
  int64_t m0, n0;
};

#if PROCTOR_SM90A_DEVICE
// Grouped rasterisation (as in gemm_sm80.cu): consecutive tiles walk
// kGroupM tile rows down one tile column before moving right.
__device__ __forceinline__ TileOrigin TileAt(int tile, int grid_m, int grid_n) {
  const int per_group = kGroupM * grid_n;
  const int first_m = (tile / per_group) * kGroupM;
  const int group_rows = min(grid_m - first_m, kGroupM);
  const int in_group = tile % per_group;
  return {static_cast<int64_t>(first_m + in_group % group_rows) * kBM,
          static_cast<int64_t>(in_group / group_rows) * kBN};
}
#endif  // PROCTOR_SM90A_DEVICE

// M, N, K < 2^31 (validated by the entry points). In the non-sm_90a passes
// the body is empty and the kernel declares no static shared memory, which is
// how GemmSm90aAvailable() tells a real body from an empty one.
template <typename InT, typename OutT, bool kSwiGlu>
__global__ void __launch_bounds__(kThreads, 1)
    GemmSm90aKernel(const __grid_constant__ CUtensorMap tmap_a,
                    const __grid_constant__ CUtensorMap tmap_b, OutT* C, const OutT* residual,
                    const InT* bias, int M, int N, int K, bool pair_stores) {
#if PROCTOR_SM90A_DEVICE
  using namespace sm90;                       // the PTX wrappers
  __shared__ uint64_t barriers[2 * kStages];  // full[0..S), empty[0..S)
  extern __shared__ unsigned char smem_raw[];
  const uint32_t tiles_base = (SharedAddress(smem_raw) + 1023u) & ~1023u;
  const uint32_t bar_base = SharedAddress(barriers);
  auto stage_a = [&](int s) { return tiles_base + static_cast<uint32_t>(s) * kStageBytesA; };
  auto stage_b = [&](int s) {
    return tiles_base + kStages * kStageBytesA + static_cast<uint32_t>(s) * kStageBytesB;
  };
  auto full_bar = [&](int s) { return bar_base + 8u * static_cast<uint32_t>(s); };
  auto empty_bar = [&](int s) { return bar_base + 8u * static_cast<uint32_t>(kStages + s); };

  const int grid_m = (M + kBM - 1) / kBM;
  const int grid_n = (N + kBN - 1) / kBN;
  const int tiles = grid_m * grid_n;
  const int k_tiles = (K + kBK - 1) / kBK;
  const int warpgroup = static_cast<int>(threadIdx.x) / 128;

  if (threadIdx.x == 0) {
    for (int s = 0; s < kStages; ++s) {
      MbarInit(full_bar(s), 1);
      MbarInit(empty_bar(s), kConsumers * 4);
    }
    MbarInitFence();
  }
  __syncthreads();

  if (warpgroup == 0) {
    // ---- producer ----
    SetMaxRegsDec<kProducerRegs>();
    if (threadIdx.x == 0) {
      PrefetchTensorMap(&tmap_a);
      PrefetchTensorMap(&tmap_b);
      int stage = 0;
      uint32_t phase = 0;
      for (int tile = static_cast<int>(blockIdx.x); tile < tiles;
           tile += static_cast<int>(gridDim.x)) {
        const TileOrigin o = TileAt(tile, grid_m, grid_n);
        for (int kt = 0; kt < k_tiles; ++kt) {
          MbarWait(empty_bar(stage), phase ^ 1u);
          MbarArriveExpectTx(full_bar(stage), kStageBytesA + kStageBytesB);
          TmaLoad2d(stage_a(stage), &tmap_a, kt * kBK, static_cast<int32_t>(o.m0), full_bar(stage));
          TmaLoad2d(stage_b(stage), &tmap_b, kt * kBK, static_cast<int32_t>(o.n0), full_bar(stage));
          if (++stage == kStages) {
            stage = 0;
            phase ^= 1u;
          }
        }
      }
    }
    return;
  }

  // ---- consumers ----
  SetMaxRegsInc<kConsumerRegs>();
  const int consumer = warpgroup - 1;
  const int warp_in_group = (static_cast<int>(threadIdx.x) % 128) / 32;
  const int lane = static_cast<int>(threadIdx.x) % 32;
  float acc[128];
#pragma unroll
  for (int i = 0; i < 128; ++i) acc[i] = 0.0f;
  int stage = 0;
  uint32_t phase = 0;
  for (int tile = static_cast<int>(blockIdx.x); tile < tiles; tile += static_cast<int>(gridDim.x)) {
    const TileOrigin o = TileAt(tile, grid_m, grid_n);
    int prev_stage = 0;
    for (int kt = 0; kt < k_tiles; ++kt) {
      MbarWait(full_bar(stage), phase);
      __syncwarp();  // reconverge after the spin before the .aligned wgmma instructions
      FenceAccumulators(acc);
      WgmmaFence();
      const uint64_t desc_a = MakeSmemDescSw128(stage_a(stage) + consumer * 64 * 128);
      const uint64_t desc_b = MakeSmemDescSw128(stage_b(stage));
#pragma unroll
      for (int kk = 0; kk < kBK / 16; ++kk) {
        // k16 step = 32 bytes along the swizzled row: +2 in the >> 4 address field.
        WgmmaM64N256K16<InT>(acc, desc_a + 2 * kk, desc_b + 2 * kk, (kt > 0 || kk > 0) ? 1u : 0u);
      }
      WgmmaCommit();
      FenceAccumulators(acc);
      WgmmaWait<1>();  // k-tile kt-1's group is complete: its stage may be refilled
      if (kt > 0 && lane == 0) MbarArrive(empty_bar(prev_stage));
      prev_stage = stage;
      if (++stage == kStages) {
        stage = 0;
        phase ^= 1u;
      }
    }
    WgmmaWait<0>();
    FenceAccumulators(acc);
    if (lane == 0) MbarArrive(empty_bar(prev_stage));

    // Epilogue straight from the fragments: column group j holds columns
    // 8j + 2t, 8j + 2t + 1 of rows g and g + 8 of this warp's 16 rows.
    const int g = lane / 4, t = lane % 4;
    const int64_t row = o.m0 + consumer * 64 + warp_in_group * 16 + g;
#pragma unroll
    for (int j = 0; j < kBN / 8; ++j) {
      const int64_t col = o.n0 + 8 * j + 2 * t;
      GemmEpiloguePair<OutT, kSwiGlu>(C, residual, bias, M, N, row, col, acc[4 * j], acc[4 * j + 1],
                                      pair_stores);
      GemmEpiloguePair<OutT, kSwiGlu>(C, residual, bias, M, N, row + 8, col, acc[4 * j + 2],
                                      acc[4 * j + 3], pair_stores);
    }
  }
#else
  (void)tmap_a, (void)tmap_b, (void)C, (void)residual, (void)bias, (void)M, (void)N, (void)K,
      (void)pair_stores;
#endif
}

template <typename InT, typename OutT, bool kSwiGlu>
cudaError_t Launch(const InT* a, const InT* b, OutT* c, const OutT* residual, const InT* bias,
                   int64_t m, int64_t n, int64_t k, bool pair_stores, cudaStream_t stream) {
  if (!GemmSm90aAvailable()) return cudaErrorNotSupported;
  const int64_t grid_m = (m + kBM - 1) / kBM;
  const int64_t grid_n = (n + kBN - 1) / kBN;
  if (grid_m * grid_n > INT32_MAX || kGroupM * grid_n > INT32_MAX) return cudaErrorInvalidValue;
  CUtensorMap map_a, map_b;
  constexpr CUtensorMapDataType kElement = std::is_same_v<InT, __half>
                                               ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16
                                               : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16;
  cudaError_t err = EncodeRowTileMap16(&map_a, kElement, a, m, k, kBM, kBK);
  if (err == cudaSuccess) err = EncodeRowTileMap16(&map_b, kElement, b, n, k, kBN, kBK);
  auto kernel = GemmSm90aKernel<InT, OutT, kSwiGlu>;
  if (err == cudaSuccess) {
    err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                               kDynamicSmemBytes);
  }
  if (err != cudaSuccess) return err;
  const int64_t tiles = grid_m * grid_n;
  const int sms = CurrentDeviceSmCount();
  const int64_t blocks = tiles < sms ? tiles : (sms > 0 ? sms : tiles);
  kernel<<<static_cast<unsigned>(blocks), kThreads, kDynamicSmemBytes, stream>>>(
      map_a, map_b, c, residual, bias, static_cast<int>(m), static_cast<int>(n),
      static_cast<int>(k), pair_stores);
  return cudaGetLastError();
}

}  // namespace

bool GemmSm90aAvailable() {
  // Per device: 0 = not yet known, 1 = available, 2 = not available.
  static std::atomic<int> cached[64];
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess || device < 0 || device >= 64) {
    cudaGetLastError();
    return false;
  }
  int known = cached[device].load(std::memory_order_relaxed);
  if (known == 0) {
    int major = 0, minor = 0;
    cudaFuncAttributes attr{};
    // The sm_90a cubin only loads on compute capability 9.0, and only a body
    // compiled for sm_90a declares the static barrier array (a build without
    // the 90a target would otherwise run an empty kernel from PTX).
    const bool ok =
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) == cudaSuccess &&
        cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device) == cudaSuccess &&
        major == 9 && minor == 0 &&
        cudaFuncGetAttributes(&attr, GemmSm90aKernel<__nv_bfloat16, float, false>) == cudaSuccess &&
        attr.sharedSizeBytes >= 2 * kStages * sizeof(uint64_t);
    if (!ok) cudaGetLastError();
    known = ok ? 1 : 2;
    cached[device].store(known, std::memory_order_relaxed);
  }
  return known == 1;
}

template <typename InT, typename OutT>
cudaError_t GemmSm90a(const InT* a, const InT* b, OutT* c, const OutT* residual, const InT* bias,
                      int64_t m, int64_t n, int64_t k, bool pair_stores, cudaStream_t stream) {
  return Launch<InT, OutT, false>(a, b, c, residual, bias, m, n, k, pair_stores, stream);
}
template cudaError_t GemmSm90a<__nv_bfloat16, float>(const __nv_bfloat16*, const __nv_bfloat16*,
                                                     float*, const float*, const __nv_bfloat16*,
                                                     int64_t, int64_t, int64_t, bool, cudaStream_t);
template cudaError_t GemmSm90a<__nv_bfloat16, __nv_bfloat16>(const __nv_bfloat16*,
                                                             const __nv_bfloat16*, __nv_bfloat16*,
                                                             const __nv_bfloat16*,
                                                             const __nv_bfloat16*, int64_t, int64_t,
                                                             int64_t, bool, cudaStream_t);
template cudaError_t GemmSm90a<__half, float>(const __half*, const __half*, float*, const float*,
                                              const __half*, int64_t, int64_t, int64_t, bool,
                                              cudaStream_t);
template cudaError_t GemmSm90a<__half, __half>(const __half*, const __half*, __half*, const __half*,
                                               const __half*, int64_t, int64_t, int64_t, bool,
                                               cudaStream_t);

cudaError_t GemmSwiGluBf16Sm90a(const __nv_bfloat16* a, const __nv_bfloat16* b_gate_up,
                                __nv_bfloat16* out, int64_t m, int64_t n, int64_t k,
                                cudaStream_t stream) {
  const __nv_bfloat16* no_bias = nullptr;
  return Launch<__nv_bfloat16, __nv_bfloat16, true>(a, b_gate_up, out, nullptr, no_bias, m, 2 * n,
                                                    k, false, stream);
}

}  // namespace proctor::kernels::cuda
