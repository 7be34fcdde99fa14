// Fuzz target: a safetensors file image (8-byte header length, JSON header,
// tensor data) as SafetensorsCheckpoint parses it.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "worker/engine/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace proctor::engine;
  std::map<std::string, SafetensorsTensor> tensors;
  (void)SafetensorsCheckpoint::ParseFile(data, size, "fuzz.safetensors", &tensors);
  return 0;
}
