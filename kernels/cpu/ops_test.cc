#include "kernels/cpu/ops.h"

#include <atomic>
#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu/reference.h"

namespace proctor::kernels {
namespace {

std::vector<float> Random(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

TEST(ThreadPoolTest, CoversRangeExactlyOnce) {
  ThreadPool pool(3);
  for (int64_t n : {1, 2, 7, 100, 1001}) {
    std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
    pool.ParallelFor(n, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)]++;
    });
    for (auto& h : hits) EXPECT_EQ(h.load(), 1);
  }
}

TEST(OpsTest, DotMatchesNaive) {
  for (int64_t n : {0, 1, 7, 8, 17, 64, 333}) {
    auto a = Random(static_cast<size_t>(n), 1), b = Random(static_cast<size_t>(n), 2);
    double want = 0;
    for (int64_t i = 0; i < n; ++i) want += static_cast<double>(a[i]) * b[i];
    EXPECT_NEAR(Dot(a.data(), b.data(), n), want, 1e-4 * (1 + std::sqrt(n)));
  }
}

TEST(OpsTest, MatMulBlockedPathMatchesReference) {
  const int64_t m = 11, n = 35, k = 64;  // k % 8 == 0: the 4x2 register blocks
  auto x = Random(m * k, 13), w = Random(n * k, 14), bias = Random(n, 15);
  std::vector<float> want(m * n), got(m * n);
  ref::Gemm(x.data(), w.data(), want.data(), m, n, k);
  ThreadPool pool(2);
  MatMul(x.data(), m, WeightMatrix{WeightFormat::kF32, w.data(), n, k}, bias.data(), got.data(),
         &pool);
  for (int64_t i = 0; i < m * n; ++i) EXPECT_NEAR(got[i], want[i] + bias[i % n], 1e-4);
}

TEST(OpsTest, MatMulF32MatchesReference) {
  const int64_t m = 5, n = 37, k = 70;
  auto x = Random(m * k, 3), w = Random(n * k, 4), bias = Random(n, 5);
  std::vector<float> want(m * n), got(m * n);
  ref::Gemm(x.data(), w.data(), want.data(), m, n, k);
  ThreadPool pool(2);
  MatMul(x.data(), m, WeightMatrix{WeightFormat::kF32, w.data(), n, k}, bias.data(), got.data(),
         &pool);
  for (int64_t i = 0; i < m * n; ++i) EXPECT_NEAR(got[i], want[i] + bias[i % n], 1e-4);
}

TEST(OpsTest, MatMulQ8_0MatchesDequantizedReference) {
  const int64_t m = 3, n = 20, k = 64;
  std::mt19937 rng(7);
  std::vector<uint8_t> w(static_cast<size_t>(n * RowBytes(WeightFormat::kQ8_0, k)));
  for (auto& b : w) b = static_cast<uint8_t>(rng());
  // Keep the scales finite and small.
  for (int64_t blk = 0; blk < n * k / 32; ++blk) {
    const uint16_t d = ref::FloatToHalf(0.01f * static_cast<float>(blk % 7 + 1));
    w[static_cast<size_t>(blk * 34)] = static_cast<uint8_t>(d & 0xff);
    w[static_cast<size_t>(blk * 34 + 1)] = static_cast<uint8_t>(d >> 8);
  }
  std::vector<float> wf(static_cast<size_t>(n * k));
  ref::DequantizeRow_Q8_0(w.data(), wf.data(), n * k);
  auto x = Random(m * k, 8);
  std::vector<float> want(m * n), got(m * n);
  ref::Gemm(x.data(), wf.data(), want.data(), m, n, k);
  MatMul(x.data(), m, WeightMatrix{WeightFormat::kQ8_0, w.data(), n, k}, nullptr, got.data(),
         nullptr);
  for (int64_t i = 0; i < m * n; ++i) EXPECT_NEAR(got[i], want[i], 1e-3);
}

