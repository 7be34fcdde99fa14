// The output formats that listing commands (`results`, `runs`, `workers`,
// `datasets`, `suites`) accept through `--format`.
#ifndef PROCTOR_CLI_OUTPUT_FORMAT_H_
#define PROCTOR_CLI_OUTPUT_FORMAT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"

namespace proctor::cli {

enum class OutputFormat {
  kTable,     // aligned columns for a terminal
  kJson,      // the protobuf message in canonical proto3 JSON
  kCsv,       // RFC 4180 (LF line ends), one header line
  kMarkdown,  // GitHub-flavoured pipe tables
};

// Parses "table", "json", "csv", "md" (also "markdown"). Returns
// INVALID_ARGUMENT naming the bad value and the accepted ones otherwise.
absl::StatusOr<OutputFormat> ParseOutputFormat(absl::string_view text);

// Canonical proto3 JSON of `message` (lowerCamelCase field names, enums by
// name, fields at their default value included), indented, ending in "\n".
// Returns INTERNAL when the message cannot be converted.
absl::StatusOr<std::string> MessageToJson(const google::protobuf::Message& message);

}  // namespace proctor::cli

#endif  // PROCTOR_CLI_OUTPUT_FORMAT_H_
