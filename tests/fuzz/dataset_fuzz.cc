// Fuzz target: the dataset readers — JSON/JSONL records mapped to samples for
// several set schemas, RFC 4180 CSV, and the Python string-list literals of
// the NQ/TriviaQA TSV files. The first input byte picks the reader.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "eval/json.h"
#include "eval/loaders.h"
#include "eval/registry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace proctor::eval;
  if (size == 0) return 0;
  const uint8_t which = data[0] % 3;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (which) {
    case 0: {
      absl::StatusOr<JsonValue> v = ParseJson(text);
      if (!v.ok()) return 0;
      for (const char* set : {"arc_e", "piqa", "siqa", "boolq", "gsm8k", "commonsenseqa",
                              "humaneval", "mbpp", "multirc", "winogrande", "record"}) {
        const SetDef* def = FindSet(set);
        if (def != nullptr) (void)MapJsonRecord(*v, *def, "fuzz:1");
      }
      return 0;
    }
    case 1:
      (void)ParseCsv(text, "fuzz.csv");
      return 0;
    default:
      (void)ParsePythonStringList(text);
      return 0;
  }
}
