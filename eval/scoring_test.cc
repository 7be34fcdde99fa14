#include "eval/scoring.h"

#include "eval/aggregate.h"
#include "eval/judge.h"
#include "eval/registry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace proctor::eval {
namespace {

using ::testing::HasSubstr;

TEST(ArgmaxOptionTest, TiesGoToLowestIndex) {
  EXPECT_EQ(ArgmaxOption(std::vector<double>{-2, -1, -1}, std::vector<int32_t>{1, 1, 1}, false), 1);
  EXPECT_EQ(ArgmaxOption(std::vector<double>{-3, -3}, std::vector<int32_t>{3, 3}, true), 0);
  EXPECT_EQ(ArgmaxOption(std::vector<double>{}, std::vector<int32_t>{}, false), -1);
}

TEST(ArgmaxOptionTest, NormalisesByCharacters) {
  // Raw: option 0 wins (-4 > -6); per character: -4/2 = -2 < -6/6 = -1.
  std::vector<double> lp = {-4, -6};
  std::vector<int32_t> chars = {2, 6};
  EXPECT_EQ(ArgmaxOption(lp, chars, false), 0);
  EXPECT_EQ(ArgmaxOption(lp, chars, true), 1);
  // Zero-length options count as one character (no division by zero).
  EXPECT_EQ(ArgmaxOption(std::vector<double>{-1, -3}, std::vector<int32_t>{0, 1}, true), 0);
}

internal::SampleTarget ChoiceTarget(int gold, std::vector<int32_t> chars) {
  internal::SampleTarget t;
  t.set_gold(gold);
  for (int32_t c : chars) t.add_option_chars(c);
  t.add_request_continuations(static_cast<int32_t>(chars.size()));
  return t;
}

v1::Output LL(std::vector<double> lps) {
  v1::Output o;
  for (double lp : lps) o.mutable_loglikelihood()->add_continuations()->set_logprob(lp);
  return o;
}

double Metric(const internal::SampleScore& s, const std::string& name) {
  for (const auto& m : s.metrics()) {
    if (m.name() == name) return m.value();
  }
  ADD_FAILURE() << "no metric " << name;
  return -1;
}

TEST(ScoreOutputsTest, AccAndAccNorm) {
  const SetDef& arc = *FindSet("arc_e");
  absl::StatusOr<internal::SampleScore> s =
      ScoreOutputs(arc, ChoiceTarget(1, {2, 6}), {LL({-4, -6})});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(Metric(*s, "acc"), 0);
  EXPECT_EQ(Metric(*s, "acc_norm"), 100);
  // Outputs that do not match the plan.
  EXPECT_FALSE(ScoreOutputs(arc, ChoiceTarget(1, {2, 6}), {LL({-4})}).ok());
  EXPECT_FALSE(ScoreOutputs(arc, ChoiceTarget(1, {2, 6}), {LL({-4, -5}), LL({-1})}).ok());
  EXPECT_FALSE(ScoreOutputs(arc, ChoiceTarget(5, {2, 6}), {LL({-4, -5})}).ok());
  EXPECT_FALSE(ScoreOutputs(arc, ChoiceTarget(0, {2, 6}),
                            {LL({-4, std::numeric_limits<double>::quiet_NaN()})})
                   .ok());
}

TEST(ScoreOutputsTest, OneRequestPerOption) {
  const SetDef& wg = *FindSet("winogrande");
  internal::SampleTarget t;
  t.set_gold(1);
  t.add_option_chars(5);
  t.add_option_chars(5);
  t.add_request_continuations(1);
  t.add_request_continuations(1);
  absl::StatusOr<internal::SampleScore> s = ScoreOutputs(wg, t, {LL({-3}), LL({-2})});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(Metric(*s, "acc"), 100);
}

v1::Output LLT(std::vector<std::pair<double, int32_t>> scores) {
  v1::Output o;
  for (const auto& [lp, n] : scores) {
    v1::ContinuationScore* c = o.mutable_loglikelihood()->add_continuations();
    c->set_logprob(lp);
    c->set_num_tokens(n);
  }
  return o;
}

TEST(ArgmaxMeanLoglikelihoodTest, RanksByMeanPerToken) {
  // -6/2 = -3 beats -4/1 = -4; zero tokens count as one; ties go low.
  EXPECT_EQ(ArgmaxMeanLoglikelihood(std::vector<double>{-4, -6}, std::vector<int32_t>{1, 2}), 1);
  EXPECT_EQ(ArgmaxMeanLoglikelihood(std::vector<double>{-2, -1}, std::vector<int32_t>{0, 0}), 1);
  EXPECT_EQ(ArgmaxMeanLoglikelihood(std::vector<double>{-2, -2}, std::vector<int32_t>{2, 2}), 0);
  EXPECT_EQ(ArgmaxMeanLoglikelihood(std::vector<double>{}, std::vector<int32_t>{}), -1);
}

TEST(ScoreOutputsTest, SharedContextScoreGivesOpenCompassPplRule) {
  const SetDef& siqa = *FindSet("siqa");
  internal::SampleTarget t;
  t.set_gold(0);
  for (int32_t c : {3, 30, 12}) t.add_option_chars(c);
  t.add_request_continuations(3);
  t.add_request_continuations(1);  // the context request
  // Context: -40 over 10 tokens. Options: -3/1 (short), -20/10 (long), -9/3.
  // Whole text means: -43/11 = -3.91, -60/20 = -3.0, -49/13 = -3.77 → option 1;
  // summed option log-likelihood → option 0; per character: -1, -0.67, -0.75 → 1.
  absl::StatusOr<internal::SampleScore> s =
      ScoreOutputs(siqa, t, {LLT({{-3, 1}, {-20, 10}, {-9, 3}}), LLT({{-40, 10}})});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->prediction(), "1");
  EXPECT_EQ(Metric(*s, "acc"), 0);
  EXPECT_EQ(Metric(*s, "acc_ll"), 100);
  EXPECT_EQ(Metric(*s, "acc_norm"), 0);
  // Without the context score the same outputs rank by the option tokens:
  // -3, -2, -3 → option 1 as well, but now a long context changes nothing.
  t.clear_request_continuations();
  t.add_request_continuations(3);
  s = ScoreOutputs(siqa, t, {LLT({{-3, 1}, {-20, 10}, {-9, 3}})});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->prediction(), "1");
}

