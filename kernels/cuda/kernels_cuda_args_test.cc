// Entry-point validation: malformed shapes, null or misaligned pointers and
// hostile parameters are rejected with cudaErrorInvalidValue before anything
// touches the device, so this test runs on machines without a GPU.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>

#include "kernels/cuda/attention.cuh"
#include "kernels/cuda/elementwise.cuh"
#include "kernels/cuda/gemm.cuh"
#include "kernels/cuda/log_softmax_gather.cuh"
#include "kernels/cuda/rms_norm.cuh"
#include "kernels/cuda/rope.cuh"

namespace proctor::kernels::cuda {
namespace {

// Never dereferenced: every call below must fail validation first.
alignas(16) unsigned char fake_storage[64];
__nv_bfloat16* Fake() { return reinterpret_cast<__nv_bfloat16*>(fake_storage); }
__nv_bfloat16* Misaligned() { return reinterpret_cast<__nv_bfloat16*>(fake_storage + 2); }
int32_t* FakeI32() { return reinterpret_cast<int32_t*>(fake_storage); }
float* FakeF32() { return reinterpret_cast<float*>(fake_storage); }

constexpr cudaError_t kBad = cudaErrorInvalidValue;

TEST(KernelsCudaArgsTest, AddRmsNorm) {
  EXPECT_EQ(AddRmsNormBf16(Fake(), Fake(), Fake(), nullptr, 1, 8, 1e-5f, nullptr), kBad);
  EXPECT_EQ(AddRmsNormBf16(Fake(), nullptr, Fake(), Fake(), 1, 8, 1e-5f, nullptr), kBad);
  EXPECT_EQ(AddRmsNormBf16(Fake(), Fake(), Fake(), Fake(), -1, 8, 1e-5f, nullptr), kBad);
  EXPECT_EQ(AddRmsNormBf16(nullptr, Fake(), Fake(), Fake(), 1, 0, 1e-5f, nullptr), kBad);
  EXPECT_EQ(AddRmsNormBf16(nullptr, Fake(), Fake(), Fake(), 1, 8, -1.0f, nullptr), kBad);
  EXPECT_EQ(AddRmsNormBf16(nullptr, Fake(), Fake(), Fake(), 1, 8, NAN, nullptr), kBad);
  // out aliasing the residual would read back normalised values.
  __nv_bfloat16* r = Fake();
  EXPECT_EQ(AddRmsNormBf16(r, Fake(), Fake(), r, 1, 8, 1e-5f, nullptr), kBad);
  // Zero rows is a valid no-op.
  EXPECT_EQ(AddRmsNormBf16(nullptr, Fake(), Fake(), Fake(), 0, 8, 1e-5f, nullptr), cudaSuccess);
}

TEST(KernelsCudaArgsTest, Rope) {
  RopeConfig ok;
  EXPECT_EQ(RopeBf16(Fake(), FakeI32(), 1, 1, 7, ok, nullptr), kBad);  // odd head_dim
  RopeConfig wide;
  wide.n_rot = 130;
  EXPECT_EQ(RopeBf16(Fake(), FakeI32(), 1, 1, 128, wide, nullptr), kBad);
  RopeConfig odd_rot;
  odd_rot.n_rot = 31;
  EXPECT_EQ(RopeBf16(Fake(), FakeI32(), 1, 1, 64, odd_rot, nullptr), kBad);
  RopeConfig bad_theta;
  bad_theta.theta = 0.0f;
  EXPECT_EQ(RopeBf16(Fake(), FakeI32(), 1, 1, 64, bad_theta, nullptr), kBad);
  RopeConfig bad_linear;
  bad_linear.linear_factor = -2.0f;
  EXPECT_EQ(RopeBf16(Fake(), FakeI32(), 1, 1, 64, bad_linear, nullptr), kBad);
  RopeConfig bad_llama3;
  bad_llama3.llama3_factor = 8.0f;
  bad_llama3.llama3_low_freq_factor = 4.0f;
  bad_llama3.llama3_high_freq_factor = 4.0f;  // division by zero in the smooth band
  EXPECT_EQ(RopeBf16(Fake(), FakeI32(), 1, 1, 64, bad_llama3, nullptr), kBad);
  EXPECT_EQ(RopeBf16(Fake(), nullptr, 1, 1, 64, ok, nullptr), kBad);
  EXPECT_EQ(RopeBf16(Fake(), FakeI32(), -1, 1, 64, ok, nullptr), kBad);
  EXPECT_EQ(RopeBf16(Fake(), FakeI32(), 0, 1, 64, ok, nullptr), cudaSuccess);
}

TEST(KernelsCudaArgsTest, Elementwise) {
  EXPECT_EQ(SwiGluBf16(nullptr, Fake(), Fake(), 8, nullptr), kBad);
  EXPECT_EQ(SwiGluBf16(Fake(), Fake(), Fake(), -8, nullptr), kBad);
  EXPECT_EQ(SwiGluBf16(Fake(), Fake(), Fake(), 0, nullptr), cudaSuccess);
  EXPECT_EQ(EmbeddingGatherBf16(Fake(), 0, FakeI32(), 1, 8, Fake(), nullptr), kBad);
  EXPECT_EQ(EmbeddingGatherBf16(Fake(), 10, FakeI32(), 1, 0, Fake(), nullptr), kBad);
  EXPECT_EQ(EmbeddingGatherBf16(Fake(), 10, nullptr, 1, 8, Fake(), nullptr), kBad);
  EXPECT_EQ(DequantizeQ8_0ToBf16(fake_storage, 1, 33, Fake(), nullptr), kBad);  // not 32k
  EXPECT_EQ(DequantizeQ4_0ToBf16(fake_storage, 1, 0, Fake(), nullptr), kBad);
  EXPECT_EQ(DequantizeQ4_0ToBf16(nullptr, 1, 32, Fake(), nullptr), kBad);
  EXPECT_EQ(DequantizeQ8_0ToBf16(fake_storage, -1, 32, Fake(), nullptr), kBad);
  EXPECT_EQ(DequantizeQ8_0ToBf16(fake_storage, 1, 32, Misaligned(), nullptr), kBad);
  EXPECT_EQ(DequantizeQ4_1ToBf16(fake_storage, 1, 48, Fake(), nullptr), kBad);  // not 32k
  EXPECT_EQ(DequantizeQ4_1ToBf16(nullptr, 1, 32, Fake(), nullptr), kBad);
  EXPECT_EQ(DequantizeQ4_1ToBf16(fake_storage, 1, 32, nullptr, nullptr), kBad);
  EXPECT_EQ(DequantizeQ4_1ToBf16(fake_storage, -2, 32, Fake(), nullptr), kBad);
  EXPECT_EQ(DequantizeQ4_1ToBf16(fake_storage, 1, 32, Misaligned(), nullptr), kBad);
  EXPECT_EQ(DequantizeQ4_1ToBf16(fake_storage, 0, 32, Fake(), nullptr), cudaSuccess);  // no rows
  for (auto* k_quant : {DequantizeQ4_KToBf16, DequantizeQ6_KToBf16}) {
    EXPECT_EQ(k_quant(fake_storage, 1, 32, Fake(), nullptr), kBad);   // not a multiple of 256
    EXPECT_EQ(k_quant(fake_storage, 1, 384, Fake(), nullptr), kBad);  // 1.5 super-blocks
    EXPECT_EQ(k_quant(fake_storage, 1, 0, Fake(), nullptr), kBad);
    EXPECT_EQ(k_quant(nullptr, 1, 256, Fake(), nullptr), kBad);
    EXPECT_EQ(k_quant(fake_storage, 1, 256, nullptr, nullptr), kBad);
    EXPECT_EQ(k_quant(fake_storage, -1, 256, Fake(), nullptr), kBad);
    EXPECT_EQ(k_quant(fake_storage, 1, 256, Misaligned(), nullptr), kBad);
    // rows * n beyond 2^40 values: rejected before any size arithmetic overflows.
    EXPECT_EQ(k_quant(fake_storage, int64_t{1} << 62, 256, Fake(), nullptr), kBad);
    EXPECT_EQ(k_quant(fake_storage, 0, 256, Fake(), nullptr), cudaSuccess);  // no rows
  }
}

TEST(KernelsCudaArgsTest, LogSoftmaxGather) {
  EXPECT_EQ(LogSoftmaxGatherF32(nullptr, FakeI32(), FakeF32(), nullptr, 1, 10, nullptr), kBad);
  EXPECT_EQ(LogSoftmaxGatherF32(FakeF32(), nullptr, FakeF32(), nullptr, 1, 10, nullptr), kBad);
  EXPECT_EQ(LogSoftmaxGatherF32(FakeF32(), FakeI32(), nullptr, nullptr, 1, 10, nullptr), kBad);
  EXPECT_EQ(LogSoftmaxGatherF32(FakeF32(), FakeI32(), FakeF32(), nullptr, 1, 0, nullptr), kBad);
  EXPECT_EQ(LogSoftmaxGatherF32(FakeF32(), nullptr, nullptr, FakeI32(), -1, 10, nullptr), kBad);
  EXPECT_EQ(LogSoftmaxGatherF32(FakeF32(), nullptr, nullptr, FakeI32(), 0, 10, nullptr),
            cudaSuccess);
}

TEST(KernelsCudaArgsTest, GemmSwiGlu) {
  EXPECT_EQ(GemmSwiGluBf16(Fake(), Fake(), Fake(), 4, 4, 12, nullptr), kBad);  // k % 8
  EXPECT_EQ(GemmSwiGluBf16(Fake(), Fake(), Fake(), 4, 0, 8, nullptr), kBad);
  EXPECT_EQ(GemmSwiGluBf16(Fake(), Misaligned(), Fake(), 4, 4, 8, nullptr), kBad);
  EXPECT_EQ(GemmSwiGluBf16(Fake(), Fake(), nullptr, 4, 4, 8, nullptr), kBad);
  EXPECT_EQ(GemmSwiGluBf16(Fake(), Fake(), Fake(), 4, int64_t{1} << 30, 8, nullptr), kBad);
  EXPECT_EQ(GemmSwiGluBf16(Fake(), Fake(), Fake(), 4, int64_t{1} << 62, 8, nullptr), kBad);
}

bool HaveDevice() {
  int count = 0;  // left untouched when the driver is missing
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

// Validation comes before the kernel family is chosen: a forced family never
// turns a bad call into a launch or into cudaErrorNotSupported.
TEST(KernelsCudaArgsTest, GemmForcedImplValidatesFirst) {
  for (GemmImpl impl : {GemmImpl::kAuto, GemmImpl::kSm80, GemmImpl::kSm90a}) {
    SCOPED_TRACE(static_cast<int>(impl));
    float* c = FakeF32();
    EXPECT_EQ(GemmBf16(Fake(), Fake(), c, nullptr, nullptr, 300, 4, 12, nullptr, impl), kBad);
    EXPECT_EQ(GemmBf16(Fake(), Fake(), c, nullptr, nullptr, 300, 4, 0, nullptr, impl), kBad);
    EXPECT_EQ(GemmBf16(Misaligned(), Fake(), Fake(), Fake(), nullptr, 300, 4, 8, nullptr, impl),
              kBad);
    EXPECT_EQ(
        GemmBf16(Fake(), Fake(), Fake(), nullptr, nullptr, 300, int64_t{1} << 31, 8, nullptr, impl),
        kBad);
    EXPECT_EQ(
        GemmBf16(Fake(), Fake(), c, nullptr, nullptr, 300, 4, int64_t{1} << 31, nullptr, impl),
        kBad);
    __half* h = reinterpret_cast<__half*>(fake_storage);
    __half* h_misaligned = reinterpret_cast<__half*>(fake_storage + 2);
    EXPECT_EQ(GemmF16(h, h, c, nullptr, nullptr, 300, 4, 12, nullptr, impl), kBad);  // k % 8
    EXPECT_EQ(GemmF16(h_misaligned, h, h, nullptr, nullptr, 300, 4, 8, nullptr, impl), kBad);
    EXPECT_EQ(GemmF16(h, h_misaligned, c, nullptr, nullptr, 300, 4, 8, nullptr, impl), kBad);
    EXPECT_EQ(
        GemmF16(h, h, static_cast<__half*>(nullptr), nullptr, nullptr, 300, 4, 8, nullptr, impl),
        kBad);
    EXPECT_EQ(GemmF16(h, h, c, nullptr, nullptr, -5, 4, 8, nullptr, impl), kBad);
    EXPECT_EQ(GemmSwiGluBf16(Fake(), Misaligned(), Fake(), 300, 4, 8, nullptr, impl), kBad);
    EXPECT_EQ(GemmSwiGluBf16(Fake(), Fake(), Fake(), 300, -1, 8, nullptr, impl), kBad);
    EXPECT_EQ(GemmSwiGluBf16(Fake(), Fake(), Fake(), 300, 4, 9, nullptr, impl), kBad);
  }
}

// Without a device (or on a GPU other than compute capability 9.0) the
// Hopper path is unavailable: kAuto selects sm80 and a forced sm90a call with
// valid arguments is refused before anything is launched.
TEST(KernelsCudaArgsTest, GemmSm90aUnavailableWithoutHopper) {
  if (HaveDevice()) {
    int device = 0, major = 0, minor = 0;
    ASSERT_EQ(cudaGetDevice(&device), cudaSuccess);
    cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device);
    cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device);
    if (major == 9 && minor == 0) GTEST_SKIP() << "a Hopper GPU is present";
  }
  EXPECT_FALSE(GemmSm90aAvailable());
  EXPECT_EQ(SelectGemmImpl(4096), GemmImpl::kSm80);
  EXPECT_EQ(SelectGemmImpl(1), GemmImpl::kSm80);
  EXPECT_EQ(
      GemmBf16(Fake(), Fake(), FakeF32(), nullptr, nullptr, 300, 4, 8, nullptr, GemmImpl::kSm90a),
      cudaErrorNotSupported);
  EXPECT_EQ(GemmSwiGluBf16(Fake(), Fake(), Fake(), 300, 4, 8, nullptr, GemmImpl::kSm90a),
            cudaErrorNotSupported);
  EXPECT_EQ(
      GemmF16(reinterpret_cast<__half*>(fake_storage), reinterpret_cast<__half*>(fake_storage),
              FakeF32(), nullptr, nullptr, 300, 4, 8, nullptr, GemmImpl::kSm90a),
      cudaErrorNotSupported);
}

// PROCTOR_CUDA_GEMM=sm80 turns the automatic choice back to sm80 (any other
// value leaves it alone). The variable is read once per process, so each
// check runs in a freshly started copy of this binary ("threadsafe" death
// test style re-executes it).
TEST(KernelsCudaArgsDeathTest, GemmEnvOverride) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        setenv("PROCTOR_CUDA_GEMM", "sm80", 1);
        std::exit(GemmSm90aDisabledByEnv() && SelectGemmImpl(4096) == GemmImpl::kSm80 ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
  EXPECT_EXIT(
      {
        setenv("PROCTOR_CUDA_GEMM", "sm90a", 1);
        std::exit(GemmSm90aDisabledByEnv() ? 1 : 0);
      },
      ::testing::ExitedWithCode(0), "");
}

// The dispatch rule on a Hopper GPU with the sm_90a kernels built in:
// decode-sized m stays on sm80, larger m takes the wgmma path.
TEST(KernelsCudaArgsTest, GemmDispatchRuleOnHopper) {
  if (!GemmSm90aAvailable()) GTEST_SKIP() << "no compute capability 9.0 device with sm_90a code";
  EXPECT_EQ(SelectGemmImpl(1), GemmImpl::kSm80);
  EXPECT_EQ(SelectGemmImpl(64), GemmImpl::kSm80);
  EXPECT_EQ(SelectGemmImpl(65), GemmImpl::kSm90a);
  EXPECT_EQ(SelectGemmImpl(8192), GemmImpl::kSm90a);
}

TEST(KernelsCudaArgsTest, Gemm) {
  float* c = FakeF32();
  EXPECT_EQ(GemmBf16(Fake(), Fake(), c, nullptr, nullptr, 4, 4, 12, nullptr), kBad);  // k % 8
  EXPECT_EQ(GemmBf16(Fake(), Fake(), c, nullptr, nullptr, 0, 4, 8, nullptr), kBad);
  EXPECT_EQ(GemmBf16(Fake(), Fake(), c, nullptr, nullptr, 4, 0, 8, nullptr), kBad);
  EXPECT_EQ(GemmBf16(Misaligned(), Fake(), c, nullptr, nullptr, 4, 4, 8, nullptr), kBad);
  EXPECT_EQ(GemmBf16(Fake(), Misaligned(), c, nullptr, nullptr, 4, 4, 8, nullptr), kBad);
  EXPECT_EQ(GemmBf16(nullptr, Fake(), c, nullptr, nullptr, 4, 4, 8, nullptr), kBad);
  EXPECT_EQ(
      GemmBf16(Fake(), Fake(), static_cast<float*>(nullptr), nullptr, nullptr, 4, 4, 8, nullptr),
      kBad);
  EXPECT_EQ(GemmBf16(Fake(), Fake(), Fake(), nullptr, nullptr, int64_t{1} << 32, 4, 8, nullptr),
            kBad);
}

PrefillAttentionArgs GoodPrefill() {
  PrefillAttentionArgs a;
  a.q = a.k = a.v = Fake();
  a.out = Fake();
  a.cu_seqlens_q = a.cu_seqlens_k = FakeI32();
  a.batch = 1;
  a.max_seqlen_q = 0;  // valid and a no-op, so the "good" baseline never launches
  a.n_heads = 8;
  a.n_kv = 2;
  a.head_dim = 128;
  a.scale = 0.125f;
  return a;
}

TEST(KernelsCudaArgsTest, PrefillAttention) {
  EXPECT_EQ(PrefillAttentionBf16(GoodPrefill(), nullptr), cudaSuccess);
  PrefillAttentionArgs a = GoodPrefill();
  a.head_dim = 96;  // only 64 and 128 are instantiated
  EXPECT_EQ(PrefillAttentionBf16(a, nullptr), kBad);
  a = GoodPrefill();
  a.n_kv = 3;  // 8 % 3 != 0
  EXPECT_EQ(PrefillAttentionBf16(a, nullptr), kBad);
  a = GoodPrefill();
  a.n_kv = 0;
  EXPECT_EQ(PrefillAttentionBf16(a, nullptr), kBad);
  a = GoodPrefill();
  a.batch = 0;
  EXPECT_EQ(PrefillAttentionBf16(a, nullptr), kBad);
  a = GoodPrefill();
  a.q = Misaligned();
  EXPECT_EQ(PrefillAttentionBf16(a, nullptr), kBad);
  a = GoodPrefill();
  a.cu_seqlens_k = nullptr;
  EXPECT_EQ(PrefillAttentionBf16(a, nullptr), kBad);
  a = GoodPrefill();
  a.scale = std::numeric_limits<float>::infinity();
  EXPECT_EQ(PrefillAttentionBf16(a, nullptr), kBad);
  a = GoodPrefill();
  a.max_seqlen_q = -1;
  EXPECT_EQ(PrefillAttentionBf16(a, nullptr), kBad);
  // Paged K/V needs a consistent page geometry.
  a = GoodPrefill();
  a.block_table = FakeI32();
  a.page_size = 16;
  a.num_pages = 4;
  a.max_pages_per_seq = 2;
  EXPECT_EQ(PrefillAttentionBf16(a, nullptr), cudaSuccess);  // max_seqlen_q == 0: no launch
  a.page_size = 0;
  EXPECT_EQ(PrefillAttentionBf16(a, nullptr), kBad);
  a.page_size = 16;
  a.num_pages = 0;
  EXPECT_EQ(PrefillAttentionBf16(a, nullptr), kBad);
  a.num_pages = 4;
  a.max_pages_per_seq = int64_t{1} << 28;  // 2^28 * 16 keys overflow int32
  EXPECT_EQ(PrefillAttentionBf16(a, nullptr), kBad);
}

DecodeAttentionArgs GoodDecode() {
  DecodeAttentionArgs a;
  a.q = a.k_pages = a.v_pages = Fake();
  a.out = Fake();
  a.block_table = a.seq_lens = FakeI32();
  a.batch = 2;
  a.n_heads = 8;
  a.n_kv = 2;
  a.head_dim = 64;
  a.num_pages = 4;
  a.page_size = 16;
  a.max_pages_per_seq = 2;
  a.max_seq_len = 4096;
  a.scale = 0.125f;
  return a;
}

TEST(KernelsCudaArgsTest, DecodeAttention) {
  EXPECT_EQ(DecodeAttentionNumSplits(0), 1);
  EXPECT_EQ(DecodeAttentionNumSplits(256), 1);
  EXPECT_EQ(DecodeAttentionNumSplits(257), 2);
  EXPECT_EQ(DecodeAttentionNumSplits(int64_t{1} << 40), 32);
  const size_t ws = DecodeAttentionWorkspaceBytes(2, 8, 64, 4096);
  EXPECT_EQ(ws, size_t{2} * 8 * 16 * (64 + 2) * sizeof(float));
  EXPECT_EQ(DecodeAttentionWorkspaceBytes(2, 8, 64, 100), 0u);  // one split: no workspace

  DecodeAttentionArgs a = GoodDecode();
  EXPECT_EQ(DecodeAttentionBf16(a, fake_storage, ws - 1, nullptr), kBad);  // workspace too small
  EXPECT_EQ(DecodeAttentionBf16(a, nullptr, ws, nullptr), kBad);
  a.head_dim = 80;
  EXPECT_EQ(DecodeAttentionBf16(a, fake_storage, ws, nullptr), kBad);
  a = GoodDecode();
  a.page_size = 0;
  EXPECT_EQ(DecodeAttentionBf16(a, fake_storage, ws, nullptr), kBad);
  a = GoodDecode();
  a.n_kv = 3;
  EXPECT_EQ(DecodeAttentionBf16(a, fake_storage, ws, nullptr), kBad);
  a = GoodDecode();
  a.block_table = nullptr;
  EXPECT_EQ(DecodeAttentionBf16(a, fake_storage, ws, nullptr), kBad);
  a = GoodDecode();
  a.max_pages_per_seq = int64_t{1} << 31;  // key indices would overflow int32
  EXPECT_EQ(DecodeAttentionBf16(a, fake_storage, ws, nullptr), kBad);
  a = GoodDecode();
  a.k_pages = reinterpret_cast<const __nv_bfloat16*>(fake_storage + 2);
  EXPECT_EQ(DecodeAttentionBf16(a, fake_storage, ws, nullptr), kBad);
}

}  // namespace
}  // namespace proctor::kernels::cuda
