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
  if (f == WeightFormat::kF16 || f == WeightFormat::kBF16) {
    // Finite values, including F16 subnormals (|v| < 6.1e-5) now and then.
    const std::vector<float> v = Random(rows * cols, seed);
    std::vector<uint8_t> raw(v.size() * 2);
    for (size_t i = 0; i < v.size(); ++i) {
      const float scaled = i % 7 == 0 ? v[i] * 1e-5f : v[i];
      uint32_t bits;
      std::memcpy(&bits, &scaled, sizeof(bits));
      const uint16_t h =
          f == WeightFormat::kF16 ? ref::FloatToHalf(scaled) : static_cast<uint16_t>(bits >> 16);
      raw[2 * i] = static_cast<uint8_t>(h & 0xff);
      raw[2 * i + 1] = static_cast<uint8_t>(h >> 8);
    }
    return raw;
  }
  std::vector<uint8_t> raw(static_cast<size_t>(rows * RowBytes(f, cols)));
  for (auto& b : raw) b = static_cast<uint8_t>(rng());
  for (size_t at = 0; at < raw.size(); at += static_cast<size_t>(BlockBytes(f))) {
    const uint16_t d = ref::FloatToHalf(0.02f * static_cast<float>(rng() % 50) - 0.5f);
    const size_t d_at = f == WeightFormat::kQ6_K ? at + 208 : at;  // Q6_K: d comes last
    raw[d_at] = static_cast<uint8_t>(d & 0xff);
    raw[d_at + 1] = static_cast<uint8_t>(d >> 8);
    if (f == WeightFormat::kQ4_1 || f == WeightFormat::kQ4_K) {  // the min (Q4_K: dmin)
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

constexpr WeightFormat kAllFormats[] = {WeightFormat::kF32,  WeightFormat::kF16,
                                        WeightFormat::kBF16, WeightFormat::kQ8_0,
                                        WeightFormat::kQ4_0, WeightFormat::kQ4_1};

TEST_P(QuantGemmIsaTest, EveryFormatAndTileRemainderMatchesOracle) {
  IsaGuard guard(GetParam());
  ThreadPool pool(3);
  uint32_t seed = 1;
  for (WeightFormat f : kAllFormats) {
    for (int64_t k : {32, 96}) {
      for (int64_t n : {1, 3, 6, 9}) {
        // m covers every streaming (m <= 8) tile width, the 8-token prefill
        // tile with each remainder, and a second token block.
        for (int64_t m : {1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 73}) {
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
  for (WeightFormat f : kAllFormats) {
    const std::vector<uint8_t> raw = RandomWeights(f, n, 2 * k, 8);
    const WeightMatrix w{f, raw.data(), n, k, RowBytes(f, 2 * k)};
    const std::vector<float> x = Random(m * k, 9);
    std::vector<float> got(static_cast<size_t>(m * n));
    MatMul(x.data(), m, w, nullptr, got.data(), nullptr);
    ExpectMatchesOracle(x, m, w, nullptr, got, "slice");
  }
}

TEST_P(QuantGemmIsaTest, KQuantsMatchOracle) {
  // Q4_K / Q6_K super-blocks of 256: every sub-block position (scale/min
  // unpacking of sub-blocks 0-3 and 4-7, both Q6_K halves), streaming and
  // prefill tiles, bias, threads, and a column slice of a wider matrix.
  IsaGuard guard(GetParam());
  ThreadPool pool(2);
  uint32_t seed = 300;
  for (WeightFormat f : {WeightFormat::kQ4_K, WeightFormat::kQ6_K}) {
    for (int64_t k : {256, 512}) {
      for (int64_t n : {1, 5, 9}) {
        for (int64_t m : {1, 2, 4, 5, 8, 11}) {
          const std::vector<uint8_t> raw = RandomWeights(f, n, k, ++seed);
          const WeightMatrix w{f, raw.data(), n, k};
          ASSERT_TRUE(QuantGemmSupports(w));
          const std::vector<float> x = Random(m * k, ++seed), bias = Random(n, ++seed);
          std::vector<float> got(static_cast<size_t>(m * n));
          MatMul(x.data(), m, w, bias.data(), got.data(), &pool);
          ExpectMatchesOracle(x, m, w, bias.data(), got, "kquant");
        }
      }
    }
    const int64_t m = 3, n = 6, k = 256;
    const std::vector<uint8_t> raw = RandomWeights(f, n, 2 * k, ++seed);
    const WeightMatrix w{f, raw.data(), n, k, RowBytes(f, 2 * k)};
    const std::vector<float> x = Random(m * k, ++seed);
    std::vector<float> got(static_cast<size_t>(m * n));
    MatMul(x.data(), m, w, nullptr, got.data(), nullptr);
    ExpectMatchesOracle(x, m, w, nullptr, got, "kquant slice");
  }
}

TEST_P(QuantGemmIsaTest, StreamingShapesWithThreadsMatchOracle) {
  // Decode-sized m on matrices of many tiles (rows not a multiple of the
  // tile; prefetch ramp, steady state and the range end), split over
  // threads in one chunk each.
  IsaGuard guard(GetParam());
  ThreadPool pool(3);
  uint32_t seed = 100;
  for (WeightFormat f : {WeightFormat::kQ4_1, WeightFormat::kQ8_0, WeightFormat::kF16}) {
    for (int64_t n : {37, 301}) {
      for (int64_t m : {1, 3, 6, 8}) {
        const int64_t k = 160;
        const std::vector<uint8_t> raw = RandomWeights(f, n, k, ++seed);
        const WeightMatrix w{f, raw.data(), n, k};
        const std::vector<float> x = Random(m * k, ++seed), bias = Random(n, ++seed);
        std::vector<float> got(static_cast<size_t>(m * n));
        MatMul(x.data(), m, w, bias.data(), got.data(), &pool);
        ExpectMatchesOracle(x, m, w, bias.data(), got, "stream");
      }
    }
  }
}

TEST_P(QuantGemmIsaTest, UnalignedRowRangesMatchWholeCall) {
  // Ranges that start and end inside tiles give the same outputs, bit for
  // bit, as one call over all rows (each output is computed the same way).
  IsaGuard guard(GetParam());
  const int64_t n = 23, k = 64;
  for (int64_t m : {1, 5, 11}) {
    const std::vector<uint8_t> raw = RandomWeights(WeightFormat::kQ4_0, n, k, 50);
    const WeightMatrix w{WeightFormat::kQ4_0, raw.data(), n, k};
    const std::vector<float> x = Random(m * k, 51);
    std::vector<float> all(static_cast<size_t>(m * n)), parts(all.size(), -1.0f);
    QuantGemmRows(x.data(), m, w, nullptr, all.data(), 0, n);
    for (int64_t r = 0; r < n;) {
      const int64_t len = 1 + r % 6;
      QuantGemmRows(x.data(), m, w, nullptr, parts.data(), r, std::min(n, r + len));
      r += len;
    }
    for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(parts[i], all[i]) << "m=" << m << " " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Isas, QuantGemmIsaTest, ::testing::Values(Isa::kAvx2, Isa::kAvx512),
                         [](const ::testing::TestParamInfo<Isa>& i) {
                           return std::string(IsaName(i.param));
                         });

TEST(QuantGemmTest, ChunkTiles) {
  // Decode-sized calls: one chunk per thread.
  EXPECT_EQ(QuantGemmChunkTiles(1, 576, 144, 2), 72);
  EXPECT_EQ(QuantGemmChunkTiles(8, 576, 145, 2), 73);
  EXPECT_EQ(QuantGemmChunkTiles(1, 576, 12288, 3), 4096);
  // Tiny matrices: at least ~16k multiply-adds per chunk (one chunk here).
  EXPECT_EQ(QuantGemmChunkTiles(1, 32, 3, 2), 16384 / (4 * 32 + 1));
  // Prefill: the pool balances (small chunks allowed).
  EXPECT_EQ(QuantGemmChunkTiles(64, 576, 144, 2), 1);
  EXPECT_EQ(QuantGemmChunkTiles(1, 576, 144, 1), 7);
}

TEST(QuantGemmTest, UnsupportedShapesAndFormatsFallBack) {
  std::vector<uint8_t> raw(4096);
  EXPECT_FALSE(QuantGemmSupports(WeightMatrix{WeightFormat::kQ4_K, raw.data(), 2, 288}));
  EXPECT_FALSE(QuantGemmSupports(WeightMatrix{WeightFormat::kQ6_K, raw.data(), 2, 64}));
  EXPECT_FALSE(QuantGemmSupports(WeightMatrix{WeightFormat::kF32, raw.data(), 2, 70}));
  EXPECT_FALSE(QuantGemmSupports(WeightMatrix{WeightFormat::kF16, raw.data(), 2, 48}));
  IsaGuard guard(Isa::kPortable);
  EXPECT_FALSE(QuantGemmSupports(WeightMatrix{WeightFormat::kQ4_1, raw.data(), 2, 64}));
  EXPECT_FALSE(QuantGemmSupports(WeightMatrix{WeightFormat::kQ4_K, raw.data(), 2, 256}));
}

TEST(QuantGemmTest, PortablePathStillMatchesOracle) {
  IsaGuard guard(Isa::kPortable);
  ThreadPool pool(2);
  for (WeightFormat f : kAllFormats) {
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
