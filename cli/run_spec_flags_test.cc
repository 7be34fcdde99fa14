#include "cli/run_spec_flags.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace proctor::cli {
namespace {

namespace pb = ::proctor::v1;
using ::testing::HasSubstr;

absl::StatusOr<pb::RunSpec> Build(const std::vector<std::string>& args) {
  FlagParser parser("proctor submit", "");
  AddSubmitFlags(&parser);
  auto flags = parser.Parse(args);
  if (!flags.ok()) return flags.status();
  return BuildRunSpec(*flags, "alice");
}

TEST(ParsePriorityTest, AcceptsTheThreeClasses) {
  EXPECT_EQ(*ParsePriority("interactive"), pb::PRIORITY_INTERACTIVE);
  EXPECT_EQ(*ParsePriority("sweep"), pb::PRIORITY_SWEEP);
  EXPECT_EQ(*ParsePriority("BACKFILL"), pb::PRIORITY_BACKFILL);
}

TEST(ParsePriorityTest, BadPriorityNamesIt) {
  auto p = ParsePriority("urgent");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(p.status().message(),
            "--priority: unknown priority \"urgent\" (expected interactive, sweep or backfill)");
}

TEST(ParseRunStateTest, AcceptsStatesAndRejectsOthers) {
  EXPECT_EQ(*ParseRunState("running"), pb::RUN_STATE_RUNNING);
  EXPECT_EQ(*ParseRunState("Canceled"), pb::RUN_STATE_CANCELLED);
  auto bad = ParseRunState("done");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("\"done\""));
  EXPECT_EQ(RunStateName(pb::RUN_STATE_SUCCEEDED), "succeeded");
  EXPECT_EQ(PriorityName(pb::PRIORITY_UNSPECIFIED), "interactive");
}

TEST(ParseLabelTest, SplitsAtFirstEquals) {
  auto kv = ParseLabel("--label", "team=nlp=core");
  ASSERT_TRUE(kv.ok());
  EXPECT_EQ(kv->first, "team");
  EXPECT_EQ(kv->second, "nlp=core");
  EXPECT_EQ(ParseLabel("--label", "empty=")->second, "");
  EXPECT_FALSE(ParseLabel("--label", "novalue").ok());
  auto bad = ParseLabel("--label", "=x");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "--label: expected key=value with a non-empty key, got \"=x\"");
}

TEST(ParseDatasetSelectionTest, NameAndOptionalLimit) {
  auto plain = ParseDatasetSelection("gsm8k");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->name(), "gsm8k");
  EXPECT_EQ(plain->limit(), 0);
  auto limited = ParseDatasetSelection("mmlu:50");
  ASSERT_TRUE(limited.ok());
  EXPECT_EQ(limited->name(), "mmlu");
  EXPECT_EQ(limited->limit(), 50);
  auto zero = ParseDatasetSelection("mmlu:0");
  ASSERT_FALSE(zero.ok());
  EXPECT_EQ(zero.status().message(),
            "--dataset mmlu:0: limit: expected an integer >= 1, got \"0\"");
  EXPECT_FALSE(ParseDatasetSelection("mmlu:").ok());
  EXPECT_FALSE(ParseDatasetSelection(":5").ok());
  EXPECT_FALSE(ParseDatasetSelection("").ok());
}

