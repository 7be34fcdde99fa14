#include "eval/prompt.h"

#include "eval/catalog.h"
#include "eval/eval_internal.pb.h"
#include "eval/fixed_prompts.h"
#include "eval/registry.h"
#include "eval/test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace proctor::eval {
namespace {

using ::testing::ElementsAre;
using ::testing::EndsWith;
using ::testing::StartsWith;

TEST(RenderTemplateTest, SubstitutesAndKeepsNonPlaceholders) {
  std::map<std::string, std::string> vars = {{"q", "What {is} x?"}, {"a", "1"}};
  absl::StatusOr<std::string> r = RenderTemplate("Q: {q}\nA: {a} {not a var} {}{|}", vars);
  ASSERT_TRUE(r.ok());
  // Values are not re-expanded; braces that are not placeholders stay.
  EXPECT_EQ(*r, "Q: What {is} x?\nA: 1 {not a var} {}");
  EXPECT_EQ(RenderTemplate("{missing}", vars).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RenderOptionTest, TrailingWhitespaceMovesToContinuation) {
  absl::StatusOr<ContextContinuation> cc =
      RenderOption("Question: {q}\nAnswer: \n{choice}", {{"q", "Why?"}}, "Because");
  ASSERT_TRUE(cc.ok());
  EXPECT_EQ(cc->context, "Question: Why?\nAnswer:");
  EXPECT_EQ(cc->continuation, " \nBecause");
  // Context + continuation is exactly the rendered full prompt.
  EXPECT_EQ(cc->context + cc->continuation, "Question: Why?\nAnswer: \nBecause");
}

TEST(RenderOptionTest, SplitMarkerScoresTheRestOfTheSentence) {
  absl::StatusOr<ContextContinuation> cc = RenderOption(
      "{before}{choice}{|}{after}", {{"before", "The cup "}, {"after", " broke."}}, "it");
  ASSERT_TRUE(cc.ok());
  EXPECT_EQ(cc->context, "The cup it");
  EXPECT_EQ(cc->continuation, " broke.");
}

TEST(RenderOptionTest, NoSplitPointIsAnError) {
  EXPECT_FALSE(RenderOption("no choice here", {}, "x").ok());
}

TEST(ShotOrderTest, PoliciesAreDeterministic) {
  SetDef d;
  d.name = "x";
  d.fewshot = "first_n";
  EXPECT_THAT(ShotOrder(d, 10, 3, 7), ElementsAre(0, 1, 2));
  EXPECT_THAT(ShotOrder(d, 2, 3, 7), ElementsAre(0, 1));
  d.fewshot = "fixed_rows";
  d.fewshot_rows = {1, 2, 3};
  EXPECT_THAT(ShotOrder(d, 10, 2, 7), ElementsAre(1, 2));
  d.fewshot = "seeded_draw";
  std::vector<int64_t> a = ShotOrder(d, 100, 4, 7);
  EXPECT_EQ(a.size(), 5u);  // one spare for self-exclusion
  EXPECT_EQ(a, ShotOrder(d, 100, 4, 7));
  EXPECT_NE(a, ShotOrder(d, 100, 4, 8));
  std::set<int64_t> distinct(a.begin(), a.end());
  EXPECT_EQ(distinct.size(), a.size());
}

TEST(BuildSampleTest, SharedContextGivesOneRequestOtherwiseOnePerOption) {
  SetDef d;
  d.name = "t";
  d.request = "loglikelihood";
  d.prompt_template = "Q: {q}\nA: {choice}";
  Doc doc;
  doc.vars = {{"q", "x"}};
  doc.choices = {"yes", "no"};
  doc.gold = 1;
  absl::StatusOr<PlannedSample> s = BuildSample(d, doc, 0, "PREFIX\n");
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->requests.size(), 2u);
  EXPECT_EQ(s->requests[0].loglikelihood().context(), "Q: x\nA:");
  EXPECT_THAT(s->requests[0].loglikelihood().continuations(), ElementsAre(" yes", " no"));
  // The context request: the shared context scored as a continuation.
  EXPECT_EQ(s->requests[1].loglikelihood().context(), "");
  EXPECT_THAT(s->requests[1].loglikelihood().continuations(), ElementsAre("Q: x\nA:"));
  EXPECT_EQ(s->prefix, "PREFIX\n");
  internal::SampleTarget t;
  ASSERT_TRUE(t.ParseFromString(s->target));
  EXPECT_EQ(t.gold(), 1);
  EXPECT_THAT(t.option_chars(), ElementsAre(4, 3));  // characters, leading space included
  EXPECT_THAT(t.request_continuations(), ElementsAre(2, 1));

  d.prompt_template = "{before}{choice}{|}{after}";
  doc.vars = {{"before", "A "}, {"after", " b."}};
  s = BuildSample(d, doc, 0, "");
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->requests.size(), 3u);
  EXPECT_EQ(s->requests[0].loglikelihood().context(), "A yes");
  EXPECT_EQ(s->requests[1].loglikelihood().context(), "A no");
  EXPECT_THAT(s->requests[1].loglikelihood().continuations(), ElementsAre(" b."));
  EXPECT_EQ(s->requests[2].loglikelihood().context(), "");
  EXPECT_THAT(s->requests[2].loglikelihood().continuations(), ElementsAre("A yes", "A no"));
  ASSERT_TRUE(t.ParseFromString(s->target));
  EXPECT_THAT(t.request_continuations(), ElementsAre(1, 1, 2));
}

