// engine_ops.cuh against plain CPU references (kernels/cpu/reference.h for
// attention). Argument validation needs no device; the numeric tests skip
// visibly without one. Tolerances: outputs are BF16, so 1-2 BF16 ulps of the
// largest value (the portable kernels accumulate in F32 like the reference).
#include "kernels/cuda/engine_ops.cuh"

#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu/reference.h"
#include "kernels/cuda/op_registry.h"

namespace proctor::kernels::cuda {
namespace {

using bf16 = __nv_bfloat16;

bool HaveDevice() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  return n > 0;
}

std::vector<float> Rounded(size_t n, float lo, float hi, uint64_t seed) {
  return FromBf16(ToBf16(RandomUniform(n, lo, hi, seed)));
}

TEST(EngineOpsArgsTest, BadArgumentsAreRejectedBeforeTheDevice) {
  bf16* p = reinterpret_cast<bf16*>(uintptr_t{256});  // never dereferenced
  const int32_t* ids = reinterpret_cast<const int32_t*>(uintptr_t{256});
  EXPECT_EQ(AddBf16(nullptr, p, 4, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(AddBf16(p, p, -1, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(AddBf16(p, p, 0, nullptr), cudaSuccess);
  EXPECT_EQ(ScatterRowsBf16(p, 2, 0, ids, p, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(ScatterRowsBf16(p, 2, 8, nullptr, p, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(VocabShardStatsF32(nullptr, ids, 1, 8, 0, nullptr, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(VocabShardStatsF32(reinterpret_cast<const float*>(p), ids, 1, 0, 0,
                               reinterpret_cast<float*>(p), nullptr),
            cudaErrorInvalidValue);
  EXPECT_EQ(GemmBf16Portable(p, p, p, nullptr, 0, 4, 4, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(GemmBf16PortableF32Out(p, p, nullptr, 1, 4, 4, nullptr), cudaErrorInvalidValue);
  // Overlapping row ranges, a stride that does not hold the rows, too many pools.
  EXPECT_EQ(CopyPoolRowsBf16(nullptr, 2, 64, 4, 0, 8, 4, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(CopyPoolRowsBf16(p, 2, 64, 4, 0, 2, 4, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(CopyPoolRowsBf16(p, 2, 63, 4, 0, 12, 4, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(CopyPoolRowsBf16(p, 65536, 64, 4, 0, 8, 4, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(CopyPoolRowsBf16(p, 2, 64, 0, 0, 8, 4, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(CopyPoolRowsBf16(p, 2, 64, 4, 0, 8, 0, nullptr), cudaSuccess);
  // head_dim over 256, GQA ratio not integral, NaN scale.
  EXPECT_EQ(AttentionPortableBf16(p, p, p, ids, ids, 1, 4, 4, 512, 16, 1.0f, p, nullptr),
            cudaErrorInvalidValue);
  EXPECT_EQ(AttentionPortableBf16(p, p, p, ids, ids, 1, 6, 4, 64, 16, 1.0f, p, nullptr),
            cudaErrorInvalidValue);
  EXPECT_EQ(AttentionPortableBf16(p, p, p, ids, ids, 1, 4, 4, 64, 16, std::nanf(""), p, nullptr),
            cudaErrorInvalidValue);
}

TEST(EngineOpsTest, AddScatterAndStats) {
  if (!HaveDevice()) GTEST_SKIP() << "no CUDA device";
  // Add.
  const size_t n = 1000;
  std::vector<float> a = Rounded(n, -2, 2, 1), b = Rounded(n, -2, 2, 2);
  DeviceBuffer da, db;
  ASSERT_EQ(da.Upload(ToBf16(a)), cudaSuccess);
  ASSERT_EQ(db.Upload(ToBf16(b)), cudaSuccess);
  ASSERT_EQ(AddBf16(da.as<bf16>(), db.as<bf16>(), n, nullptr), cudaSuccess);
  std::vector<uint16_t> got(n);
  ASSERT_EQ(da.Download(&got), cudaSuccess);
  for (size_t i = 0; i < n; ++i) EXPECT_EQ(FromBf16({got[i]})[0], RoundBf16(a[i] + b[i])) << i;

  // Scatter 3 rows of 5 into a 6-row table; a negative index is skipped.
  const std::vector<float> src = Rounded(15, -1, 1, 3);
  const std::vector<int32_t> rows = {4, -1, 0};
  DeviceBuffer ds, dr, dt;
  ASSERT_EQ(ds.Upload(ToBf16(src)), cudaSuccess);
  ASSERT_EQ(dr.Upload(rows), cudaSuccess);
  ASSERT_EQ(dt.Upload(std::vector<uint16_t>(30, 0)), cudaSuccess);
  ASSERT_EQ(ScatterRowsBf16(ds.as<bf16>(), 3, 5, dr.as<int32_t>(), dt.as<bf16>(), nullptr),
            cudaSuccess);
  std::vector<uint16_t> table(30);
  ASSERT_EQ(dt.Download(&table), cudaSuccess);
  const std::vector<float> t = FromBf16(table);
  for (int c = 0; c < 5; ++c) {
    EXPECT_EQ(t[4 * 5 + c], src[c]);
    EXPECT_EQ(t[0 * 5 + c], src[10 + c]);
    EXPECT_EQ(t[1 * 5 + c], 0.0f);
  }

  // Vocabulary-shard statistics of 3 rows of 1000 logits (ids 2000..2999).
  const int64_t v = 1000;
  std::vector<float> logits = RandomUniform(3 * v, -8, 8, 4);
  logits[1 * v + 10] = logits[1 * v + 20] = 50.0f;        // a tie: the lower id wins
  const std::vector<int32_t> targets = {2005, 17, 2999};  // row 1's target is not in the slice
  DeviceBuffer dl, dtg, dst;
  ASSERT_EQ(dl.Upload(logits), cudaSuccess);
  ASSERT_EQ(dtg.Upload(targets), cudaSuccess);
  ASSERT_EQ(dst.Allocate(3 * 5 * sizeof(float)), cudaSuccess);
  ASSERT_EQ(
      VocabShardStatsF32(dl.as<float>(), dtg.as<int32_t>(), 3, v, 2000, dst.as<float>(), nullptr),
      cudaSuccess);
  std::vector<float> stats(15);
  ASSERT_EQ(dst.Download(&stats), cudaSuccess);
  for (int r = 0; r < 3; ++r) {
    const float* row = logits.data() + r * v;
    float mx = row[0];
    int64_t best = 0;
    for (int64_t i = 1; i < v; ++i) {
      if (row[i] > mx) {
        mx = row[i];
        best = i;
      }
    }
    double sum = 0;
    for (int64_t i = 0; i < v; ++i) sum += std::exp(static_cast<double>(row[i] - mx));
    EXPECT_EQ(stats[r * 5 + 0], mx) << r;
    EXPECT_NEAR(stats[r * 5 + 1], sum, 1e-4 * sum) << r;
    const int64_t local = targets[r] - 2000;
    const bool has = local >= 0 && local < v;
    EXPECT_EQ(stats[r * 5 + 3], has ? 1.0f : 0.0f) << r;
    if (has) {
      EXPECT_EQ(stats[r * 5 + 2], row[local]) << r;
    }
    EXPECT_EQ(stats[r * 5 + 4], static_cast<float>(2000 + best)) << r;
  }
  EXPECT_EQ(stats[1 * 5 + 4], 2010.0f);
}

TEST(EngineOpsTest, CopyPoolRowsCopiesTheSameRowsOfEveryPool) {
  if (!HaveDevice()) GTEST_SKIP() << "no CUDA device";
  // 3 pools of 10 rows x 6 (stride 64 elements: 4 padding); rows 1..3 -> 6..8.
  const int64_t pools = 3, stride = 64, cols = 6;
  const std::vector<float> before = Rounded(pools * stride, -1, 1, 11);
  DeviceBuffer d;
  ASSERT_EQ(d.Upload(ToBf16(before)), cudaSuccess);
  ASSERT_EQ(CopyPoolRowsBf16(d.as<bf16>(), pools, stride, cols, 1, 6, 3, nullptr), cudaSuccess);
  std::vector<uint16_t> got16(before.size());
  ASSERT_EQ(d.Download(&got16), cudaSuccess);
  const std::vector<float> got = FromBf16(got16);
  for (int64_t p = 0; p < pools; ++p) {
    for (int64_t e = 0; e < stride; ++e) {
      const int64_t row = e / cols;
      const bool copied = e < 10 * cols && row >= 6 && row < 9;
      const float want =
          copied ? before[p * stride + (row - 5) * cols + e % cols] : before[p * stride + e];
      EXPECT_EQ(got[p * stride + e], want) << p << "," << e;
    }
  }
}

TEST(EngineOpsTest, PortableGemmMatchesReference) {
  if (!HaveDevice()) GTEST_SKIP() << "no CUDA device";
  const int64_t m = 7, n = 13, k = 172;  // k % 8 != 0: what the tensor-core GEMM refuses
  const std::vector<float> a = Rounded(m * k, -1, 1, 5), b = Rounded(n * k, -1, 1, 6),
                           bias = Rounded(n, -1, 1, 7);
  DeviceBuffer da, db, dbias, dc, dcf;
  ASSERT_EQ(da.Upload(ToBf16(a)), cudaSuccess);
  ASSERT_EQ(db.Upload(ToBf16(b)), cudaSuccess);
  ASSERT_EQ(dbias.Upload(ToBf16(bias)), cudaSuccess);
  ASSERT_EQ(dc.Allocate(m * n * 2), cudaSuccess);
  ASSERT_EQ(dcf.Allocate(m * n * 4), cudaSuccess);
  ASSERT_EQ(GemmBf16Portable(da.as<bf16>(), db.as<bf16>(), dc.as<bf16>(), dbias.as<bf16>(), m, n, k,
                             nullptr),
            cudaSuccess);
  ASSERT_EQ(GemmBf16PortableF32Out(da.as<bf16>(), db.as<bf16>(), dcf.as<float>(), m, n, k, nullptr),
            cudaSuccess);
  std::vector<uint16_t> c16(m * n);
  std::vector<float> c32(m * n);
  ASSERT_EQ(dc.Download(&c16), cudaSuccess);
  ASSERT_EQ(dcf.Download(&c32), cudaSuccess);
  const std::vector<float> c = FromBf16(c16);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double want = 0;
      for (int64_t x = 0; x < k; ++x) want += static_cast<double>(a[i * k + x]) * b[j * k + x];
      EXPECT_NEAR(c32[i * n + j], want, 1e-4) << i << "," << j;
      EXPECT_NEAR(c[i * n + j], want + bias[j], 1e-2 * std::fabs(want + bias[j]) + 1e-3);
    }
  }
}

TEST(EngineOpsTest, PortableAttentionMatchesReferenceOnPages) {
  if (!HaveDevice()) GTEST_SKIP() << "no CUDA device";
  // head_dim 8 (stories260K), GQA 2:1, 21 keys on pages of 4 in a shuffled
  // pool, the last 5 positions as queries (bottom-right causal).
  const int64_t hd = 8, nh = 4, nkv = 2, s = 21, t = 5, page = 4, pages = 8;
  const std::vector<int32_t> table = {6, 1, 3, 0, 7, 2};
  const std::vector<float> q = Rounded(t * nh * hd, -1, 1, 8), k = Rounded(s * nkv * hd, -1, 1, 9),
                           v = Rounded(s * nkv * hd, -1, 1, 10);
  std::vector<float> kpool(pages * page * nkv * hd, 0.0f), vpool(kpool.size(), 0.0f);
  for (int64_t j = 0; j < s; ++j) {
    const int64_t row = table[j / page] * page + j % page;
    for (int64_t e = 0; e < nkv * hd; ++e) {
      kpool[row * nkv * hd + e] = k[j * nkv * hd + e];
      vpool[row * nkv * hd + e] = v[j * nkv * hd + e];
    }
  }
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  std::vector<float> want(t * nh * hd);
  ref::Attention(q.data(), k.data(), v.data(), want.data(), t, s, nh, nkv, hd, s - t, scale);
  DeviceBuffer dq, dk, dv, dt, dlen, dout;
  ASSERT_EQ(dq.Upload(ToBf16(q)), cudaSuccess);
  ASSERT_EQ(dk.Upload(ToBf16(kpool)), cudaSuccess);
  ASSERT_EQ(dv.Upload(ToBf16(vpool)), cudaSuccess);
  ASSERT_EQ(dt.Upload(table), cudaSuccess);
  ASSERT_EQ(dlen.Upload(std::vector<int32_t>{static_cast<int32_t>(s)}), cudaSuccess);
  ASSERT_EQ(dout.Allocate(want.size() * 2), cudaSuccess);
  ASSERT_EQ(AttentionPortableBf16(dq.as<bf16>(), dk.as<bf16>(), dv.as<bf16>(), dt.as<int32_t>(),
                                  dlen.as<int32_t>(), t, nh, nkv, hd, page, scale, dout.as<bf16>(),
                                  nullptr),
            cudaSuccess);
  std::vector<uint16_t> out(want.size());
  ASSERT_EQ(dout.Download(&out), cudaSuccess);
  EXPECT_LE(MaxAbsError(FromBf16(out), want), 1e-2);
}

}  // namespace
}  // namespace proctor::kernels::cuda
