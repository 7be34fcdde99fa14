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

absl::StatusOr<ModelWeights> ShardWeights(const ModelWeights& full, int rank, int size) {
  const ModelConfig& c = full.config;
  if (size < 1 || rank < 0 || rank >= size) {
    return absl::InvalidArgumentError(absl::StrCat("bad tensor-parallel rank ", rank, "/", size));
  }
  if (c.n_kv_heads % size != 0 || c.hidden_dim % size != 0 || c.vocab_size % size != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor parallelism ", size, " must divide n_kv_heads (", c.n_kv_heads,
                     "), hidden_dim (", c.hidden_dim, ") and vocab_size (", c.vocab_size, ")"));
  }
  ModelWeights s;
  s.config = c;
  s.tp_rank = rank;
  s.tp_size = size;
  const int64_t hd = c.head_dim;
  const int64_t kv_local = c.n_kv_heads / size, q_local = c.n_heads / size;
  const int64_t ff_local = c.hidden_dim / size, vocab_local = c.vocab_size / size;
  s.config.n_heads = q_local;
  s.config.n_kv_heads = kv_local;
  s.config.hidden_dim = ff_local;
  s.vocab_begin = rank * vocab_local;
  s.token_embd = Rows(full.token_embd, s.vocab_begin, vocab_local);
  s.output = Rows(full.output, s.vocab_begin, vocab_local);
  s.output_norm = full.output_norm;
  s.mapped_bytes = full.mapped_bytes / size;
  const int64_t q0 = rank * q_local * hd, k0 = rank * kv_local * hd, f0 = rank * ff_local;
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
