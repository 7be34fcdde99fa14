#include "kernels/cpu/quant_gemm.h"

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/reference.h"

namespace proctor::kernels {
namespace {

// Restores the dispatch level when a test ends.
class IsaGuard {
 public:
  explicit IsaGuard(Isa isa) : previous_(SetIsaForTest(isa)) {}
  ~IsaGuard() { SetIsaForTest(previous_); }

 private:
  Isa previous_;
};

std::vector<float> Random(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = d(rng);
  return v;
}

// Random weights of `rows` x `cols` in format f, with finite block scales.
std::vector<uint8_t> RandomWeights(WeightFormat f, int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  if (f == WeightFormat::kF32) {
    std::vector<float> v = Random(rows * cols, seed);
    std::vector<uint8_t> raw(v.size() * 4);
    std::memcpy(raw.data(), v.data(), raw.size());
    return raw;
  }
  std::vector<uint8_t> raw(static_cast<size_t>(rows * RowBytes(f, cols)));
  for (auto& b : raw) b = static_cast<uint8_t>(rng());
  for (size_t at = 0; at < raw.size(); at += static_cast<size_t>(BlockBytes(f))) {
    const uint16_t d = ref::FloatToHalf(0.02f * static_cast<float>(rng() % 50) - 0.5f);
    raw[at] = static_cast<uint8_t>(d & 0xff);
    raw[at + 1] = static_cast<uint8_t>(d >> 8);
    if (f == WeightFormat::kQ4_1) {
      const uint16_t m = ref::FloatToHalf(-0.1f * static_cast<float>(rng() % 20));
      raw[at + 2] = static_cast<uint8_t>(m & 0xff);
      raw[at + 3] = static_cast<uint8_t>(m >> 8);
    }
  }
  return raw;
}

// Checks out[m, n] against the F32 oracle over the decoded weights: the error
// bound is F32 summation error of k terms, relative to sum |w x|.
void ExpectMatchesOracle(const std::vector<float>& x, int64_t m, const WeightMatrix& w,
                         const float* bias, const std::vector<float>& got, const char* what) {
  const int64_t n = w.rows, k = w.cols;
  std::vector<float> row(static_cast<size_t>(k));
  for (int64_t r = 0; r < n; ++r) {
    DequantizeRow(w.format, static_cast<const uint8_t*>(w.data) + r * w.stride(), row.data(), k);
    for (int64_t i = 0; i < m; ++i) {
      double want = bias != nullptr ? bias[r] : 0.0, mag = std::fabs(want);
      for (int64_t p = 0; p < k; ++p) {
        want += static_cast<double>(row[p]) * x[i * k + p];
        mag += std::fabs(static_cast<double>(row[p]) * x[i * k + p]);
      }
      EXPECT_NEAR(got[i * n + r], want, 1e-6 + 4e-7 * std::sqrt(static_cast<double>(k)) * mag)
          << what << " " << WeightFormatName(w.format) << " m=" << m << " n=" << n << " k=" << k
          << " at (" << i << ", " << r << ")";
    }
  }
}

class QuantGemmIsaTest : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    if (DetectedIsa() < GetParam()) {
      GTEST_SKIP() << "this CPU lacks " << IsaName(GetParam()) << " (has " << IsaName(DetectedIsa())
                   << ")";
    }
  }
};

TEST_P(QuantGemmIsaTest, EveryFormatAndTileRemainderMatchesOracle) {
  IsaGuard guard(GetParam());
  ThreadPool pool(3);
  uint32_t seed = 1;
  for (WeightFormat f :
       {WeightFormat::kF32, WeightFormat::kQ8_0, WeightFormat::kQ4_0, WeightFormat::kQ4_1}) {
    for (int64_t k : {32, 96}) {
      for (int64_t n : {1, 3, 6, 9}) {
        // m covers the 8/4/2/1 token tiles, the decode tile and a second token block.
        for (int64_t m : {1, 2, 3, 5, 8, 15, 73}) {
          const std::vector<uint8_t> raw = RandomWeights(f, n, k, ++seed);
          const WeightMatrix w{f, raw.data(), n, k};
          ASSERT_TRUE(QuantGemmSupports(w));
          const std::vector<float> x = Random(m * k, ++seed), bias = Random(n, ++seed);
          std::vector<float> got(static_cast<size_t>(m * n));
          MatMul(x.data(), m, w, bias.data(), got.data(), &pool);
          ExpectMatchesOracle(x, m, w, bias.data(), got, "pool+bias");
          MatMul(x.data(), m, w, nullptr, got.data(), nullptr);
          ExpectMatchesOracle(x, m, w, nullptr, got, "single");
        }
      }
    }
  }
}

