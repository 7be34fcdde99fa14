#include <cmath>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/log_softmax_gather.cuh"

namespace proctor::kernels::cuda {
namespace {

constexpr int kThreads = 512;

// Running state of one slice of a row: max m, sum of exp(x - m), and the
// argmax (value, lowest index). Invariant: s == 0 when m == -inf.
struct RowState {
  float m;
  float s;
  float best;
  int idx;
};

__device__ __forceinline__ void Push(RowState& st, float x, int i) {
  if (x > st.best || (x == st.best && i < st.idx)) {
    st.best = x;
    st.idx = i;
  }
  if (x == -INFINITY) return;
  if (x > st.m) {
    st.s = st.s * __expf(st.m - x) + 1.0f;  // exp(-inf) == 0 covers the first element
    st.m = x;
  } else {
    st.s += __expf(x - st.m);
  }
}

__device__ __forceinline__ RowState Merge(const RowState& a, const RowState& b) {
  RowState r;
  r.m = fmaxf(a.m, b.m);
  r.s = r.m == -INFINITY ? 0.0f : a.s * __expf(a.m - r.m) + b.s * __expf(b.m - r.m);
  const bool take_b = b.best > a.best || (b.best == a.best && b.idx < a.idx);
  r.best = take_b ? b.best : a.best;
  r.idx = take_b ? b.idx : a.idx;
  return r;
}

__device__ __forceinline__ RowState WarpMerge(RowState st) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) {
    RowState o;
    o.m = __shfl_xor_sync(0xffffffffu, st.m, off);
    o.s = __shfl_xor_sync(0xffffffffu, st.s, off);
    o.best = __shfl_xor_sync(0xffffffffu, st.best, off);
    o.idx = __shfl_xor_sync(0xffffffffu, st.idx, off);
    st = Merge(st, o);
  }
  return st;
}

// One block per row; thread i reads elements i, i + kThreads, ... (float4
// when kVec: vocab % 4 == 0 and 16-byte aligned rows), then warp and block
// merges of RowState. NaN logits are ignored by the argmax and poison the sum.
template <bool kVec>
__global__ void __launch_bounds__(kThreads)
    LogSoftmaxGatherKernel(const float* __restrict__ logits, const int32_t* __restrict__ targets,
                           float* __restrict__ logprob_out, int32_t* __restrict__ argmax_out,
                           int vocab) {
  __shared__ RowState partial[kThreads / kWarpSize];
  const float* row = logits + static_cast<int64_t>(blockIdx.x) * vocab;
  RowState st{-INFINITY, 0.0f, -INFINITY, INT32_MAX};
  if constexpr (kVec) {
    const float4* row4 = reinterpret_cast<const float4*>(row);
    for (int i = threadIdx.x; i < vocab / 4; i += kThreads) {
      const float4 v = row4[i];
      Push(st, v.x, 4 * i);
      Push(st, v.y, 4 * i + 1);
      Push(st, v.z, 4 * i + 2);
      Push(st, v.w, 4 * i + 3);
    }
  } else {
    for (int i = threadIdx.x; i < vocab; i += kThreads) Push(st, row[i], i);
  }
  st = WarpMerge(st);
  const int warp = threadIdx.x / kWarpSize, lane = threadIdx.x % kWarpSize;
  if (lane == 0) partial[warp] = st;
  __syncthreads();
  if (warp != 0) return;
  st =
      lane < kThreads / kWarpSize ? partial[lane] : RowState{-INFINITY, 0.0f, -INFINITY, INT32_MAX};
  st = WarpMerge(st);
  if (lane != 0) return;
  if (argmax_out) argmax_out[blockIdx.x] = st.idx == INT32_MAX ? 0 : st.idx;
  if (logprob_out) {
    const int t = targets[blockIdx.x];
    logprob_out[blockIdx.x] =
        (t >= 0 && t < vocab) ? row[t] - (st.m + logf(st.s)) : __int_as_float(0x7fc00000);
  }
}

}  // namespace

cudaError_t LogSoftmaxGatherF32(const float* logits, const int32_t* targets, float* logprob_out,
                                int32_t* argmax_out, int64_t rows, int64_t vocab,
                                cudaStream_t stream) {
  if (logits == nullptr || rows < 0 || vocab <= 0 || vocab > INT32_MAX || rows > INT32_MAX ||
      (logprob_out == nullptr && argmax_out == nullptr) ||
      (logprob_out != nullptr && targets == nullptr)) {
    return cudaErrorInvalidValue;
  }
  if (rows == 0) return cudaSuccess;
  const unsigned grid = static_cast<unsigned>(rows);
  if (vocab % 4 == 0 && Aligned16(logits)) {
    LogSoftmaxGatherKernel<true><<<grid, kThreads, 0, stream>>>(
        logits, targets, logprob_out, argmax_out, static_cast<int>(vocab));
  } else {
    LogSoftmaxGatherKernel<false><<<grid, kThreads, 0, stream>>>(
        logits, targets, logprob_out, argmax_out, static_cast<int>(vocab));
  }
  return cudaGetLastError();
}

}  // namespace proctor::kernels::cuda
