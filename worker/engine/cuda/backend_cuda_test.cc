// The CUDA backend against the CPU reference backend, through the same
// Transformer code: logits, vocabulary-parallel log-probabilities, decode
// steps (eager and CUDA-graph replays) and NCCL at tp 1. Label `gpu`; every
// test skips visibly without a device.
//
// Tolerances: the CUDA backend keeps weights and activations in BF16 (8
// significant bits) with F32 accumulation, the CPU reference is F32
// throughout, so logits differ by a few BF16 ulps of the activations
// propagated through the layers. We require max |diff| <= 5% of the largest
// |logit| (+0.05), and the same argmax on at least 90% of positions; CUDA
// graphs must not change a single bit.
#include "worker/engine/cuda/backend_cuda.h"

#include <cmath>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <random>
#include <thread>

#include "gtest/gtest.h"
#include "kernels/comm/nccl_communicator.h"
#include "kernels/cpu/reference.h"
#include "worker/engine/cuda/device_info.h"
#include "worker/engine/cuda/memory_plan.h"
#include "worker/engine/model.h"
#include "worker/engine/transformer.h"

namespace proctor::engine::cuda {
namespace {

using kernels::WeightFormat;
using kernels::WeightMatrix;

bool HaveDevice() { return !ListCudaDevices().empty(); }

// A random Llama model whose shapes take the tensor-core paths (head_dim 64,
// every dimension a multiple of 8), with F32, Q8_0 and Q4_0 matrices (the
// block formats exercise the device decoders on upload).
class RandomModel {
 public:
  RandomModel() : rng_(7) {
    ModelConfig& c = w_.config;
    c.dim = 256;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.head_dim = 64;
    c.hidden_dim = 512;
    c.n_layers = 2;
    c.vocab_size = 512;
    c.context_length = 256;
    w_.token_embd = Matrix(c.vocab_size, c.dim, 1.0f);
    w_.output = Matrix(c.vocab_size, c.dim, 0.0f);
    w_.output_norm = Vector(c.dim);
    for (int l = 0; l < c.n_layers; ++l) {
      LayerWeights L;
      L.attn_norm = Vector(c.dim);
      L.ffn_norm = Vector(c.dim);
      L.wq = Quantised(WeightFormat::kQ8_0, c.n_heads * c.head_dim, c.dim);
      L.wk = Matrix(c.n_kv_heads * c.head_dim, c.dim, 0.0f);
      L.wv = Matrix(c.n_kv_heads * c.head_dim, c.dim, 0.0f);
      L.wo = Matrix(c.dim, c.n_heads * c.head_dim, 0.0f);
      L.w_gate = Matrix(c.hidden_dim, c.dim, 0.0f);
      L.w_up = Quantised(WeightFormat::kQ4_0, c.hidden_dim, c.dim);
      L.w_down = Quantised(WeightFormat::kQ8_0, c.dim, c.hidden_dim);
      w_.layers.push_back(std::move(L));
    }
  }
  const ModelWeights& weights() const { return w_; }

