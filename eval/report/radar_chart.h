// The radar chart of a report: one polygon per run over the dimension axes
// on a polar grid, as an inline SVG element drawn from first principles.
//
// Geometry: axis 0 points up from the centre and axes follow clockwise at
// equal angles; a value v lies at distance radius * clamp(v, 0, max) / max
// from the centre on its axis. Grid rings are regular polygons at
// max / rings steps, labelled with their value; the caption states the scale.
//
// Missing scores are never drawn as zero: a run's polygon joins only the
// axes where it has a score (a line for two, a lone marker for one); a
// partial score (incomplete dimension) gets a hollow marker and the run's
// outline is dashed whenever any of its axes is partial or missing.
//
// Pure functions; thread-safe.
#ifndef PROCTOR_EVAL_REPORT_RADAR_CHART_H_
#define PROCTOR_EVAL_REPORT_RADAR_CHART_H_

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "eval/report/svg_chart.h"

namespace proctor::eval::report {

struct RadarValue {
  double score = 0;
  bool partial = false;  // from an incomplete dimension
};

struct RadarSeries {
  std::string label;  // legend text, unescaped (the renderer escapes it)
  std::string color;  // a trusted CSS colour (SeriesColor)
  std::vector<std::optional<RadarValue>> values;  // one per axis; nullopt = no score
};

struct RadarLayout {
  double center_x = 290;
  double center_y = 230;
  double radius = 160;
  double max_value = 100;  // the outer ring
  int rings = 5;           // grid rings at max_value / rings steps
};

// Where `value` lies on axis `axis` of `num_axes` (num_axes >= 1).
Point RadarPoint(const RadarLayout& layout, size_t axis, size_t num_axes, double value);

// The "points" attribute of a series' outline: "x,y" (SvgCoord) of each
// present value in axis order, separated by single spaces; "" when none.
std::string RadarPolygonPoints(const RadarLayout& layout,
                               const std::vector<std::optional<RadarValue>>& values);

// The complete <svg> element (role="img", class "radar"): grid, axis labels,
// ring labels, caption, per series an outline (<polygon class="radar-series">
// for 3+ values, <polyline> for 2) with data-series="<index>" and one
// <circle class="radar-point complete|partial"> per value carrying a
// <title> "label · axis: score"; and the legend. Axis labels and series
// labels are escaped. Values of series must have axes.size() entries
// (extra entries are ignored, missing ones count as no score).
std::string RenderRadarSvg(const std::vector<std::string>& axes,
                           const std::vector<RadarSeries>& series, const RadarLayout& layout = {});

}  // namespace proctor::eval::report

#endif  // PROCTOR_EVAL_REPORT_RADAR_CHART_H_
