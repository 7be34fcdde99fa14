#include "worker/engine/cuda/memory_plan.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "worker/engine/cuda/step_layout.h"
#include "worker/engine/tensor_parallel.h"

namespace proctor::engine::cuda {
namespace {

constexpr int64_t kBf16 = 2;

std::string Gib(int64_t bytes) {
  return absl::StrFormat("%.2f GiB", static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0));
}

// Split-K chunks of the decode kernel for keys up to `max_seq_len`
// (kernels/cuda/attention.cu DecodeAttentionNumSplits: 256 keys per split,
// 1..32 splits).
int64_t DecodeSplits(int64_t max_seq_len) {
  return std::clamp<int64_t>((max_seq_len + 255) / 256, 1, 32);
}

WorkspacePlan Workspace(const ModelConfig& c, const TpShardShape& s, int tp,
                        const MemoryPlanOptions& o) {
  WorkspacePlan w;
  const int64_t t = o.chunk_tokens, hd = c.head_dim;
  // x, xb, the final-norm output; q, att; k, v; gate, up.
  w.activations =
      t * (3 * c.dim + 2 * s.q_heads * hd + 2 * s.kv_heads * hd + 2 * s.ff_cols) * kBf16;
  // Gathered hidden rows, local logits (F32), every rank's logits when they
  // are gathered (tp > 1), shard statistics of every rank, row ids.
  w.logits = o.logit_rows * (c.dim * kBf16 + s.vocab_rows * 4 + (tp > 1 ? c.vocab_size * 4 : 0) +
                             5 * 4 * (tp + 1) + 8);
  const int64_t max_pages = (c.context_length + o.page_tokens - 1) / o.page_tokens;
  const int64_t seqs = std::min(o.max_step_sequences, o.chunk_tokens);
  // The decode kernel runs with the context's length as its bound (graphs).
  w.decode_scratch = seqs * s.q_heads * DecodeSplits(max_pages * o.page_tokens) * (hd + 2) * 4;
  w.step_arrays = MaxStepArrayInts(t, seqs, max_pages) * 4;
  return w;
}

}  // namespace

std::string MemoryPlan::DebugString() const {
  return absl::StrCat("tp=", tp, " per GPU: weights ", Gib(weight_bytes), ", workspace ",
                      Gib(workspace_bytes), ", reserve ", Gib(reserve_bytes), ", KV cache ",
                      Gib(kv_bytes), " (", kv_pages, " pages of ", page_tokens,
                      " tokens = ", kv_tokens(), " tokens at ", kv_bytes_per_token,
                      " B/token); free ", Gib(free_bytes));
}

absl::StatusOr<WorkspacePlan> PlanWorkspace(const ModelConfig& c, int tp,
                                            const MemoryPlanOptions& o) {
  if (o.page_tokens <= 0 || o.chunk_tokens <= 0 || o.logit_rows <= 0 || o.max_step_sequences <= 0) {
    return absl::InvalidArgumentError("memory plan options out of range");
  }
  PROCTOR_ASSIGN_OR_RETURN(const TpShardShape s, ComputeShardShape(c, 0, tp));
  return Workspace(c, s, tp, o);
}

absl::StatusOr<int64_t> ShardWeightBytes(const ModelConfig& c, int rank, int tp) {
  PROCTOR_ASSIGN_OR_RETURN(const TpShardShape s, ComputeShardShape(c, rank, tp));
  const int64_t hd = c.head_dim, d = c.dim;
  const int64_t q = s.q_heads * hd, kv = s.kv_heads * hd;
  int64_t per_layer = (q + 2 * kv) * d /*wq wk wv*/ + d * q /*wo*/ + 3 * s.ff_cols * d /*ffn*/ +
                      2 * d /*norms*/ + q + 2 * kv /*optional biases, counted always*/;
  int64_t total = c.n_layers * per_layer + d /*output norm*/ + s.vocab_rows * d /*embedding*/;
  if (!c.tied_embeddings) total += s.vocab_rows * d;
  return total * kBf16;
}

