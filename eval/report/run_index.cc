#include "eval/report/run_index.h"

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "eval/report/escape.h"
#include "eval/report/report_input.h"

namespace proctor::eval::report {

std::string RenderRunIndexHtml(const std::vector<v1::Run>& runs) {
  std::string out =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
      "style-src 'unsafe-inline'\">\n<title>Proctor runs</title>\n<style>"
      "body{font-family:system-ui,sans-serif;margin:24px;color:#222}"
      "table{border-collapse:collapse;font-size:13px}th,td{border:1px solid #ddd;"
      "padding:3px 8px;text-align:left}thead th{background:#f4f4f4}.note{color:#666;"
      "font-size:12px}</style></head>\n<body>\n<h1>Proctor runs</h1>\n"
      "<table id=\"runs-index\"><thead><tr><th>run</th><th>model</th><th>state</th>"
      "<th>created</th><th>report</th></tr></thead><tbody>\n";
  for (const v1::Run& run : runs) {
    const std::string base = absl::StrCat("runs/", UrlEscape(run.run_id()), "/report");
    std::string created;
    if (run.has_created_at()) {
      created =
          absl::FormatTime("%Y-%m-%d %H:%M:%S UTC",
                           absl::FromUnixSeconds(run.created_at().seconds()), absl::UTCTimeZone());
    }
    absl::StrAppend(&out, "<tr data-run=\"", HtmlEscape(run.run_id()), "\"><td><a href=\"", base,
                    ".html\"><code>", HtmlEscape(run.run_id()), "</code></a></td><td>",
                    HtmlEscape(run.spec().model().name()), "</td><td>", RunStateText(run.state()),
                    "</td><td>", created, "</td><td><a href=\"", base,
                    ".html\">html</a> · <a href=\"", base, ".md\">md</a> · <a href=\"", base,
                    ".csv\">csv</a></td></tr>\n");
  }
  if (runs.empty()) out += "<tr><td colspan=\"5\">no runs yet</td></tr>\n";
  out +=
      "</tbody></table>\n<p class=\"note\">Compare runs against a baseline: "
      "<code>runs/BASELINE/report.html?compare=RUN2,RUN3</code>. Read-only; newest first.</p>\n"
      "</body></html>\n";
  return out;
}

}  // namespace proctor::eval::report
