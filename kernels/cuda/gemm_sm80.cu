// Ampere-style tensor-core GEMM, BF16 or FP16 inputs (also runs on Hopper,
// where gemm_dispatch.cc uses it for m <= 64). See gemm.cuh.
//
// Tiling: a thread block computes a BM x BN tile of C, walking K in steps of
// BK = 32. Each stage of the cp.async pipeline holds A[BM][BK] and B[BN][BK]
// in shared memory with a row stride of BK + 8 elements (80 bytes): the eight
// 16-byte rows one ldmatrix phase reads then fall in distinct bank groups, so
// the padding replaces a swizzle. Warps are arranged WARPS_M x WARPS_N; a warp
// owns a WM x WN sub-tile = (WM/16) x (WN/8) mma tiles of F32 accumulators.
//
// Pipeline invariant: before computing k-tile kt, exactly STAGES-1 + kt
// commit groups have been issued and cp.async.wait_group(STAGES-2) leaves
// group kt complete; the __syncthreads() that follows also guarantees every
// warp has finished reading the stage that the next prefetch overwrites.
#include <cuda_fp16.h>

#include <type_traits>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/gemm_epilogue.cuh"
#include "kernels/cuda/gemm_internal.cuh"

namespace proctor::kernels::cuda {
namespace {

constexpr int kBK = 32;
constexpr int kStride = kBK + 8;  // elements per smem row
constexpr int kGroupM = 8;        // tile rows per rasterisation group

template <int BM, int BN, int WARPS_M, int WARPS_N, int STAGES>
struct GemmConfig {
  static constexpr int kBM = BM, kBN = BN, kStages = STAGES;
  static constexpr int kThreads = 32 * WARPS_M * WARPS_N;
  static constexpr int kWM = BM / WARPS_M, kWN = BN / WARPS_N;
  static constexpr int kMT = kWM / 16, kNT = kWN / 8;
  static constexpr int kStageElems = (BM + BN) * kStride;
  static constexpr int kSmemBytes = STAGES * kStageElems * 2;
  static_assert(kWM % 16 == 0 && kWN % 16 == 0, "warp tile must be 16-aligned");
  static_assert((BM * kBK / 8) % kThreads == 0 && (BN * kBK / 8) % kThreads == 0,
                "loads must divide evenly among threads");
};

// Issues the cp.async copies of rows [row0, row0 + ROWS) x k-range
// [k0, k0 + BK) of a row-major [rows, k] matrix into dst[ROWS][kStride].
template <int ROWS, int THREADS, typename InT>
__device__ __forceinline__ void LoadTile(InT* dst, const InT* src, int64_t row0, int64_t rows,
                                         int64_t k0, int64_t k) {
  constexpr int kChunksPerRow = kBK / 8;
#pragma unroll
  for (int c = threadIdx.x; c < ROWS * kChunksPerRow; c += THREADS) {
    const int r = c / kChunksPerRow;
    const int kc = (c % kChunksPerRow) * 8;
    const int64_t gr = row0 + r, gk = k0 + kc;
    const bool pred = gr < rows && gk < k;  // k % 8 == 0: a chunk is all in or all out
    const InT* g = pred ? src + gr * k + gk : src;
    CpAsync16(dst + r * kStride + kc, g, pred);
  }
}

// kSwiGlu: B holds gate and up rows interleaved (row 2j = gate j, row 2j+1 =
// up j), so each thread's accumulator pair (columns 2t, 2t+1) is one
// (gate, up) pair; it writes silu(gate) * up to C[row, col / 2] (C is
// [M, N / 2]); bias and residual are not used.
template <typename Cfg, typename InT, typename OutT, bool kSwiGlu>
__global__ void __launch_bounds__(Cfg::kThreads)
    GemmSm80Kernel(const InT* __restrict__ A, const InT* __restrict__ B, OutT* C,
                   const OutT* residual, const InT* __restrict__ bias, int64_t M, int64_t N,
                   int64_t K, bool pair_stores) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  InT* smem = reinterpret_cast<InT*>(smem_raw);
  auto stage_a = [&](int s) { return smem + s * Cfg::kStageElems; };
  auto stage_b = [&](int s) { return smem + s * Cfg::kStageElems + Cfg::kBM * kStride; };

  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int warp_m = warp / (Cfg::kBN / Cfg::kWN);
  const int warp_n = warp % (Cfg::kBN / Cfg::kWN);
  // Grouped rasterisation of the 1-D grid: consecutive blocks walk kGroupM
  // tile rows down one tile column before moving right, so a wave of blocks
  // shares a few A row-panels and B column-panels in L2 instead of streaming
  // all of B once per tile row.
  const int grid_m = static_cast<int>((M + Cfg::kBM - 1) / Cfg::kBM);
  const int grid_n = static_cast<int>((N + Cfg::kBN - 1) / Cfg::kBN);
  const int per_group = kGroupM * grid_n;
  const int first_m = (static_cast<int>(blockIdx.x) / per_group) * kGroupM;
  const int group_rows = min(grid_m - first_m, kGroupM);
  const int in_group = static_cast<int>(blockIdx.x) % per_group;
  const int64_t bm0 = static_cast<int64_t>(first_m + in_group % group_rows) * Cfg::kBM;
  const int64_t bn0 = static_cast<int64_t>(in_group / group_rows) * Cfg::kBN;
  const int k_tiles = static_cast<int>((K + kBK - 1) / kBK);

