// The Markdown report (report.md): GitHub-flavoured pipe tables with the same
// content as the HTML report's tables (runs, summary, sets, groups,
// comparisons), no charts. Every string from the input is escaped with
// MarkdownEscape. A partial score is followed by "*", a missing one is "–".
//
// Pure; thread-safe.
#ifndef PROCTOR_EVAL_REPORT_MARKDOWN_REPORT_H_
#define PROCTOR_EVAL_REPORT_MARKDOWN_REPORT_H_

#include <string>

#include "absl/status/statusor.h"
#include "eval/report/report_input.h"

namespace proctor::eval::report {

// INVALID_ARGUMENT from ValidateReportInput.
absl::StatusOr<std::string> RenderMarkdownReport(const ReportInput& input);

}  // namespace proctor::eval::report

#endif  // PROCTOR_EVAL_REPORT_MARKDOWN_REPORT_H_
