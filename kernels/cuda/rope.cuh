// Rotary position embedding (RoPE), in place on BF16 activations.
#ifndef PROCTOR_KERNELS_CUDA_ROPE_CUH_
#define PROCTOR_KERNELS_CUDA_ROPE_CUH_

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

namespace proctor::kernels::cuda {

// Same meaning as proctor::kernels::ref::RopeParams (kernels/cpu/reference.h);
// duplicated so that this library does not depend on the CPU one.
struct RopeConfig {
  float theta = 10000.0f;
  bool neox_layout = false;    // true: pair (i, i + n_rot/2); false: pair (2i, 2i+1)
  int64_t n_rot = 0;           // rotated leading dims per head; 0 = head_dim
  float linear_factor = 1.0f;  // positions are divided by this
  float llama3_factor = 0.0f;  // > 0 enables Llama-3 frequency scaling
  float llama3_low_freq_factor = 1.0f;
  float llama3_high_freq_factor = 4.0f;
  float llama3_original_max_position = 8192.0f;
};

// Rotates x[tokens, n_heads, head_dim] (row stride n_heads * head_dim) in place;
// token t sits at position positions[t] (device array of `tokens` int32).
// Angle of pair i = (positions[t] / linear_factor) * theta^(-2i/n_rot) (with
// Llama-3 scaling when enabled), computed in F32.
// Returns cudaErrorInvalidValue (device untouched) when a count is negative,
// head_dim is odd, n_rot is odd or exceeds head_dim, theta <= 0,
// linear_factor <= 0, or a pointer is null.
cudaError_t RopeBf16(__nv_bfloat16* x, const int32_t* positions, int64_t tokens, int64_t n_heads,
                     int64_t head_dim, const RopeConfig& config, cudaStream_t stream);

}  // namespace proctor::kernels::cuda

#endif  // PROCTOR_KERNELS_CUDA_ROPE_CUH_
