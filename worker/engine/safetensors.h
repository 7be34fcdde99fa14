// Hugging Face checkpoints: safetensors files (single, or sharded with
// model.safetensors.index.json) plus config.json. Memory-mapped, no copy;
// every header field is validated (FAILED_PRECONDITION naming file and
// tensor). Supported weight dtypes: F32, F16, BF16. See docs/design/gguf.md.
#ifndef PROCTOR_WORKER_ENGINE_SAFETENSORS_H_
#define PROCTOR_WORKER_ENGINE_SAFETENSORS_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/engine/mapped_file.h"
#include "worker/engine/model_weights.h"

namespace proctor::engine {

struct SafetensorsTensor {
  std::string dtype;           // "F32", "F16", "BF16", ...
  std::vector<int64_t> shape;  // outermost first (PyTorch order)
  const uint8_t* data = nullptr;
  int64_t nbytes = 0;
};

// All tensors of one checkpoint (one or more mapped files).
class SafetensorsCheckpoint {
 public:
  // `path` is a .safetensors file or a directory holding model.safetensors
  // or model.safetensors.index.json (sharded).
  static absl::StatusOr<std::unique_ptr<SafetensorsCheckpoint>> Open(const std::string& path);
  // Parses one file image (not copied) into `out`; used by Open and tests.
  static absl::Status ParseFile(const uint8_t* data, size_t size, const std::string& name,
                                std::map<std::string, SafetensorsTensor>* out);

  const std::map<std::string, SafetensorsTensor>& tensors() const { return tensors_; }
  const SafetensorsTensor* Find(const std::string& name) const;

 private:
  std::vector<MappedFile> files_;
  std::map<std::string, SafetensorsTensor> tensors_;
};

// ModelConfig from a Hugging Face config.json text (model_type llama,
// mistral, qwen2, internlm2, baichuan; hidden_size, intermediate_size,
// num_hidden_layers, num_attention_heads, num_key_value_heads, head_dim,
// rms_norm_eps, rope_theta, max_position_embeddings, vocab_size,
// tie_word_embeddings, rope_scaling {linear | llama3}). HF checkpoints use
// the NeoX RoPE layout.
absl::StatusOr<ModelConfig> ConfigFromHfJson(const std::string& json, const std::string& name);

// Weights over a checkpoint with Hugging Face tensor names (model.embed_tokens,
// model.layers.N.{input_layernorm, self_attn.{q,k,v,o}_proj, ...}, lm_head).
absl::StatusOr<ModelWeights> WeightsFromSafetensors(const SafetensorsCheckpoint& ckpt,
                                                    const ModelConfig& config);

}  // namespace proctor::engine

#endif  // PROCTOR_WORKER_ENGINE_SAFETENSORS_H_
