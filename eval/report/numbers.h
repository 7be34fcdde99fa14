// How numbers appear in reports. One place, so that the HTML, Markdown and
// CSV of a report (and the tests that read them back) agree. Pure functions.
#ifndef PROCTOR_EVAL_REPORT_NUMBERS_H_
#define PROCTOR_EVAL_REPORT_NUMBERS_H_

#include <string>

namespace proctor::eval::report {

// A score for people: two decimals ("45.60"); "n/a" when not finite.
std::string FormatScore(double value);

// A signed difference, two decimals ("+3.25", "-0.50", "+0.00"); "n/a" when
// not finite.
std::string FormatDelta(double delta);

// A p-value: 4 significant digits, "<1e-12" below 1e-12; "n/a" when not
// finite or negative.
std::string FormatPValue(double p);

// A number for machines (CSV): up to 10 significant digits ("%.10g"); empty
// when not finite.
std::string CsvNumber(double value);

// An axis tick value: the shortest "%g" form ("20", "12.5"); "n/a" when not
// finite.
std::string FormatTick(double value);

// A coordinate in SVG: two decimals, "-0.00" written as "0.00".
std::string SvgCoord(double value);

}  // namespace proctor::eval::report

#endif  // PROCTOR_EVAL_REPORT_NUMBERS_H_
