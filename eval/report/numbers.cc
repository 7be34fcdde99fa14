#include "eval/report/numbers.h"

#include <cmath>

#include "absl/strings/str_format.h"

namespace proctor::eval::report {

std::string FormatScore(double value) {
  if (!std::isfinite(value)) return "n/a";
  return absl::StrFormat("%.2f", value);
}

std::string FormatDelta(double delta) {
  if (!std::isfinite(delta)) return "n/a";
  // Round first so that -0.001 prints as "+0.00", not "-0.00".
  const double rounded = std::round(delta * 100) / 100;
  return absl::StrFormat("%+.2f", rounded == 0 ? 0.0 : rounded);
}

std::string FormatPValue(double p) {
  if (!std::isfinite(p) || p < 0) return "n/a";
  if (p < 1e-12) return "<1e-12";
  return absl::StrFormat("%.4g", p);
}

std::string CsvNumber(double value) {
  if (!std::isfinite(value)) return "";
  return absl::StrFormat("%.10g", value);
}

std::string FormatTick(double value) {
  if (!std::isfinite(value)) return "n/a";
  return absl::StrFormat("%g", value);
}

std::string SvgCoord(double value) {
  const double rounded = std::round(value * 100) / 100;
  return absl::StrFormat("%.2f", rounded == 0 ? 0.0 : rounded);
}

}  // namespace proctor::eval::report
