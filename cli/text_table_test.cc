#include "cli/text_table.h"

#include "gtest/gtest.h"

namespace proctor::cli {
namespace {

TEST(DisplayWidthTest, CountsColumnsNotBytes) {
  EXPECT_EQ(DisplayWidth(""), 0);
  EXPECT_EQ(DisplayWidth("mmlu"), 4);
  EXPECT_EQ(DisplayWidth("ceval-高中物理"), 6 + 8);  // CJK: two columns each
  EXPECT_EQ(DisplayWidth("한국어"), 6);              // Hangul syllables
  EXPECT_EQ(DisplayWidth("e\xCC\x81"), 1);           // e + combining acute
  EXPECT_EQ(DisplayWidth("café"), 4);                // precomposed é
  EXPECT_EQ(DisplayWidth("±"), 1);
  EXPECT_EQ(DisplayWidth("ＡＢ"), 4);  // fullwidth forms
}

TEST(DisplayWidthTest, InvalidUtf8CountsOnePerByte) {
  EXPECT_EQ(DisplayWidth("\xFF\xFE"), 2);
  EXPECT_EQ(DisplayWidth("a\xE4\xB8"), 3);  // truncated 3-byte sequence
  EXPECT_EQ(DisplayWidth("\xC3("), 2);      // bad continuation byte
}

TEST(EscapeControlCharactersTest, MakesControlsVisible) {
  EXPECT_EQ(EscapeControlCharacters("a\nb\tc\rd"), "a\\nb\\tc\\rd");
  EXPECT_EQ(EscapeControlCharacters("\x1b[31mred"), "\\x1B[31mred");
  EXPECT_EQ(EscapeControlCharacters("\x7f"), "\\x7F");
  EXPECT_EQ(EscapeControlCharacters("高中 ok"), "高中 ok");
}

TEST(CsvFieldTest, QuotesOnlyWhenNeeded) {
  EXPECT_EQ(CsvField("plain"), "plain");
  EXPECT_EQ(CsvField(""), "");
  EXPECT_EQ(CsvField("a,b"), "\"a,b\"");
  EXPECT_EQ(CsvField("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(CsvField("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(CsvField("cr\r"), "\"cr\r\"");
  EXPECT_EQ(CsvField(" padded"), "\" padded\"");
  EXPECT_EQ(CsvField("\""), "\"\"\"\"");
}

TEST(MarkdownCellTest, EscapesPipesAndNewlines) {
  EXPECT_EQ(MarkdownCell("a|b"), "a\\|b");
  EXPECT_EQ(MarkdownCell("x\\y"), "x\\\\y");
  EXPECT_EQ(MarkdownCell("one\ntwo"), "one two");
}

TEST(TextTableTest, AlignsByDisplayWidth) {
  TextTable t({"dataset", "score"}, {Align::kLeft, Align::kRight});
  t.AddRow({"mmlu", "45.60"});
  t.AddRow({"ceval-高中物理", "3.10"});
  EXPECT_EQ(t.RenderText(),
            "dataset         score\n"
            "--------------  -----\n"
            "mmlu            45.60\n"
            "ceval-高中物理   3.10\n");
}

TEST(TextTableTest, PadsShortRowsAndTrimsTrailingSpace) {
  TextTable t({"a", "b", "c"});
  t.AddRow({"x"});
  t.AddRow({"1", "2", "3", "dropped"});
  EXPECT_EQ(t.num_rows(), 2u);
  EXPECT_EQ(t.RenderText(),
            "a  b  c\n"
            "-  -  -\n"
            "x\n"
            "1  2  3\n");
}

TEST(TextTableTest, EscapesHostileCellsInText) {
  TextTable t({"name"});
  t.AddRow({"evil\n\x1b[2J"});
  EXPECT_EQ(t.RenderText(),
            "name\n"
            "-------------\n"
            "evil\\n\\x1B[2J\n");
}

TEST(TextTableTest, RendersCsv) {
  TextTable t({"name", "note"});
  t.AddRow({"a,b", "he said \"x\""});
  t.AddRow({"plain", ""});
  EXPECT_EQ(t.RenderCsv(),
            "name,note\n"
            "\"a,b\",\"he said \"\"x\"\"\"\n"
            "plain,\n");
}

TEST(TextTableTest, RendersMarkdown) {
  TextTable t({"name", "score"}, {Align::kLeft, Align::kRight});
  t.AddRow({"a|b", "1.00"});
  EXPECT_EQ(t.RenderMarkdown(),
            "| name | score |\n"
            "| --- | ---: |\n"
            "| a\\|b | 1.00 |\n");
}

}  // namespace
}  // namespace proctor::cli
