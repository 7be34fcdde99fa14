// A report in any of its formats, by name: what the CLI (`proctor report`)
// and the coordinator's HTTP endpoint (coordinator/report_http.h) share.
// See docs/report.md. Pure; thread-safe.
#ifndef PROCTOR_EVAL_REPORT_REPORT_H_
#define PROCTOR_EVAL_REPORT_REPORT_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "eval/report/report_input.h"

namespace proctor::eval::report {

enum class ReportFormat { kHtml, kMarkdown, kCsv };

// Parses a comma-separated list of "html", "md" (or "markdown"), "csv" into
// formats without repeats, in the order given. INVALID_ARGUMENT naming the
// bad item, or for an empty list.
absl::StatusOr<std::vector<ReportFormat>> ParseReportFormats(std::string_view text);

// "report.html", "report.md", "report.csv".
std::string ReportFileName(ReportFormat format);

// The HTTP Content-Type: "text/html; charset=utf-8", "text/markdown;
// charset=utf-8", "text/csv; charset=utf-8".
std::string ReportContentType(ReportFormat format);

// The document. INVALID_ARGUMENT from ValidateReportInput.
absl::StatusOr<std::string> RenderReport(const ReportInput& input, ReportFormat format);

}  // namespace proctor::eval::report

#endif  // PROCTOR_EVAL_REPORT_REPORT_H_
