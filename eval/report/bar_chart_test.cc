#include "eval/report/bar_chart.h"

#include "gtest/gtest.h"

namespace proctor::eval::report {
namespace {

int Count(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) {
    ++n;
  }
  return n;
}

TEST(BarChartTest, GeometryAndAxis) {
  BarLayout layout;
  layout.label_width = 100;
  layout.plot_width = 400;
  layout.max_value = 100;
  EXPECT_DOUBLE_EQ(BarEndX(layout, 0), 100);
  EXPECT_DOUBLE_EQ(BarEndX(layout, 25), 200);
  EXPECT_DOUBLE_EQ(BarEndX(layout, 150), 500);  // clamped
  EXPECT_DOUBLE_EQ(BarEndX(layout, -3), 100);
  BarSeries s{"a", "#000", {BarValue{95, 8, true, false}}};
  EXPECT_DOUBLE_EQ(BarAxisMax({s}), 110);
  s.values = {BarValue{50, 1, true, false}};
  EXPECT_DOUBLE_EQ(BarAxisMax({s}), 100);
}

TEST(BarChartTest, BarsErrorBarsAndNoData) {
  BarLayout layout;
  layout.label_width = 100;
  layout.plot_width = 400;
  BarSeries a{"model <a>",
              "#0072b2",
              {BarValue{50, 5, true, false}, BarValue{20, 0, false, true}, std::nullopt}};
  BarSeries b{"b", "#e69f00", {BarValue{75, 2.5, true, false}, std::nullopt, std::nullopt}};
  const std::string svg = RenderBarChartSvg({"arc_e", "piqa", "x\"><script>"}, {a, b}, layout);
  EXPECT_EQ(Count(svg, "<rect class=\"bar "), 3);
  EXPECT_EQ(Count(svg, "class=\"bar partial\""), 1);
  EXPECT_EQ(Count(svg, "class=\"errorbar\""), 2);
  EXPECT_EQ(Count(svg, "class=\"no-data\""), 3);
  // 50 of 100 over 400 px → width 200; whisker from 45 to 55 → x 280..320.
  EXPECT_NE(svg.find("width=\"200.00\""), std::string::npos);
  EXPECT_NE(svg.find("d=\"M280.00 "), std::string::npos);
  EXPECT_NE(svg.find(" H320.00 "), std::string::npos);
  EXPECT_NE(svg.find("model &lt;a&gt; · arc_e: 50.00 ± 5.00"), std::string::npos);
  EXPECT_NE(svg.find("b · arc_e: 75.00 ± 2.50"), std::string::npos);
  EXPECT_EQ(svg.find("<script>"), std::string::npos);
  EXPECT_EQ(Count(svg, "class=\"bar-value\""), 3);
  EXPECT_NE(svg.find(">20.00*</text>"), std::string::npos);
  EXPECT_NE(svg.find("Whiskers: ±1 standard error"), std::string::npos);
}

}  // namespace
}  // namespace proctor::eval::report
