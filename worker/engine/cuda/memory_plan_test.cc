#include "worker/engine/cuda/memory_plan.h"

#include "gtest/gtest.h"

namespace proctor::engine::cuda {
namespace {

constexpr int64_t kGiB = int64_t{1} << 30;

ModelConfig Llama2_7B() {
  ModelConfig c;
  c.dim = 4096;
  c.hidden_dim = 11008;
  c.n_layers = 32;
  c.n_heads = 32;
  c.n_kv_heads = 32;
  c.head_dim = 128;
  c.vocab_size = 32000;
  c.context_length = 4096;
  return c;
}

ModelConfig Llama2_70B() {
  ModelConfig c = Llama2_7B();
  c.dim = 8192;
  c.hidden_dim = 28672;
  c.n_layers = 80;
  c.n_heads = 64;
  c.n_kv_heads = 8;
  return c;
}

TEST(MemoryPlanTest, WeightBytesMatchTheParameterCount) {
  // Hugging Face counts 6,738,415,616 parameters for Llama-2-7B; the plan also
  // reserves the (absent) Q/K/V biases: 32 layers x 3 x 4096.
  auto b = ShardWeightBytes(Llama2_7B(), 0, 1);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(*b, 2 * (int64_t{6738415616} + 32 * 3 * 4096));
  // Two ranks split everything but the norms (and the replicated 1-D tensors).
  auto half = ShardWeightBytes(Llama2_7B(), 1, 2);
  ASSERT_TRUE(half.ok());
  EXPECT_NEAR(static_cast<double>(*half), static_cast<double>(*b) / 2, 2.0 * 32 * 2 * 4096 + 8192);
  EXPECT_EQ(KvBytesPerToken(Llama2_7B(), 1).value(), (32 * 2 * 32 * 128 + 4096) * 2);
  EXPECT_EQ(KvBytesPerToken(Llama2_70B(), 8).value(), (80 * 2 * 1 * 128 + 8192) * 2);
}

TEST(MemoryPlanTest, SevenBFitsOneH100) {
  auto p = PlanMemory(Llama2_7B(), 1, {79 * kGiB}, MemoryPlanOptions());
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->tp, 1);
  const int64_t used = p->weight_bytes + p->workspace_bytes + p->reserve_bytes + p->kv_bytes;
  EXPECT_LE(used, 79 * kGiB);
  EXPECT_GE(used, 70 * kGiB);  // 90% of the rest goes to the KV cache
  EXPECT_EQ(p->kv_bytes, p->kv_pages * p->page_tokens * p->kv_bytes_per_token);
  EXPECT_GT(p->kv_tokens(), 100000);
  EXPECT_NE(p->DebugString().find("tp=1"), std::string::npos);
}

TEST(MemoryPlanTest, TooSmallIsResourceExhaustedWithTheNumbers) {
  auto p = PlanMemory(Llama2_70B(), 1, {79 * kGiB}, MemoryPlanOptions());
  ASSERT_EQ(p.status().code(), absl::StatusCode::kResourceExhausted) << p.status();
  const std::string m(p.status().message());
  EXPECT_NE(m.find("tensor parallelism 1"), std::string::npos) << m;
  EXPECT_NE(m.find("128.48 GiB of BF16 weights"), std::string::npos) << m;  // GiB of BF16 weights
  EXPECT_NE(m.find("79.00 GiB free"), std::string::npos) << m;
  EXPECT_NE(m.find("4096 tokens"), std::string::npos) << m;
}

TEST(MemoryPlanTest, ChoosesTheSmallestDegreeThatFits) {
  MemoryPlanOptions o;
  // 70B on 8 x 80 GB: one GPU is too small, two hold weights and 4 contexts.
  auto p = ChooseTensorParallel(Llama2_70B(), std::vector<int64_t>(8, 79 * kGiB), o);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->tp, 2);
  // On 8 x 40 GB it takes four (three does not divide 64 heads).
  p = ChooseTensorParallel(Llama2_70B(), std::vector<int64_t>(8, 39 * kGiB), o);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->tp, 4);
  // The smallest GPU of the group decides: with 30 GB on GPU 1, only an
  // 8-way split (16 GiB of weights each) leaves room for the KV cache.
  std::vector<int64_t> uneven(8, 79 * kGiB);
  uneven[1] = 30 * kGiB;
  p = ChooseTensorParallel(Llama2_70B(), uneven, o);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->tp, 8);
  // 7B on one GPU.
  p = ChooseTensorParallel(Llama2_7B(), {79 * kGiB}, o);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->tp, 1);
  // A forced degree is honoured (or refused with the reason).
  o.tp = 8;
  p = ChooseTensorParallel(Llama2_7B(), std::vector<int64_t>(8, 79 * kGiB), o);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->tp, 8);
  o.tp = 3;
  EXPECT_EQ(
      ChooseTensorParallel(Llama2_7B(), std::vector<int64_t>(8, 79 * kGiB), o).status().code(),
      absl::StatusCode::kInvalidArgument);
}

TEST(MemoryPlanTest, NothingFitsListsEveryDegree) {
  auto p = ChooseTensorParallel(Llama2_70B(), {20 * kGiB, 20 * kGiB}, MemoryPlanOptions());
  ASSERT_EQ(p.status().code(), absl::StatusCode::kResourceExhausted);
  const std::string m(p.status().message());
  EXPECT_NE(m.find("tp=1:"), std::string::npos) << m;
  EXPECT_NE(m.find("tp=2:"), std::string::npos) << m;
  EXPECT_EQ(ChooseTensorParallel(Llama2_7B(), {}, MemoryPlanOptions()).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(MemoryPlanTest, RejectsBadOptionsAndTooFewGpus) {
  MemoryPlanOptions o;
  EXPECT_EQ(PlanMemory(Llama2_7B(), 2, {79 * kGiB}, o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o.page_tokens = 0;
  EXPECT_EQ(PlanMemory(Llama2_7B(), 1, {79 * kGiB}, o).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace proctor::engine::cuda