TEST(ScoreOutputsTest, PerOptionContextScores) {
  const SetDef& wg = *FindSet("winogrande");
  internal::SampleTarget t;
  t.set_gold(0);
  t.add_option_chars(4);
  t.add_option_chars(4);
  t.add_request_continuations(1);
  t.add_request_continuations(1);
  t.add_request_continuations(2);
  // Whole texts: (-2 + -10)/(1 + 5) = -2 vs (-1 + -20)/(1 + 5) = -3.5 → option 0,
  // although option 1's own continuation is likelier.
  absl::StatusOr<internal::SampleScore> s =
      ScoreOutputs(wg, t, {LLT({{-2, 1}}), LLT({{-1, 1}}), LLT({{-10, 5}, {-20, 5}})});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(Metric(*s, "acc"), 100);
  EXPECT_EQ(Metric(*s, "acc_ll"), 0);
}

TEST(ScoreOutputsTest, MalformedContextScoresAreRejected) {
  const SetDef& siqa = *FindSet("siqa");
  internal::SampleTarget t;
  t.set_gold(0);
  for (int32_t c : {3, 3, 3}) t.add_option_chars(c);
  t.add_request_continuations(3);
  t.add_request_continuations(2);  // neither 0, 1 nor 3 context scores
  absl::StatusOr<internal::SampleScore> s =
      ScoreOutputs(siqa, t, {LLT({{-1, 1}, {-2, 1}, {-3, 1}}), LLT({{-1, 1}, {-1, 1}})});
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.status().message(), HasSubstr("do not fit 3 options"));
  t.set_request_continuations(1, 1);
  s = ScoreOutputs(siqa, t, {LLT({{-1, 1}, {-2, 1}, {-3, 1}}), LLT({{-1, -4}})});
  EXPECT_THAT(s.status().message(), HasSubstr("negative token count"));
  // A target without options cannot be scored.
  internal::SampleTarget empty;
  empty.add_request_continuations(1);
  EXPECT_FALSE(ScoreOutputs(siqa, empty, {LLT({{-1, 1}})}).ok());
}

TEST(PostProcessTest, CmrcTakesTheTextAfterTheFirstMarker) {
  SetDef d;
  d.postprocessor = "cmrc";
  // As Python's text.split("答案是")[1]: up to a second marker.
  EXPECT_EQ(PostProcess(d, "好的，答案是北京。答案是上海"), "北京。");
  EXPECT_EQ(PostProcess(d, "北京"), "北京");
  EXPECT_EQ(PostProcess(d, "答案是"), "");
}

v1::Output Gen(const std::string& text) {
  v1::Output o;
  o.mutable_generate()->set_text(text);
  return o;
}

