#include "kernels/cpu/attention_simd.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/reference.h"

namespace proctor::kernels {
namespace {

class IsaGuard {
 public:
  explicit IsaGuard(Isa isa) : previous_(SetIsaForTest(isa)) {}
  ~IsaGuard() { SetIsaForTest(previous_); }

 private:
  Isa previous_;
};

std::vector<float> Random(int64_t n, uint32_t seed, float sigma) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, sigma);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = d(rng);
  return v;
}

// Attention in float64: the exact value both F32 implementations are judged by.
std::vector<double> ExactAttention(const std::vector<float>& q, const std::vector<float>& k,
                                   const std::vector<float>& v, int64_t t, int64_t s, int64_t nh,
                                   int64_t nkv, int64_t hd, int64_t off, double scale) {
  std::vector<double> out(static_cast<size_t>(t * nh * hd), 0.0);
  for (int64_t i = 0; i < t; ++i) {
    const int64_t last = std::min<int64_t>(s - 1, off + i);
    for (int64_t h = 0; h < nh; ++h) {
      const int64_t kvh = h / (nh / nkv);
      std::vector<double> sc(static_cast<size_t>(last + 1));
      double mx = -1e300, sum = 0;
      for (int64_t j = 0; j <= last; ++j) {
        double d = 0;
        for (int64_t c = 0; c < hd; ++c) {
          d += static_cast<double>(q[(i * nh + h) * hd + c]) * k[(j * nkv + kvh) * hd + c];
        }
        sc[j] = d * scale;
        mx = std::max(mx, sc[j]);
      }
      for (auto& x : sc) sum += (x = std::exp(x - mx));
      for (int64_t j = 0; j <= last; ++j) {
        for (int64_t c = 0; c < hd; ++c) {
          out[(i * nh + h) * hd + c] += sc[j] / sum * v[(j * nkv + kvh) * hd + c];
        }
      }
    }
  }
  return out;
}

class AttentionSimdTest : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    if (DetectedIsa() < GetParam()) {
      GTEST_SKIP() << "this CPU lacks " << IsaName(GetParam());
    }
  }
};

TEST_P(AttentionSimdTest, MatchesReference) {
  IsaGuard guard(GetParam());
  ThreadPool pool(2);
  uint32_t seed = 100;
  // hd 64 and 128 (real models), 16 and 48 (partial 64-wide column groups);
  // sigma 4 gives score ranges of hundreds of nats (exp underflow paths).
  for (int64_t hd : {16, 48, 64, 128}) {
    for (float sigma : {0.5f, 4.0f}) {
      for (int64_t off : {0, 5, 37}) {
        const int64_t t = 6, s = off + t, nh = 6, nkv = 2;
        ASSERT_TRUE(AttentionSimdSupports(hd));
        const auto q = Random(t * nh * hd, ++seed, sigma), k = Random(s * nkv * hd, ++seed, sigma),
                   v = Random(s * nkv * hd, ++seed, 1.0f);
        const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
        std::vector<float> want(q.size()), got(q.size());
        ref::Attention(q.data(), k.data(), v.data(), want.data(), t, s, nh, nkv, hd, off, scale);
        Attention(q.data(), k.data(), v.data(), got.data(), t, s, nh, nkv, hd, off, scale, &pool);
        // FlashAttention's rule: the error against the exact value is at
        // most twice the error of the plain F32 reference (plus a floor).
        const std::vector<double> exact = ExactAttention(q, k, v, t, s, nh, nkv, hd, off, scale);
        double ref_err = 0, got_err = 0;
        for (size_t i = 0; i < want.size(); ++i) {
          ref_err = std::max(ref_err, std::fabs(want[i] - exact[i]));
          got_err = std::max(got_err, std::fabs(got[i] - exact[i]));
        }
        EXPECT_LE(got_err, 2 * ref_err + 1e-6)
            << IsaName(GetParam()) << " hd=" << hd << " sigma=" << sigma << " off=" << off;
      }
    }
  }
}

TEST_P(AttentionSimdTest, QueriesBeforeAnyKeyGetZeros) {
  // q_pos_offset < -i: no visible key; the reference writes zeros.
  IsaGuard guard(GetParam());
  const int64_t t = 3, s = 2, nh = 2, nkv = 1, hd = 16;
  const auto q = Random(t * nh * hd, 1, 1.0f), k = Random(s * nkv * hd, 2, 1.0f),
             v = Random(s * nkv * hd, 3, 1.0f);
  std::vector<float> want(q.size()), got(q.size(), 7.0f);
  ref::Attention(q.data(), k.data(), v.data(), want.data(), t, s, nh, nkv, hd, -2, 0.25f);
  Attention(q.data(), k.data(), v.data(), got.data(), t, s, nh, nkv, hd, -2, 0.25f, nullptr);
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-6) << i;
}

