// What a report is made of: the results of one or more runs as GetResults
// returns them, and the comparisons of every later run against the first as
// CompareRuns returns them; plus the lookups the renderers share.
//
// Thread-safety: plain data and pure functions.
#ifndef PROCTOR_EVAL_REPORT_REPORT_INPUT_H_
#define PROCTOR_EVAL_REPORT_REPORT_INPUT_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "proctor/v1/evaluation.pb.h"

namespace proctor::eval::report {

// Bounds on what one report shows (a report is read by people; the HTTP
// endpoint also bounds its work by them).
inline constexpr size_t kMaxRuns = 10;
inline constexpr int kMaxSetsPerRun = 5000;

struct ReportInput {
  // The heading; empty = "Proctor report".
  std::string title;
  // Shown as "generated <text>" under the heading; empty = not shown (so
  // that tests and golden files are deterministic).
  std::string generated_at;
  // The runs, in column order; runs[0] is the baseline of the comparisons.
  std::vector<v1::Results> runs;
  // Comparisons against runs[0] (run_a == runs[0].run_id), at most one per
  // later run, shown in runs order. May be empty (then no comparison
  // section, whatever the number of runs).
  std::vector<v1::Comparison> comparisons;
};

// OK, or INVALID_ARGUMENT naming the field: no runs, more than kMaxRuns,
// an empty or repeated runs[i].run_id, a run with more than kMaxSetsPerRun
// sets, a comparisons[i] whose run_a is not runs[0] or whose run_b is not a
// later run or is compared twice.
absl::Status ValidateReportInput(const ReportInput& input);

// The label of a run in legends and headers: "<model> · <run_id>", or the
// run id alone when the model is empty. Not escaped.
std::string RunLabel(const v1::Results& run);

// "queued", "running", "succeeded", "failed", "cancelled" or "unknown".
std::string RunStateText(v1::RunState state);

// The primary metric of a set (the first metric when none has the primary
// name), or nullptr when the set has no metric.
const v1::MetricValue* PrimaryMetric(const v1::SetResult& set);

// How a score may be shown.
enum class ScoreState {
  kComplete,  // every planned sample / member scored
  kPartial,   // some scored: a score for information, marked incomplete
  kMissing,   // nothing scored: no score at all (never drawn as zero)
};
// For a group or dimension (nullptr = missing). An incomplete group has a
// partial score when at least one member is complete (has_stderr is then
// set by the aggregator).
ScoreState GroupState(const v1::GroupResult* group);
// For a set (nullptr = missing).
ScoreState SetState(const v1::SetResult* set);

// The kinds of roll-up a comparison reports.
enum class RollUp { kGroup, kDimension, kOverall };
// Whether both runs of comparison `c` have a score (complete or partial)
// for roll-up `name`, by their results in `input` (a run missing from the
// input counts as scored). A comparison reports 0 for a roll-up with nothing
// scored; renderers show "–" instead.
bool ComparedRollUpScored(const ReportInput& input, const v1::Comparison& c, RollUp kind,
                          std::string_view name);

// Names in first-appearance order over runs[0], runs[1], ...
std::vector<std::string> SetNames(const ReportInput& input);
std::vector<std::string> GroupNames(const ReportInput& input);
// The five leaderboard dimensions (eval::Dimensions()), then any other
// dimension a run reports (Safety), in first-appearance order.
std::vector<std::string> DimensionNames(const ReportInput& input);

// Lookups by name; nullptr when absent.
const v1::SetResult* FindSet(const v1::Results& run, std::string_view name);
const v1::GroupResult* FindGroup(const v1::Results& run, std::string_view name);
const v1::GroupResult* FindDimension(const v1::Results& run, std::string_view name);
const v1::SetComparison* FindSetComparison(const v1::Comparison& c, std::string_view dataset);

}  // namespace proctor::eval::report

#endif  // PROCTOR_EVAL_REPORT_REPORT_INPUT_H_
