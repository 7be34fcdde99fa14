// libFuzzer target for the JSON reader and the record mapping of the JSONL
// loaders (clang only; configure with -DPROCTOR_EVAL_FUZZ=ON and
// CXX=clang++, then run build*/bin/eval_json_fuzz).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "eval/json.h"
#include "eval/loaders.h"
#include "eval/registry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<proctor::eval::JsonValue> v = proctor::eval::ParseJson(text);
  if (!v.ok()) return 0;
  for (const char* set : {"arc_e", "piqa", "boolq", "gsm8k", "multirc", "winogrande"}) {
    (void)proctor::eval::MapJsonRecord(*v, *proctor::eval::FindSet(set), "fuzz:1");
  }
  return 0;
}