// Several sequences in one AttentionBatch call, each with its keys split over
// up to three ranges in separate buffers (a fork's parent rows, then its own),
// against ref::Attention over the concatenated keys of each sequence.
void ExpectBatchMatchesReference(uint32_t seed) {
  ThreadPool pool(2);
  std::mt19937 rng(seed);
  for (int64_t hd : {16, 64}) {
    const int64_t nh = 6, nkv = 2, stride = nkv * hd;
    const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
    // Per sequence: its query count, q_pos_offset and range lengths.
    struct Shape {
      int64_t t, off;
      std::vector<int64_t> counts;
    };
    const std::vector<Shape> shapes = {
        {1, 40, {25, 16}}, {5, 3, {8}}, {3, 18, {7, 0, 5, 9}}, {2, 0, {2}}, {4, 30, {30, 4}}};
    std::vector<std::vector<float>> k_bufs, v_bufs;
    std::vector<std::vector<float>> k_cat(shapes.size()), v_cat(shapes.size());
    std::vector<std::vector<KvRange>> ranges(shapes.size());
    int64_t rows = 0;
    for (size_t s = 0; s < shapes.size(); ++s) {
      for (int64_t c : shapes[s].counts) {
        k_bufs.push_back(Random(c * stride, static_cast<uint32_t>(rng()), 1.0f));
        v_bufs.push_back(Random(c * stride, static_cast<uint32_t>(rng()), 1.0f));
        k_cat[s].insert(k_cat[s].end(), k_bufs.back().begin(), k_bufs.back().end());
        v_cat[s].insert(v_cat[s].end(), v_bufs.back().begin(), v_bufs.back().end());
      }
      rows += shapes[s].t;
    }
    std::vector<AttentionSequence> seqs;
    size_t buf = 0;
    int64_t row = 0;
    for (size_t s = 0; s < shapes.size(); ++s) {
      for (int64_t c : shapes[s].counts) {
        ranges[s].push_back({k_bufs[buf].data(), v_bufs[buf].data(), c});
        ++buf;
      }
      seqs.push_back({row, shapes[s].t, shapes[s].off, ranges[s].data(),
                      static_cast<int64_t>(ranges[s].size())});
      row += shapes[s].t;
    }
    const auto q = Random(rows * nh * hd, static_cast<uint32_t>(rng()), 1.0f);
    std::vector<float> got(q.size(), 7.0f), want(q.size());
    AttentionBatch(q.data(), got.data(), seqs.data(), static_cast<int64_t>(seqs.size()), nh, nkv,
                   hd, scale, &pool);
    for (size_t s = 0; s < shapes.size(); ++s) {
      const int64_t keys = static_cast<int64_t>(k_cat[s].size()) / stride;
      const int64_t at = seqs[s].row * nh * hd;
      ref::Attention(q.data() + at, k_cat[s].data(), v_cat[s].data(), want.data() + at, shapes[s].t,
                     keys, nh, nkv, hd, shapes[s].off, scale);
    }
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_NEAR(got[i], want[i], 2e-6f + 2e-6f * std::fabs(want[i])) << "hd=" << hd << " i=" << i;
    }
  }
}

TEST_P(AttentionSimdTest, BatchOverKeyRangesMatchesReference) {
  IsaGuard guard(GetParam());
  ExpectBatchMatchesReference(7);
}

TEST(AttentionBatchTest, PortableOverKeyRangesMatchesReference) {
  IsaGuard guard(Isa::kPortable);
  ExpectBatchMatchesReference(8);
}

INSTANTIATE_TEST_SUITE_P(Isas, AttentionSimdTest, ::testing::Values(Isa::kAvx2, Isa::kAvx512),
                         [](const ::testing::TestParamInfo<Isa>& i) {
                           return std::string(IsaName(i.param));
                         });

TEST(AttentionSimdSupportTest, HeadDimensionsAndIsas) {
  EXPECT_FALSE(AttentionSimdSupports(0));
  EXPECT_FALSE(AttentionSimdSupports(12));
  IsaGuard guard(Isa::kPortable);
  EXPECT_FALSE(AttentionSimdSupports(64));
}

}  // namespace
}  // namespace proctor::kernels
