#include "eval/compare.h"

#include <cmath>
#include <string>
#include <vector>

#include "eval/compare_samples.h"
#include "eval/eval_internal.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace proctor::eval {
namespace {

using ::testing::HasSubstr;

// Reference p-values: scipy 1.17.1,
//   scipy.stats.binomtest(min(b, c), b + c, 0.5, alternative='two-sided').pvalue
TEST(McNemarExactTest, MatchesScipyBinomtest) {
  struct Case {
    int64_t a_only, b_only;
    double p;
  };
  const Case cases[] = {
      {0, 0, 1.0},
      {1, 0, 1.0},
      {5, 5, 1.0},
      {3, 12, 0.03515625},
      {12, 3, 0.03515625},
      {10, 25, 0.016673847800120715},
      {0, 7, 0.015625},
      {40, 60, 0.05688793364098089},
      {500, 560, 0.06990955946026937},
  };
  for (const Case& c : cases) {
    EXPECT_NEAR(McNemarExactPValue(c.a_only, c.b_only), c.p, 1e-9 * c.p + 1e-12)
        << c.a_only << " vs " << c.b_only;
  }
}

TEST(McNemarExactTest, HandComputed) {
  // 0 vs 3 discordant: P(X<=0) = 1/8, two-sided 1/4.
  EXPECT_DOUBLE_EQ(McNemarExactPValue(0, 3), 0.25);
  // Huge counts stay finite and tiny.
  double p = McNemarExactPValue(100000, 101000);
  EXPECT_GT(p, 0);
  EXPECT_LT(p, 0.05);
}

TEST(SplitMix64Test, KnownSequence) {
  // Vigna's splitmix64 with state 1 (also /tmp reference script).
  SplitMix64 r(1);
  EXPECT_EQ(r.Next(), 10451216379200822465ULL);
  EXPECT_EQ(r.Next(), 13757245211066428519ULL);
  EXPECT_EQ(r.Next(), 17911839290282890590ULL);
  SplitMix64 s(3);
  for (int i = 0; i < 1000; ++i) EXPECT_LT(s.Below(7), 7u);
  EXPECT_EQ(s.Below(1), 0u);
}

// Reference values from an independent Python implementation of the same
// resampling (SplitMix64, one Below(n) per index) with numpy.std(ddof=1);
// the script is reproduced in docs/compare.md.
TEST(PairedBootstrapTest, MeanMatchesReference) {
  std::vector<double> a = {10, 20, 35, 50, 0, 80, 65, 40, 55, 30};
  std::vector<double> b = {12, 25, 30, 60, 10, 85, 70, 45, 50, 42};
  absl::StatusOr<PairedBootstrapResult> r = PairedBootstrap(CorpusKind::kMean, a, b, 200, 7);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_NEAR(r->delta, 4.4, 1e-12);
  EXPECT_NEAR(r->stderr_, 1.7175918048361198, 1e-9);
  EXPECT_NEAR(r->p_value, 0.024875621890547265, 1e-12);
  EXPECT_EQ(r->resamples, 200);
}

TEST(PairedBootstrapTest, PerplexityMatchesReference) {
  std::vector<double> a = {-20, 10, -35, 12, -12, 5, -50, 20, -8, 4};
  std::vector<double> b = {-18, 10, -30, 12, -13, 5, -44, 20, -7.5, 4};
  absl::StatusOr<PairedBootstrapResult> r =
      PairedBootstrap(CorpusKind::kCorpusWordPerplexity, a, b, 300, 11);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_NEAR(r->delta, -2.521455151606416, 1e-9);
  EXPECT_NEAR(r->stderr_, 0.9733454942078732, 1e-9);
  EXPECT_NEAR(r->p_value, 0.013289036544850499, 1e-12);
}

TEST(PairedBootstrapTest, IdenticalRunsAreNotSignificant) {
  std::vector<double> a = {1, 2, 3, 4, 5};
  absl::StatusOr<PairedBootstrapResult> r = PairedBootstrap(CorpusKind::kMean, a, a, 100, 1);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->delta, 0);
  EXPECT_EQ(r->p_value, 1.0);
}

