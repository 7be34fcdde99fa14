// Fuzz target: llama2.c checkpoints (.bin: 28-byte header + float weights)
// and llama2.c tokenizer files. The first input byte picks the format.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "tests/fuzz/fuzz_input.h"
#include "worker/engine/mapped_file.h"
#include "worker/engine/model_config.h"
#include "worker/engine/model_weights.h"
#include "worker/engine/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace proctor::engine;
  if (size == 0) return 0;
  const bool tokenizer = (data[0] & 1) != 0;
  ++data;
  --size;
  proctor::fuzz::MemFile file(data, size, tokenizer ? "tokenizer.bin" : "model.bin");
  if (file.path().empty()) return 0;
  if (tokenizer) {
    absl::StatusOr<std::unique_ptr<Tokenizer>> tok = Tokenizer::FromLlama2cFile(file.path(), 512);
    if (tok.ok()) (void)(*tok)->Decode((*tok)->EncodeWithBos("Once upon a time"), true);
    return 0;
  }
  (void)ConfigFromLlama2cHeader(data, size, "fuzz.bin");
  absl::StatusOr<MappedFile> map = MappedFile::Open(file.path());
  if (map.ok()) (void)WeightsFromLlama2c(*map);
  return 0;
}
