#include "worker/engine/backend_vocab_parallel.h"

#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu/reference.h"

namespace proctor::engine {
namespace {

// Splitting a row into 1..5 slices and combining their summaries gives the
// full log-softmax and argmax (the reference kernel's), for every target.
TEST(VocabParallelTest, CombinedSlicesEqualTheFullLogSoftmax) {
  std::mt19937 rng(5);
  std::normal_distribution<float> d(0.0f, 4.0f);
  const int64_t vocab = 60;
  std::vector<float> row(vocab);
  for (float& x : row) x = d(rng);
  for (int size : {1, 2, 3, 4, 5}) {
    const int64_t per = vocab / size;
    for (int32_t target : {0, 7, 29, 59}) {
      std::vector<VocabShardStats> stats;
      for (int r = 0; r < size; ++r) {
        stats.push_back(ReduceVocabShard(row.data() + r * per, per, r * per, target));
      }
      float lp = 0, want_lp = 0;
      int32_t am = -1, want_am = -1;
      CombineVocabShards(stats.data(), size, &lp, &am);
      kernels::ref::LogSoftmaxGather(row.data(), &target, &want_lp, &want_am, 1, vocab);
      EXPECT_NEAR(lp, want_lp, 1e-5) << "size " << size << " target " << target;
      EXPECT_EQ(am, want_am) << "size " << size;
    }
  }
}

TEST(VocabParallelTest, TiesGoToTheLowestIdAcrossSlices) {
  const std::vector<float> row = {1, 3, 0, 3, 3, 2};  // max 3 at ids 1, 3, 4
  std::vector<VocabShardStats> s = {ReduceVocabShard(row.data(), 2, 0, 4),
                                    ReduceVocabShard(row.data() + 2, 2, 2, 4),
                                    ReduceVocabShard(row.data() + 4, 2, 4, 4)};
  float lp;
  int32_t am;
  CombineVocabShards(s.data(), 3, &lp, &am);
  EXPECT_EQ(am, 1);
  // The tie in slice 1 also goes to its lowest id.
  EXPECT_EQ(s[1].argmax, 3.0f);
  EXPECT_NEAR(lp, 3.0 - std::log(std::exp(1.0) + 3 * std::exp(3.0) + 1 + std::exp(2.0)), 1e-5);
}

TEST(VocabParallelTest, TargetHeldByNoSliceIsNaN) {
  const std::vector<float> row = {0.5f, -1.0f};
  VocabShardStats s = ReduceVocabShard(row.data(), 2, 0, 9);
  EXPECT_EQ(s.has_target, 0.0f);
  float lp;
  int32_t am;
  CombineVocabShards(&s, 1, &lp, &am);
  EXPECT_TRUE(std::isnan(lp));
  EXPECT_EQ(am, 0);
}

}  // namespace
}  // namespace proctor::engine
