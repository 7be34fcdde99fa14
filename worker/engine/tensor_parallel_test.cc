#include "worker/engine/tensor_parallel.h"

#include <cmath>
#include <deque>
#include <random>
#include <thread>

#include "gtest/gtest.h"
#include "kernels/comm/communicator.h"
#include "kernels/cpu/reference.h"
#include "worker/engine/transformer.h"

namespace proctor::engine {
namespace {

using kernels::WeightFormat;
using kernels::WeightMatrix;

// A random-weight Llama model in memory (F32, F16 and Q8_0 tensors) whose
// shapes divide by 2, 3 and 4.
class RandomModel {
 public:
  explicit RandomModel(int64_t n_kv_heads = 12) : rng_(1234) {
    ModelConfig& c = w_.config;
    c.dim = 384;
    c.n_heads = 24;
    c.n_kv_heads = n_kv_heads;
    c.head_dim = 16;
    c.hidden_dim = 768;
    c.n_layers = 2;
    c.vocab_size = 240;
    c.context_length = 64;
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

}  // namespace
}  // namespace proctor::engine
