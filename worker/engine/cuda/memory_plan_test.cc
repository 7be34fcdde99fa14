#include "worker/engine/cuda/memory_plan.h"

#include <cstdio>

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

TEST(MemoryPlanTest, WorkspaceHoldsABatchedStepOf256RowsAnd256Sequences) {
  auto w = PlanWorkspace(Llama2_7B(), 1, MemoryPlanOptions());
  ASSERT_TRUE(w.ok()) << w.status();
  // x, xb, final norm (3 x 4096), q, att (2 x 4096), k, v (2 x 4096), gate, up
  // (2 x 11008) for 256 rows in BF16.
  EXPECT_EQ(w->activations, 256 * (3 * 4096 + 2 * 4096 + 2 * 4096 + 2 * 11008) * 2);
  // Hidden rows (BF16), logits (F32), statistics and row ids of 256 rows.
  EXPECT_EQ(w->logits, 256 * (4096 * 2 + 32000 * 4 + 5 * 4 * 2 + 8));
  // Split-K partials of 256 decode rows x 32 heads over a 4096-token context
  // (16 splits of 256 keys), (128 + 2) floats each.
  EXPECT_EQ(w->decode_scratch, int64_t{256} * 32 * 16 * 130 * 4);
  // ids, positions, slots (256 rows), cu_q, cu_k (257), key counts (256) and
  // 256 block tables of 256 pages.
  EXPECT_EQ(w->step_arrays, (3 * 256 + 2 * 257 + 256 + 256 * 256) * 4);
  auto p = PlanMemory(Llama2_7B(), 1, {79 * kGiB}, MemoryPlanOptions());
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->workspace_bytes, w->total());

  // One sequence per step: one block table, one row of decode partials.
  MemoryPlanOptions one;
  one.max_step_sequences = 1;
  w = PlanWorkspace(Llama2_7B(), 1, one);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->decode_scratch, 32 * 16 * 130 * 4);
  EXPECT_EQ(w->step_arrays, (3 * 256 + 2 * 2 + 1 + 256) * 4);

  // A 128K context: 8192 pages per table, 32 splits (the kernel's cap); at
  // tp 2 each rank has half the heads.
  ModelConfig long_context = Llama2_7B();
  long_context.context_length = 131072;
  w = PlanWorkspace(long_context, 2, MemoryPlanOptions());
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->step_arrays, (3 * 256 + 2 * 257 + 256 + int64_t{256} * 8192) * 4);
  EXPECT_EQ(w->decode_scratch, int64_t{256} * 16 * 32 * 130 * 4);

  MemoryPlanOptions bad;
  bad.max_step_sequences = 0;
  EXPECT_EQ(PlanWorkspace(Llama2_7B(), 1, bad).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PlanMemory(Llama2_7B(), 1, {79 * kGiB}, bad).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(MemoryPlanTest, AWorkspaceThatDoesNotFitIsResourceExhausted) {
  // 7B weights take 12.55 GiB; 13 GiB leaves no room for the workspace,
  // reserve and a context of KV: the message names every part.
  auto p = PlanMemory(Llama2_7B(), 1, {13 * kGiB}, MemoryPlanOptions());
  ASSERT_EQ(p.status().code(), absl::StatusCode::kResourceExhausted) << p.status();
  const std::string m(p.status().message());
  auto w = PlanWorkspace(Llama2_7B(), 1, MemoryPlanOptions());
  ASSERT_TRUE(w.ok());
  char want[64];
  std::snprintf(want, sizeof(want), "%.2f GiB workspace",
                static_cast<double>(w->total()) / static_cast<double>(kGiB));
  EXPECT_NE(m.find(want), std::string::npos) << m;
  EXPECT_NE(m.find("13.00 GiB free"), std::string::npos) << m;
}

TEST(MemoryPlanTest, TooSmallIsResourceExhaustedWithTheNumbers) {
  auto p = PlanMemory(Llama2_70B(), 1, {79 * kGiB}, MemoryPlanOptions());
  ASSERT_EQ(p.status().code(), absl::StatusCode::kResourceExhausted) << p.status();
  const std::string m(p.status().message());
  EXPECT_NE(m.find("tensor parallelism 1"), std::string::npos) << m;
  EXPECT_NE(m.find("128.48 GiB of BF16 weights"), std::string::npos) << m;  // GiB of BF16 weights
  EXPECT_NE(m.find("79.00 GiB free"), std::string::npos) << m;
  EXPECT_NE(m.find("4096 tokens"), std::string::npos) << m;
  // The example of docs/design/cuda-backend.md, figure by figure.
  EXPECT_NE(m.find("0.21 GiB workspace + 0.75 GiB reserve + 1.31 GiB KV cache"), std::string::npos)
      << m;
  EXPECT_NE(m.find("= 130.75 GiB"), std::string::npos) << m;
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
