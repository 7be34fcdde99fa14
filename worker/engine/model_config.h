// Hyper-parameters of a Llama-family decoder, read from GGUF metadata or a
// llama2.c header, and validated (every dimension positive, heads dividing
// the model width, GQA groups integral).
#ifndef PROCTOR_WORKER_ENGINE_MODEL_CONFIG_H_
#define PROCTOR_WORKER_ENGINE_MODEL_CONFIG_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "kernels/cpu/reference.h"
#include "worker/engine/gguf.h"

namespace proctor::engine {

struct ModelConfig {
  std::string arch = "llama";  // GGUF general.architecture
  int64_t dim = 0;             // embedding width
  int64_t hidden_dim = 0;      // feed-forward width
  int64_t n_layers = 0;
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;
  int64_t head_dim = 0;  // dim / n_heads
  int64_t vocab_size = 0;
  int64_t context_length = 0;  // maximum positions
  float norm_eps = 1e-5f;
  kernels::ref::RopeParams rope;
  bool tied_embeddings = false;  // output projection reuses token_embd

  // Checks internal consistency; FAILED_PRECONDITION naming the field.
  absl::Status Validate() const;
  std::string DebugString() const;
};

// Reads "<arch>.*" keys (llama, qwen2, mistral, internlm2, baichuan, smollm...).
// The vocabulary size comes from "<arch>.vocab_size" or the token list.
absl::StatusOr<ModelConfig> ConfigFromGguf(const GgufFile& f);

// The 28-byte llama2.c header: 7 little-endian int32 (dim, hidden_dim,
// n_layers, n_heads, n_kv_heads, vocab_size, seq_len); a negative vocab_size
// means the classifier is stored separately (not tied).
absl::StatusOr<ModelConfig> ConfigFromLlama2cHeader(const uint8_t* data, size_t size,
                                                    const std::string& path);

}  // namespace proctor::engine

#endif  // PROCTOR_WORKER_ENGINE_MODEL_CONFIG_H_
