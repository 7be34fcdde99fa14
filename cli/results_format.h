// Rendering of a run's Results (sets, groups, dimensions, overall) as a
// terminal table, CSV, Markdown or JSON. Pure functions.
//
// Table and Markdown show each set's primary metric; CSV has one row per
// metric of every set (column `primary` marks the primary one), then one row
// per group, dimension and the overall score, so nothing is lost. Incomplete
// sets and groups are marked: in the table and Markdown by a "*" after the
// name (and "scored/planned" in column n, "-" as the score of an incomplete
// group), in CSV by complete=false.
#ifndef PROCTOR_CLI_RESULTS_FORMAT_H_
#define PROCTOR_CLI_RESULTS_FORMAT_H_

#include <string>

#include "absl/status/statusor.h"
#include "cli/output_format.h"
#include "proctor/v1/evaluation.pb.h"

namespace proctor::cli {

// A score as shown to people: two decimals ("45.60").
std::string FormatScore(double value);

// Renders `results` as `format`. Fails only for JSON conversion (INTERNAL).
absl::StatusOr<std::string> FormatResults(const proctor::v1::Results& results, OutputFormat format);

}  // namespace proctor::cli

#endif  // PROCTOR_CLI_RESULTS_FORMAT_H_