TEST(OpsTest, SmallBatchQuantizedMatMulMatchesReference) {
  // m < 4 takes the fused decode+dot path for Q8_0/Q4_0/Q4_1.
  std::mt19937 rng(21);
  for (WeightFormat f : {WeightFormat::kQ8_0, WeightFormat::kQ4_0, WeightFormat::kQ4_1}) {
    for (int64_t m : {1, 3, 5}) {
      const int64_t n = 19, k = 96;
      std::vector<uint8_t> w(static_cast<size_t>(n * RowBytes(f, k)));
      for (auto& b : w) b = static_cast<uint8_t>(rng());
      for (size_t at = 0; at < w.size(); at += static_cast<size_t>(BlockBytes(f))) {
        const uint16_t d = ref::FloatToHalf(0.02f * static_cast<float>(rng() % 50) - 0.5f);
        w[at] = static_cast<uint8_t>(d & 0xff);
        w[at + 1] = static_cast<uint8_t>(d >> 8);
        if (f == WeightFormat::kQ4_1) {
          w[at + 2] = w[at];
          w[at + 3] = w[at + 1];
        }
      }
      std::vector<float> wf(static_cast<size_t>(n * k));
      DequantizeRow(f, w.data(), wf.data(), n * k);
      auto x = Random(static_cast<size_t>(m * k), 22);
      std::vector<float> want(static_cast<size_t>(m * n)), got(want.size());
      ref::Gemm(x.data(), wf.data(), want.data(), m, n, k);
      ThreadPool pool(2);
      MatMul(x.data(), m, WeightMatrix{f, w.data(), n, k}, nullptr, got.data(), &pool);
      for (size_t i = 0; i < want.size(); ++i) {
        EXPECT_NEAR(got[i], want[i], 1e-3 * (1 + std::fabs(want[i])))
            << WeightFormatName(f) << " m=" << m;
      }
    }
  }
}

TEST(OpsTest, FastDequantizeMatchesReference) {
  std::mt19937 rng(12);
  for (WeightFormat f : {WeightFormat::kQ8_0, WeightFormat::kQ4_0, WeightFormat::kQ4_1,
                         WeightFormat::kQ4_K, WeightFormat::kQ6_K, WeightFormat::kF16}) {
    const int64_t n = 512;
    std::vector<uint8_t> raw(static_cast<size_t>(RowBytes(f, n)));
    for (auto& b : raw) b = static_cast<uint8_t>(rng());
    // Sane half-precision scales at each block start (and the Q4_1 min).
    if (f == WeightFormat::kQ8_0 || f == WeightFormat::kQ4_0 || f == WeightFormat::kQ4_1) {
      for (size_t at = 0; at < raw.size(); at += static_cast<size_t>(BlockBytes(f))) {
        const uint16_t d = ref::FloatToHalf(0.01f * static_cast<float>(rng() % 100) - 0.5f);
        raw[at] = static_cast<uint8_t>(d & 0xff);
        raw[at + 1] = static_cast<uint8_t>(d >> 8);
        if (f == WeightFormat::kQ4_1) {
          raw[at + 2] = raw[at];
          raw[at + 3] = raw[at + 1];
        }
      }
    }
    std::vector<float> want(static_cast<size_t>(n)), got(static_cast<size_t>(n));
    DequantizeRow(f, raw.data(), want.data(), n);
    DequantizeRowFast(f, raw.data(), got.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      if (std::isnan(want[i])) continue;
      EXPECT_NEAR(got[i], want[i], 1e-6f * (1.0f + std::fabs(want[i])))
          << WeightFormatName(f) << " at " << i;
    }
  }
}

TEST(OpsTest, AttentionMatchesReference) {
  const int64_t t = 3, s = 7, nh = 4, nkv = 2, hd = 16, off = 4;
  auto q = Random(t * nh * hd, 9), k = Random(s * nkv * hd, 10), v = Random(s * nkv * hd, 11);
  std::vector<float> want(t * nh * hd), got(t * nh * hd);
  ref::Attention(q.data(), k.data(), v.data(), want.data(), t, s, nh, nkv, hd, off, 0.25f);
  ThreadPool pool(2);
  Attention(q.data(), k.data(), v.data(), got.data(), t, s, nh, nkv, hd, off, 0.25f, &pool);
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5);
}

TEST(OpsTest, RopeIsBitIdenticalToReference) {
  ref::RopeParams variants[4];
  variants[1].neox_layout = true;
  variants[2].n_rot = 8;
  variants[2].linear_factor = 4.0f;
  variants[3].llama3_factor = 8.0f;
  variants[3].theta = 500000.0f;
  for (const ref::RopeParams& p : variants) {
    const int64_t t = 5, nh = 3, hd = 16;
    std::vector<int32_t> pos = {0, 1, 7, 300, 8191};
    auto want = Random(t * nh * hd, 31);
    auto got = want;
    ref::Rope(want.data(), pos.data(), t, nh, hd, p);
    kernels::Rope(got.data(), pos.data(), t, nh, hd, p);  // qualified: ADL also finds ref::Rope
    for (size_t i = 0; i < want.size(); ++i) ASSERT_EQ(got[i], want[i]) << i;
  }
}

}  // namespace
}  // namespace proctor::kernels
