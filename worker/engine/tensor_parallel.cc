#include "worker/engine/tensor_parallel.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace proctor::engine {
namespace {

using kernels::WeightMatrix;

WeightMatrix Rows(const WeightMatrix& w, int64_t begin, int64_t count) {
  WeightMatrix out = w;
  out.data = static_cast<const uint8_t*>(w.data) + begin * w.stride();
  out.rows = count;
  out.row_stride = w.stride();
  return out;
}

absl::StatusOr<WeightMatrix> Cols(const WeightMatrix& w, int64_t begin, int64_t count,
                                  const char* name) {
  const int64_t block = kernels::BlockValues(w.format);
  if (begin % block != 0 || count % block != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor parallelism: column split [", begin, ", +", count, ") of ", name,
                     " is not aligned to its ", kernels::WeightFormatName(w.format), " blocks"));
  }
  WeightMatrix out = w;
  out.data = static_cast<const uint8_t*>(w.data) + begin / block * kernels::BlockBytes(w.format);
  out.cols = count;
  out.row_stride = w.stride();
  return out;
}

std::vector<float> Slice(const std::vector<float>& v, int64_t begin, int64_t count) {
  if (v.empty()) return v;
  return std::vector<float>(v.begin() + begin, v.begin() + begin + count);
}

}  // namespace

absl::StatusOr<TpShardShape> ComputeShardShape(const ModelConfig& c, int rank, int size) {
  if (size < 1 || rank < 0 || rank >= size) {
    return absl::InvalidArgumentError(absl::StrCat("bad tensor-parallel rank ", rank, "/", size));
  }
  auto must_divide = [size](const char* what, int64_t n) -> absl::Status {
    if (n % size != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor parallelism ", size, " must divide ", what, " (", n, ")"));
    }
    return absl::OkStatus();
  };
  PROCTOR_RETURN_IF_ERROR(must_divide("n_heads", c.n_heads));
  PROCTOR_RETURN_IF_ERROR(must_divide("hidden_dim", c.hidden_dim));
  PROCTOR_RETURN_IF_ERROR(must_divide("vocab_size", c.vocab_size));
  if (c.n_kv_heads <= 0 || (c.n_kv_heads % size != 0 && size % c.n_kv_heads != 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor parallelism ", size, " must divide n_kv_heads (", c.n_kv_heads,
                     ") or be a multiple of it (KV heads are then replicated)"));
  }
  TpShardShape s;
  s.q_heads = c.n_heads / size;
  s.q_head_begin = rank * s.q_heads;
  if (c.n_kv_heads % size == 0) {
    s.kv_heads = c.n_kv_heads / size;
    s.kv_head_begin = rank * s.kv_heads;
  } else {
    // Every query head of this rank lies in one GQA group (group = n_heads /
    // n_kv_heads query heads, a multiple of q_heads here): hold that KV head.
    s.kv_heads = 1;
    s.kv_replicated = true;
    s.kv_head_begin = s.q_head_begin / (c.n_heads / c.n_kv_heads);
  }
  s.ff_cols = c.hidden_dim / size;
  s.ff_begin = rank * s.ff_cols;
  s.vocab_rows = c.vocab_size / size;
  s.vocab_begin = rank * s.vocab_rows;
  return s;
}

absl::StatusOr<ModelWeights> ShardWeights(const ModelWeights& full, int rank, int size) {
  const ModelConfig& c = full.config;
  PROCTOR_ASSIGN_OR_RETURN(const TpShardShape sh, ComputeShardShape(c, rank, size));
  ModelWeights s;
  s.config = c;
  s.tp_rank = rank;
  s.tp_size = size;
  const int64_t hd = c.head_dim;
  s.config.n_heads = sh.q_heads;
  s.config.n_kv_heads = sh.kv_heads;
  s.config.hidden_dim = sh.ff_cols;
  s.vocab_begin = sh.vocab_begin;
  s.token_embd = Rows(full.token_embd, sh.vocab_begin, sh.vocab_rows);
  s.output = Rows(full.output, sh.vocab_begin, sh.vocab_rows);
  s.output_norm = full.output_norm;
  s.mapped_bytes = full.mapped_bytes / size;
  const int64_t q0 = sh.q_head_begin * hd, k0 = sh.kv_head_begin * hd, f0 = sh.ff_begin;
  const int64_t q_local = sh.q_heads, kv_local = sh.kv_heads, ff_local = sh.ff_cols;
  for (const LayerWeights& L : full.layers) {
    LayerWeights l;
    l.attn_norm = L.attn_norm;
    l.ffn_norm = L.ffn_norm;
    l.wq = Rows(L.wq, q0, q_local * hd);
    l.wk = Rows(L.wk, k0, kv_local * hd);
    l.wv = Rows(L.wv, k0, kv_local * hd);
    PROCTOR_ASSIGN_OR_RETURN(l.wo, Cols(L.wo, q0, q_local * hd, "attn_output"));
    l.w_gate = Rows(L.w_gate, f0, ff_local);
    l.w_up = Rows(L.w_up, f0, ff_local);
    PROCTOR_ASSIGN_OR_RETURN(l.w_down, Cols(L.w_down, f0, ff_local, "ffn_down"));
    l.bq = Slice(L.bq, q0, q_local * hd);
    l.bk = Slice(L.bk, k0, kv_local * hd);
    l.bv = Slice(L.bv, k0, kv_local * hd);
    s.layers.push_back(std::move(l));
  }
  return s;
}

}  // namespace proctor::engine
