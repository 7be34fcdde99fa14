// A model on disk brought into memory: the mapped file, its weights (views
// into the map) and its tokenizer. Immutable after Load; safe to share
// between threads.
#ifndef PROCTOR_WORKER_ENGINE_MODEL_H_
#define PROCTOR_WORKER_ENGINE_MODEL_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/engine/gguf.h"
#include "worker/engine/mapped_file.h"
#include "worker/engine/model_weights.h"
#include "worker/engine/safetensors.h"
#include "worker/engine/tokenizer.h"

namespace proctor::engine {

// Resolves `path` (symlinks followed) and checks it lies under one of
// `allowed_roots` (empty = anywhere). FAILED_PRECONDITION when it cannot be
// resolved, PERMISSION_DENIED when it is outside the roots. Shared by the
// engines so that every backend confines model paths the same way.
absl::StatusOr<std::string> ResolveModelPath(const std::string& path,
                                             const std::vector<std::string>& allowed_roots);

class Model {
 public:
  // Loads a GGUF file (by magic), a Hugging Face checkpoint (a directory with
  // config.json and model.safetensors[.index.json], or a .safetensors file
  // beside its config.json) or a llama2.c `.bin` (anything else). A `.bin`
  // model takes its tokenizer from `tokenizer.bin` or `tok<vocab>.bin` beside
  // it, when present; a Hugging Face checkpoint from a byte-level BPE
  // tokenizer.json beside it (other tokenizer.json kinds fail the load). NOT_FOUND for a missing
  // file; FAILED_PRECONDITION for a malformed or unsupported one.
  static absl::StatusOr<std::unique_ptr<Model>> Load(const std::string& path);

  const ModelWeights& weights() const { return weights_; }
  const ModelConfig& config() const { return weights_.config; }
  // Null when the model has no tokenizer (a bare llama2.c file).
  const Tokenizer* tokenizer() const { return tokenizer_.get(); }
  const std::string& format() const { return format_; }  // "gguf", "safetensors", "llama2c"
  const std::string& path() const { return path_; }
  // nullptr for non-GGUF models.
  const GgufFile* gguf() const { return gguf_.get(); }
  int64_t WeightBytes() const { return weights_.mapped_bytes; }

 private:
  Model() = default;
  std::string path_, format_;
  std::unique_ptr<GgufFile> gguf_;
  MappedFile bin_;
  std::unique_ptr<SafetensorsCheckpoint> safetensors_;
  ModelWeights weights_;
  std::unique_ptr<Tokenizer> tokenizer_;
};

}  // namespace proctor::engine

#endif  // PROCTOR_WORKER_ENGINE_MODEL_H_