TEST(PairedBootstrapTest, RejectsBadShapes) {
  std::vector<double> a = {1, 2, 3};
  std::vector<double> b = {1, 2};
  EXPECT_EQ(PairedBootstrap(CorpusKind::kMean, a, b, 10, 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PairedBootstrap(CorpusKind::kCorpusWordPerplexity, a, a, 10, 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PairedBootstrap(CorpusKind::kMean, {}, {}, 10, 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PairedBootstrap(CorpusKind::kMean, a, a, 0, 1).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CorpusMetricTest, BleuFromSummedStats) {
  // Two segments; summed: hyp 8, ref 8, correct {8,6,4,2}, total {8,6,4,2}
  // → all precisions 1, no brevity penalty → BLEU 100.
  std::vector<double> s = {4, 4, 4, 3, 2, 1, 4, 3, 2, 1, 4, 4, 4, 3, 2, 1, 4, 3, 2, 1};
  std::vector<int64_t> ones = {1, 1};
  EXPECT_NEAR(CorpusMetric(CorpusKind::kCorpusBleu, s, ones), 100.0, 1e-9);
  // Resampling the first segment twice gives the same statistics shape.
  std::vector<int64_t> first = {2, 0};
  EXPECT_NEAR(CorpusMetric(CorpusKind::kCorpusBleu, s, first), 100.0, 1e-9);
}

v1::SampleResultSet MeanSet(const std::string& name, const std::vector<double>& values,
                            const std::string& hash = "h1") {
  v1::SampleResultSet s;
  s.set_dataset(name);
  s.set_prompt_hash(hash);
  s.set_primary_metric("acc");
  s.set_higher_is_better(true);
  s.set_aggregation("mean");
  s.set_stats_width(1);
  s.set_num_samples_total(static_cast<int64_t>(values.size()));
  for (size_t i = 0; i < values.size(); ++i) {
    s.add_sample_indices(static_cast<int64_t>(i));
    s.add_values(values[i]);
    s.add_stats(values[i]);
  }
  return s;
}

v1::Results ResultsFor(const std::string& model, const std::vector<v1::SampleResultSet>& sets) {
  v1::Results r;
  r.set_model(model);
  v1::GroupResult* dim = r.add_dimensions();
  dim->set_name("Exam");
  dim->set_aggregation("mean");
  dim->set_complete(true);
  double sum = 0;
  for (const v1::SampleResultSet& s : sets) {
    v1::SetResult* sr = r.add_sets();
    sr->set_dataset(s.dataset());
    sr->set_dimension("Exam");
    sr->set_complete(true);
    double mean = 0;
    for (double v : s.values()) mean += v;
    mean /= s.values_size();
    sum += mean;
    dim->add_members(s.dataset());
  }
  dim->set_score(sum / static_cast<double>(sets.size()));
  dim->set_stderr(1.0);
  *r.mutable_overall() = *dim;
  r.mutable_overall()->set_name("Overall");
  r.mutable_overall()->clear_members();
  r.mutable_overall()->add_members("Exam");
  return r;
}

TEST(CompareRunsTest, McNemarWinTieAndPromptFlag) {
  // Set "x": B right on 12 samples A got wrong, A right on 3 B got wrong, 5
  // concordant: p = 0.03515625 (see above) → win at 0.05.
  std::vector<double> xa, xb;
  for (int i = 0; i < 12; ++i) xa.push_back(0), xb.push_back(100);
  for (int i = 0; i < 3; ++i) xa.push_back(100), xb.push_back(0);
  for (int i = 0; i < 5; ++i) xa.push_back(100), xb.push_back(100);
  // Set "y": identical → tie; prompt hash differs → flagged.
  std::vector<double> y = {100, 0, 100, 0};
  v1::SampleResults sa, sb;
  sa.set_run_id("A");
  sb.set_run_id("B");
  *sa.add_sets() = MeanSet("x", xa);
  *sa.add_sets() = MeanSet("y", y, "h1");
  *sb.add_sets() = MeanSet("x", xb);
  *sb.add_sets() = MeanSet("y", y, "h2");
  *sb.add_sets() = MeanSet("z", y);
  v1::Results ra = ResultsFor("ma", {sa.sets(0), sa.sets(1)});
  v1::Results rb = ResultsFor("mb", {sb.sets(0), sb.sets(1)});
  absl::StatusOr<v1::Comparison> c = CompareRuns(sa, ra, sb, rb, CompareOptions{});
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->sets_size(), 2);
  const v1::SetComparison& x = c->sets(0);
  EXPECT_EQ(x.test(), "mcnemar_exact");
  EXPECT_EQ(x.a_only(), 3);
  EXPECT_EQ(x.b_only(), 12);
  EXPECT_NEAR(x.p_value(), 0.03515625, 1e-12);
  EXPECT_NEAR(x.delta(), 45.0, 1e-12);  // 85% - 40%
  EXPECT_EQ(x.outcome(), "win");
  EXPECT_FALSE(x.prompt_differs());
  EXPECT_EQ(c->sets(1).outcome(), "tie");
  EXPECT_TRUE(c->sets(1).prompt_differs());
  EXPECT_EQ(c->wins(), 1);
  EXPECT_EQ(c->ties(), 1);
  EXPECT_EQ(c->losses(), 0);
  EXPECT_EQ(c->prompt_mismatches(), 1);
  ASSERT_EQ(c->only_in_b_size(), 1);
  EXPECT_EQ(c->only_in_b(0), "z");
  // Dimension: mean of the two paired set deltas; se = sqrt(se_x² + 0)/2.
  ASSERT_EQ(c->dimensions_size(), 1);
  EXPECT_TRUE(c->dimensions(0).paired());
  EXPECT_NEAR(c->dimensions(0).delta(), 22.5, 1e-9);
  EXPECT_NEAR(c->dimensions(0).delta_stderr(), x.delta_stderr() / 2, 1e-12);
  EXPECT_TRUE(c->overall().paired());
  EXPECT_NEAR(c->overall().delta(), 22.5, 1e-9);

  // At alpha = 0.01 the same difference is a tie; reversed, a loss at 0.05.
  CompareOptions strict;
  strict.alpha = 0.01;
  EXPECT_EQ(CompareRuns(sa, ra, sb, rb, strict)->sets(0).outcome(), "tie");
  absl::StatusOr<v1::Comparison> rev = CompareRuns(sb, rb, sa, ra, CompareOptions{});
  ASSERT_TRUE(rev.ok());
  EXPECT_EQ(rev->sets(0).outcome(), "loss");
  EXPECT_EQ(rev->losses(), 1);
}

TEST(CompareRunsTest, PairsBySampleIndexAndCountsUnpaired) {
  v1::SampleResults sa, sb;
  v1::SampleResultSet a = MeanSet("x", {100, 0, 100});
  v1::SampleResultSet b = MeanSet("x", {100, 100});
  b.set_sample_indices(0, 1);
  b.set_sample_indices(1, 5);  // index 5 has no partner in A
  *sa.add_sets() = a;
  *sb.add_sets() = b;
  absl::StatusOr<v1::Comparison> c =
      CompareRuns(sa, ResultsFor("a", {a}), sb, ResultsFor("b", {b}), CompareOptions{});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->sets(0).num_paired(), 1);    // index 1: A 0, B 100
  EXPECT_EQ(c->sets(0).num_unpaired(), 3);  // A's 0 and 2, B's 5
  EXPECT_NEAR(c->sets(0).delta(), 100, 1e-12);
  EXPECT_FALSE(c->dimensions(0).paired());  // falls back to unpaired stderr
  EXPECT_NEAR(c->dimensions(0).delta_stderr(), std::sqrt(2.0), 1e-12);

  // No common sample at all: not a tie, not counted.
  b.set_sample_indices(0, 6);
  b.set_sample_indices(1, 7);
  sb.clear_sets();
  *sb.add_sets() = b;
  c = CompareRuns(sa, ResultsFor("a", {a}), sb, ResultsFor("b", {b}), CompareOptions{});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->sets(0).num_paired(), 0);
  EXPECT_EQ(c->sets(0).test(), "none");
  EXPECT_EQ(c->sets(0).outcome(), "none");
  EXPECT_EQ(c->ties() + c->wins() + c->losses(), 0);
}

TEST(CompareRunsTest, ContinuousSetsUseBootstrapAndLowerIsBetter) {
  v1::SampleResultSet a = MeanSet("r", {10, 20, 35, 50, 0, 80, 65, 40, 55, 30});
  v1::SampleResultSet b = MeanSet("r", {12, 25, 30, 60, 10, 85, 70, 45, 50, 42});
  v1::SampleResults sa, sb;
  *sa.add_sets() = a;
  *sb.add_sets() = b;
  CompareOptions o;
  o.bootstrap_resamples = 200;
  o.bootstrap_seed = 7;
  absl::StatusOr<v1::Comparison> c =
      CompareRuns(sa, ResultsFor("a", {a}), sb, ResultsFor("b", {b}), o);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->sets(0).test(), "paired_bootstrap");
  EXPECT_NEAR(c->sets(0).p_value(), 0.024875621890547265, 1e-12);
  EXPECT_EQ(c->sets(0).outcome(), "win");
  // The same numbers where lower is better: B got worse.
  sa.mutable_sets(0)->set_higher_is_better(false);
  sb.mutable_sets(0)->set_higher_is_better(false);
  EXPECT_EQ(CompareRuns(sa, ResultsFor("a", {a}), sb, ResultsFor("b", {b}), o)->sets(0).outcome(),
            "loss");
}

