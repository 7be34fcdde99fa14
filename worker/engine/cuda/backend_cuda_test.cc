// The CUDA backend against the CPU reference backend, through the same
// Transformer code: logits, vocabulary-parallel log-probabilities, decode
// steps (eager and CUDA-graph replays), batched steps over several caches
// (forks sharing pages, copy-on-write of a partial page, a sequence spanning
// two steps, batched decode) and NCCL at tp 1. Label `gpu`; every test skips
// visibly without a device.
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
    c.context_length = 512;  // room for a sequence spanning two 256-row steps
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

// Logits at every position of `cache` (CPU or CUDA).
std::vector<float> AllLogits(const Transformer& tf, const KvCache& cache) {
  const int64_t n = cache.length(), vocab = tf.config().vocab_size;
  std::vector<CacheRow> rows;
  for (int64_t i = 0; i < n; ++i) rows.push_back({&cache, i});
  std::vector<float> out(static_cast<size_t>(n * vocab));
  const absl::Status s = tf.Logits(rows, out.data());
  EXPECT_TRUE(s.ok()) << s;
  return out;
}

// The CPU reference of one token sequence, computed alone from scratch.
std::vector<float> CpuLogits(const Transformer& cpu, const std::vector<int32_t>& tokens) {
  KvCache cache;
  EXPECT_TRUE(cpu.Extend(tokens, &cache).ok());
  return AllLogits(cpu, cache);
}

std::vector<int32_t> RandomTokens(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> t(n);
  for (int32_t& x : t) x = static_cast<int32_t>(rng() % 512);
  return t;
}