TEST(BuildRunSpecTest, FullSpec) {
  auto spec =
      Build({"--model", "/models/smollm2-135m.Q4_1.gguf", "--suite=smoke", "--dataset",
             "arc_easy:20", "--dataset=gsm8k", "--limit=100", "--seed=7", "--priority=sweep",
             "--label", "team=nlp", "--label=night=1", "--backend=cuda", "--tp=2"});
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->model().name(), "smollm2-135m.Q4_1");
  EXPECT_EQ(spec->model().path(), "/models/smollm2-135m.Q4_1.gguf");
  EXPECT_EQ(spec->model().backend(), "cuda");
  EXPECT_EQ(spec->model().tensor_parallel(), 2);
  EXPECT_EQ(spec->suite(), "smoke");
  ASSERT_EQ(spec->datasets_size(), 2);
  EXPECT_EQ(spec->datasets(0).name(), "arc_easy");
  EXPECT_EQ(spec->datasets(0).limit(), 20);
  EXPECT_EQ(spec->datasets(1).name(), "gsm8k");
  EXPECT_EQ(spec->limit(), 100);
  EXPECT_EQ(spec->seed(), 7u);
  EXPECT_EQ(spec->priority(), pb::PRIORITY_SWEEP);
  EXPECT_EQ(spec->labels().at("team"), "nlp");
  EXPECT_EQ(spec->labels().at("night"), "1");
  EXPECT_EQ(spec->submitter(), "alice");
}

TEST(BuildRunSpecTest, NoCacheSwitch) {
  auto cached = Build({"--model=m", "--suite=smoke"});
  ASSERT_TRUE(cached.ok()) << cached.status();
  EXPECT_FALSE(cached->no_cache());
  auto bypass = Build({"--model=m", "--suite=smoke", "--no-cache"});
  ASSERT_TRUE(bypass.ok()) << bypass.status();
  EXPECT_TRUE(bypass->no_cache());
}

TEST(BuildRunSpecTest, ModelNameVersusPath) {
  auto by_name = Build({"--model=llama-7b", "--suite=s"});
  ASSERT_TRUE(by_name.ok());
  EXPECT_EQ(by_name->model().name(), "llama-7b");
  EXPECT_EQ(by_name->model().path(), "");
  EXPECT_EQ(by_name->priority(), pb::PRIORITY_INTERACTIVE);

  auto renamed = Build({"--model=/w/qwen2/", "--model-name=qwen2-0.5b", "--suite=s"});
  ASSERT_TRUE(renamed.ok());
  EXPECT_EQ(renamed->model().name(), "qwen2-0.5b");
  EXPECT_EQ(renamed->model().path(), "/w/qwen2/");

  auto dir = Build({"--model=/w/qwen2/", "--suite=s"});
  ASSERT_TRUE(dir.ok());
  EXPECT_EQ(dir->model().name(), "qwen2");

  auto alias = Build({"--model=llama", "--model-name=Llama 7B", "--suite=s"});
  ASSERT_TRUE(alias.ok());
  EXPECT_EQ(alias->model().name(), "Llama 7B");
  EXPECT_EQ(alias->model().path(), "llama");
}

TEST(BuildRunSpecTest, RejectsBadArguments) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const Case cases[] = {
      {{"--suite=s"}, "--model is required"},
      {{"--model=m"}, "one of --suite or --dataset is required"},
      {{"--model=m", "--suite="}, "--suite: must not be empty"},
      {{"--model=m", "--suite=s", "--priority=urgent"},
       "--priority: unknown priority \"urgent\" (expected interactive, sweep or backfill)"},
      {{"--model=m", "--suite=s", "--limit=-1"}, "--limit: expected an integer >= 1, got \"-1\""},
      {{"--model=m", "--suite=s", "--seed=-1"},
       "--seed: expected a non-negative integer, got \"-1\""},
      {{"--model=m", "--suite=s", "--tp=0"}, "--tp: expected an integer in [1, 1024], got \"0\""},
      {{"--model=m", "--suite=s", "--backend=rocm"},
       "--backend: unknown backend \"rocm\" (expected cpu or cuda)"},
      {{"--model=m", "--suite=s", "--label=a=1", "--label=a=2"},
       "--label: key \"a\" given more than once"},
      {{"--model=/", "--suite=s"}, "--model /: cannot derive a name; pass --model-name"},
  };
  for (const Case& c : cases) {
    auto spec = Build(c.args);
    ASSERT_FALSE(spec.ok()) << c.message;
    EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(spec.status().message(), c.message);
  }
}

}  // namespace
}  // namespace proctor::cli
