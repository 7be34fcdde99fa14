// Fuzz target: the Hugging Face JSON files a checkpoint directory carries —
// config.json (model shape) and tokenizer.json (vocabulary, merges,
// pre-tokenizer regexes compiled with PCRE2).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "tests/fuzz/fuzz_input.h"
#include "worker/engine/safetensors.h"
#include "worker/engine/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace proctor::engine;
  const std::string text(reinterpret_cast<const char*>(data), size);
  (void)ConfigFromHfJson(text, "fuzz/config.json");
  proctor::fuzz::MemFile file(data, size, "tokenizer.json");
  if (file.path().empty()) return 0;
  absl::StatusOr<std::unique_ptr<Tokenizer>> tok = Tokenizer::FromHfTokenizerJson(file.path());
  if (tok.ok()) (void)(*tok)->Encode("Hello world, 123 <|im_end|>");
  return 0;
}
