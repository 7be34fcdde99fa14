#include "cli/compare_format.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace proctor::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

proctor::v1::Comparison Sample() {
  proctor::v1::Comparison c;
  c.set_run_a("run-a");
  c.set_run_b("run-b");
  c.set_model_a("base");
  c.set_model_b("tuned");
  c.set_alpha(0.05);
  auto* s = c.add_sets();
  s->set_dataset("arc_e");
  s->set_primary_metric("acc");
  s->set_higher_is_better(true);
  s->set_prompt_hash_a("aaaa");
  s->set_prompt_hash_b("aaaa");
  s->set_score_a(40);
  s->set_score_b(85);
  s->set_delta(45);
  s->set_delta_stderr(11.47);
  s->set_test("mcnemar_exact");
  s->set_p_value(0.03515625);
  s->set_num_paired(20);
  s->set_outcome("win");
  auto* p = c.add_sets();
  p->set_dataset("wikitext");
  p->set_primary_metric("word_perplexity");
  p->set_higher_is_better(false);
  p->set_prompt_hash_a("bbbb");
  p->set_prompt_hash_b("cccc");
  p->set_prompt_differs(true);
  p->set_test("paired_bootstrap");
  p->set_p_value(0.5);
  p->set_delta(-0.001);
  p->set_num_paired(5);
  p->set_num_unpaired(2);
  p->set_outcome("tie");
  c.set_wins(1);
  c.set_ties(1);
  c.set_prompt_mismatches(1);
  auto* d = c.add_dimensions();
  d->set_name("Exam");
  d->set_score_a(40);
  d->set_score_b(85);
  d->set_delta(45);
  d->set_delta_stderr(11.47);
  d->set_paired(true);
  d->set_complete(true);
  return c;
}

TEST(CompareFormatTest, Numbers) {
  EXPECT_EQ(FormatPValue(0.03515625), "0.03516");
  EXPECT_EQ(FormatPValue(1), "1");
  EXPECT_EQ(FormatPValue(1e-20), "<1e-12");
  EXPECT_EQ(FormatDelta(3.254), "+3.25");
  EXPECT_EQ(FormatDelta(-0.5), "-0.50");
  EXPECT_EQ(FormatDelta(-0.001), "+0.00");
}

TEST(CompareFormatTest, TableShowsTestsOutcomesAndPromptFlag) {
  absl::StatusOr<std::string> t = FormatComparison(Sample(), OutputFormat::kTable);
  ASSERT_TRUE(t.ok());
  EXPECT_THAT(*t, HasSubstr("B = tuned (run-b) against A = base (run-a)"));
  EXPECT_THAT(*t, HasSubstr("+45.00"));
  EXPECT_THAT(*t, HasSubstr("mcnemar"));
  EXPECT_THAT(*t, HasSubstr("0.03516"));
  EXPECT_THAT(*t, HasSubstr("wikitext!"));
  EXPECT_THAT(*t, HasSubstr("bbbb / cccc"));
  EXPECT_THAT(*t, HasSubstr("(lower better)"));
  EXPECT_THAT(*t, HasSubstr("5+2u"));
  EXPECT_THAT(*t, HasSubstr("B wins 1, ties 1, loses 0 of 2 compared sets at significance level 0.05"));
  EXPECT_THAT(*t, HasSubstr("WARNING: 1 set(s) marked !"));
  EXPECT_THAT(*t, HasSubstr("paired"));
}

TEST(CompareFormatTest, CsvMarkdownJson) {
  absl::StatusOr<std::string> csv = FormatComparison(Sample(), OutputFormat::kCsv);
  ASSERT_TRUE(csv.ok());
  EXPECT_THAT(*csv, HasSubstr("kind,name,metric,score_a"));
  EXPECT_THAT(*csv, HasSubstr("set,arc_e,acc,40,85,45,11.47,mcnemar_exact,0.03515625,20,0,win"));
  EXPECT_THAT(*csv, HasSubstr("dimension,Exam,"));
  absl::StatusOr<std::string> md = FormatComparison(Sample(), OutputFormat::kMarkdown);
  ASSERT_TRUE(md.ok());
  EXPECT_THAT(*md, HasSubstr("| arc_e |"));
  absl::StatusOr<std::string> json = FormatComparison(Sample(), OutputFormat::kJson);
  ASSERT_TRUE(json.ok());
  EXPECT_THAT(*json, HasSubstr("\"promptDiffers\": true"));
  proctor::v1::Comparison clean = Sample();
  clean.mutable_sets()->RemoveLast();
  clean.set_prompt_mismatches(0);
  EXPECT_THAT(*FormatComparison(clean, OutputFormat::kTable), Not(HasSubstr("WARNING")));
}

}  // namespace
}  // namespace proctor::cli
