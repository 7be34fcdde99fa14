#include "cli/flag_parser.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace proctor::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

FlagParser MakeParser() {
  FlagParser p("proctor test ARG [flags]", "Does a test.");
  p.AddValue("limit", "N", "max samples");
  p.AddValue("label", "K=V", "a label", /*repeatable=*/true);
  p.AddSwitch("watch", "watch it");
  return p;
}

TEST(FlagParserTest, ParsesBothValueFormsSwitchesAndPositionals) {
  auto parsed = MakeParser().Parse(
      {"run-1", "--limit=5", "--label", "a=1", "--watch", "--label=b=2", "extra"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->Get("limit"), "5");
  EXPECT_THAT(parsed->GetAll("label"), ElementsAre("a=1", "b=2"));
  EXPECT_TRUE(parsed->Has("watch"));
  EXPECT_FALSE(parsed->help());
  EXPECT_THAT(parsed->positional(), ElementsAre("run-1", "extra"));
  EXPECT_EQ(parsed->Get("missing"), std::nullopt);
}

TEST(FlagParserTest, ValueMayStartWithDashAndDoubleDashEndsFlags) {
  auto parsed = MakeParser().Parse({"--limit", "-3", "--", "--watch", "-"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->Get("limit"), "-3");
  EXPECT_FALSE(parsed->Has("watch"));
  EXPECT_THAT(parsed->positional(), ElementsAre("--watch", "-"));
}

TEST(FlagParserTest, SwitchAcceptsTrueFalse) {
  auto on = MakeParser().Parse({"--watch=true"});
  ASSERT_TRUE(on.ok());
  EXPECT_TRUE(on->Has("watch"));
  auto off = MakeParser().Parse({"--watch", "--watch=false"});
  ASSERT_TRUE(off.ok());
  EXPECT_FALSE(off->Has("watch"));
  auto bad = MakeParser().Parse({"--watch=yes"});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("--watch takes no value"));
}

TEST(FlagParserTest, HelpIsRecognised) {
  auto parsed = MakeParser().Parse({"-h"});
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(parsed->help());
  parsed = MakeParser().Parse({"--help"});
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(parsed->help());
}

TEST(FlagParserTest, ErrorsNameTheOffendingFlag) {
  auto unknown = MakeParser().Parse({"--limt=3"});
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(unknown.status().message(), "unknown flag --limt");

  auto short_flag = MakeParser().Parse({"-x"});
  ASSERT_FALSE(short_flag.ok());
  EXPECT_EQ(short_flag.status().message(), "unknown flag -x");

  auto missing = MakeParser().Parse({"--limit"});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(), "--limit needs a value (N)");

  auto twice = MakeParser().Parse({"--limit=1", "--limit=2"});
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.status().message(), "--limit given more than once");
}

TEST(FlagParserTest, HelpListsFlags) {
  EXPECT_EQ(MakeParser().Help(),
            "usage: proctor test ARG [flags]\n"
            "\n"
            "Does a test.\n"
            "\n"
            "flags:\n"
            "  --limit=N    max samples\n"
            "  --label=K=V  a label (repeatable)\n"
            "  --watch      watch it\n");
}

TEST(FlagParserTest, HelpWrapsLongText) {
  FlagParser p("proctor x", "");
  p.AddValue("long", "V", std::string(60, 'a') + " " + std::string(60, 'b'));
  EXPECT_EQ(p.Help(), "usage: proctor x\n\nflags:\n  --long=V  " + std::string(60, 'a') +
                          "\n            " + std::string(60, 'b') + "\n");
}

TEST(ParseIntTest, ChecksRangeAndSyntax) {
  EXPECT_EQ(*ParseInt("--tp", "4", 1, 8), 4);
  auto low = ParseInt("--limit", "0", 1, std::numeric_limits<int64_t>::max());
  ASSERT_FALSE(low.ok());
  EXPECT_EQ(low.status().message(), "--limit: expected an integer >= 1, got \"0\"");
  auto high = ParseInt("--tp", "9", 1, 8);
  ASSERT_FALSE(high.ok());
  EXPECT_EQ(high.status().message(), "--tp: expected an integer in [1, 8], got \"9\"");
  EXPECT_FALSE(ParseInt("--tp", "4x", 1, 8).ok());
  EXPECT_FALSE(ParseInt("--tp", "", 1, 8).ok());
  EXPECT_FALSE(ParseInt("--n", "99999999999999999999", 0, 1 << 30).ok());
}

}  // namespace
}  // namespace proctor::cli
