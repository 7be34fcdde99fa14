#include "cli/sweep_format.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace proctor::cli {
namespace {

using ::testing::HasSubstr;

TEST(SweepFormatTest, ParseSweepModel) {
  absl::StatusOr<proctor::v1::ModelRef> m = ParseSweepModel("small=/models/s.gguf");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->name(), "small");
  EXPECT_EQ(m->path(), "/models/s.gguf");
  m = ParseSweepModel("/models/llama-7b.Q4_0.gguf");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->name(), "llama-7b.Q4_0");
  m = ParseSweepModel("plain");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->name(), "plain");
  EXPECT_TRUE(m->path().empty());
  EXPECT_EQ(ParseSweepModel("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ParseSweepModel("=/x").status().message(), HasSubstr("NAME=PATH"));
  EXPECT_THAT(ParseSweepModel("/models/").status().message(), HasSubstr("names no file"));
}

TEST(SweepFormatTest, Table) {
  proctor::v1::Sweep s;
  s.set_name("nightly");
  s.set_schedule("0 2 * * *");
  s.set_time_zone("Europe/Berlin");
  s.set_model_glob("/models/*.gguf");
  s.mutable_spec()->set_suite("base");
  s.mutable_next_slot()->set_seconds(1'800'000'000);
  s.set_paused(true);
  absl::StatusOr<std::string> t = FormatSweeps({s}, OutputFormat::kTable);
  ASSERT_TRUE(t.ok());
  EXPECT_THAT(*t, HasSubstr("nightly"));
  EXPECT_THAT(*t, HasSubstr("0 2 * * *"));
  EXPECT_THAT(*t, HasSubstr("/models/*.gguf"));
  EXPECT_THAT(*t, HasSubstr("paused"));
  EXPECT_THAT(*t, HasSubstr("2027-01-15T08:00:00Z"));
  EXPECT_THAT(*FormatSweeps({s}, OutputFormat::kJson), HasSubstr("\"name\": \"nightly\""));
  EXPECT_THAT(*FormatSweeps({s}, OutputFormat::kCsv), HasSubstr("nightly,0 2 * * *"));
}

}  // namespace
}  // namespace proctor::cli
