#include "kernels/cuda/common.cuh"
#include "kernels/cuda/rope.cuh"

namespace proctor::kernels::cuda {
namespace {

// Device copy of the scalar parameters (n_rot resolved).
struct RopeArgs {
  float theta;
  float inv_linear;
  int n_rot;
  int half;
  bool neox;
  float l3_factor, l3_low, l3_high, l3_orig;
};

// Inverse frequency of pair i, mirroring ref::RopeInvFreq.
__device__ __forceinline__ float InvFreq(const RopeArgs& a, int i) {
  float freq = powf(a.theta, -2.0f * static_cast<float>(i) / static_cast<float>(a.n_rot));
  if (a.l3_factor > 0.0f) {
    const float two_pi = 6.283185307179586f;
    const float low_wavelen = a.l3_orig / a.l3_low;
    const float high_wavelen = a.l3_orig / a.l3_high;
    const float wavelen = two_pi / freq;
    if (wavelen < high_wavelen) {
      // high frequency: unchanged
    } else if (wavelen > low_wavelen) {
      freq = freq / a.l3_factor;
    } else {
      const float smooth = (a.l3_orig / wavelen - a.l3_low) / (a.l3_high - a.l3_low);
      freq = (1.0f - smooth) * freq / a.l3_factor + smooth * freq;
    }
  }
  return freq;
}

// One thread per rotated pair. Grid: x covers the pairs of one token
// (n_heads * half), y = token. Untouched dims (>= n_rot) are not read.
__global__ void RopeKernel(__nv_bfloat16* __restrict__ x, const int32_t* __restrict__ positions,
                           int n_heads, int head_dim, RopeArgs a) {
  const int pair = blockIdx.x * blockDim.x + threadIdx.x;
  if (pair >= n_heads * a.half) return;
  const int token = blockIdx.y;
  const int head = pair / a.half;
  const int i = pair % a.half;
  const float pos = static_cast<float>(positions[token]) * a.inv_linear;
  float s, c;
  sincosf(pos * InvFreq(a, i), &s, &c);
  __nv_bfloat16* v = x + (static_cast<int64_t>(token) * n_heads + head) * head_dim;
  const int i0 = a.neox ? i : 2 * i;
  const int i1 = a.neox ? i + a.half : 2 * i + 1;
  const float x0 = __bfloat162float(v[i0]), x1 = __bfloat162float(v[i1]);
  v[i0] = __float2bfloat16_rn(x0 * c - x1 * s);
  v[i1] = __float2bfloat16_rn(x0 * s + x1 * c);
}

}  // namespace

cudaError_t RopeBf16(__nv_bfloat16* x, const int32_t* positions, int64_t tokens, int64_t n_heads,
                     int64_t head_dim, const RopeConfig& config, cudaStream_t stream) {
  const int64_t n_rot = config.n_rot > 0 ? config.n_rot : head_dim;
  if (tokens < 0 || n_heads <= 0 || head_dim <= 0 || head_dim % 2 != 0 || config.n_rot < 0 ||
      n_rot > head_dim || n_rot % 2 != 0 || !(config.theta > 0.0f) ||
      !(config.linear_factor > 0.0f) || x == nullptr || positions == nullptr ||
      tokens > INT32_MAX || n_heads * head_dim > INT32_MAX) {
    return cudaErrorInvalidValue;
  }
  if (config.llama3_factor > 0.0f &&
      !(config.llama3_high_freq_factor > config.llama3_low_freq_factor &&
        config.llama3_low_freq_factor > 0.0f && config.llama3_original_max_position > 0.0f)) {
    return cudaErrorInvalidValue;
  }
  if (tokens == 0) return cudaSuccess;
  RopeArgs a;
  a.theta = config.theta;
  a.inv_linear = 1.0f / config.linear_factor;
  a.n_rot = static_cast<int>(n_rot);
  a.half = static_cast<int>(n_rot / 2);
  a.neox = config.neox_layout;
  a.l3_factor = config.llama3_factor;
  a.l3_low = config.llama3_low_freq_factor;
  a.l3_high = config.llama3_high_freq_factor;
  a.l3_orig = config.llama3_original_max_position;
  constexpr int kThreads = 128;
  const int pairs = static_cast<int>(n_heads) * a.half;
  // Tokens beyond gridDim.y's limit are processed in chunks.
  for (int64_t t0 = 0; t0 < tokens; t0 += 65535) {
    const int64_t chunk = tokens - t0 < 65535 ? tokens - t0 : 65535;
    const dim3 grid(CeilDiv(pairs, kThreads), static_cast<unsigned>(chunk));
    RopeKernel<<<grid, kThreads, 0, stream>>>(x + t0 * n_heads * head_dim, positions + t0,
                                              static_cast<int>(n_heads), static_cast<int>(head_dim),
                                              a);
  }
  return cudaGetLastError();
}

}  // namespace proctor::kernels::cuda
