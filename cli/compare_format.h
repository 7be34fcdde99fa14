// Rendering of a run comparison (proctor.v1.Comparison, from CompareRuns) as
// a terminal table, CSV, Markdown or JSON. Pure functions. See docs/compare.md.
//
// Table and Markdown: one row per set (A, B, delta = B - A, its standard
// error, the test, p, paired samples, win/tie/loss for B, the prompt hashes,
// "!" after a set whose prompt configs differ), then groups, dimensions and
// Overall with their deltas, then the win/tie/loss line at the stated level
// and a warning when any set was compared across different prompt configs.
// CSV: one row per set, group, dimension and Overall (column `kind`).
#ifndef PROCTOR_CLI_COMPARE_FORMAT_H_
#define PROCTOR_CLI_COMPARE_FORMAT_H_

#include <string>

#include "absl/status/statusor.h"
#include "cli/output_format.h"
#include "proctor/v1/evaluation.pb.h"

namespace proctor::cli {

// A p-value as shown to people: 4 significant digits, "<1e-12" below that.
std::string FormatPValue(double p);

// A signed difference with two decimals ("+3.25", "-0.50", "+0.00").
std::string FormatDelta(double delta);

// Fails only for JSON conversion (INTERNAL).
absl::StatusOr<std::string> FormatComparison(const proctor::v1::Comparison& comparison,
                                             OutputFormat format);

}  // namespace proctor::cli

#endif  // PROCTOR_CLI_COMPARE_FORMAT_H_
