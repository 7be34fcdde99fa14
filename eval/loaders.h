// Loading evaluation records from their upstream file formats into Docs, as a
// SetDef declares. A load either returns every record or fails: nothing
// half-loaded is used. Errors name the file and line (or record) and what is
// wrong; a missing file is FAILED_PRECONDITION naming the path and how to
// obtain it.
//
// Thread-safety: pure functions over the filesystem.
#ifndef PROCTOR_EVAL_LOADERS_H_
#define PROCTOR_EVAL_LOADERS_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "eval/json.h"
#include "eval/set_def.h"

namespace proctor::eval {

// One record of a set, normalised for prompt building and scoring.
struct Doc {
  std::map<std::string, std::string> vars;  // template variables
  std::vector<std::string> choices;         // loglikelihood options, in order
  int gold = -1;                            // index into `choices`, -1 = none
  std::vector<std::string> answers;         // generation gold answers
  int64_t row = 0;                          // 0-based record index in its file
};

// Largest dataset file accepted (guards against a wrong path to a huge file).
inline constexpr int64_t kMaxDatasetFileBytes = int64_t{1} << 30;

// Reads a whole file; ".gz" files are decompressed. NOT_FOUND-style absence
// is reported as FAILED_PRECONDITION naming `path` and `how_to_obtain`.
absl::StatusOr<std::string> ReadDataFile(const std::string& path, std::string_view how_to_obtain);

// Loads all records of `relative_path` (and `labels_relative_path`, when not
// empty) with `def`'s loader and field mapping. The row range of `def` is not
// applied here.
absl::StatusOr<std::vector<Doc>> LoadDocs(const SetDef& def, const std::string& data_root,
                                          const std::string& relative_path,
                                          const std::string& labels_relative_path);

// The evaluation split of `def`: LoadDocs(path, labels_path) restricted to
// [row_begin, row_end). An empty split is INVALID_ARGUMENT.
absl::StatusOr<std::vector<Doc>> LoadEvalDocs(const SetDef& def, const std::string& data_root);

// Maps one parsed JSON record to a Doc per `def` (exposed for tests).
// `where` ("file:line") prefixes every error.
absl::StatusOr<Doc> MapJsonRecord(const JsonValue& record, const SetDef& def,
                                  std::string_view where);

// Splits RFC 4180 CSV text into rows of fields (quoted fields may hold
// commas, doubled quotes and newlines). INVALID_ARGUMENT names the line of an
// unterminated quote.
absl::StatusOr<std::vector<std::vector<std::string>>> ParseCsv(std::string_view text,
                                                               std::string_view where);

// Parses a Python list literal of strings (['a', "b's"]) as used by the
// NQ/TriviaQA TSV files.
absl::StatusOr<std::vector<std::string>> ParsePythonStringList(std::string_view text);

}  // namespace proctor::eval

#endif  // PROCTOR_EVAL_LOADERS_H_