TEST(ScoreOutputsTest, Gsm8kBothModes) {
  internal::SampleTarget t;
  t.add_answers("She makes 9 * 2 = $18.\n#### -1,018");
  absl::StatusOr<internal::SampleScore> cur =
      ScoreOutputs(*FindSet("gsm8k"), t, {Gen("So she loses 1,018 twice: -1,018.\n")});
  ASSERT_TRUE(cur.ok());
  EXPECT_EQ(Metric(*cur, "acc"), 100);
  EXPECT_EQ(cur->prediction(), "-1018.");
  absl::StatusOr<internal::SampleScore> legacy =
      ScoreOutputs(*FindSet("gsm8k_legacy2023"), t, {Gen("So she loses 1,018 twice: -1,018.\n")});
  ASSERT_TRUE(legacy.ok());
  EXPECT_EQ(legacy->prediction(), "1018");
  EXPECT_EQ(Metric(*legacy, "acc"), 0);  // the 2023 rule loses the sign
  internal::SampleTarget bad;
  bad.add_answers("no marker");
  EXPECT_FALSE(ScoreOutputs(*FindSet("gsm8k"), bad, {Gen("1")}).ok());
  EXPECT_FALSE(ScoreOutputs(*FindSet("gsm8k"), t, {LL({-1})}).ok());
}

TEST(ScoreOutputsTest, ExactMatchBleuRougeAndCode) {
  internal::SampleTarget qa;
  qa.add_answers("William Shakespeare");
  absl::StatusOr<internal::SampleScore> em =
      ScoreOutputs(*FindSet("nq"), qa, {Gen(" The answer is william shakespeare.\nQ: next")});
  ASSERT_TRUE(em.ok());
  EXPECT_EQ(Metric(*em, "em"), 100);

  internal::SampleTarget ref;
  ref.add_answers("The cat sat on the mat.");
  absl::StatusOr<internal::SampleScore> b =
      ScoreOutputs(*FindSet("flores_eng-deu"), ref, {Gen("The cat sat on the mat.\nextra")});
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->bleu_hyp_len(), 7);
  EXPECT_EQ(b->bleu_correct(3), 4);

  absl::StatusOr<internal::SampleScore> r =
      ScoreOutputs(*FindSet("xsum"), ref, {Gen("the cat sat")});
  ASSERT_TRUE(r.ok());
  EXPECT_NEAR(Metric(*r, "rouge1"), 100 * 2 * (1.0 * 0.5) / 1.5, 1e-9);

  internal::SampleTarget code;
  code.set_program_prefix("def f():\n");
  code.set_tests("assert f() == 1");
  absl::StatusOr<internal::SampleScore> c =
      ScoreOutputs(*FindSet("humaneval"), code, {Gen("    return 1\n")});
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->needs_judge());
  EXPECT_EQ(c->program(), "def f():\n    return 1\n");
  internal::SampleTarget mbpp;
  mbpp.set_tests("assert g() == 2");
  c = ScoreOutputs(*FindSet("mbpp"), mbpp, {Gen("[BEGIN]\n 'def g(): return 2' \n[DONE]")});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->program(), "def g(): return 2");
}

TEST(JudgeTest, VerdictMakesACodeSampleCount) {
  internal::SampleTarget code;
  code.set_program_prefix("def f():\n");
  code.set_tests("assert f() == 1");
  absl::StatusOr<internal::SampleScore> c =
      ScoreOutputs(*FindSet("humaneval"), code, {Gen("    return 1\n")});
  ASSERT_TRUE(c.ok());
  std::string pending = c->SerializeAsString();
  absl::StatusOr<JudgeTask> task = JudgeTaskOf(pending);
  ASSERT_TRUE(task.ok());
  EXPECT_EQ(task->tests, "assert f() == 1");
  std::vector<std::string> scores = {pending};
  PlannedSetScores p{FindSet("humaneval"), 1, &scores};
  EXPECT_EQ(AggregateSet(p)->num_samples(), 0);  // not yet judged
  absl::StatusOr<std::string> judged = ApplyJudgeVerdict(pending, true);
  ASSERT_TRUE(judged.ok());
  scores = {*judged};
  absl::StatusOr<v1::SetResult> r = AggregateSet(p);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->complete());
  EXPECT_EQ(r->primary_metric(), "pass@1");
  EXPECT_EQ(r->metrics(0).value(), 100);
  EXPECT_EQ(ApplyJudgeVerdict(*judged, false).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(JudgeTaskOf("\xff").status().code(), absl::StatusCode::kInvalidArgument);
}

// --- aggregation -------------------------------------------------------------

std::string AccScore(double acc) {
  internal::SampleScore s;
  auto* m = s.add_metrics();
  m->set_name("acc");
  m->set_value(acc);
  return s.SerializeAsString();
}

