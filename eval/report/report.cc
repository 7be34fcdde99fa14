#include "eval/report/report.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "eval/report/csv_report.h"
#include "eval/report/html_report.h"
#include "eval/report/markdown_report.h"
#include "eval/strings.h"

namespace proctor::eval::report {

absl::StatusOr<std::vector<ReportFormat>> ParseReportFormats(std::string_view text) {
  std::vector<ReportFormat> formats;
  for (absl::string_view item : absl::StrSplit(AV(text), ',')) {
    ReportFormat f;
    if (item == "html") {
      f = ReportFormat::kHtml;
    } else if (item == "md" || item == "markdown") {
      f = ReportFormat::kMarkdown;
    } else if (item == "csv") {
      f = ReportFormat::kCsv;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("report format \"", item.substr(0, 64), "\" is not one of html, md, csv"));
    }
    if (std::find(formats.begin(), formats.end(), f) == formats.end()) formats.push_back(f);
  }
  return formats;
}

std::string ReportFileName(ReportFormat format) {
  switch (format) {
    case ReportFormat::kHtml:
      return "report.html";
    case ReportFormat::kMarkdown:
      return "report.md";
    case ReportFormat::kCsv:
      break;
  }
  return "report.csv";
}

std::string ReportContentType(ReportFormat format) {
  switch (format) {
    case ReportFormat::kHtml:
      return "text/html; charset=utf-8";
    case ReportFormat::kMarkdown:
      return "text/markdown; charset=utf-8";
    case ReportFormat::kCsv:
      break;
  }
  return "text/csv; charset=utf-8";
}

absl::StatusOr<std::string> RenderReport(const ReportInput& input, ReportFormat format) {
  switch (format) {
    case ReportFormat::kHtml:
      return RenderHtmlReport(input);
    case ReportFormat::kMarkdown:
      return RenderMarkdownReport(input);
    case ReportFormat::kCsv:
      break;
  }
  return RenderCsvReport(input);
}

}  // namespace proctor::eval::report
