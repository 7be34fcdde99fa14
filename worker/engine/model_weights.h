// Weights of a Llama-family decoder as views into a memory-mapped file (no
// copy), plus small F32 copies of the 1-D tensors (norms, biases). Loaded
// from GGUF or llama2.c `.bin`; every tensor's shape and format is checked
// against the config, so a wrong-dtype or wrong-shape file fails to load with
// FAILED_PRECONDITION naming the tensor.
#ifndef PROCTOR_WORKER_ENGINE_MODEL_WEIGHTS_H_
#define PROCTOR_WORKER_ENGINE_MODEL_WEIGHTS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/cpu/ops.h"
#include "worker/engine/gguf.h"
#include "worker/engine/mapped_file.h"
#include "worker/engine/model_config.h"

namespace proctor::engine {

struct LayerWeights {
  std::vector<float> attn_norm, ffn_norm;  // [dim]
  kernels::WeightMatrix wq, wk, wv, wo;    // [out, in]
  kernels::WeightMatrix w_gate, w_up, w_down;
  std::vector<float> bq, bk, bv;  // optional QKV biases (empty when absent)
};

// A tensor-parallel shard (tensor_parallel.h) holds the local heads, FFN
// columns and vocabulary rows; `config` then has the local n_heads,
// n_kv_heads and hidden_dim, while dim and vocab_size stay global.
struct ModelWeights {
  ModelConfig config;
  int tp_rank = 0, tp_size = 1;
  int64_t vocab_begin = 0;           // first vocabulary row held (shards)
  kernels::WeightMatrix token_embd;  // [vocab (local rows), dim]
  std::vector<float> output_norm;    // [dim]
  kernels::WeightMatrix output;      // [vocab, dim] (== token_embd when tied)
  std::vector<LayerWeights> layers;
  int64_t mapped_bytes = 0;  // bytes of weights referenced in the map
};

// Maps a ggml type id to a supported WeightFormat; FAILED_PRECONDITION for
// types the CPU kernels do not decode.
absl::StatusOr<kernels::WeightFormat> FormatFromGgml(uint32_t ggml_type, const std::string& tensor);

// Builds weights over `file` (which must outlive them).
absl::StatusOr<ModelWeights> WeightsFromGguf(const GgufFile& file);

// Builds weights over a llama2.c `.bin` image (`map` must outlive them).
absl::StatusOr<ModelWeights> WeightsFromLlama2c(const MappedFile& map);

}  // namespace proctor::engine

#endif  // PROCTOR_WORKER_ENGINE_MODEL_WEIGHTS_H_