TEST(BuildSampleTest, OptionLengthCountsCharactersNotBytes) {
  SetDef d;
  d.name = "t";
  d.request = "loglikelihood";
  d.prompt_template = "{choice}";
  Doc doc;
  doc.choices = {"错", "ab"};
  doc.gold = 0;
  absl::StatusOr<PlannedSample> s = BuildSample(d, doc, 0, "");
  ASSERT_TRUE(s.ok());
  internal::SampleTarget t;
  ASSERT_TRUE(t.ParseFromString(s->target));
  EXPECT_THAT(t.option_chars(), ElementsAre(1, 2));
  // An empty context has nothing to score: no context request.
  EXPECT_EQ(s->requests.size(), 1u);
  EXPECT_THAT(t.request_continuations(), ElementsAre(2));
}

// Golden prompts on the real files: the exact text of chosen samples.
class GoldenPromptTest : public ::testing::Test {
 protected:
  PlannedSample First(const std::string& data, const std::string& set, int64_t n = 1) {
    auto catalog = Catalog::Create(data);
    EXPECT_TRUE(catalog.ok());
    v1::RunSpec spec;
    spec.add_datasets()->set_name(set);
    spec.set_limit(n);
    absl::StatusOr<RunPlan> plan = (*catalog)->Plan(spec);
    EXPECT_TRUE(plan.ok()) << plan.status();
    return plan->samples.back();
  }
};

TEST_F(GoldenPromptTest, ArcEasy) {
  PROCTOR_REQUIRE_SHARED_DATA(data);
  PlannedSample s = First(data, "arc_e");
  EXPECT_EQ(s.prefix, "");
  const auto& ll = s.requests[0].loglikelihood();
  EXPECT_EQ(ll.context(), "Question: Which technology was developed most recently?\nAnswer:");
  EXPECT_THAT(ll.continuations(), ElementsAre(" \ncellular telephone", " \ntelevision",
                                              " \nrefrigerator", " \nairplane"));
}

TEST_F(GoldenPromptTest, Piqa) {
  PROCTOR_REQUIRE_SHARED_DATA(data);
  PlannedSample s = First(data, "piqa", 2);
  const auto& ll = s.requests[0].loglikelihood();
  EXPECT_EQ(ll.context(), "The following makes sense: \nQ: dresser\nA:");
  EXPECT_THAT(ll.continuations(), ElementsAre(" replace drawer with bobby pin \n",
                                              " finish, woodgrain with  bobby pin \n"));
  internal::SampleTarget t;
  ASSERT_TRUE(t.ParseFromString(s.target));
  EXPECT_EQ(t.gold(), 1);  // dev-labels.lst line 2
}

TEST_F(GoldenPromptTest, SiqaAsOpenCompassAndLabelsOneBased) {
  PROCTOR_REQUIRE_SHARED_DATA(data);
  PlannedSample s = First(data, "siqa", 2);
  ASSERT_EQ(s.requests.size(), 2u);
  const auto& ll = s.requests[0].loglikelihood();
  EXPECT_EQ(ll.context(),
            "Sydney walked past a homeless woman asking for change but did not have any money "
            "they could give to her. Sydney felt bad afterwards.\nQuestion: How would you "
            "describe Sydney?\nAnswer:");
  EXPECT_THAT(
      ll.continuations(),
      ElementsAre("\nsympathetic", "\nlike a person who was unable to help", "\nincredulous"));
  EXPECT_THAT(s.requests[1].loglikelihood().continuations(), ElementsAre(ll.context()));
  internal::SampleTarget t;
  ASSERT_TRUE(t.ParseFromString(s.target));
  EXPECT_EQ(t.gold(), 0);  // dev-labels.lst line 2 is "1": answerA
  s = First(data, "siqa", 1);
  ASSERT_TRUE(t.ParseFromString(s.target));
  EXPECT_EQ(t.gold(), 2);  // line 1 is "3": answerC, "Find somewhere to go"
}

TEST_F(GoldenPromptTest, BoolQ) {
  PROCTOR_REQUIRE_SHARED_DATA(data);
  PlannedSample s = First(data, "boolq");
  const auto& ll = s.requests[0].loglikelihood();
  EXPECT_THAT(ll.context(), StartsWith("Ethanol fuel -- All biomass goes through"));
  EXPECT_THAT(ll.context(),
              EndsWith("\nQuestion: does ethanol take more energy make that produces?"));
  EXPECT_THAT(ll.continuations(), ElementsAre("\nYes", "\nNo"));
  internal::SampleTarget t;
  ASSERT_TRUE(t.ParseFromString(s.target));
  EXPECT_EQ(t.gold(), 1);  // label false → "No"
}

