#include "worker/engine/tensor_parallel.h"

#include <cmath>
#include <deque>
#include <limits>
#include <random>
#include <span>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "kernels/comm/communicator.h"
#include "kernels/cpu/reference.h"
#include "worker/engine/backend_cpu.h"
#include "worker/engine/transformer.h"

namespace proctor::engine {
namespace {

using kernels::WeightFormat;
using kernels::WeightMatrix;

// A random-weight Llama model in memory (F32, F16 and Q8_0 tensors) whose
// shapes divide by 2, 3 and 4.
class RandomModel {
 public:
  explicit RandomModel(int64_t n_kv_heads = 12, int64_t context_length = 64) : rng_(1234) {
    ModelConfig& c = w_.config;
    c.dim = 384;
    c.n_heads = 24;
    c.n_kv_heads = n_kv_heads;
    c.head_dim = 16;
    c.hidden_dim = 768;
    c.n_layers = 2;
    c.vocab_size = 240;
    c.context_length = context_length;
    c.tied_embeddings = false;
    EXPECT_TRUE(c.Validate().ok());
    w_.token_embd = Matrix(WeightFormat::kF16, c.vocab_size, c.dim);
    w_.output = Matrix(WeightFormat::kQ8_0, c.vocab_size, c.dim);
    w_.output_norm = Vector(c.dim, 1.0f);
    for (int l = 0; l < c.n_layers; ++l) {
      LayerWeights L;
      L.attn_norm = Vector(c.dim, 1.0f);
      L.ffn_norm = Vector(c.dim, 1.0f);
      L.wq = Matrix(WeightFormat::kQ8_0, c.n_heads * c.head_dim, c.dim);
      L.wk = Matrix(WeightFormat::kF32, c.n_kv_heads * c.head_dim, c.dim);
      L.wv = Matrix(WeightFormat::kQ8_0, c.n_kv_heads * c.head_dim, c.dim);
      L.wo = Matrix(WeightFormat::kQ8_0, c.dim, c.n_heads * c.head_dim);
      L.w_gate = Matrix(WeightFormat::kQ8_0, c.hidden_dim, c.dim);
      L.w_up = Matrix(WeightFormat::kF32, c.hidden_dim, c.dim);
      L.w_down = Matrix(WeightFormat::kQ8_0, c.dim, c.hidden_dim);
      L.bq = Vector(c.n_heads * c.head_dim, 0.0f);
      L.bk = Vector(c.n_kv_heads * c.head_dim, 0.0f);
      L.bv = Vector(c.n_kv_heads * c.head_dim, 0.0f);
      w_.layers.push_back(std::move(L));
    }
  }
  const ModelWeights& weights() const { return w_; }

 private:
  std::vector<float> Vector(int64_t n, float base) {
    std::normal_distribution<float> d(0.0f, 0.1f);
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = base + d(rng_);
    return v;
  }
  WeightMatrix Matrix(WeightFormat f, int64_t rows, int64_t cols) {
    const float scale = 1.0f / std::sqrt(static_cast<float>(cols));
    std::normal_distribution<float> d(0.0f, scale);
    std::vector<uint8_t>& b =
        buffers_.emplace_back(static_cast<size_t>(rows * kernels::RowBytes(f, cols)));
    if (f == WeightFormat::kF32) {
      float* p = reinterpret_cast<float*>(b.data());
      for (int64_t i = 0; i < rows * cols; ++i) p[i] = d(rng_);
    } else if (f == WeightFormat::kF16) {
      for (int64_t i = 0; i < rows * cols; ++i) {
        const uint16_t h = kernels::ref::FloatToHalf(d(rng_));
        b[static_cast<size_t>(2 * i)] = static_cast<uint8_t>(h & 0xff);
        b[static_cast<size_t>(2 * i + 1)] = static_cast<uint8_t>(h >> 8);
      }
    } else {  // Q8_0
      for (size_t at = 0; at < b.size(); at += 34) {
        const uint16_t h = kernels::ref::FloatToHalf(scale / 40.0f);
        b[at] = static_cast<uint8_t>(h & 0xff);
        b[at + 1] = static_cast<uint8_t>(h >> 8);
        for (int j = 0; j < 32; ++j) b[at + 2 + j] = static_cast<uint8_t>(rng_() % 255);
      }
    }
    return WeightMatrix{f, b.data(), rows, cols, 0};
  }

