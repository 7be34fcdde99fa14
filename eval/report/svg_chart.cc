#include "eval/report/svg_chart.h"

namespace proctor::eval::report {

std::string SeriesColor(size_t index) {
  static constexpr const char* kColors[] = {"#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9",
                                            "#d55e00", "#000000", "#f0e442", "#7f7f7f", "#8c564b"};
  return kColors[index % (sizeof(kColors) / sizeof(kColors[0]))];
}

}  // namespace proctor::eval::report
