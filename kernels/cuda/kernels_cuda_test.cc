// Comparison test: every registry case run on the GPU and checked against the
// CPU reference (kernels/cpu/reference.h) with the FlashAttention tolerance
// rule (op_registry.h). Label `gpu`; skips visibly without a CUDA device.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
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
  std::vector<std::string> unsupported;
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
  for (auto& c : cases) {
    if (c->op() != family) continue;
    if (!c->Supported()) {
      unsupported.push_back(c->name());
      continue;
    }
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
  // Visible in the log (e.g. the sm_90a GEMM cases on a non-Hopper GPU).
  for (const std::string& name : unsupported) {
    std::printf("[ NOT RUN  ] %s: not supported on this device or binary\n", name.c_str());
  }
}

TEST(KernelsCudaTest, AddRmsNorm) { RunFamily("add_rms_norm"); }
TEST(KernelsCudaTest, RmsNorm) { RunFamily("rms_norm"); }
TEST(KernelsCudaTest, Rope) { RunFamily("rope"); }
TEST(KernelsCudaTest, SwiGlu) { RunFamily("swiglu"); }
TEST(KernelsCudaTest, EmbeddingGather) { RunFamily("embedding_gather"); }
TEST(KernelsCudaTest, DequantQ8_0) { RunFamily("dequant_q8_0"); }
TEST(KernelsCudaTest, DequantQ4_0) { RunFamily("dequant_q4_0"); }
TEST(KernelsCudaTest, DequantQ4_1) { RunFamily("dequant_q4_1"); }
TEST(KernelsCudaTest, DequantQ4_K) { RunFamily("dequant_q4_k"); }
TEST(KernelsCudaTest, DequantQ6_K) { RunFamily("dequant_q6_k"); }
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
                                        "dequant_q4_0", "dequant_q4_1",       "dequant_q4_k",
                                        "dequant_q6_k", "log_softmax_gather", "gemm",
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

// Both GEMM kernel families are compared against the CPU reference: the
// forced sm_90a cases cover decode and prefill m (1 .. 4096), n and k off the
// tile and every epilogue; forced sm80 cases keep the Ampere kernel covered at
// prefill m, which kAuto sends to sm90a on Hopper. Runs without a GPU.
TEST(KernelsCudaRegistryTest, GemmCasesCoverBothKernelFamilies) {
  std::set<std::string> sm90a_m, families_sm90a, families_sm80;
  bool sm90a_bias = false, sm90a_residual = false, sm90a_f32 = false, sm90a_bf16 = false,
       sm90a_f16_in = false;
  for (const auto& c : MakeTestCases()) {
    if (c->op() != "gemm" && c->op() != "gemm_swiglu") continue;
    const std::string shape = c->shape();
    if (shape.find(" impl=sm80") != std::string::npos) families_sm80.insert(c->op());
    if (shape.find(" impl=sm90a") == std::string::npos) continue;
    families_sm90a.insert(c->op());
    sm90a_m.insert(shape.substr(0, shape.find(' ')));
    sm90a_bias |= shape.find("+bias") != std::string::npos;
    sm90a_residual |= shape.find("+residual") != std::string::npos;
    sm90a_f32 |= shape.find("out=f32") != std::string::npos;
    sm90a_bf16 |= shape.find("out=bf16") != std::string::npos;
    sm90a_f16_in |= shape.find("in=f16") != std::string::npos;
  }
  const std::set<std::string> both = {"gemm", "gemm_swiglu"};
  EXPECT_EQ(families_sm90a, both);
  EXPECT_EQ(families_sm80, both);
  for (const char* m : {"m=1", "m=16", "m=17", "m=512", "m=4096"}) {
    EXPECT_TRUE(sm90a_m.count(m)) << "no sm90a GEMM case with " << m;
  }
  EXPECT_TRUE(sm90a_bias && sm90a_residual && sm90a_f32 && sm90a_bf16);
  EXPECT_TRUE(sm90a_f16_in) << "no FP16-input case on the sm90a path";
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

// Inputs are generated on several threads for large sizes; every element
// depends only on its index and the seed, so a large draw agrees with small
// (single-threaded) draws of the same seed, and its BF16 rounding with the
// element-wise rounding. Runs without a GPU.
TEST(KernelsCudaRegistryTest, RandomInputsDoNotDependOnThreading) {
  const size_t n = (size_t{3} << 20) + 5;
  const std::vector<float> big = RandomUniform(n, -1.0f, 1.0f, 42);
  const std::vector<uint16_t> big_bf16 = ToBf16(big);
  for (size_t i : {size_t{0}, size_t{1}, size_t{1} << 20, (size_t{1} << 21) + 3, n - 1}) {
    const std::vector<float> small = RandomUniform(i + 1, -1.0f, 1.0f, 42);
    EXPECT_EQ(big[i], small[i]) << i;
    EXPECT_EQ(big_bf16[i], HostFloatToBf16(big[i])) << i;
  }
  EXPECT_NE(big[0], big[1]);
  EXPECT_NE(RandomUniform(1, -1.0f, 1.0f, 43)[0], big[0]);  // the seed matters
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
