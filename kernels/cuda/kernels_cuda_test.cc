// Comparison test: every registry case run on the GPU and checked against the
// CPU reference (kernels/cpu/reference.h) with the FlashAttention tolerance
// rule (op_registry.h). Label `gpu`; skips visibly without a CUDA device.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "kernels/cpu/reference.h"
#include "kernels/cuda/op_registry.h"

namespace proctor::kernels::cuda {
namespace {

bool HaveDevice() {
  int count = 0;  // left untouched when the driver is missing
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

void RunFamily(const std::string& family) {
  if (!HaveDevice()) GTEST_SKIP() << "no CUDA device";
  OpCaseList cases = MakeTestCases();
  int ran = 0;
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
  for (auto& c : cases) {
    if (c->op() != family) continue;
    SCOPED_TRACE(c->name());
    ASSERT_EQ(c->Setup(), cudaSuccess);
    ASSERT_EQ(c->Run(stream), cudaSuccess);
    ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
    const OpCheck check = c->Check();
    EXPECT_TRUE(check.passed()) << c->name() << ": " << check.error << " max_err=" << check.max_err
                                << " naive_bf16_err=" << check.naive_err
                                << " tolerance=" << check.tolerance << " " << check.detail;
    ++ran;
  }
  cudaStreamDestroy(stream);
  EXPECT_GE(ran, 1) << "no registry case for " << family;
}

TEST(KernelsCudaTest, AddRmsNorm) { RunFamily("add_rms_norm"); }
TEST(KernelsCudaTest, RmsNorm) { RunFamily("rms_norm"); }
TEST(KernelsCudaTest, Rope) { RunFamily("rope"); }
TEST(KernelsCudaTest, SwiGlu) { RunFamily("swiglu"); }
TEST(KernelsCudaTest, EmbeddingGather) { RunFamily("embedding_gather"); }
TEST(KernelsCudaTest, DequantQ8_0) { RunFamily("dequant_q8_0"); }
TEST(KernelsCudaTest, DequantQ4_0) { RunFamily("dequant_q4_0"); }
TEST(KernelsCudaTest, LogSoftmaxGather) { RunFamily("log_softmax_gather"); }
TEST(KernelsCudaTest, Gemm) { RunFamily("gemm"); }
TEST(KernelsCudaTest, GemmSwiGlu) { RunFamily("gemm_swiglu"); }
TEST(KernelsCudaTest, PrefillAttention) { RunFamily("prefill_attention"); }
TEST(KernelsCudaTest, DecodeAttention) { RunFamily("decode_attention"); }

// Every family in the registry has a TEST above (a new op cannot slip in
// untested), and every test family has benchmark shapes. Runs without a GPU.
TEST(KernelsCudaRegistryTest, FamiliesAreCoveredByTestsAndBenchmarks) {
  const std::set<std::string> tested = {"add_rms_norm", "rms_norm",           "rope",
                                        "swiglu",       "embedding_gather",   "dequant_q8_0",
                                        "dequant_q4_0", "log_softmax_gather", "gemm",
                                        "gemm_swiglu",  "prefill_attention",  "decode_attention"};
  std::set<std::string> names, test_families, bench_families;
  for (const auto& c : MakeTestCases()) {
    EXPECT_TRUE(names.insert(c->name()).second) << "duplicate case " << c->name();
    test_families.insert(c->op());
    EXPECT_GT(c->bytes_moved(), 0.0) << c->name();
  }
  for (const auto& c : MakeBenchCases()) bench_families.insert(c->op());
  EXPECT_EQ(test_families, tested);
  for (const std::string& f : test_families) {
    if (f == "rms_norm") continue;  // the plain norm is the fused kernel with no residual
    EXPECT_TRUE(bench_families.count(f)) << f << " has no benchmark shape";
  }
}

// The attention tolerance must not be vacuous: on BF16 inputs the naive BF16
// implementation's error is small but non-zero, and typical kernel bugs (an
// off-by-one causal mask, P not renormalised after a max update, a missing
// scale) exceed 2x of it. Runs without a GPU.
TEST(KernelsCudaRegistryTest, AttentionToleranceRejectsTypicalBugs) {
  const int64_t t = 24, s = 40, nh = 4, nkv = 2, hd = 64, off = s - t;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const std::vector<float> q = FromBf16(ToBf16(RandomUniform(t * nh * hd, -2.0f, 2.0f, 1)));
  const std::vector<float> k = FromBf16(ToBf16(RandomUniform(s * nkv * hd, -2.0f, 2.0f, 2)));
  const std::vector<float> v = FromBf16(ToBf16(RandomUniform(s * nkv * hd, -1.0f, 1.0f, 3)));
  std::vector<float> want(q.size()), naive(q.size()), bug(q.size());
  ref::Attention(q.data(), k.data(), v.data(), want.data(), t, s, nh, nkv, hd, off, scale);
  NaiveAttentionBf16(q.data(), k.data(), v.data(), naive.data(), t, s, nh, nkv, hd, off, scale);
  const double naive_err = MaxAbsError(naive, want);
  EXPECT_GT(naive_err, 0.0);
  EXPECT_LT(naive_err, 0.05);
  const double tolerance = 2.0 * naive_err + 1e-4;

  // Off-by-one mask: every query also sees the next key.
  ref::Attention(q.data(), k.data(), v.data(), bug.data(), t, s, nh, nkv, hd, off + 1, scale);
  EXPECT_GT(MaxAbsError(bug, want), tolerance);
  // Missing softmax scale.
  ref::Attention(q.data(), k.data(), v.data(), bug.data(), t, s, nh, nkv, hd, off, 1.0f);
  EXPECT_GT(MaxAbsError(bug, want), tolerance);
  // Wrong GQA mapping (every head reads KV head 0).
  std::vector<float> k0 = k, v0 = v;
  for (int64_t j = 0; j < s; ++j) {
    for (int64_t d = 0; d < hd; ++d) {
      k0[(j * nkv + 1) * hd + d] = k[(j * nkv) * hd + d];
      v0[(j * nkv + 1) * hd + d] = v[(j * nkv) * hd + d];
    }
  }
  ref::Attention(q.data(), k0.data(), v0.data(), bug.data(), t, s, nh, nkv, hd, off, scale);
  EXPECT_GT(MaxAbsError(bug, want), tolerance);
}

TEST(KernelsCudaRegistryTest, Bf16RoundingIsNearestEven) {
  EXPECT_EQ(HostFloatToBf16(1.0f), 0x3f80);
  EXPECT_EQ(HostFloatToBf16(-2.0f), 0xc000);
  // 1 + 2^-8 is exactly between two BF16 values: ties go to the even one (1.0).
  EXPECT_EQ(HostFloatToBf16(1.00390625f), 0x3f80);
  // 1 + 3 * 2^-8 ties between 1 + 2^-7 (odd) and 1 + 2^-6 (even).
  EXPECT_EQ(HostFloatToBf16(1.01171875f), 0x3f82);
  EXPECT_TRUE(std::isnan(HostBf16ToFloat(HostFloatToBf16(NAN))));
  EXPECT_EQ(HostBf16ToFloat(HostFloatToBf16(INFINITY)), INFINITY);
  // Half an ulp: BF16 keeps 8 significant bits.
  for (float x : RandomUniform(1000, -1e4f, 1e4f, 9)) {
    EXPECT_LE(std::fabs(RoundBf16(x) - x), std::fabs(x) * 0x1p-8f) << x;
  }
}

}  // namespace
}  // namespace proctor::kernels::cuda
