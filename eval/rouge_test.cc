#include "eval/rouge.h"

#include "gtest/gtest.h"

namespace proctor::eval {
namespace {

// Reference values: rouge-score 0.1.2 (build-eval/venv),
// rouge_scorer.RougeScorer(['rouge1','rouge2','rougeL'], use_stemmer=False)
// .score(reference, prediction).

TEST(RougeTest, MatchesRougeScore) {
  const char* ref = "The quick brown fox jumps over the lazy dog";
  const char* pred = "The quick brown dog jumps on the lazy fox";
  EXPECT_NEAR(RougeN(ref, pred, 1).fmeasure, 0.8888888888888888, 1e-12);
  EXPECT_NEAR(RougeN(ref, pred, 2).fmeasure, 0.375, 1e-12);
  EXPECT_NEAR(RougeL(ref, pred).fmeasure, 0.6666666666666666, 1e-12);

  RougeScore r1 = RougeN("police killed the gunman", "the gunman was killed by police", 1);
  EXPECT_NEAR(r1.precision, 0.6666666666666666, 1e-12);
  EXPECT_NEAR(r1.recall, 1.0, 1e-12);
  EXPECT_NEAR(r1.fmeasure, 0.8, 1e-12);
  RougeScore r2 = RougeN("police killed the gunman", "the gunman was killed by police", 2);
  EXPECT_NEAR(r2.precision, 0.2, 1e-12);
  EXPECT_NEAR(r2.recall, 0.3333333333333333, 1e-12);
  EXPECT_NEAR(r2.fmeasure, 0.25, 1e-12);
  RougeScore rl = RougeL("police killed the gunman", "the gunman was killed by police");
  EXPECT_NEAR(rl.precision, 0.3333333333333333, 1e-12);
  EXPECT_NEAR(rl.recall, 0.5, 1e-12);
  EXPECT_NEAR(rl.fmeasure, 0.4, 1e-12);

  EXPECT_NEAR(RougeN("Hello, World! 2023", "hello world 2024", 1).fmeasure, 0.6666666666666666,
              1e-12);
  EXPECT_NEAR(RougeN("Hello, World! 2023", "hello world 2024", 2).fmeasure, 0.5, 1e-12);
}

TEST(RougeTest, TokenizerAndEmptyInput) {
  EXPECT_EQ(RougeTokenize("Hello, World!  It's 2023"),
            (std::vector<std::string>{"hello", "world", "it", "s", "2023"}));
  EXPECT_TRUE(RougeTokenize("日本語").empty());
  EXPECT_EQ(RougeN("", "x", 1).fmeasure, 0);
  EXPECT_EQ(RougeL("x", "").fmeasure, 0);
}

}  // namespace
}  // namespace proctor::eval
