// The CSV report (report.csv): every number of the report in one long table
// (RFC 4180, LF line ends, one header line), for spreadsheets and scripts.
//
// Columns: section, run_id, model, name, dimension, metric, value, stderr,
// num_samples, num_samples_total, complete, prompt_hash, baseline_run_id,
// baseline_value, delta, delta_stderr, test, p_value, outcome,
// baseline_prompt_hash. Sections:
//   set          per run and set: primary metric value ± stderr, samples
//   group, dimension, overall   per run: value ± stderr (value empty when
//                nothing is scored; complete=false for a partial score)
//   compare_set  per comparison and set: run_id = B, baseline_run_id = A,
//                value = B's and baseline_value = A's score on the paired
//                samples, delta, delta_stderr, test, p_value, outcome
//   compare_group, compare_dimension, compare_overall   the same roll-ups
//                (value, baseline_value, delta empty when either run has
//                nothing scored for it: never a 0 that was not measured)
// Unused columns are empty. Text goes through CsvText (quoting; no formula
// injection); numbers through CsvNumber (10 significant digits).
//
// Pure; thread-safe.
#ifndef PROCTOR_EVAL_REPORT_CSV_REPORT_H_
#define PROCTOR_EVAL_REPORT_CSV_REPORT_H_

#include <string>

#include "absl/status/statusor.h"
#include "eval/report/report_input.h"

namespace proctor::eval::report {

// INVALID_ARGUMENT from ValidateReportInput.
absl::StatusOr<std::string> RenderCsvReport(const ReportInput& input);

}  // namespace proctor::eval::report

#endif  // PROCTOR_EVAL_REPORT_CSV_REPORT_H_