 private:
  std::vector<float> Vector(int64_t n) {
    std::normal_distribution<float> d(1.0f, 0.1f);
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = d(rng_);
    return v;
  }
  WeightMatrix Matrix(int64_t rows, int64_t cols, float stddev) {
    std::normal_distribution<float> d(
        0.0f, stddev > 0 ? stddev : 1.0f / std::sqrt(static_cast<float>(cols)));
    std::vector<float>& b = buffers_.emplace_back(static_cast<size_t>(rows * cols));
    for (float& x : b) x = d(rng_);
    return WeightMatrix{WeightFormat::kF32, b.data(), rows, cols, 0};
  }
  // Q8_0: f16 scale + 32 int8; Q4_0: f16 scale + 16 bytes of nibbles.
  WeightMatrix Quantised(WeightFormat f, int64_t rows, int64_t cols) {
    const int64_t block = f == WeightFormat::kQ8_0 ? 34 : 18;
    std::vector<uint8_t>& b = bytes_.emplace_back(static_cast<size_t>(rows * cols / 32 * block));
    const float scale =
        (f == WeightFormat::kQ8_0 ? 1.0f / 64 : 1.0f / 4) / std::sqrt(static_cast<float>(cols));
    const uint16_t h = kernels::ref::FloatToHalf(scale);
    for (size_t at = 0; at < b.size(); at += static_cast<size_t>(block)) {
      b[at] = static_cast<uint8_t>(h & 0xff);
      b[at + 1] = static_cast<uint8_t>(h >> 8);
      for (int64_t j = 2; j < block; ++j)
        b[at + static_cast<size_t>(j)] = static_cast<uint8_t>(rng_());
    }
    return WeightMatrix{f, b.data(), rows, cols, 0};
  }
  std::mt19937 rng_;
  std::deque<std::vector<float>> buffers_;
  std::deque<std::vector<uint8_t>> bytes_;
  ModelWeights w_;
};

absl::StatusOr<std::unique_ptr<Backend>> MakeCuda(const ModelWeights& w,
                                                  kernels::comm::NcclCommunicator* comm,
                                                  bool graphs, bool device_dequant = true) {
  MemoryPlanOptions po;
  po.reserve_bytes = 0;
  po.kv_fraction = 0.05;
  const std::vector<int64_t> free_bytes = FreeDeviceBytes({0});
  auto plan = PlanMemory(w.config, 1, free_bytes, po);
  if (!plan.ok()) return plan.status();
  CudaBackendOptions o;
  o.device = 0;
  o.plan = *plan;
  o.cuda_graphs = graphs;
  o.device_dequant = device_dequant;
  return CreateCudaBackend(w, comm, o);
}

// Logits at every position after a prefill of all but the last `decode`
// tokens and `decode` single-token steps.
std::vector<float> RunLogits(const Transformer& tf, const std::vector<int32_t>& tokens,
                             size_t decode) {
  KvCache cache;
  const size_t prefill = tokens.size() - decode;
  EXPECT_TRUE(
      tf.Extend(std::vector<int32_t>(tokens.begin(), tokens.begin() + prefill), &cache).ok());
  for (size_t i = prefill; i < tokens.size(); ++i) {
    const absl::Status s = tf.Extend({tokens[i]}, &cache);
    EXPECT_TRUE(s.ok()) << s;
  }
  const int64_t n = static_cast<int64_t>(tokens.size()), vocab = tf.config().vocab_size;
  std::vector<int64_t> pos(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) pos[static_cast<size_t>(i)] = i;
  std::vector<float> out(static_cast<size_t>(n * vocab));
  tf.Logits(cache, pos.data(), n, out.data());
  return out;
}

void ExpectClose(const std::vector<float>& want, const std::vector<float>& got, int64_t vocab,
                 const std::string& what) {
  ASSERT_EQ(want.size(), got.size());
  double max_abs = 0, worst = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    max_abs = std::max(max_abs, std::fabs(static_cast<double>(want[i])));
    worst = std::max(worst, std::fabs(static_cast<double>(want[i]) - got[i]));
  }
  const int64_t rows = static_cast<int64_t>(want.size()) / vocab;
  int64_t same = 0;
  for (int64_t r = 0; r < rows; ++r) {
    same += kernels::ref::Argmax(want.data() + r * vocab, vocab) ==
            kernels::ref::Argmax(got.data() + r * vocab, vocab);
  }
  std::printf("%s: max |logit| %.4f, max |cuda - cpu| %.5f, argmax agree %lld/%lld\n", what.c_str(),
              max_abs, worst, static_cast<long long>(same), static_cast<long long>(rows));
  EXPECT_LE(worst, 0.05 * max_abs + 0.05) << what;
  EXPECT_GE(same * 10, rows * 9) << what;
}

TEST(CudaBackendTest, RandomModelMatchesCpuWithAndWithoutGraphs) {
  if (!HaveDevice()) GTEST_SKIP() << "no CUDA device: the CUDA backend is not exercised";
  RandomModel model;
  const ModelWeights& w = model.weights();
  std::vector<int32_t> tokens;
  std::mt19937 rng(3);
  for (int i = 0; i < 80; ++i) tokens.push_back(static_cast<int32_t>(rng() % 512));
  Transformer cpu(&w, nullptr);
  const std::vector<float> want = RunLogits(cpu, tokens, 8);
  auto eager = MakeCuda(w, nullptr, /*graphs=*/false);
  ASSERT_TRUE(eager.ok()) << eager.status();
  auto graphs = MakeCuda(w, nullptr, /*graphs=*/true);
  ASSERT_TRUE(graphs.ok()) << graphs.status();
  Transformer tf_eager({eager->get()}), tf_graphs({graphs->get()});
  const std::vector<float> got_eager = RunLogits(tf_eager, tokens, 8);
  const std::vector<float> got_graphs = RunLogits(tf_graphs, tokens, 8);
  ExpectClose(want, got_eager, w.config.vocab_size, "random model, eager");
  // 8 decode steps: the first eager, the second captured, six replays.
  EXPECT_EQ(got_eager, got_graphs) << "CUDA graph replays changed the logits";
}

TEST(CudaBackendTest, DeviceAndHostDequantisationUploadTheSameWeights) {
  if (!HaveDevice()) GTEST_SKIP() << "no CUDA device: the CUDA backend is not exercised";
  RandomModel model;
  auto device = MakeCuda(model.weights(), nullptr, true, /*device_dequant=*/true);
  auto host = MakeCuda(model.weights(), nullptr, true, /*device_dequant=*/false);
  ASSERT_TRUE(device.ok()) << device.status();
  ASSERT_TRUE(host.ok()) << host.status();
  Transformer a({device->get()}), b({host->get()});
  const std::vector<int32_t> tokens = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5};
  EXPECT_EQ(RunLogits(a, tokens, 2), RunLogits(b, tokens, 2));
}