std::vector<int32_t> Concat(std::vector<int32_t> a, const std::vector<int32_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

TEST(CudaBackendTest, BatchedStepOverAForkAFreshCacheAndALongOneMatchesCpu) {
  if (!HaveDevice()) GTEST_SKIP() << "no CUDA device: the CUDA backend is not exercised";
  RandomModel model;
  const ModelWeights& w = model.weights();
  auto cuda = MakeCuda(w, nullptr, /*graphs=*/true);
  ASSERT_TRUE(cuda.ok()) << cuda.status();
  Transformer cpu(&w, nullptr), gpu({cuda->get()});
  const int64_t vocab = w.config.vocab_size;

  // A cached prefix of 40 positions (pages of 16: the third is partial), a
  // fork of its first 37, a fresh cache and a long one of 300 tokens: the
  // batch (5 + 20 + 300 rows) spans two steps of at most 256 rows, the long
  // item continuing in the second.
  const std::vector<int32_t> prefix = RandomTokens(40, 1), cont = RandomTokens(5, 2),
                             fresh_tokens = RandomTokens(20, 3), long_tokens = RandomTokens(300, 4);
  KvCache parent, fork, fresh, long_cache;
  ASSERT_TRUE(gpu.Extend(prefix, &parent).ok());
  const std::vector<float> parent_before = AllLogits(gpu, parent);
  ASSERT_TRUE(gpu.Fork(parent, 37, &fork).ok());
  const ExtendItem items[] = {{&fork, cont}, {&fresh, fresh_tokens}, {&long_cache, long_tokens}};
  const absl::Status s = gpu.ExtendBatch(items);
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_EQ(fork.length(), 42);
  ASSERT_EQ(long_cache.length(), 300);

  // The shared pages were not written: the parent's logits are bit-identical.
  EXPECT_EQ(AllLogits(gpu, parent), parent_before) << "the fork's step wrote a shared page";
  const std::vector<int32_t> fork_tokens =
      Concat(std::vector<int32_t>(prefix.begin(), prefix.begin() + 37), cont);
  ExpectClose(CpuLogits(cpu, fork_tokens), AllLogits(gpu, fork), vocab, "batched step: fork");
  ExpectClose(CpuLogits(cpu, fresh_tokens), AllLogits(gpu, fresh), vocab, "batched step: fresh");
  ExpectClose(CpuLogits(cpu, long_tokens), AllLogits(gpu, long_cache), vocab,
              "batched step: long (two steps)");

  // One vocabulary matmul over rows of three caches equals the per-cache rows.
  const CacheRow mixed[] = {{&fork, 41}, {&long_cache, 299}, {&fresh, 0}, {&parent, 39}};
  std::vector<float> got(4 * static_cast<size_t>(vocab));
  ASSERT_TRUE(gpu.Logits(mixed, got.data()).ok());
  const std::vector<float> f = AllLogits(gpu, fork), l = AllLogits(gpu, long_cache),
                           n = AllLogits(gpu, fresh);
  const float* want[] = {f.data() + 41 * vocab, l.data() + 299 * vocab, n.data(),
                         parent_before.data() + 39 * vocab};
  for (int r = 0; r < 4; ++r) {
    EXPECT_EQ(std::vector<float>(got.begin() + r * vocab, got.begin() + (r + 1) * vocab),
              std::vector<float>(want[r], want[r] + vocab))
        << "row " << r;
  }
  // LogProbs over the same mixed rows against the CPU.
  const int32_t targets[] = {7, 100, 3, 511};
  float lp_gpu[4], lp_cpu[4];
  int32_t am_gpu[4], am_cpu[4];
  ASSERT_TRUE(gpu.LogProbs(mixed, targets, lp_gpu, am_gpu).ok());
  KvCache c_fork, c_long, c_fresh, c_parent;
  ASSERT_TRUE(cpu.Extend(fork_tokens, &c_fork).ok());
  ASSERT_TRUE(cpu.Extend(long_tokens, &c_long).ok());
  ASSERT_TRUE(cpu.Extend(fresh_tokens, &c_fresh).ok());
  ASSERT_TRUE(cpu.Extend(prefix, &c_parent).ok());
  const CacheRow cpu_rows[] = {{&c_fork, 41}, {&c_long, 299}, {&c_fresh, 0}, {&c_parent, 39}};
  ASSERT_TRUE(cpu.LogProbs(cpu_rows, targets, lp_cpu, am_cpu).ok());
  for (int r = 0; r < 4; ++r) EXPECT_NEAR(lp_gpu[r], lp_cpu[r], 0.1) << "row " << r;
}

TEST(CudaBackendTest, ForksOfPartialAndFullPagesCopyOnWrite) {
  if (!HaveDevice()) GTEST_SKIP() << "no CUDA device: the CUDA backend is not exercised";
  RandomModel model;
  const ModelWeights& w = model.weights();
  auto cuda = MakeCuda(w, nullptr, /*graphs=*/false);
  ASSERT_TRUE(cuda.ok()) << cuda.status();
  Transformer cpu(&w, nullptr), gpu({cuda->get()});
  const int64_t vocab = w.config.vocab_size;
  const std::vector<int32_t> prefix = RandomTokens(45, 5), a_cont = RandomTokens(9, 6),
                             b_cont = RandomTokens(30, 7), more = RandomTokens(6, 8);
  KvCache parent, a, b;
  ASSERT_TRUE(gpu.Extend(prefix, &parent).ok());
  // a: a fork inside the third page (45 = 2 x 16 + 13, forked at 41); b: a
  // fork of two full pages, truncated into the first one (copy-on-write of
  // page 0 at its next write).
  ASSERT_TRUE(gpu.Fork(parent, 41, &a).ok());
  ASSERT_TRUE(gpu.Fork(parent, 32, &b).ok());
  EXPECT_EQ(b.Bytes(), 0) << "a fork of full pages holds no storage of its own";
  b.Truncate(20);
  ASSERT_TRUE(gpu.Extend(a_cont, &a).ok());
  ASSERT_TRUE(gpu.Extend(b_cont, &b).ok());
  EXPECT_GT(a.Bytes(), 0);
  // The parent keeps appending into its own partial page.
  ASSERT_TRUE(gpu.Extend(more, &parent).ok());
  ExpectClose(
      CpuLogits(cpu, Concat(std::vector<int32_t>(prefix.begin(), prefix.begin() + 41), a_cont)),
      AllLogits(gpu, a), vocab, "fork of a partial page");
  ExpectClose(
      CpuLogits(cpu, Concat(std::vector<int32_t>(prefix.begin(), prefix.begin() + 20), b_cont)),
      AllLogits(gpu, b), vocab, "fork truncated into a shared page");
  ExpectClose(CpuLogits(cpu, Concat(prefix, more)), AllLogits(gpu, parent), vocab,
              "parent after its forks");
  // Dropping the parent first leaves the forks' shared pages alive (the CUDA
  // backend's page reference counts; the Backend contract does not ask it).
  const std::vector<float> a_before = AllLogits(gpu, a);
  parent = KvCache();
  EXPECT_EQ(AllLogits(gpu, a), a_before);
}

// Logits of the last row of each cache after `steps` batched decode steps
// of B = caches.size() rows (token t of cache i: (31 * i + 7 * t) % 512).
std::vector<float> DecodeBatch(const Transformer& tf, std::vector<KvCache>* caches, int steps) {
  const int64_t vocab = tf.config().vocab_size;
  std::vector<float> out;
  std::vector<std::vector<int32_t>> tokens(caches->size(), std::vector<int32_t>(1));
  for (int t = 0; t < steps; ++t) {
    std::vector<ExtendItem> items;
    for (size_t i = 0; i < caches->size(); ++i) {
      tokens[i][0] = static_cast<int32_t>((31 * i + 7 * static_cast<size_t>(t)) % 512);
      items.push_back({&(*caches)[i], tokens[i]});
    }
    const absl::Status s = tf.ExtendBatch(items);
    EXPECT_TRUE(s.ok()) << s;
    std::vector<CacheRow> rows;
    for (const KvCache& c : *caches) rows.push_back({&c, c.length() - 1});
    std::vector<float> l(rows.size() * static_cast<size_t>(vocab));
    EXPECT_TRUE(tf.Logits(rows, l.data()).ok());
    out.insert(out.end(), l.begin(), l.end());
  }
  return out;
}

// B = 4 continuations of prefixes of different lengths (two forks of one
// cached prefix, two fresh caches): every step is a pure decode step.
std::vector<float> RunBatchedDecode(const Transformer& tf) {
  KvCache prefix;
  EXPECT_TRUE(tf.Extend(RandomTokens(37, 9), &prefix).ok());
  std::vector<KvCache> caches(4);
  EXPECT_TRUE(tf.Fork(prefix, 37, &caches[0]).ok());
  EXPECT_TRUE(tf.Fork(prefix, 16, &caches[1]).ok());
  EXPECT_TRUE(tf.Extend(RandomTokens(3, 10), &caches[2]).ok());
  EXPECT_TRUE(tf.Extend(RandomTokens(70, 11), &caches[3]).ok());
  return DecodeBatch(tf, &caches, 8);
}

TEST(CudaBackendTest, BatchedDecodeGraphReplaysAreBitIdentical) {
  if (!HaveDevice()) GTEST_SKIP() << "no CUDA device: the CUDA backend is not exercised";
  RandomModel model;
  const ModelWeights& w = model.weights();
  auto eager = MakeCuda(w, nullptr, /*graphs=*/false);
  auto graphs = MakeCuda(w, nullptr, /*graphs=*/true);
  ASSERT_TRUE(eager.ok()) << eager.status();
  ASSERT_TRUE(graphs.ok()) << graphs.status();
  Transformer cpu(&w, nullptr), tf_eager({eager->get()}), tf_graphs({graphs->get()});
  // 8 steps of B = 4: the first eager, the second captured, six replays.
  const std::vector<float> got_eager = RunBatchedDecode(tf_eager);
  const std::vector<float> got_graphs = RunBatchedDecode(tf_graphs);
  EXPECT_EQ(got_eager, got_graphs) << "CUDA graph replays of B = 4 changed the logits";
  ExpectClose(RunBatchedDecode(cpu), got_eager, w.config.vocab_size, "batched decode B = 4");
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
