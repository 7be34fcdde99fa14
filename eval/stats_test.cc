#include "eval/stats.h"

#include <cmath>

#include "gtest/gtest.h"

namespace proctor::eval {
namespace {

TEST(MeanStderrTest, HandComputed) {
  // Values 100, 0, 100, 100: mean 75; sample variance = (3*25^2 + 75^2)/3
  // = 7500/3 = 2500; sd = 50; stderr = 50 / sqrt(4) = 25.
  MeanStderr m = ComputeMeanStderr({100, 0, 100, 100});
  EXPECT_DOUBLE_EQ(m.mean, 75);
  EXPECT_DOUBLE_EQ(m.stderr_, 25);
  EXPECT_TRUE(m.has_stderr);
  EXPECT_EQ(m.n, 4);
  // 1, 2, 3: sd = 1, stderr = 1/sqrt(3).
  EXPECT_NEAR(ComputeMeanStderr({1, 2, 3}).stderr_, 1 / std::sqrt(3.0), 1e-15);
  MeanStderr one = ComputeMeanStderr({5});
  EXPECT_FALSE(one.has_stderr);
  EXPECT_EQ(ComputeMeanStderr({}).n, 0);
}

TEST(MeanStderrTest, WeightedPooled) {
  MeanStderr a{80, 4, true, 100};
  MeanStderr b{40, 2, true, 300};
  MeanStderr w = WeightedMean({a, b});
  EXPECT_DOUBLE_EQ(w.mean, 50);  // 0.25*80 + 0.75*40
  EXPECT_NEAR(w.stderr_, std::sqrt(0.0625 * 16 + 0.5625 * 4), 1e-12);
  EXPECT_EQ(w.n, 400);
}

TEST(PassAtKTest, HandChecked) {
  EXPECT_DOUBLE_EQ(*PassAtK(1, 1, 1), 1.0);
  EXPECT_DOUBLE_EQ(*PassAtK(1, 0, 1), 0.0);
  EXPECT_NEAR(*PassAtK(10, 3, 1), 0.3, 1e-12);
  // 1 - C(7,2)/C(10,2) = 1 - 21/45.
  EXPECT_NEAR(*PassAtK(10, 3, 2), 1 - 21.0 / 45.0, 1e-12);
  // n - c < k: certain.
  EXPECT_DOUBLE_EQ(*PassAtK(5, 4, 2), 1.0);
  // 1 - C(190,10)/C(200,10), computed as a product.
  double prod = 1;
  for (int i = 0; i < 10; ++i) prod *= (190.0 - i) / (200.0 - i);
  EXPECT_NEAR(*PassAtK(200, 10, 10), 1 - prod, 1e-12);
  EXPECT_FALSE(PassAtK(3, 4, 1).ok());
  EXPECT_FALSE(PassAtK(3, 1, 0).ok());
  EXPECT_FALSE(PassAtK(3, 1, 4).ok());
  EXPECT_FALSE(PassAtK(0, 0, 1).ok());
}

TEST(PerplexityTest, WordPerplexityAndBitsPerByte) {
  EXPECT_NEAR(*WordPerplexity(-10.0, 5), std::exp(2.0), 1e-12);
  EXPECT_NEAR(*BitsPerByte(-std::log(2.0) * 8, 4), 2.0, 1e-12);
  EXPECT_FALSE(WordPerplexity(-1, 0).ok());
  EXPECT_FALSE(BitsPerByte(-1, 0).ok());
}

}  // namespace
}  // namespace proctor::eval