absl::StatusOr<int64_t> KvBytesPerToken(const ModelConfig& c, int tp) {
  PROCTOR_ASSIGN_OR_RETURN(const TpShardShape s, ComputeShardShape(c, 0, tp));
  return (c.n_layers * 2 * s.kv_heads * c.head_dim + c.dim) * kBf16;
}

absl::StatusOr<MemoryPlan> PlanMemory(const ModelConfig& c, int tp,
                                      const std::vector<int64_t>& free_bytes,
                                      const MemoryPlanOptions& o) {
  if (tp < 1 || static_cast<size_t>(tp) > free_bytes.size()) {
    return absl::InvalidArgumentError(absl::StrCat("tensor parallelism ", tp, " needs ", tp,
                                                   " GPUs; this worker has ", free_bytes.size()));
  }
  if (o.page_tokens <= 0 || o.chunk_tokens <= 0 || o.logit_rows <= 0 || o.max_step_sequences <= 0 ||
      o.kv_fraction <= 0 || o.kv_fraction > 1 || o.reserve_bytes < 0) {
    return absl::InvalidArgumentError("memory plan options out of range");
  }
  MemoryPlan p;
  p.tp = tp;
  p.page_tokens = o.page_tokens;
  p.reserve_bytes = o.reserve_bytes;
  p.free_bytes = *std::min_element(free_bytes.begin(), free_bytes.begin() + tp);
  for (int r = 0; r < tp; ++r) {
    PROCTOR_ASSIGN_OR_RETURN(const int64_t w, ShardWeightBytes(c, r, tp));
    p.weight_bytes = std::max(p.weight_bytes, w);
  }
  PROCTOR_ASSIGN_OR_RETURN(const TpShardShape s0, ComputeShardShape(c, 0, tp));
  p.workspace_bytes = Workspace(c, s0, tp, o).total();
  PROCTOR_ASSIGN_OR_RETURN(p.kv_bytes_per_token, KvBytesPerToken(c, tp));
  const int64_t page_bytes = p.page_tokens * p.kv_bytes_per_token;
  const int64_t min_pages = (c.context_length + p.page_tokens - 1) / p.page_tokens;
  const int64_t fixed = p.weight_bytes + p.workspace_bytes + p.reserve_bytes;
  const int64_t left = p.free_bytes - fixed;
  p.kv_pages =
      left > 0 ? static_cast<int64_t>(static_cast<double>(left) * o.kv_fraction) / page_bytes : 0;
  p.kv_bytes = p.kv_pages * page_bytes;
  if (p.kv_pages < min_pages) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "model does not fit at tensor parallelism ", tp, ": per GPU it needs ", Gib(p.weight_bytes),
        " of BF16 weights + ", Gib(p.workspace_bytes), " workspace + ", Gib(p.reserve_bytes),
        " reserve + ", Gib(min_pages * page_bytes), " KV cache for one context of ",
        c.context_length, " tokens = ", Gib(fixed + min_pages * page_bytes),
        ", but the smallest GPU has ", Gib(p.free_bytes), " free"));
  }
  return p;
}

absl::StatusOr<MemoryPlan> ChooseTensorParallel(const ModelConfig& c,
                                                const std::vector<int64_t>& free_bytes,
                                                const MemoryPlanOptions& o) {
  if (free_bytes.empty()) return absl::FailedPreconditionError("no CUDA device");
  if (o.tp > 0) return PlanMemory(c, o.tp, free_bytes, o);
  std::string why;
  absl::StatusOr<MemoryPlan> best = absl::ResourceExhaustedError("");
  const int gpus = static_cast<int>(free_bytes.size());
  for (int tp = 1; tp <= gpus; ++tp) {
    absl::StatusOr<MemoryPlan> p = PlanMemory(c, tp, free_bytes, o);
    if (!p.ok()) {
      absl::StrAppend(&why, "; tp=", tp, ": ", p.status().message());
      continue;
    }
    if (p->kv_tokens() >= o.min_contexts * c.context_length) return p;
    if (!best.ok() || p->kv_tokens() > best->kv_tokens()) best = std::move(p);
  }
  if (best.ok()) return best;
  return absl::ResourceExhaustedError(
      absl::StrCat("model does not fit on ", gpus, " GPU(s) at any tensor parallelism", why));
}

}  // namespace proctor::engine::cuda
