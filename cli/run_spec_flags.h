// Conversions from `proctor` command-line values to API messages: priority,
// run state, labels, dataset selections and the whole RunSpec of `submit`.
// Pure functions; every error is INVALID_ARGUMENT naming the flag and value.
#ifndef PROCTOR_CLI_RUN_SPEC_FLAGS_H_
#define PROCTOR_CLI_RUN_SPEC_FLAGS_H_

#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cli/flag_parser.h"
#include "proctor/v1/common.pb.h"

namespace proctor::cli {

// "interactive" | "sweep" | "backfill" → the Priority enum.
absl::StatusOr<proctor::v1::Priority> ParsePriority(absl::string_view text);

// "queued" | "running" | "succeeded" | "failed" | "cancelled" (case-insensitive).
absl::StatusOr<proctor::v1::RunState> ParseRunState(absl::string_view text);

// Lower-case short names for display: "queued", ..., "unspecified".
std::string RunStateName(proctor::v1::RunState state);
std::string PriorityName(proctor::v1::Priority priority);

// "k=v" → {k, v}. The key must be non-empty; the value may be empty or
// contain '='. `flag` names the flag in errors ("--label").
absl::StatusOr<std::pair<std::string, std::string>> ParseLabel(absl::string_view flag,
                                                               absl::string_view text);

// "name" or "name:limit" (limit >= 1) → DatasetSelection.
absl::StatusOr<proctor::v1::DatasetSelection> ParseDatasetSelection(absl::string_view text);

// Declares the flags of `proctor submit` (beyond the global ones) on `parser`.
void AddSubmitFlags(FlagParser* parser);

// Builds the RunSpec from `submit` flags. `submitter` fills RunSpec.submitter
// (the CLI passes $USER; the server overrides it when authentication is on).
// Rules: --model is required; at least one of --suite / --dataset; a --model
// that looks like a path (contains '/', or ends in .gguf/.bin/.safetensors)
// is sent as ModelRef.path with the name from --model-name or the file's stem,
// otherwise it is the ModelRef.name (and --model-name, if given, wins as the
// display name with --model as the path). Label keys must be unique.
absl::StatusOr<proctor::v1::RunSpec> BuildRunSpec(const ParsedFlags& flags,
                                                  absl::string_view submitter);

}  // namespace proctor::cli

#endif  // PROCTOR_CLI_RUN_SPEC_FLAGS_H_