TEST(CudaBackendTest, LogProbsMatchCpu) {
  if (!HaveDevice()) GTEST_SKIP() << "no CUDA device: the CUDA backend is not exercised";
  RandomModel model;
  const ModelWeights& w = model.weights();
  std::vector<int32_t> tokens;
  for (int i = 0; i < 40; ++i) tokens.push_back((i * 37 + 5) % 512);
  auto cuda = MakeCuda(w, nullptr, true);
  ASSERT_TRUE(cuda.ok()) << cuda.status();
  Transformer cpu(&w, nullptr), gpu({cuda->get()});
  KvCache c1, c2;
  ASSERT_TRUE(cpu.Extend(tokens, &c1).ok());
  ASSERT_TRUE(gpu.Extend(tokens, &c2).ok());
  const int64_t n = static_cast<int64_t>(tokens.size()) - 1;
  std::vector<int64_t> pos(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) pos[static_cast<size_t>(i)] = i;
  std::vector<float> lp1(static_cast<size_t>(n)), lp2(static_cast<size_t>(n));
  std::vector<int32_t> am1(static_cast<size_t>(n)), am2(static_cast<size_t>(n));
  ASSERT_TRUE(cpu.LogProbs(c1, pos.data(), tokens.data() + 1, n, lp1.data(), am1.data()).ok());
  ASSERT_TRUE(gpu.LogProbs(c2, pos.data(), tokens.data() + 1, n, lp2.data(), am2.data()).ok());
  double worst = 0;
  for (int64_t i = 0; i < n; ++i) {
    worst = std::max(worst, std::fabs(static_cast<double>(lp1[static_cast<size_t>(i)]) -
                                      lp2[static_cast<size_t>(i)]));
  }
  std::printf("log-probs: max |cuda - cpu| %.5f over %lld positions\n", worst,
              static_cast<long long>(n));
  EXPECT_LE(worst, 0.1);
}

TEST(CudaBackendTest, NcclAtTp1MatchesNoCommunicator) {
  if (!HaveDevice()) GTEST_SKIP() << "no CUDA device: NCCL is not exercised";
  RandomModel model;
  const ModelWeights& w = model.weights();
  kernels::comm::NcclGroup group = kernels::comm::CreateNcclGroup({0});
  ASSERT_TRUE(group.error.empty()) << group.error;
  auto plain = MakeCuda(w, nullptr, true);
  auto nccl = MakeCuda(w, group.ranks[0].get(), true);
  ASSERT_TRUE(plain.ok()) << plain.status();
  ASSERT_TRUE(nccl.ok()) << nccl.status();
  std::vector<int32_t> tokens = {1, 2, 3, 400, 17, 99, 256, 8, 9, 10};
  Transformer a({plain->get()}), b({nccl->get()});
  EXPECT_EQ(RunLogits(a, tokens, 3), RunLogits(b, tokens, 3));
}

TEST(CudaBackendTest, Stories260KMatchesCpu) {
  if (!HaveDevice()) GTEST_SKIP() << "no CUDA device: the CUDA backend is not exercised";
  const char* root = std::getenv("PROCTOR_SHARED_DATA");
  if (root == nullptr) GTEST_SKIP() << "PROCTOR_SHARED_DATA is not set";
  const std::filesystem::path path =
      std::filesystem::path(root) / "models" / "stories260K" / "stories260K.bin";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is missing";
  auto m = Model::Load(path.string());
  ASSERT_TRUE(m.ok()) << m.status();
  auto cuda = MakeCuda((*m)->weights(), nullptr, true);
  ASSERT_TRUE(cuda.ok()) << cuda.status();
  Transformer cpu(&(*m)->weights(), nullptr), gpu({cuda->get()});
  std::vector<int32_t> tokens = {1};
  for (int i = 0; i < 60; ++i) tokens.push_back((i * 53 + 11) % 512);
  ExpectClose(RunLogits(cpu, tokens, 10), RunLogits(gpu, tokens, 10), (*m)->config().vocab_size,
              "stories260K");
  // Greedy continuation from BOS: token by token on both backends.
  KvCache c1, c2;
  std::vector<int32_t> g1 = {1}, g2 = {1};
  ASSERT_TRUE(cpu.Extend({1}, &c1).ok());
  ASSERT_TRUE(gpu.Extend({1}, &c2).ok());
  const int64_t vocab = (*m)->config().vocab_size;
  std::vector<float> l(static_cast<size_t>(vocab));
  for (int step = 0; step < 40; ++step) {
    int64_t last = c1.length() - 1;
    cpu.Logits(c1, &last, 1, l.data());
    g1.push_back(static_cast<int32_t>(kernels::ref::Argmax(l.data(), vocab)));
    last = c2.length() - 1;
    gpu.Logits(c2, &last, 1, l.data());
    g2.push_back(static_cast<int32_t>(kernels::ref::Argmax(l.data(), vocab)));
    ASSERT_TRUE(cpu.Extend({g1.back()}, &c1).ok());
    ASSERT_TRUE(gpu.Extend({g2.back()}, &c2).ok());
  }
  EXPECT_EQ(g1, g2) << "greedy tokens differ between the CPU and CUDA backends";
}

}  // namespace
}  // namespace proctor::engine::cuda
