// Rendering of sweeps (proctor.v1.Sweep) for `proctor sweeps list|get` as a
// terminal table, CSV, Markdown or JSON; and the parsing of the model list
// flag. Pure functions. See docs/sweeps.md.
#ifndef PROCTOR_CLI_SWEEP_FORMAT_H_
#define PROCTOR_CLI_SWEEP_FORMAT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cli/output_format.h"
#include "proctor/v1/sweeps.pb.h"

namespace proctor::cli {

// Columns: name, schedule, time zone, models (count or the glob), suite,
// state (active/paused), last firing, next firing, last error.
absl::StatusOr<std::string> FormatSweeps(const std::vector<proctor::v1::Sweep>& sweeps,
                                         OutputFormat format);

// One --model value: "NAME=PATH" or a path (name = file name without its
// extension) or a bare name. INVALID_ARGUMENT for an empty value or name.
absl::StatusOr<proctor::v1::ModelRef> ParseSweepModel(absl::string_view value);

}  // namespace proctor::cli

#endif  // PROCTOR_CLI_SWEEP_FORMAT_H_