  float acc[Cfg::kMT][Cfg::kNT][4];
#pragma unroll
  for (int i = 0; i < Cfg::kMT; ++i)
#pragma unroll
    for (int j = 0; j < Cfg::kNT; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;

        // Prologue: fill STAGES-1 stages (empty groups keep the count uniform).
#pragma unroll
  for (int s = 0; s < Cfg::kStages - 1; ++s) {
    if (s < k_tiles) {
      LoadTile<Cfg::kBM, Cfg::kThreads>(stage_a(s), A, bm0, M, int64_t{s} * kBK, K);
      LoadTile<Cfg::kBN, Cfg::kThreads>(stage_b(s), B, bn0, N, int64_t{s} * kBK, K);
    }
    CpAsyncCommit();
  }

  for (int kt = 0; kt < k_tiles; ++kt) {
    CpAsyncWait<Cfg::kStages - 2>();
    __syncthreads();
    const int next = kt + Cfg::kStages - 1;
    if (next < k_tiles) {
      const int s = next % Cfg::kStages;
      LoadTile<Cfg::kBM, Cfg::kThreads>(stage_a(s), A, bm0, M, int64_t{next} * kBK, K);
      LoadTile<Cfg::kBN, Cfg::kThreads>(stage_b(s), B, bn0, N, int64_t{next} * kBK, K);
    }
    CpAsyncCommit();

    const InT* sa = stage_a(kt % Cfg::kStages) + warp_m * Cfg::kWM * kStride;
    const InT* sb = stage_b(kt % Cfg::kStages) + warp_n * Cfg::kWN * kStride;
#pragma unroll
    for (int kk = 0; kk < kBK; kk += 16) {
      unsigned af[Cfg::kMT][4];
#pragma unroll
      for (int mt = 0; mt < Cfg::kMT; ++mt) {
        // Matrices: rows 0-7/8-15 x cols 0-7, then x cols 8-15 -> a0..a3.
        LdMatrixX4(af[mt], sa + (mt * 16 + lane % 16) * kStride + kk + (lane / 16) * 8);
      }
#pragma unroll
      for (int np = 0; np < Cfg::kNT / 2; ++np) {
        // Matrices: n 0-7 x k 0-7 (b0), n 0-7 x k 8-15 (b1), then n 8-15.
        unsigned bf[4];
        LdMatrixX4(
            bf, sb + (np * 16 + lane % 8 + (lane / 16) * 8) * kStride + kk + ((lane / 8) % 2) * 8);
#pragma unroll
        for (int mt = 0; mt < Cfg::kMT; ++mt) {
          if constexpr (std::is_same_v<InT, __half>) {
            MmaF16(acc[mt][2 * np], af[mt], bf[0], bf[1]);
            MmaF16(acc[mt][2 * np + 1], af[mt], bf[2], bf[3]);
          } else {
            MmaBf16(acc[mt][2 * np], af[mt], bf[0], bf[1]);
            MmaBf16(acc[mt][2 * np + 1], af[mt], bf[2], bf[3]);
          }
        }
      }
    }
  }
  CpAsyncWait<0>();

  // Epilogue straight from the accumulator fragments (c0,c1: row g; c2,c3: row g+8).
  const int g = lane / 4, t = lane % 4;
#pragma unroll
  for (int mt = 0; mt < Cfg::kMT; ++mt) {
#pragma unroll
    for (int nt = 0; nt < Cfg::kNT; ++nt) {
      const int64_t col = bn0 + warp_n * Cfg::kWN + nt * 8 + 2 * t;
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int64_t row = bm0 + warp_m * Cfg::kWM + mt * 16 + g + half * 8;
        GemmEpiloguePair<OutT, kSwiGlu>(C, residual, bias, M, N, row, col, acc[mt][nt][2 * half],
                                        acc[mt][nt][2 * half + 1], pair_stores);
      }
    }
  }
}

// Large tiles for prefill-sized M; small tiles keep more SMs busy when M is
// a decode batch.
using BigTile = GemmConfig<128, 128, 2, 4, 4>;
using SmallTile = GemmConfig<64, 64, 2, 2, 4>;
// Decode-sized M with few output columns: halves BN so the grid covers the SMs
// (n = 4096 gives 128 blocks instead of 64).
using TinyTile = GemmConfig<64, 32, 2, 2, 4>;

template <typename Cfg, typename InT, typename OutT, bool kSwiGlu = false>
cudaError_t Launch(const InT* a, const InT* b, OutT* c, const OutT* residual, const InT* bias,
                   int64_t m, int64_t n, int64_t k, bool pair_stores, cudaStream_t stream) {
  auto kernel = GemmSm80Kernel<Cfg, InT, OutT, kSwiGlu>;
  cudaError_t err =
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, Cfg::kSmemBytes);
  if (err != cudaSuccess) return err;
  const int64_t grid_n = (n + Cfg::kBN - 1) / Cfg::kBN;
  const int64_t grid_m = (m + Cfg::kBM - 1) / Cfg::kBM;
  if (grid_m * grid_n > INT32_MAX || kGroupM * grid_n > INT32_MAX) return cudaErrorInvalidValue;
  const dim3 grid(static_cast<unsigned>(grid_m * grid_n));
  kernel<<<grid, Cfg::kThreads, Cfg::kSmemBytes, stream>>>(a, b, c, residual, bias, m, n, k,
                                                           pair_stores);
  return cudaGetLastError();
}

}  // namespace