  std::mt19937 rng_;
  std::deque<std::vector<uint8_t>> buffers_;
  ModelWeights w_;
};

std::vector<float> AllLogits(const Transformer& tf, const ModelConfig& full,
                             const std::vector<int32_t>& tokens, const ModelConfig& local) {
  KvCache cache(local);
  // Two calls: a prefill and a one-token decode step.
  EXPECT_TRUE(tf.Extend(std::vector<int32_t>(tokens.begin(), tokens.end() - 1), &cache).ok());
  EXPECT_TRUE(tf.Extend({tokens.back()}, &cache).ok());
  std::vector<int64_t> pos(tokens.size());
  for (size_t i = 0; i < pos.size(); ++i) pos[i] = static_cast<int64_t>(i);
  std::vector<float> out(tokens.size() * static_cast<size_t>(full.vocab_size));
  tf.Logits(cache, pos.data(), static_cast<int64_t>(pos.size()), out.data());
  return out;
}

// Logits of every rank at TP = tp against TP = 1, and the vocabulary-parallel
// log-probabilities against a log-softmax of the full logits.
void ExpectShardedEqualsUnsharded(const ModelWeights& full, const std::vector<int>& tps) {
  const std::vector<int32_t> tokens = {1, 17, 239, 5, 120, 64, 3, 200, 99};
  Transformer tf1(&full, nullptr);
  const std::vector<float> want = AllLogits(tf1, full.config, tokens, full.config);
  float max_abs = 0;
  for (float v : want) max_abs = std::max(max_abs, std::fabs(v));
  ASSERT_GT(max_abs, 0.1f);
  const int64_t n = static_cast<int64_t>(tokens.size()) - 1, vocab = full.config.vocab_size;
  std::vector<float> want_lp(static_cast<size_t>(n));
  std::vector<int32_t> want_am(static_cast<size_t>(n));
  kernels::ref::LogSoftmaxGather(want.data(), tokens.data() + 1, want_lp.data(), want_am.data(), n,
                                 vocab);
  for (int tp : tps) {
    auto group = kernels::comm::CreateThreadGroup(tp);
    std::vector<std::vector<float>> got(static_cast<size_t>(tp)), lp(static_cast<size_t>(tp));
    std::vector<std::vector<int32_t>> am(static_cast<size_t>(tp));
    std::vector<std::thread> threads;
    for (int r = 0; r < tp; ++r) {
      threads.emplace_back([&, r] {
        auto shard = ShardWeights(full, r, tp);
        ASSERT_TRUE(shard.ok()) << shard.status();
        kernels::ThreadPool pool(1);
        Transformer tf(&*shard, &pool, group[static_cast<size_t>(r)].get());
        KvCache cache(shard->config);
        ASSERT_TRUE(tf.Extend(tokens, &cache).ok());
        got[static_cast<size_t>(r)].resize(static_cast<size_t>(n * vocab));
        std::vector<int64_t> pos(static_cast<size_t>(n));
        for (int64_t i = 0; i < n; ++i) pos[static_cast<size_t>(i)] = i;
        lp[static_cast<size_t>(r)].resize(static_cast<size_t>(n));
        am[static_cast<size_t>(r)].resize(static_cast<size_t>(n));
        ASSERT_TRUE(tf.LogProbs(cache, pos.data(), tokens.data() + 1, n,
                                lp[static_cast<size_t>(r)].data(),
                                am[static_cast<size_t>(r)].data())
                        .ok());
        got[static_cast<size_t>(r)] = AllLogits(tf, full.config, tokens, shard->config);
      });
    }
    for (auto& t : threads) t.join();
    for (int r = 0; r < tp; ++r) {
      ASSERT_EQ(got[static_cast<size_t>(r)].size(), want.size());
      double worst = 0;
      for (size_t i = 0; i < want.size(); ++i) {
        worst = std::max(worst,
                         std::fabs(static_cast<double>(got[static_cast<size_t>(r)][i]) - want[i]));
      }
      EXPECT_LE(worst, 1e-5 * max_abs) << "tp=" << tp << " rank=" << r;
      for (int64_t i = 0; i < n; ++i) {
        EXPECT_NEAR(lp[static_cast<size_t>(r)][static_cast<size_t>(i)],
                    want_lp[static_cast<size_t>(i)], 1e-4)
            << "tp=" << tp << " rank=" << r << " row " << i;
        EXPECT_EQ(am[static_cast<size_t>(r)][static_cast<size_t>(i)],
                  want_am[static_cast<size_t>(i)])
            << "tp=" << tp << " rank=" << r << " row " << i;
      }
    }
  }
}

TEST(TensorParallelTest, ShardedLogitsEqualUnsharded) {
  RandomModel model;
  ExpectShardedEqualsUnsharded(model.weights(), {1, 2, 3, 4});
}

TEST(TensorParallelTest, ReplicatedKvHeadsEqualUnsharded) {
  RandomModel model(/*n_kv_heads=*/2);  // TP = 4 > 2 KV heads: each is held by two ranks
  ExpectShardedEqualsUnsharded(model.weights(), {4});
}

TEST(TensorParallelTest, ShardShapes) {
  ModelConfig c;
  c.n_heads = 64;
  c.n_kv_heads = 8;
  c.hidden_dim = 28672;
  c.vocab_size = 32000;  // Llama-2-70B
  auto s = ComputeShardShape(c, 3, 8);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->q_head_begin, 24);
  EXPECT_EQ(s->q_heads, 8);
  EXPECT_EQ(s->kv_head_begin, 3);
  EXPECT_EQ(s->kv_heads, 1);
  EXPECT_FALSE(s->kv_replicated);
  EXPECT_EQ(s->ff_begin, 3 * 3584);
  EXPECT_EQ(s->vocab_begin, 12000);
  EXPECT_EQ(s->vocab_rows, 4000);
  c.n_kv_heads = 4;  // 8 ranks over 4 KV heads: ranks 2k and 2k+1 share head k
  s = ComputeShardShape(c, 5, 8);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(s->kv_replicated);
  EXPECT_EQ(s->kv_heads, 1);
  EXPECT_EQ(s->kv_head_begin, 2);
  c.n_kv_heads = 3;
  c.n_heads = 48;
  auto bad = ComputeShardShape(c, 0, 8);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("n_kv_heads (3)"), std::string::npos) << bad.status();
  c.n_kv_heads = 8;
  c.vocab_size = 32001;
  bad = ComputeShardShape(c, 0, 8);
  EXPECT_NE(bad.status().message().find("vocab_size (32001)"), std::string::npos) << bad.status();
  EXPECT_FALSE(ComputeShardShape(c, 8, 8).ok());
  EXPECT_FALSE(ComputeShardShape(c, 0, 0).ok());
}

