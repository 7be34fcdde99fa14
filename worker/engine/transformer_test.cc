#include "worker/engine/transformer.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "kernels/cpu/reference.h"
#include "worker/engine/model.h"
#include "worker/engine/test_data.h"

namespace proctor::engine {
namespace {

std::vector<int32_t> ReadIds(const std::string& path) {
  std::ifstream in(path);
  std::vector<int32_t> ids;
  int32_t id;
  while (in >> id) ids.push_back(id);
  return ids;
}

// llama2.c `run -t 0 -n steps`: position p feeds the prompt token while one
// remains, else the argmax; every fed token after BOS is emitted. Stops at BOS.
std::vector<int32_t> Greedy(const Model& m, const std::vector<int32_t>& prompt, int steps,
                            kernels::ThreadPool* pool) {
  Transformer tf(&m.weights(), pool);
  KvCache cache(m.config());
  std::vector<int32_t> out;
  int32_t token = 1;
  std::vector<float> logits(static_cast<size_t>(m.config().vocab_size));
  for (int pos = 0; pos < steps; ++pos) {
    EXPECT_TRUE(tf.Extend({token}, &cache).ok());
    int32_t next;
    if (pos < static_cast<int>(prompt.size())) {
      next = prompt[static_cast<size_t>(pos)];
    } else {
      const int64_t p = cache.length() - 1;
      tf.Logits(cache, &p, 1, logits.data());
      next = static_cast<int32_t>(kernels::ref::Argmax(logits.data(), m.config().vocab_size));
    }
    if (next == 1) break;
    out.push_back(next);
    token = next;
  }
  return out;
}

class Stories260KTest : public ::testing::TestWithParam<std::string> {};

TEST_P(Stories260KTest, GreedyFromBosMatchesLlama2c) {
  PROCTOR_REQUIRE_DATA(path, "models/stories260K/" + GetParam());
  PROCTOR_REQUIRE_DATA(want_path, "expected/llama2c_run_t0_n200_bos.ids.txt");
  auto m = Model::Load(path);
  ASSERT_TRUE(m.ok()) << m.status();
  const std::vector<int32_t> want = ReadIds(want_path);
  ASSERT_GT(want.size(), 100u);
  kernels::ThreadPool pool(2);
  EXPECT_EQ(Greedy(**m, {}, 200, &pool), want);
}

TEST_P(Stories260KTest, OnceUponATimeMatchesLlama2c) {
  PROCTOR_REQUIRE_DATA(path, "models/stories260K/" + GetParam());
  PROCTOR_REQUIRE_DATA(want_path, "expected/llama2c_run_t0_n64_once_upon_a_time.ids.txt");
  auto m = Model::Load(path);
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_NE((*m)->tokenizer(), nullptr);
  const std::vector<int32_t> prompt = (*m)->tokenizer()->Encode("Once upon a time");
  ASSERT_EQ(prompt, (std::vector<int32_t>{403, 407, 261, 378}));
  EXPECT_EQ(Greedy(**m, prompt, 64, nullptr), ReadIds(want_path));
}

INSTANTIATE_TEST_SUITE_P(Formats, Stories260KTest,
                         ::testing::Values("stories260K.gguf", "stories260K.bin"));

TEST(TransformerTest, GgufAndBinGiveIdenticalLogits) {
  PROCTOR_REQUIRE_DATA(gguf, "models/stories260K/stories260K.gguf");
  PROCTOR_REQUIRE_DATA(bin, "models/stories260K/stories260K.bin");
  auto a = Model::Load(gguf);
  auto b = Model::Load(bin);
  ASSERT_TRUE(a.ok() && b.ok());
  const std::vector<int32_t> toks = {1, 403, 407, 261, 378, 432, 383};
  std::vector<float> la(512 * toks.size()), lb(la.size());
  std::vector<int64_t> pos;
  for (size_t i = 0; i < toks.size(); ++i) pos.push_back(static_cast<int64_t>(i));
  for (auto [m, out] : {std::pair{a->get(), &la}, std::pair{b->get(), &lb}}) {
    Transformer tf(&m->weights(), nullptr);
    KvCache cache(m->config());
    ASSERT_TRUE(tf.Extend(toks, &cache).ok());
    tf.Logits(cache, pos.data(), static_cast<int64_t>(pos.size()), out->data());
  }
  EXPECT_EQ(la, lb);
}

TEST(TransformerTest, BatchedPrefillEqualsTokenByToken) {
  PROCTOR_REQUIRE_DATA(gguf, "models/stories260K/stories260K.gguf");
  auto m = Model::Load(gguf);
  ASSERT_TRUE(m.ok());
  kernels::ThreadPool pool(2);
  Transformer tf(&(*m)->weights(), &pool);
  const std::vector<int32_t> toks = {1, 403, 407, 261, 378, 432, 383, 286, 261};
  KvCache batched((*m)->config()), single((*m)->config());
  ASSERT_TRUE(tf.Extend(toks, &batched).ok());
  for (int32_t t : toks) ASSERT_TRUE(tf.Extend({t}, &single).ok());
  std::vector<float> a(512), b(512);
  for (int64_t p = 0; p < static_cast<int64_t>(toks.size()); ++p) {
    tf.Logits(batched, &p, 1, a.data());
    tf.Logits(single, &p, 1, b.data());
    for (int i = 0; i < 512; ++i)
      ASSERT_NEAR(a[static_cast<size_t>(i)], b[static_cast<size_t>(i)], 1e-4);
  }
  // Rewinding and re-extending reproduces the same state.
  batched.Truncate(4);
  ASSERT_TRUE(tf.Extend({378, 432, 383, 286}, &batched).ok());
  const int64_t last = 7;
  tf.Logits(batched, &last, 1, a.data());
  tf.Logits(single, &last, 1, b.data());
  for (int i = 0; i < 512; ++i)
    EXPECT_NEAR(a[static_cast<size_t>(i)], b[static_cast<size_t>(i)], 1e-4);
}

TEST(TransformerTest, RejectsBadTokensAndOverlongSequences) {
  PROCTOR_REQUIRE_DATA(gguf, "models/stories260K/stories260K.gguf");
  auto m = Model::Load(gguf);
  ASSERT_TRUE(m.ok());
  Transformer tf(&(*m)->weights(), nullptr);
  KvCache cache((*m)->config());
  EXPECT_EQ(tf.Extend({1, 9999}, &cache).code(), absl::StatusCode::kInvalidArgument);
  std::vector<int32_t> many(static_cast<size_t>((*m)->config().context_length) + 1, 5);
  EXPECT_EQ(tf.Extend(many, &cache).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cache.length(), 0);
}

// Logits at every cached position.
std::vector<float> AllLogits(const Transformer& tf, const KvCache& cache) {
  std::vector<int64_t> pos(static_cast<size_t>(cache.length()));
  for (size_t i = 0; i < pos.size(); ++i) pos[i] = static_cast<int64_t>(i);
  std::vector<float> out(pos.size() * static_cast<size_t>(tf.config().vocab_size));
  tf.Logits(cache, pos.data(), cache.length(), out.data());
  return out;
}

void ExpectClose(const std::vector<float>& got, const std::vector<float>& want,
                 const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double max_abs = 0, worst = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    max_abs = std::max(max_abs, std::fabs(static_cast<double>(want[i])));
    worst = std::max(worst, std::fabs(static_cast<double>(got[i]) - want[i]));
  }
  ASSERT_GT(max_abs, 0.1) << what;
  EXPECT_LE(worst, 1e-5 * max_abs) << what;
}

TEST(TransformerTest, BatchedForksAndDecodeStepsEqualSeparateExtends) {
  PROCTOR_REQUIRE_DATA(gguf, "models/stories260K/stories260K.gguf");
  auto m = Model::Load(gguf);
  ASSERT_TRUE(m.ok());
  kernels::ThreadPool pool(2);
  Transformer tf(&(*m)->weights(), &pool);
  const std::vector<int32_t> prefix = {1, 403, 407, 261, 378, 432, 383};
  std::vector<int32_t> story(300);  // spans two 256-row steps
  for (size_t i = 0; i < story.size(); ++i) story[i] = static_cast<int32_t>(2 + (i * 37) % 500);
  KvCache parent, long_one, forks[3];
  ASSERT_TRUE(tf.Extend(prefix, &parent).ok());
  const std::vector<std::vector<int32_t>> conts = {{286, 261}, {432}, {378, 383, 286, 261, 400}};
  std::vector<ExtendItem> items = {{&long_one, story}};
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(tf.Fork(parent, 7 - i, &forks[i]).ok());
    items.push_back({&forks[i], conts[static_cast<size_t>(i)]});
  }
  ASSERT_TRUE(tf.ExtendBatch(items).ok());
  // Then three decode steps of one token per cache, each one batched step.
  for (int32_t t : {261, 378, 407}) {
    const std::vector<int32_t> one = {t};
    std::vector<ExtendItem> step = {{&long_one, one}, {&parent, one}};
    for (KvCache& f : forks) step.push_back({&f, one});
    ASSERT_TRUE(tf.ExtendBatch(step).ok());
  }
  for (const KvCache* c : {&long_one, &parent, &forks[0], &forks[1], &forks[2]}) {
    KvCache alone;
    for (int32_t t : c->tokens()) ASSERT_TRUE(tf.Extend({t}, &alone).ok());
    ExpectClose(AllLogits(tf, *c), AllLogits(tf, alone), "cache of " + std::to_string(c->length()));
  }
  EXPECT_EQ(forks[2].length(), 5 + 5 + 3);
}

TEST(TransformerTest, ForkRejectsPositionsBeyondTheParent) {
  PROCTOR_REQUIRE_DATA(gguf, "models/stories260K/stories260K.gguf");
  auto m = Model::Load(gguf);
  ASSERT_TRUE(m.ok());
  Transformer tf(&(*m)->weights(), nullptr);
  KvCache parent, out;
  ASSERT_TRUE(tf.Extend({1, 403, 407}, &parent).ok());
  EXPECT_EQ(tf.Fork(parent, 4, &out).code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(tf.Fork(parent, 3, &out).ok());
  std::vector<float> logits(512);
  const std::vector<CacheRow> rows = {{&out, 3}};
  EXPECT_EQ(tf.Logits(rows, logits.data()).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace proctor::engine