template <typename InT, typename OutT>
cudaError_t GemmSm80(const InT* a, const InT* b, OutT* c, const OutT* residual, const InT* bias,
                     int64_t m, int64_t n, int64_t k, bool pair_stores, cudaStream_t stream) {
  if (m <= 64) {
    if ((n + SmallTile::kBN - 1) / SmallTile::kBN < CurrentDeviceSmCount()) {
      return Launch<TinyTile>(a, b, c, residual, bias, m, n, k, pair_stores, stream);
    }
    return Launch<SmallTile>(a, b, c, residual, bias, m, n, k, pair_stores, stream);
  }
  return Launch<BigTile>(a, b, c, residual, bias, m, n, k, pair_stores, stream);
}
template cudaError_t GemmSm80<__nv_bfloat16, float>(const __nv_bfloat16*, const __nv_bfloat16*,
                                                    float*, const float*, const __nv_bfloat16*,
                                                    int64_t, int64_t, int64_t, bool, cudaStream_t);
template cudaError_t GemmSm80<__nv_bfloat16, __nv_bfloat16>(const __nv_bfloat16*,
                                                            const __nv_bfloat16*, __nv_bfloat16*,
                                                            const __nv_bfloat16*,
                                                            const __nv_bfloat16*, int64_t, int64_t,
                                                            int64_t, bool, cudaStream_t);
template cudaError_t GemmSm80<__half, float>(const __half*, const __half*, float*, const float*,
                                             const __half*, int64_t, int64_t, int64_t, bool,
                                             cudaStream_t);
template cudaError_t GemmSm80<__half, __half>(const __half*, const __half*, __half*, const __half*,
                                              const __half*, int64_t, int64_t, int64_t, bool,
                                              cudaStream_t);

cudaError_t GemmSwiGluBf16Sm80(const __nv_bfloat16* a, const __nv_bfloat16* b_gate_up,
                               __nv_bfloat16* out, int64_t m, int64_t n, int64_t k,
                               cudaStream_t stream) {
  // Same tile choice as GemmSm80 over the 2n interleaved columns.
  using Bf16 = __nv_bfloat16;
  const Bf16* no_bias = nullptr;
  if (m <= 64) {
    if ((2 * n + SmallTile::kBN - 1) / SmallTile::kBN < CurrentDeviceSmCount()) {
      return Launch<TinyTile, Bf16, Bf16, true>(a, b_gate_up, out, nullptr, no_bias, m, 2 * n, k,
                                                false, stream);
    }
    return Launch<SmallTile, Bf16, Bf16, true>(a, b_gate_up, out, nullptr, no_bias, m, 2 * n, k,
                                               false, stream);
  }
  return Launch<BigTile, Bf16, Bf16, true>(a, b_gate_up, out, nullptr, no_bias, m, 2 * n, k, false,
                                           stream);
}

}  // namespace proctor::kernels::cuda