TEST(AggregateTest, SetMeanAndStderrInPercent) {
  std::vector<std::string> scores = {AccScore(100), AccScore(0), AccScore(100), AccScore(100)};
  PlannedSetScores p{FindSet("arc_e"), 4, &scores};
  absl::StatusOr<v1::SetResult> r = AggregateSet(p);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->complete());
  EXPECT_EQ(r->primary_metric(), "acc");
  EXPECT_DOUBLE_EQ(r->metrics(0).value(), 75);
  EXPECT_DOUBLE_EQ(r->metrics(0).stderr(), 25);  // see stats_test
  EXPECT_EQ(r->prompt_hash(), PromptHash(*FindSet("arc_e")));
  PlannedSetScores short_set{FindSet("arc_e"), 5, &scores};
  EXPECT_FALSE(AggregateSet(short_set)->complete());
  std::vector<std::string> garbage = {"\xff\xff"};
  PlannedSetScores bad{FindSet("arc_e"), 1, &garbage};
  EXPECT_THAT(std::string(AggregateSet(bad).status().message()), HasSubstr("sample score 0"));
}

TEST(AggregateTest, BleuIsCorpusLevelWithBootstrapStderr) {
  const SetDef& fl = *FindSet("flores_eng-deu");
  std::vector<std::string> hyps = {"The cat sat on the mat.", "It is 3.5 km-long, isn't it?",
                                   "Hello, world! &quot;quoted&quot; text",
                                   "A 1,000-person crowd gathered at 9-10 a.m."};
  std::vector<std::string> refs = {"The cat is sitting on the mat.", "It's 3.5 km long, isn't it?",
                                   "Hello world! \"quoted\" text.",
                                   "A crowd of 1,000 people gathered at 9-10 a.m."};
  std::vector<std::string> scores;
  for (size_t i = 0; i < hyps.size(); ++i) {
    internal::SampleTarget t;
    t.add_answers(refs[i]);
    absl::StatusOr<internal::SampleScore> s = ScoreOutputs(fl, t, {Gen(hyps[i])});
    ASSERT_TRUE(s.ok());
    scores.push_back(s->SerializeAsString());
  }
  PlannedSetScores p{&fl, 4, &scores};
  absl::StatusOr<v1::SetResult> r = AggregateSet(p);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->primary_metric(), "bleu");
  EXPECT_NEAR(r->metrics(0).value(), 56.28694688634966, 1e-9);  // sacreBLEU, see bleu_test
  EXPECT_TRUE(r->metrics(0).has_stderr());
  EXPECT_GT(r->metrics(0).stderr(), 0);
}

TEST(AggregateTest, IncompleteGroupsNameTheirMissingMembers) {
  std::vector<std::string> full = {AccScore(100), AccScore(0)};
  std::vector<PlannedSetScores> sets;
  // Every MMLU subject but one, complete; one planned but unscored.
  std::vector<const SetDef*> mmlu = GroupMembers("mmlu");
  for (size_t i = 0; i + 1 < mmlu.size(); ++i) sets.push_back({mmlu[i], 2, &full});
  sets.push_back({mmlu.back(), 2, nullptr});
  absl::StatusOr<v1::Results> r = AggregateAll(sets);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_GE(r->groups_size(), 1);
  const v1::GroupResult& g = r->groups(0);
  EXPECT_EQ(g.name(), "mmlu");
  EXPECT_FALSE(g.complete());
  EXPECT_THAT(g.missing(), ::testing::ElementsAre(mmlu.back()->name));
  EXPECT_EQ(g.members_size(), 57);
  EXPECT_DOUBLE_EQ(g.score(), 50);  // over the complete members, for information
  // Exam misses C-Eval, AGIEval, ...; so Overall is incomplete.
  EXPECT_FALSE(r->overall().complete());
  EXPECT_EQ(r->overall().members_size(), 5);
}

TEST(AggregateTest, CompleteGroupAndDimensionMean) {
  std::vector<std::string> a = {AccScore(100), AccScore(100)};
  std::vector<std::string> b = {AccScore(0), AccScore(100)};
  std::vector<PlannedSetScores> sets;
  for (const SetDef* d : GroupMembers("mmlu")) sets.push_back({d, 2, d->name < "m" ? &a : &b});
  absl::StatusOr<v1::Results> r = AggregateAll(sets);
  ASSERT_TRUE(r.ok());
  const v1::GroupResult& g = r->groups(0);
  EXPECT_TRUE(g.complete());
  EXPECT_TRUE(g.missing().empty());
  int high = 0;
  for (const SetDef* d : GroupMembers("mmlu")) high += d->name < "m";
  EXPECT_NEAR(g.score(), (100.0 * high + 50.0 * (57 - high)) / 57, 1e-9);
  EXPECT_EQ(r->groups(1).name(), "mmlu_weighted");
  EXPECT_NEAR(r->groups(1).score(), g.score(), 1e-9);  // equal sizes
}

}  // namespace
}  // namespace proctor::eval