TEST(TensorParallelTest, RejectsIndivisibleShapes) {
  RandomModel model;
  EXPECT_EQ(ShardWeights(model.weights(), 0, 5).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ShardWeights(model.weights(), 2, 2).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// ---- Batched steps and forks, at TP = 1, 2 and 3 ----

// One Transformer over `tp` CPU ranks of `full` (shards joined by a thread
// communicator group; the Transformer runs each rank on its own thread).
class RankedTransformer {
 public:
  RankedTransformer(const ModelWeights& full, int tp) {
    if (tp == 1) {
      tf_ = std::make_unique<Transformer>(&full, nullptr);
      return;
    }
    group_ = kernels::comm::CreateThreadGroup(tp);
    std::vector<Backend*> ranks;
    for (int r = 0; r < tp; ++r) {
      auto shard = ShardWeights(full, r, tp);
      EXPECT_TRUE(shard.ok()) << shard.status();
      shards_.push_back(std::move(*shard));
      backends_.push_back(
          CreateCpuBackend(&shards_.back(), nullptr, group_[static_cast<size_t>(r)].get()));
      ranks.push_back(backends_.back().get());
    }
    tf_ = std::make_unique<Transformer>(std::move(ranks));
  }
  const Transformer& tf() const { return *tf_; }

 private:
  std::vector<std::unique_ptr<kernels::comm::Communicator>> group_;
  std::deque<ModelWeights> shards_;
  std::vector<std::unique_ptr<Backend>> backends_;
  std::unique_ptr<Transformer> tf_;  // destroyed first
};

std::vector<int32_t> RandomTokens(size_t n, uint32_t seed, int64_t vocab) {
  std::mt19937 rng(seed);
  std::vector<int32_t> t(n);
  for (int32_t& x : t) x = static_cast<int32_t>(rng() % static_cast<uint32_t>(vocab));
  return t;
}

std::vector<int32_t> Concat(std::vector<int32_t> a, std::span<const int32_t> b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Logits at every position of `cache`.
std::vector<float> CacheLogits(const Transformer& tf, const KvCache& cache, int64_t vocab) {
  std::vector<int64_t> pos(static_cast<size_t>(cache.length()));
  for (size_t i = 0; i < pos.size(); ++i) pos[i] = static_cast<int64_t>(i);
  std::vector<float> out(pos.size() * static_cast<size_t>(vocab));
  tf.Logits(cache, pos.data(), cache.length(), out.data());
  return out;
}

// The cache's logits equal those of its tokens extended in one call into a
// fresh cache by the unsharded reference.
void ExpectLogitsOfTokens(const Transformer& ref, const Transformer& tf, const KvCache& cache,
                          const std::string& what) {
  const int64_t vocab = ref.config().vocab_size;
  KvCache fresh;
  ASSERT_TRUE(ref.Extend(cache.tokens(), &fresh).ok()) << what;
  const std::vector<float> want = CacheLogits(ref, fresh, vocab);
  const std::vector<float> got = CacheLogits(tf, cache, vocab);
  ASSERT_EQ(got.size(), want.size()) << what;
  double max_abs = 0, worst = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    max_abs = std::max(max_abs, std::fabs(static_cast<double>(want[i])));
    worst = std::max(worst, std::fabs(static_cast<double>(got[i]) - want[i]));
  }
  ASSERT_GT(max_abs, 0.1) << what;
  EXPECT_LE(worst, 1e-5 * max_abs) << what;
}

class BatchTest : public ::testing::TestWithParam<int> {
 protected:
  BatchTest()
      : model_(/*n_kv_heads=*/12, /*context_length=*/512),
        ref_(&model_.weights(), nullptr),
        ranked_(model_.weights(), GetParam()) {}
  const Transformer& tf() const { return ranked_.tf(); }
  std::vector<int32_t> Tokens(size_t n, uint32_t seed) const {
    return RandomTokens(n, seed, model_.weights().config.vocab_size);
  }

  RandomModel model_;
  Transformer ref_;
  RankedTransformer ranked_;
};

TEST_P(BatchTest, ExtendBatchEqualsExtendPerCache) {
  const std::vector<int32_t> prefix = Tokens(40, 1), side = Tokens(6, 2);
  KvCache parent, older, g, a, b, f1, f2, f3, untouched;
  ASSERT_TRUE(tf().Extend(prefix, &parent).ok());
  ASSERT_TRUE(tf().Extend(Tokens(10, 3), &older).ok());
  ASSERT_TRUE(tf().Fork(parent, 40, &g).ok());
  ASSERT_TRUE(tf().Extend(side, &g).ok());
  ASSERT_TRUE(tf().Fork(parent, 40, &f1).ok());
  ASSERT_TRUE(tf().Fork(parent, 25, &f2).ok());
  ASSERT_TRUE(tf().Fork(g, 43, &f3).ok());  // a fork of a fork: three key ranges
  EXPECT_EQ(f1.Bytes(), 0);                 // a fresh fork holds no storage of its own
  EXPECT_EQ(f3.length(), 43);
  EXPECT_EQ(f3.tokens(), Concat(prefix, std::span(side).first(3)));

  // A 300-token item spans two steps; the parent grows in the same steps
  // that its forks read it.
  const std::vector<int32_t> ta = Tokens(300, 4), tb = Tokens(5, 5), t1 = Tokens(7, 6),
                             t2 = Tokens(1, 7), t3 = Tokens(4, 8), to = Tokens(3, 9),
                             tp = Tokens(2, 10);
  const std::vector<ExtendItem> items = {{&f1, t1}, {&a, ta},  {&f2, t2},        {&older, to},
                                         {&b, tb},  {&f3, t3}, {&untouched, {}}, {&parent, tp}};
  ASSERT_TRUE(tf().ExtendBatch(items).ok());
  EXPECT_EQ(f1.tokens(), Concat(prefix, t1));
  EXPECT_EQ(f2.tokens(), Concat(std::vector<int32_t>(prefix.begin(), prefix.begin() + 25), t2));
  EXPECT_EQ(parent.tokens(), Concat(prefix, tp));
  EXPECT_EQ(a.tokens(), ta);
  EXPECT_EQ(untouched.length(), 0);
  EXPECT_GT(f1.Bytes(), 0);
  EXPECT_LT(f1.Bytes(), parent.Bytes());
  const std::vector<std::pair<const KvCache*, std::string>> all = {
      {&parent, "parent"}, {&older, "older"}, {&g, "g"},   {&a, "a"},
      {&b, "b"},           {&f1, "f1"},       {&f2, "f2"}, {&f3, "f3"}};
  for (const auto& [cache, name] : all) ExpectLogitsOfTokens(ref_, tf(), *cache, name);

  // Rows of several caches in one call equal one call per cache.
  const std::vector<CacheRow> rows = {{&a, 299}, {&f1, 3},  {&parent, 41}, {&f3, 46},
                                      {&b, 0},   {&f2, 25}, {&f1, 46},     {&g, 45}};
  const int64_t vocab = model_.weights().config.vocab_size;
  const size_t n = rows.size();
  std::vector<float> got(n * static_cast<size_t>(vocab)), one(static_cast<size_t>(vocab));
  ASSERT_TRUE(tf().Logits(rows, got.data()).ok());
  std::vector<int32_t> targets(n), am(n), am_one(1);
  std::vector<float> lp(n), lp_one(1);
  for (size_t i = 0; i < n; ++i) targets[i] = static_cast<int32_t>((i * 37) % 240);
  ASSERT_TRUE(tf().LogProbs(rows, targets.data(), lp.data(), am.data()).ok());
  for (size_t i = 0; i < n; ++i) {
    tf().Logits(*rows[i].cache, &rows[i].position, 1, one.data());
    double max_abs = 0, worst = 0;
    for (int64_t j = 0; j < vocab; ++j) {
      max_abs = std::max(max_abs, std::fabs(static_cast<double>(one[static_cast<size_t>(j)])));
      worst = std::max(worst, std::fabs(static_cast<double>(got[i * vocab + j]) - one[j]));
    }
    EXPECT_LE(worst, 1e-5 * max_abs) << "row " << i;
    ASSERT_TRUE(tf().LogProbs(*rows[i].cache, &rows[i].position, &targets[i], 1, lp_one.data(),
                              am_one.data())
                    .ok());
    EXPECT_NEAR(lp[i], lp_one[0], 1e-5) << "row " << i;
    EXPECT_EQ(am[i], am_one[0]) << "row " << i;
  }
  const std::vector<CacheRow> bad = {{&a, 0}, {&f1, f1.length()}};
  EXPECT_EQ(tf().Logits(bad, got.data()).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(tf().LogProbs(bad, targets.data(), lp.data(), am.data()).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(BatchTest, ForksFollowTheirViewThroughTruncationAndParentGrowth) {
  const std::vector<int32_t> prefix = Tokens(30, 11), t5 = Tokens(5, 12), t3 = Tokens(3, 13);
  KvCache parent, f, h;
  ASSERT_TRUE(tf().Extend(prefix, &parent).ok());
  ASSERT_TRUE(tf().Fork(parent, 30, &f).ok());
  f.Truncate(20);  // below the shared length: only the view shortens
  EXPECT_EQ(f.length(), 20);
  ASSERT_TRUE(tf().Extend(t5, &f).ok());
  EXPECT_EQ(f.tokens(), Concat(std::vector<int32_t>(prefix.begin(), prefix.begin() + 20), t5));
  ExpectLogitsOfTokens(ref_, tf(), f, "truncated fork");
  ASSERT_TRUE(tf().Fork(f, 22, &h).ok());
  ASSERT_TRUE(tf().Extend(t3, &h).ok());
  ExpectLogitsOfTokens(ref_, tf(), h, "fork of a truncated fork");
  // The parent grows (its arrays move); both forks still read it right.
  ASSERT_TRUE(tf().Extend(Tokens(200, 14), &parent).ok());
  ExpectLogitsOfTokens(ref_, tf(), f, "fork after parent growth");
  ExpectLogitsOfTokens(ref_, tf(), h, "fork of a fork after parent growth");
  ExpectLogitsOfTokens(ref_, tf(), parent, "parent");
  // Re-forking into a cache drops what it held.
  ASSERT_TRUE(tf().Fork(parent, 12, &f).ok());
  EXPECT_EQ(f.length(), 12);
  EXPECT_EQ(f.Bytes(), 0);
  ExpectLogitsOfTokens(ref_, tf(), f, "re-fork");
  KvCache empty, from_empty;
  ASSERT_TRUE(tf().Fork(empty, 0, &from_empty).ok());
  ASSERT_TRUE(tf().Extend(t3, &from_empty).ok());
  ExpectLogitsOfTokens(ref_, tf(), from_empty, "fork of an empty cache");
}

TEST_P(BatchTest, BadItemsNameTheItemAndChangeNothing) {
  const int64_t vocab = model_.weights().config.vocab_size;
  KvCache parent, f, c;
  ASSERT_TRUE(tf().Extend(Tokens(10, 21), &parent).ok());
  ASSERT_TRUE(tf().Fork(parent, 8, &f).ok());
  const std::vector<int32_t> good = Tokens(3, 22), bad_id = {1, static_cast<int32_t>(vocab)};
  std::vector<ExtendItem> items = {{&parent, good}, {&f, bad_id}, {&c, good}};
  absl::Status s = tf().ExtendBatch(items);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("item 1"), std::string::npos) << s;
  const std::vector<int32_t> overlong(512 - 8 + 1, 3);
  items = {{&c, good}, {&parent, good}, {&f, overlong}};
  s = tf().ExtendBatch(items);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("item 2"), std::string::npos) << s;
  items = {{&c, good}, {&c, good}};
  EXPECT_EQ(tf().ExtendBatch(items).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(parent.length(), 10);
  EXPECT_EQ(f.length(), 8);
  EXPECT_EQ(c.length(), 0);
  ExpectLogitsOfTokens(ref_, tf(), parent, "parent after rejected batches");
  ExpectLogitsOfTokens(ref_, tf(), f, "fork after rejected batches");

  KvCache out;
  EXPECT_EQ(tf().Fork(parent, 11, &out).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(tf().Fork(parent, -1, &out).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(tf().Fork(parent, 5, &parent).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(parent.length(), 10);
}

// A CPU backend whose Attention fails from the `fail_at`-th call on (counted
// from construction or the last set_fail_at).
class FailingBackend : public Backend {
 public:
  FailingBackend(const ModelWeights* w, int64_t fail_at)
      : cpu_(CreateCpuBackend(w, nullptr, nullptr)), fail_at_(fail_at) {}

  std::string name() const override { return cpu_->name(); }
  const ModelConfig& local_config() const override { return cpu_->local_config(); }
  int64_t vocab_begin() const override { return cpu_->vocab_begin(); }
  int64_t vocab_local() const override { return cpu_->vocab_local(); }
  int tp_rank() const override { return cpu_->tp_rank(); }
  int tp_size() const override { return cpu_->tp_size(); }
  std::unique_ptr<Tensor> NewTensor(int64_t rows, int64_t cols) override {
    return cpu_->NewTensor(rows, cols);
  }
  absl::StatusOr<std::unique_ptr<KvStore>> NewKvStore() override { return cpu_->NewKvStore(); }
  absl::StatusOr<std::unique_ptr<KvStore>> ForkKvStore(const KvStore& parent, int64_t n) override {
    return cpu_->ForkKvStore(parent, n);
  }
  absl::Status BeginStep(std::span<const StepSequence> sequences) override {
    return cpu_->BeginStep(sequences);
  }
  absl::Status EndStep() override { return cpu_->EndStep(); }
  absl::Status Embed(Tensor* x) override { return cpu_->Embed(x); }
  absl::Status AllReduceSum(Tensor* x) override { return cpu_->AllReduceSum(x); }
  absl::Status RmsNorm(const Tensor& x, int64_t layer, LayerNorm norm, Tensor* out) override {
    return cpu_->RmsNorm(x, layer, norm, out);
  }
  absl::Status AddRmsNorm(Tensor* residual, const Tensor& delta, int64_t layer, LayerNorm norm,
                          Tensor* out) override {
    return cpu_->AddRmsNorm(residual, delta, layer, norm, out);
  }
  absl::Status MatMul(const Tensor& x, int64_t layer, LayerWeight w, Tensor* out) override {
    return cpu_->MatMul(x, layer, w, out);
  }
  absl::Status Rope(Tensor* x, int64_t n_heads) override { return cpu_->Rope(x, n_heads); }
  absl::Status Attention(int64_t layer, const Tensor& q, const Tensor& k, const Tensor& v,
                         Tensor* out) override {
    if (++calls_ >= fail_at_) return absl::InternalError("injected attention failure");
    return cpu_->Attention(layer, q, k, v, out);
  }
  absl::Status SwiGlu(const Tensor& gate, const Tensor& up, Tensor* out) override {
    return cpu_->SwiGlu(gate, up, out);
  }
  absl::Status Add(Tensor* x, const Tensor& delta) override { return cpu_->Add(x, delta); }
  absl::Status FinalNorm(const Tensor& x) override { return cpu_->FinalNorm(x); }
  absl::Status Logits(std::span<const CachedRow> rows, float* out) override {
    return cpu_->Logits(rows, out);
  }
  absl::Status LogProbs(std::span<const CachedRow> rows, const int32_t* targets, float* logprob,
                        int32_t* argmax) override {
    return cpu_->LogProbs(rows, targets, logprob, argmax);
  }
  int64_t calls() const { return calls_; }
  void set_fail_at(int64_t n) {
    fail_at_ = n;
    calls_ = 0;
  }

 private:
  std::unique_ptr<Backend> cpu_;
  int64_t fail_at_, calls_ = 0;
};

TEST(BatchFailureTest, AFailedStepRewindsEveryCache) {
  RandomModel model(/*n_kv_heads=*/12, /*context_length=*/512);
  const ModelWeights& w = model.weights();
  const int64_t layers = w.config.n_layers;
  FailingBackend failing(&w, std::numeric_limits<int64_t>::max());
  Transformer tf(std::vector<Backend*>{&failing});
  Transformer ref(&w, nullptr);
  KvCache parent, f, a;
  ASSERT_TRUE(tf.Extend(RandomTokens(12, 31, 240), &parent).ok());
  ASSERT_TRUE(tf.Fork(parent, 12, &f).ok());
  // Step 1 holds a's first 256 tokens; step 2 the other 44, then f's and the
  // parent's. Fail in step 2's last layer, after step 1 has been committed.
  failing.set_fail_at(layers + layers);
  const std::vector<int32_t> ta = RandomTokens(300, 32, 240), t2 = RandomTokens(2, 33, 240);
  std::vector<ExtendItem> items = {{&a, ta}, {&f, t2}, {&parent, t2}};
  EXPECT_EQ(tf.ExtendBatch(items).code(), absl::StatusCode::kInternal);
  EXPECT_EQ(failing.calls(), 2 * layers);
  EXPECT_EQ(a.length(), 0);
  EXPECT_EQ(f.length(), 12);
  EXPECT_EQ(parent.length(), 12);
  // The rewound caches extend correctly afterwards.
  failing.set_fail_at(std::numeric_limits<int64_t>::max());
  ASSERT_TRUE(tf.ExtendBatch(items).ok());
  for (const KvCache* c : {&a, &f, &parent}) ExpectLogitsOfTokens(ref, tf, *c, "after rewind");
}

INSTANTIATE_TEST_SUITE_P(TensorParallel, BatchTest, ::testing::Values(1, 2, 3),
                         [](const ::testing::TestParamInfo<int>& i) {
                           return "tp" + std::to_string(i.param);
                         });

}  // namespace
}  // namespace proctor::engine
