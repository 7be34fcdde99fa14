// Fuzz target: GGUF files — header, metadata, tensor table, then everything
// the engine derives from them (model config, weight views, tokenizer).
#include <cstddef>
#include <cstdint>
#include <memory>

#include "worker/engine/gguf.h"
#include "worker/engine/model_config.h"
#include "worker/engine/model_weights.h"
#include "worker/engine/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace proctor::engine;
  absl::StatusOr<std::unique_ptr<GgufFile>> file = GgufFile::Parse(data, size, "fuzz.gguf");
  if (!file.ok()) return 0;
  (void)ConfigFromGguf(**file);
  (void)WeightsFromGguf(**file);
  absl::StatusOr<std::unique_ptr<Tokenizer>> tok = Tokenizer::FromGguf(**file);
  if (tok.ok()) {
    const std::vector<int32_t> ids = (*tok)->EncodeWithBos("Once upon a time, 42 caf\xc3\xa9s\n");
    (void)(*tok)->Decode(ids, true);
  }
  return 0;
}