TEST(CompareRunsTest, RejectsMalformedInput) {
  v1::SampleResults sa, sb;
  sa.set_run_id("run-a");
  *sa.add_sets() = MeanSet("x", {100, 0});
  *sb.add_sets() = MeanSet("x", {100, 0});
  v1::Results r = ResultsFor("m", {sa.sets(0)});
  sa.mutable_sets(0)->add_stats(1);  // 3 stats for 2 samples
  absl::StatusOr<v1::Comparison> c = CompareRuns(sa, r, sb, r, CompareOptions{});
  ASSERT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(c.status().message(), HasSubstr("run run-a set x"));
  sa.mutable_sets(0)->mutable_stats()->RemoveLast();
  sa.mutable_sets(0)->set_sample_indices(1, 0);  // not ascending
  EXPECT_THAT(CompareRuns(sa, r, sb, r, CompareOptions{}).status().message(),
              HasSubstr("ascending"));
  sa.mutable_sets(0)->set_sample_indices(1, 1);
  sa.mutable_sets(0)->set_aggregation("median");
  EXPECT_THAT(CompareRuns(sa, r, sb, r, CompareOptions{}).status().message(),
              HasSubstr("unknown aggregation"));
  sa.mutable_sets(0)->set_aggregation("mean");
  CompareOptions bad;
  bad.alpha = 1.5;
  EXPECT_EQ(CompareRuns(sa, r, sb, r, bad).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(DecodeSampleResultsTest, DecodesSortsAndSkipsUnjudged) {
  auto score = [](double acc) {
    internal::SampleScore s;
    internal::MetricValue* m = s.add_metrics();
    m->set_name("acc_norm");
    m->set_value(0);
    m = s.add_metrics();
    m->set_name("acc");
    m->set_value(acc);
    return s.SerializeAsString();
  };
  std::vector<IndexedScore> scores = {{2, score(100)}, {0, score(0)}, {1, score(100)}};
  absl::StatusOr<v1::SampleResultSet> s = DecodeSampleResults("arc_e", 5, scores);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->aggregation(), "mean");
  EXPECT_EQ(s->primary_metric(), "acc");
  EXPECT_FALSE(s->prompt_hash().empty());
  EXPECT_THAT(s->sample_indices(), ::testing::ElementsAre(0, 1, 2));
  EXPECT_THAT(s->values(), ::testing::ElementsAre(0, 100, 100));
  EXPECT_EQ(s->num_samples_total(), 5);

  EXPECT_EQ(DecodeSampleResults("no_such_set", 1, {}).status().code(), absl::StatusCode::kNotFound);
  std::vector<IndexedScore> garbage = {{3, std::string("\xff\xff\xff", 3)}};
  absl::StatusOr<v1::SampleResultSet> g = DecodeSampleResults("arc_e", 5, garbage);
  ASSERT_EQ(g.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(g.status().message(), HasSubstr("sample 3"));
  std::vector<IndexedScore> dup = {{1, score(0)}, {1, score(100)}};
  EXPECT_THAT(DecodeSampleResults("arc_e", 5, dup).status().message(), HasSubstr("duplicate"));
}

}  // namespace
}  // namespace proctor::eval
