// The per-set bar chart of a report: for every set one row with a horizontal
// bar per run and an error bar of ±1 standard error, as an inline SVG element
// drawn from first principles.
//
// Geometry: a value v ends at x = label_width + plot_width * clamp(v, 0,
// max) / max; rows are stacked top to bottom in category order, one bar per
// series inside a row. Ticks every max / 5 with their values; the caption
// states the scale and what the whiskers mean.
//
// Missing values are never drawn as zero: a run without a score for a set
// gets the text "no data" instead of a bar. A partial value (incomplete set)
// is drawn hatched-light (class "partial") and its title says so.
//
// Pure functions; thread-safe.
#ifndef PROCTOR_EVAL_REPORT_BAR_CHART_H_
#define PROCTOR_EVAL_REPORT_BAR_CHART_H_

#include <optional>
#include <string>
#include <vector>

namespace proctor::eval::report {

struct BarValue {
  double value = 0;
  double stderr_ = 0;
  bool has_stderr = false;
  bool partial = false;  // the set is incomplete in this run
};

struct BarSeries {
  std::string label;                            // unescaped
  std::string color;                            // a trusted CSS colour (SeriesColor)
  std::vector<std::optional<BarValue>> values;  // one per category; nullopt = no data
};

struct BarLayout {
  double label_width = 240;
  double plot_width = 480;
  double bar_height = 12;
  double bar_gap = 2;   // between bars of one row
  double row_gap = 10;  // between rows
  double top = 30;      // room for the tick labels
  double max_value = 100;
};

// The smallest multiple of 10 that is >= 100 and >= every value + stderr of
// `series` (scores are percentages; BLEU and the like stay within 100).
double BarAxisMax(const std::vector<BarSeries>& series);

// The x coordinate where a bar of `value` ends.
double BarEndX(const BarLayout& layout, double value);

// The complete <svg> element (role="img", class "bars"): tick grid and
// labels, per category a label (escaped) and per series either
// <rect class="bar complete|partial" data-series="s" data-category="c"> with
// a <title> "label · category: value ± stderr", with a stderr a
// <path class="errorbar">, and the value as <text class="bar-value"> ("*"
// after a partial one); or <text class="no-data">. Then the legend and
// the caption.
std::string RenderBarChartSvg(const std::vector<std::string>& categories,
                              const std::vector<BarSeries>& series, const BarLayout& layout = {});

}  // namespace proctor::eval::report

#endif  // PROCTOR_EVAL_REPORT_BAR_CHART_H_
