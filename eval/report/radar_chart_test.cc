#include "eval/report/radar_chart.h"

#include <cmath>
#include <cstdio>

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

TEST(RadarChartTest, PointsFollowTheStatedGeometry) {
  RadarLayout layout;
  layout.center_x = 100;
  layout.center_y = 100;
  layout.radius = 50;
  // Axis 0 points up; full scale is the radius.
  Point p = RadarPoint(layout, 0, 4, 100);
  EXPECT_NEAR(p.x, 100, 1e-9);
  EXPECT_NEAR(p.y, 50, 1e-9);
  // Axis 1 of 4 points right (clockwise); half the scale is half the radius.
  p = RadarPoint(layout, 1, 4, 50);
  EXPECT_NEAR(p.x, 125, 1e-9);
  EXPECT_NEAR(p.y, 100, 1e-9);
  // Out-of-range values are clamped to the grid, never drawn outside it.
  p = RadarPoint(layout, 2, 4, 250);
  EXPECT_NEAR(p.y, 150, 1e-9);
  p = RadarPoint(layout, 3, 4, -5);
  EXPECT_NEAR(p.x, 100, 1e-9);
}

TEST(RadarChartTest, PolygonPointsFromKnownScores) {
  RadarLayout layout;
  layout.center_x = 250;
  layout.center_y = 230;
  layout.radius = 160;
  // Five axes: angles -90°, -18°, 54°, 126°, 198°.
  std::vector<std::optional<RadarValue>> values = {RadarValue{100, false}, RadarValue{50, false},
                                                   RadarValue{0, false}, RadarValue{25, true},
                                                   RadarValue{75, false}};
  std::string expected;
  const double pi = std::acos(-1.0);
  for (int i = 0; i < 5; ++i) {
    const double a = -pi / 2 + 2 * pi * i / 5;
    const double r = 160 * values[static_cast<size_t>(i)]->score / 100;
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.2f,%.2f", 250 + r * std::cos(a), 230 + r * std::sin(a));
    if (!expected.empty()) expected += ' ';
    expected += buf;
  }
  EXPECT_EQ(RadarPolygonPoints(layout, values), expected);
  EXPECT_EQ(expected.substr(0, 13), "250.00,70.00 ");  // 100 on the upward axis
}

TEST(RadarChartTest, MissingValuesAreLeftOutNotZero) {
  RadarLayout layout;
  std::vector<std::optional<RadarValue>> values = {RadarValue{100, false}, std::nullopt,
                                                   RadarValue{100, false}, std::nullopt,
                                                   RadarValue{100, false}};
  const std::string points = RadarPolygonPoints(layout, values);
  EXPECT_EQ(Count(points, ","), 3);
  // No point at the centre (which is where a zero would be drawn).
  char centre[64];
  std::snprintf(centre, sizeof(centre), "%.2f,%.2f", layout.center_x, layout.center_y);
  EXPECT_EQ(points.find(centre), std::string::npos);
}

TEST(RadarChartTest, SvgHasGridSeriesLegendAndEscapedLabels) {
  RadarSeries a{"<script>alert(1)</script>",
                "#0072b2",
                {RadarValue{40, false}, RadarValue{50, false}, RadarValue{60, false}}};
  RadarSeries b{"two", "#e69f00", {RadarValue{10, true}, std::nullopt, RadarValue{30, false}}};
  const std::string svg = RenderRadarSvg({"Exam", "Lang<uage>", "Reasoning"}, {a, b});
  EXPECT_EQ(svg.find("<script>"), std::string::npos);
  EXPECT_NE(svg.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(svg.find("Lang&lt;uage&gt;"), std::string::npos);
  EXPECT_EQ(Count(svg, "class=\"radar-ring\""), 5);
  EXPECT_EQ(Count(svg, "class=\"radar-spoke\""), 3);
  // Series a: complete → a solid polygon; b: two values → a dashed polyline.
  EXPECT_EQ(Count(svg, "<polygon class=\"radar-series\""), 1);
  EXPECT_EQ(Count(svg, "<polyline class=\"radar-series\""), 1);
  EXPECT_EQ(Count(svg, "stroke-dasharray"), 1);
  EXPECT_EQ(Count(svg, "radar-point complete"), 4);
  EXPECT_EQ(Count(svg, "radar-point partial"), 1);
  EXPECT_NE(svg.find("Scale: 0 (centre) to 100 (outer ring), rings every 20."), std::string::npos);
  EXPECT_NE(svg.find("two · Exam: 10.00 (partial"), std::string::npos);
}

}  // namespace
}  // namespace proctor::eval::report
