// Shared vocabulary of the report's SVG charts (eval/report/radar_chart.h,
// eval/report/bar_chart.h): points, series colours. Pure; thread-safe.
#ifndef PROCTOR_EVAL_REPORT_SVG_CHART_H_
#define PROCTOR_EVAL_REPORT_SVG_CHART_H_

#include <cstddef>
#include <string>

namespace proctor::eval::report {

struct Point {
  double x = 0;
  double y = 0;
};

// The colour of series `index` (a CSS hex colour): ten colours that stay
// distinguishable for the common forms of colour blindness, then repeating.
std::string SeriesColor(size_t index);

}  // namespace proctor::eval::report

#endif  // PROCTOR_EVAL_REPORT_SVG_CHART_H_