TEST_F(GoldenPromptTest, Gsm8k) {
  PROCTOR_REQUIRE_SHARED_DATA(data);
  PlannedSample s = First(data, "gsm8k");
  EXPECT_EQ(s.prefix, kGsm8kFewShot);
  EXPECT_THAT(s.prefix, StartsWith("Question: Angelo and Melanie want to plan"));
  EXPECT_THAT(s.prefix, EndsWith("The answer is 146\n\n"));
  const v1::GenerateRequest& g = s.requests[0].generate();
  EXPECT_EQ(g.context(),
            "Question: Janet\u2019s ducks lay 16 eggs per day. She eats three for breakfast every "
            "morning and bakes muffins for her friends every day with four. She sells the "
            "remainder at the farmers' market daily for $2 per fresh duck egg. How much in "
            "dollars does she make every day at the farmers' market?\nLet's think step by "
            "step\nAnswer:");
  EXPECT_EQ(g.max_new_tokens(), 512);
  EXPECT_EQ(s.max_new_tokens, 512);
}

TEST_F(GoldenPromptTest, HumanEvalPromptIsTheInstructionAndTheTaskPrompt) {
  PROCTOR_REQUIRE_SHARED_DATA(data);
  PlannedSample s = First(data, "humaneval");
  const v1::GenerateRequest& g = s.requests[0].generate();
  // OpenCompass humaneval_gen_8e312c: "Complete the following python code:\n{prompt}".
  EXPECT_THAT(g.context(), StartsWith("Complete the following python code:\nfrom typing import "
                                      "List\n\n\ndef has_close_elements("));
  EXPECT_THAT(g.context(), EndsWith("    True\n    \"\"\"\n"));
  EXPECT_THAT(g.stop(), ElementsAre("\nclass", "\ndef", "\n#", "\nif", "\nprint"));
  internal::SampleTarget t;
  ASSERT_TRUE(t.ParseFromString(s.target));
  // The program is the task prompt + completion, without the instruction.
  EXPECT_EQ("Complete the following python code:\n" + t.program_prefix(), g.context());
  EXPECT_EQ(t.entry_point(), "has_close_elements");
  EXPECT_THAT(t.tests(), ::testing::HasSubstr("def check(candidate)"));
}

TEST_F(GoldenPromptTest, FloresEightShotsFromDev) {
  PROCTOR_REQUIRE_SHARED_DATA(data);
  PlannedSample s = First(data, "flores_eng-deu");
  size_t shots = 0;
  for (size_t p = s.prefix.find("deu_Latn: "); p != std::string::npos;
       p = s.prefix.find("deu_Latn: ", p + 1)) {
    ++shots;
  }
  EXPECT_EQ(shots, 8u);
  EXPECT_THAT(s.prefix, StartsWith("eng_Latn: "));
  const v1::GenerateRequest& g = s.requests[0].generate();
  EXPECT_THAT(g.context(), StartsWith("eng_Latn: "));
  EXPECT_THAT(g.context(), EndsWith("\ndeu_Latn:"));
  EXPECT_THAT(g.stop(), ElementsAre("\n"));
  internal::SampleTarget t;
  ASSERT_TRUE(t.ParseFromString(s.target));
  EXPECT_THAT(t.answers(0), StartsWith("\u201eWir haben jetzt 4 Monate alte M\u00e4use"));
}

TEST_F(GoldenPromptTest, MmluFiveShotFromDevInOrder) {
  PROCTOR_REQUIRE_SHARED_DATA(data);
  PlannedSample s = First(data, "mmlu_abstract_algebra");
  EXPECT_THAT(s.prefix,
              StartsWith("The following are multiple choice questions (with answers) about  "
                         "abstract algebra.\n\nFind all c in Z_3 such that Z_3[x]/(x^2 + c) is a "
                         "field.\nA. 0\nB. 1\nC. 2\nD. 3\nAnswer: B\n\nStatement 1 | If aH is an "
                         "element of a factor group, then |aH| divides |a|."));
  // Five solved examples, each ending with its answer letter.
  size_t shots = 0;
  for (size_t p = s.prefix.find("\nAnswer: "); p != std::string::npos;
       p = s.prefix.find("\nAnswer: ", p + 1)) {
    ++shots;
  }
  EXPECT_EQ(shots, 5u);
  const auto& ll = s.requests[0].loglikelihood();
  EXPECT_EQ(ll.context(),
            "Find the degree for the given field extension Q(sqrt(2), sqrt(3), sqrt(18)) over "
            "Q.\nA. 0\nB. 4\nC. 2\nD. 6\nAnswer:");
  EXPECT_THAT(ll.continuations(), ElementsAre(" A", " B", " C", " D"));
}

}  // namespace
}  // namespace proctor::eval