TEST_P(QuantGemmIsaTest, RowRangeWritesOnlyItsRows) {
  IsaGuard guard(GetParam());
  const int64_t m = 5, n = 11, k = 64;
  const std::vector<uint8_t> raw = RandomWeights(WeightFormat::kQ4_1, n, k, 5);
  const WeightMatrix w{WeightFormat::kQ4_1, raw.data(), n, k};
  const std::vector<float> x = Random(m * k, 6);
  std::vector<float> all(static_cast<size_t>(m * n)), part(all.size(), -12345.0f);
  QuantGemmRows(x.data(), m, w, nullptr, all.data(), 0, n);
  QuantGemmRows(x.data(), m, w, nullptr, part.data(), 3, 9);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t r = 0; r < n; ++r) {
      if (r >= 3 && r < 9) {
        EXPECT_EQ(part[i * n + r], all[i * n + r]) << i << "," << r;
      } else {
        EXPECT_EQ(part[i * n + r], -12345.0f) << "row " << r << " outside [3, 9) was written";
      }
    }
  }
}

TEST_P(QuantGemmIsaTest, ColumnSliceOfWiderMatrix) {
  // Tensor parallelism: the left half of a [n, 2k] matrix, rows 2k values apart.
  IsaGuard guard(GetParam());
  const int64_t m = 9, n = 7, k = 64;
  for (WeightFormat f : {WeightFormat::kQ8_0, WeightFormat::kQ4_1, WeightFormat::kF32}) {
    const std::vector<uint8_t> raw = RandomWeights(f, n, 2 * k, 8);
    const WeightMatrix w{f, raw.data(), n, k, RowBytes(f, 2 * k)};
    const std::vector<float> x = Random(m * k, 9);
    std::vector<float> got(static_cast<size_t>(m * n));
    MatMul(x.data(), m, w, nullptr, got.data(), nullptr);
    ExpectMatchesOracle(x, m, w, nullptr, got, "slice");
  }
}

INSTANTIATE_TEST_SUITE_P(Isas, QuantGemmIsaTest, ::testing::Values(Isa::kAvx2, Isa::kAvx512),
                         [](const ::testing::TestParamInfo<Isa>& i) {
                           return std::string(IsaName(i.param));
                         });

TEST(QuantGemmTest, UnsupportedShapesAndFormatsFallBack) {
  std::vector<uint8_t> raw(4096);
  EXPECT_FALSE(QuantGemmSupports(WeightMatrix{WeightFormat::kQ4_K, raw.data(), 2, 256}));
  EXPECT_FALSE(QuantGemmSupports(WeightMatrix{WeightFormat::kF32, raw.data(), 2, 70}));
  EXPECT_FALSE(QuantGemmSupports(WeightMatrix{WeightFormat::kF16, raw.data(), 2, 64}));
  IsaGuard guard(Isa::kPortable);
  EXPECT_FALSE(QuantGemmSupports(WeightMatrix{WeightFormat::kQ4_1, raw.data(), 2, 64}));
}

TEST(QuantGemmTest, PortablePathStillMatchesOracle) {
  IsaGuard guard(Isa::kPortable);
  ThreadPool pool(2);
  for (WeightFormat f : {WeightFormat::kQ8_0, WeightFormat::kQ4_1, WeightFormat::kF32}) {
    const int64_t m = 6, n = 5, k = 64;
    const std::vector<uint8_t> raw = RandomWeights(f, n, k, 31);
    const WeightMatrix w{f, raw.data(), n, k};
    const std::vector<float> x = Random(m * k, 32);
    std::vector<float> got(static_cast<size_t>(m * n));
    MatMul(x.data(), m, w, nullptr, got.data(), &pool);
    ExpectMatchesOracle(x, m, w, nullptr, got, "portable");
  }
}

TEST(QuantGemmTest, NonFiniteWeightsPropagate) {
  // A NaN scale in one block poisons exactly the outputs of its row.
  const int64_t m = 2, n = 4, k = 64;
  std::vector<uint8_t> raw = RandomWeights(WeightFormat::kQ8_0, n, k, 41);
  const uint16_t nan = 0x7e00;
  const size_t at =
      static_cast<size_t>(2 * RowBytes(WeightFormat::kQ8_0, k) + 34);  // row 2, block 1
  raw[at] = static_cast<uint8_t>(nan & 0xff);
  raw[at + 1] = static_cast<uint8_t>(nan >> 8);
  const std::vector<float> x = Random(m * k, 42);
  std::vector<float> got(static_cast<size_t>(m * n));
  MatMul(x.data(), m, WeightMatrix{WeightFormat::kQ8_0, raw.data(), n, k}, nullptr, got.data(),
         nullptr);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t r = 0; r < n; ++r) EXPECT_EQ(std::isnan(got[i * n + r]), r == 2) << i << "," << r;
  }
}

}  // namespace
}  // namespace proctor::kernels
