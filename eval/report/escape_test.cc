#include "eval/report/escape.h"

#include "eval/report/numbers.h"
#include "gtest/gtest.h"

namespace proctor::eval::report {
namespace {

TEST(EscapeTest, HtmlEscapesMarkupAndQuotes) {
  EXPECT_EQ(HtmlEscape("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;");
  EXPECT_EQ(HtmlEscape("plain · ünïcode"), "plain · ünïcode");
}

TEST(EscapeTest, InvalidUtf8AndControlsBecomeReplacementCharacters) {
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(SanitizeUtf8(std::string("a\xFF"
                                     "b")),
            "a" + fffd + "b");
  EXPECT_EQ(SanitizeUtf8("\xC0\xAF"), fffd + fffd);             // overlong '/'
  EXPECT_EQ(SanitizeUtf8("\xED\xA0\x80"), fffd + fffd + fffd);  // surrogate
  EXPECT_EQ(SanitizeUtf8("\xE2\x82"), fffd + fffd);             // truncated
  EXPECT_EQ(SanitizeUtf8(std::string("x\0y\x1b", 4)), "x" + fffd + "y" + fffd);
  EXPECT_EQ(SanitizeUtf8("tab\tnew\nline"), "tab\tnew\nline");
  EXPECT_EQ(SanitizeUtf8("\xC2\x85"), fffd);  // C1 control
  EXPECT_EQ(SanitizeUtf8("\xF0\x9F\x98\x80"), "\xF0\x9F\x98\x80");
}

TEST(EscapeTest, MarkdownNeutralisesTablesAndInlineHtml) {
  EXPECT_EQ(MarkdownEscape("a|b *c* <img src=x>\nnext"), "a\\|b \\*c\\* &lt;img src=x&gt; next");
  EXPECT_EQ(MarkdownEscape("[link](http://x)"), "\\[link\\](http://x)");
}

TEST(EscapeTest, CsvQuotesAndBlocksFormulas) {
  EXPECT_EQ(CsvText("plain"), "plain");
  EXPECT_EQ(CsvText("a,b"), "\"a,b\"");
  EXPECT_EQ(CsvText("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(CsvText("=HYPERLINK(\"http://evil\")"), "\"'=HYPERLINK(\"\"http://evil\"\")\"");
  EXPECT_EQ(CsvText("-1+2"), "'-1+2");
  EXPECT_EQ(CsvText("line\nbreak"), "\"line\nbreak\"");
  EXPECT_EQ(CsvText(" padded"), "\" padded\"");
}

TEST(EscapeTest, UrlEscapeKeepsOnlyUnreserved) {
  EXPECT_EQ(UrlEscape("run-2026_1.x~"), "run-2026_1.x~");
  EXPECT_EQ(UrlEscape("../a b/\"<"), "..%2Fa%20b%2F%22%3C");
}

TEST(NumbersTest, Formats) {
  EXPECT_EQ(FormatScore(45.6), "45.60");
  EXPECT_EQ(FormatScore(1.0 / 0.0), "n/a");
  EXPECT_EQ(FormatDelta(3.254), "+3.25");
  EXPECT_EQ(FormatDelta(-0.001), "+0.00");
  EXPECT_EQ(FormatDelta(-0.5), "-0.50");
  EXPECT_EQ(FormatPValue(0.0123456), "0.01235");
  EXPECT_EQ(FormatPValue(1e-15), "<1e-12");
  EXPECT_EQ(CsvNumber(2.0 / 3.0), "0.6666666667");
  EXPECT_EQ(SvgCoord(-0.001), "0.00");
  EXPECT_EQ(FormatTick(20), "20");
}

}  // namespace
}  // namespace proctor::eval::report
