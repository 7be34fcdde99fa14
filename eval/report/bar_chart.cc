#include "eval/report/bar_chart.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "eval/report/escape.h"
#include "eval/report/numbers.h"

namespace proctor::eval::report {
namespace {

constexpr int kTicks = 5;

std::string C(double v) { return SvgCoord(v); }

}  // namespace

double BarAxisMax(const std::vector<BarSeries>& series) {
  double top = 100;
  for (const BarSeries& s : series) {
    for (const std::optional<BarValue>& v : s.values) {
      if (!v.has_value()) continue;
      const double end = v->value + (v->has_stderr ? v->stderr_ : 0);
      if (std::isfinite(end)) top = std::max(top, end);
    }
  }
  return std::ceil(top / 10) * 10;
}

double BarEndX(const BarLayout& layout, double value) {
  double v = std::isfinite(value) ? value : 0;
  v = std::clamp(v, 0.0, layout.max_value);
  return layout.label_width + (layout.max_value > 0 ? layout.plot_width * v / layout.max_value : 0);
}

std::string RenderBarChartSvg(const std::vector<std::string>& categories,
                              const std::vector<BarSeries>& series, const BarLayout& layout) {
  const double per_series = layout.bar_height + layout.bar_gap;
  const double row_height =
      per_series * static_cast<double>(std::max<size_t>(series.size(), 1)) + layout.row_gap;
  const double plot_height = row_height * static_cast<double>(categories.size());
  const double legend_top = layout.top + plot_height + 10;
  const double height = legend_top + 20.0 * static_cast<double>(series.size()) + 44;
  const double width = layout.label_width + layout.plot_width + 80;  // + value labels
  std::string out = absl::StrCat(
      "<svg class=\"bars\" role=\"img\" xmlns=\"http://www.w3.org/2000/svg\" width=\"", C(width),
      "\" height=\"", C(height), "\" viewBox=\"0 0 ", C(width), " ", C(height),
      "\">\n<title>Per-set scores with error bars of one standard error</title>\n");
  // Ticks.
  out += "<g class=\"bar-grid\" font-size=\"10\" fill=\"#777\" stroke=\"#e0e0e0\">\n";
  for (int k = 0; k <= kTicks; ++k) {
    const double v = layout.max_value * k / kTicks;
    const double x = BarEndX(layout, v);
    absl::StrAppend(&out, "<line x1=\"", C(x), "\" y1=\"", C(layout.top - 4), "\" x2=\"", C(x),
                    "\" y2=\"", C(layout.top + plot_height), "\"/><text stroke=\"none\" x=\"", C(x),
                    "\" y=\"", C(layout.top - 8), "\" text-anchor=\"middle\">", FormatTick(v),
                    "</text>\n");
  }
  out += "</g>\n";
  for (size_t c = 0; c < categories.size(); ++c) {
    const double row_top = layout.top + row_height * static_cast<double>(c);
    const double label_y = row_top + (row_height - layout.row_gap) / 2 + 4;
    absl::StrAppend(&out, "<g class=\"bar-row\" data-category=\"", c,
                    "\"><text class=\"bar-label\" x=\"", C(layout.label_width - 8), "\" y=\"",
                    C(label_y), "\" text-anchor=\"end\" font-size=\"12\" fill=\"#222\">",
                    HtmlEscape(categories[c]), "</text>\n");
    for (size_t s = 0; s < series.size(); ++s) {
      const BarSeries& bs = series[s];
      const double y = row_top + per_series * static_cast<double>(s);
      const std::optional<BarValue> v = c < bs.values.size() ? bs.values[c] : std::nullopt;
      if (!v.has_value()) {
        absl::StrAppend(&out, "<text class=\"no-data\" data-series=\"", s, "\" x=\"",
                        C(layout.label_width + 4), "\" y=\"", C(y + layout.bar_height - 2),
                        "\" font-size=\"10\" fill=\"#999\">no data</text>\n");
        continue;
      }
      const std::string color = HtmlEscape(bs.color);
      const double end = BarEndX(layout, v->value);
      std::string title = absl::StrCat(HtmlEscape(bs.label), " · ", HtmlEscape(categories[c]), ": ",
                                       FormatScore(v->value));
      if (v->has_stderr) absl::StrAppend(&title, " ± ", FormatScore(v->stderr_));
      if (v->partial) title += " (partial: incomplete set)";
      absl::StrAppend(&out, "<rect class=\"bar ", v->partial ? "partial" : "complete",
                      "\" data-series=\"", s, "\" data-category=\"", c, "\" x=\"",
                      C(layout.label_width), "\" y=\"", C(y), "\" width=\"",
                      C(end - layout.label_width), "\" height=\"", C(layout.bar_height),
                      "\" fill=\"", color, "\"",
                      v->partial ? " fill-opacity=\"0.35\" stroke-dasharray=\"3 2\"" : "",
                      " stroke=\"", color, "\"><title>", title, "</title></rect>\n");
      double label_x = end;
      if (v->has_stderr && std::isfinite(v->stderr_) && v->stderr_ > 0) {
        label_x = std::max(label_x, BarEndX(layout, v->value + v->stderr_));
        const double lo = BarEndX(layout, v->value - v->stderr_);
        const double hi = BarEndX(layout, v->value + v->stderr_);
        const double mid = y + layout.bar_height / 2;
        const double cap = layout.bar_height / 2 - 1;
        absl::StrAppend(&out, "<path class=\"errorbar\" data-series=\"", s, "\" d=\"M", C(lo), " ",
                        C(mid), " H", C(hi), " M", C(lo), " ", C(mid - cap), " V", C(mid + cap),
                        " M", C(hi), " ", C(mid - cap), " V", C(mid + cap),
                        "\" stroke=\"#222\" stroke-width=\"1.2\" fill=\"none\"/>\n");
      }
      absl::StrAppend(&out, "<text class=\"bar-value\" data-series=\"", s, "\" x=\"",
                      C(label_x + 4), "\" y=\"", C(y + layout.bar_height - 2),
                      "\" font-size=\"10\" fill=\"#444\">", FormatScore(v->value),
                      v->partial ? "*" : "", "</text>\n");
    }
    out += "</g>\n";
  }
  out += "<g class=\"bar-legend\" font-size=\"12\" fill=\"#222\">\n";
  for (size_t s = 0; s < series.size(); ++s) {
    const double y = legend_top + 20.0 * static_cast<double>(s);
    absl::StrAppend(&out, "<rect x=\"", C(layout.label_width), "\" y=\"", C(y), "\" width=\"14\" ",
                    "height=\"14\" fill=\"", HtmlEscape(series[s].color),
                    "\"/><text class=\"legend-label\" x=\"", C(layout.label_width + 20), "\" y=\"",
                    C(y + 12), "\">", HtmlEscape(series[s].label), "</text>\n");
  }
  absl::StrAppend(&out, "</g>\n<text class=\"bars-caption\" x=\"10\" y=\"", C(height - 24),
                  "\" font-size=\"11\" fill=\"#555\">Scale: 0 to ", FormatTick(layout.max_value),
                  " (primary metric). Whiskers: ±1 standard error.</text>\n"
                  "<text class=\"bars-caption\" x=\"10\" y=\"",
                  C(height - 8),
                  "\" font-size=\"11\" fill=\"#555\">Light dashed bars and *: incomplete sets "
                  "(partial score); \"no data\": nothing scored, not 0.</text>\n</svg>\n");
  return out;
}

}  // namespace proctor::eval::report
