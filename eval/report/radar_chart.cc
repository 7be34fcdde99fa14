#include "eval/report/radar_chart.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "absl/strings/str_cat.h"
#include "eval/report/escape.h"
#include "eval/report/numbers.h"

namespace proctor::eval::report {
namespace {

constexpr double kLegendX = 560;
constexpr double kWidth = 1000;

std::string Pt(const Point& p) { return absl::StrCat(SvgCoord(p.x), ",", SvgCoord(p.y)); }

std::optional<RadarValue> ValueAt(const RadarSeries& s, size_t axis) {
  return axis < s.values.size() ? s.values[axis] : std::nullopt;
}

}  // namespace

Point RadarPoint(const RadarLayout& layout, size_t axis, size_t num_axes, double value) {
  const double angle =
      -std::numbers::pi / 2 + 2 * std::numbers::pi * static_cast<double>(axis) /
                                  static_cast<double>(std::max<size_t>(num_axes, 1));
  double v = std::isfinite(value) ? value : 0;
  v = std::clamp(v, 0.0, layout.max_value);
  const double r = layout.max_value > 0 ? layout.radius * v / layout.max_value : 0;
  return {layout.center_x + r * std::cos(angle), layout.center_y + r * std::sin(angle)};
}

std::string RadarPolygonPoints(const RadarLayout& layout,
                               const std::vector<std::optional<RadarValue>>& values) {
  std::string out;
  for (size_t i = 0; i < values.size(); ++i) {
    if (!values[i].has_value()) continue;
    if (!out.empty()) out += ' ';
    out += Pt(RadarPoint(layout, i, values.size(), values[i]->score));
  }
  return out;
}

std::string RenderRadarSvg(const std::vector<std::string>& axes,
                           const std::vector<RadarSeries>& series, const RadarLayout& layout) {
  const size_t n = axes.size();
  const double height = std::max(layout.center_y + layout.radius + 60,
                                 40.0 + 22.0 * static_cast<double>(series.size()));
  std::string out = absl::StrCat(
      "<svg class=\"radar\" role=\"img\" xmlns=\"http://www.w3.org/2000/svg\" width=\"",
      SvgCoord(kWidth), "\" height=\"", SvgCoord(height), "\" viewBox=\"0 0 ", SvgCoord(kWidth),
      " ", SvgCoord(height), "\">\n<title>Radar chart of the dimension scores per run</title>\n");
  // Grid: rings and spokes.
  out += "<g class=\"radar-grid\" fill=\"none\" stroke=\"#c8c8c8\" stroke-width=\"1\">\n";
  const int rings = std::max(layout.rings, 1);
  for (int k = 1; k <= rings; ++k) {
    const double v = layout.max_value * k / rings;
    std::string points;
    for (size_t i = 0; i < n; ++i) {
      if (!points.empty()) points += ' ';
      points += Pt(RadarPoint(layout, i, n, v));
    }
    absl::StrAppend(&out, "<polygon class=\"radar-ring\" points=\"", points, "\"/>\n");
  }
  for (size_t i = 0; i < n; ++i) {
    const Point p = RadarPoint(layout, i, n, layout.max_value);
    absl::StrAppend(&out, "<line class=\"radar-spoke\" x1=\"", SvgCoord(layout.center_x),
                    "\" y1=\"", SvgCoord(layout.center_y), "\" x2=\"", SvgCoord(p.x), "\" y2=\"",
                    SvgCoord(p.y), "\"/>\n");
  }
  out += "</g>\n<g class=\"radar-ring-labels\" font-size=\"10\" fill=\"#777\">\n";
  for (int k = 0; k <= rings; ++k) {
    const double v = layout.max_value * k / rings;
    const Point p = RadarPoint(layout, 0, std::max<size_t>(n, 1), v);
    absl::StrAppend(&out, "<text x=\"", SvgCoord(p.x + 4), "\" y=\"", SvgCoord(p.y - 2), "\">",
                    FormatTick(v), "</text>\n");
  }
  out += "</g>\n<g class=\"radar-axis-labels\" font-size=\"13\" fill=\"#222\">\n";
  for (size_t i = 0; i < n; ++i) {
    RadarLayout outer = layout;
    outer.radius = layout.radius + 16;
    const Point p = RadarPoint(outer, i, n, layout.max_value);
    const double dx = p.x - layout.center_x;
    const char* anchor = std::abs(dx) < 1 ? "middle" : (dx > 0 ? "start" : "end");
    const double dy = p.y < layout.center_y - 1 ? -2 : (p.y > layout.center_y + 1 ? 12 : 4);
    absl::StrAppend(&out, "<text class=\"radar-axis\" text-anchor=\"", anchor, "\" x=\"",
                    SvgCoord(p.x), "\" y=\"", SvgCoord(p.y + dy), "\">", HtmlEscape(axes[i]),
                    "</text>\n");
  }
  out += "</g>\n";
  // Series.
  for (size_t s = 0; s < series.size(); ++s) {
    const RadarSeries& rs = series[s];
    std::vector<std::optional<RadarValue>> values(n);
    bool dashed = false;
    size_t present = 0;
    for (size_t i = 0; i < n; ++i) {
      values[i] = ValueAt(rs, i);
      if (!values[i].has_value() || values[i]->partial) dashed = true;
      if (values[i].has_value()) ++present;
    }
    const std::string color = HtmlEscape(rs.color);
    absl::StrAppend(&out, "<g class=\"radar-run\" data-series=\"", s, "\">\n");
    if (present >= 2) {
      absl::StrAppend(&out, "<", present >= 3 ? "polygon" : "polyline",
                      " class=\"radar-series\" data-series=\"", s, "\" points=\"",
                      RadarPolygonPoints(layout, values), "\" fill=\"", color,
                      present >= 3 ? "\" fill-opacity=\"0.12\"" : "\" fill-opacity=\"0\"",
                      " stroke=\"", color, "\" stroke-width=\"2\"",
                      dashed ? " stroke-dasharray=\"6 4\"" : "", "/>\n");
    }
    for (size_t i = 0; i < n; ++i) {
      if (!values[i].has_value()) continue;
      const Point p = RadarPoint(layout, i, n, values[i]->score);
      const bool partial = values[i]->partial;
      absl::StrAppend(&out, "<circle class=\"radar-point ", partial ? "partial" : "complete",
                      "\" data-axis=\"", HtmlEscape(axes[i]), "\" cx=\"", SvgCoord(p.x), "\" cy=\"",
                      SvgCoord(p.y), "\" r=\"4\" fill=\"", partial ? "#ffffff" : color,
                      "\" stroke=\"", color, "\" stroke-width=\"2\"><title>", HtmlEscape(rs.label),
                      " · ", HtmlEscape(axes[i]), ": ", FormatScore(values[i]->score),
                      partial ? " (partial: incomplete)" : "", "</title></circle>\n");
    }
    out += "</g>\n";
  }
  // Legend and caption.
  out += "<g class=\"radar-legend\" font-size=\"12\" fill=\"#222\">\n";
  for (size_t s = 0; s < series.size(); ++s) {
    const double y = 30 + 22.0 * static_cast<double>(s);
    absl::StrAppend(&out, "<rect x=\"", SvgCoord(kLegendX), "\" y=\"", SvgCoord(y - 10),
                    "\" width=\"14\" height=\"14\" fill=\"", HtmlEscape(series[s].color),
                    "\"/><text class=\"legend-label\" x=\"", SvgCoord(kLegendX + 20), "\" y=\"",
                    SvgCoord(y + 2), "\">", HtmlEscape(series[s].label), "</text>\n");
  }
  absl::StrAppend(&out, "</g>\n<text class=\"radar-caption\" x=\"10\" y=\"", SvgCoord(height - 26),
                  "\" font-size=\"11\" fill=\"#555\">Scale: 0 (centre) to ",
                  FormatTick(layout.max_value), " (outer ring), rings every ",
                  FormatTick(layout.max_value / rings),
                  ".</text>\n<text class=\"radar-caption\" x=\"10\" y=\"", SvgCoord(height - 10),
                  "\" font-size=\"11\" fill=\"#555\">Hollow marker and dashed outline: "
                  "incomplete (partial score); axes without a score are left out, never drawn as "
                  "0.</text>\n</svg>\n");
  return out;
}

}  // namespace proctor::eval::report
