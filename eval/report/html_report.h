// The self-contained HTML report (report.html): one file with inline CSS and
// inline SVG, no script, no external font, image, link or style sheet, and a
// Content-Security-Policy that forbids loading anything. Every string from
// the input is escaped (eval/report/escape.h).
//
// Sections, in order (ids are stable, for people and for tests):
//   #runs      run id, model, state, when results were computed
//   #summary   table: per run Overall and every dimension, score ± stderr
//   #radar     radar chart of the five dimensions per run (radar_chart.h)
//   #bars      per-set bar chart with ±1 stderr error bars (bar_chart.h)
//   #sets      table: per set dimension, metric, per run score ± stderr, n,
//              prompt hash (a set whose prompt hash differs between runs is
//              flagged)
//   #groups    table: per group (mmlu, ceval, ...) per run score ± stderr
//   #comparisons  with comparisons: per later run against runs[0], W/T/L at
//              alpha, per set A, B, delta, ±se, test, p, paired n, outcome,
//              prompt hashes; then groups, dimensions, Overall deltas
// Score cells are <td class="score complete|partial|missing"
// data-run="RUN" data-key="KEY"> holding <span class="v">45.60</span> and,
// with a standard error, <span class="se">± 1.23</span>; KEY is "overall",
// "dim:NAME", "group:NAME" or "set:NAME". A partial score is followed by "*"
// and a missing one is "–" (never 0).
//
// Pure; thread-safe.
#ifndef PROCTOR_EVAL_REPORT_HTML_REPORT_H_
#define PROCTOR_EVAL_REPORT_HTML_REPORT_H_

#include <string>

#include "absl/status/statusor.h"
#include "eval/report/report_input.h"

namespace proctor::eval::report {

// The whole document. INVALID_ARGUMENT from ValidateReportInput.
absl::StatusOr<std::string> RenderHtmlReport(const ReportInput& input);

}  // namespace proctor::eval::report

#endif  // PROCTOR_EVAL_REPORT_HTML_REPORT_H_
