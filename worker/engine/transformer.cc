#include "worker/engine/transformer.h"

#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/reference.h"

namespace proctor::engine {

namespace ref = kernels::ref;

KvCache::KvCache(const ModelConfig& c)
    : kv_dim_(c.n_kv_heads * c.head_dim),
      dim_(c.dim),
      k_(static_cast<size_t>(c.n_layers)),
      v_(static_cast<size_t>(c.n_layers)) {}

void KvCache::Truncate(int64_t n) {
  if (n >= length()) return;
  if (n < 0) n = 0;
  tokens_.resize(static_cast<size_t>(n));
  for (auto& k : k_) k.resize(static_cast<size_t>(n * kv_dim_));
  for (auto& v : v_) v.resize(static_cast<size_t>(n * kv_dim_));
  hidden_.resize(static_cast<size_t>(n * dim_));
}

int64_t KvCache::Bytes() const {
  int64_t b = static_cast<int64_t>(hidden_.capacity() * sizeof(float));
  for (const auto& k : k_) b += static_cast<int64_t>(k.capacity() * sizeof(float));
  for (const auto& v : v_) b += static_cast<int64_t>(v.capacity() * sizeof(float));
  return b;
}

absl::Status Transformer::Extend(const std::vector<int32_t>& tokens, KvCache* cache) const {
  const ModelConfig& c = w_->config;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= c.vocab_size) {
      return absl::InvalidArgumentError(
          absl::StrCat("token id ", tokens[i], " at index ", i, " is outside the vocabulary"));
    }
  }
  if (cache->length() + static_cast<int64_t>(tokens.size()) > c.context_length) {
    return absl::InvalidArgumentError(
        absl::StrCat("sequence of ", cache->length() + static_cast<int64_t>(tokens.size()),
                     " tokens exceeds the model context length ", c.context_length));
  }
  constexpr int64_t kChunk = 256;  // bounds activation memory during prefill
  for (size_t at = 0; at < tokens.size(); at += kChunk) {
    const int64_t n = std::min<int64_t>(kChunk, static_cast<int64_t>(tokens.size() - at));
    absl::Status s = ExtendChunk(tokens.data() + at, n, cache);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status Transformer::ExtendChunk(const int32_t* tokens, int64_t t, KvCache* cache) const {
  const ModelConfig& c = w_->config;
  const int64_t dim = c.dim, hd = c.head_dim, nh = c.n_heads, nkv = c.n_kv_heads;
  const int64_t q_dim = nh * hd, kv_dim = nkv * hd, hidden = c.hidden_dim;
  const int64_t start = cache->length();
  const int64_t total = start + t;

  std::vector<float> x(static_cast<size_t>(t * dim)), xb(x.size());
  std::vector<float> q(static_cast<size_t>(t * q_dim)), att(q.size());
  std::vector<float> gate(static_cast<size_t>(t * hidden)), up(gate.size());
  std::vector<int32_t> pos(static_cast<size_t>(t));
  for (int64_t i = 0; i < t; ++i) pos[static_cast<size_t>(i)] = static_cast<int32_t>(start + i);

  // Vocabulary-parallel embedding: rows outside this shard stay zero and the
  // all-reduce assembles them.
  const int64_t emb_row_bytes = w_->token_embd.stride();
  for (int64_t i = 0; i < t; ++i) {
    const int64_t row = tokens[i] - w_->vocab_begin;
    if (row < 0 || row >= w_->token_embd.rows) continue;
    kernels::DequantizeRow(w_->token_embd.format,
                           static_cast<const uint8_t*>(w_->token_embd.data) + row * emb_row_bytes,
                           x.data() + i * dim, dim);
  }
  if (comm_ != nullptr) comm_->AllReduceSum(x.data(), t * dim);
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const LayerWeights& L = w_->layers[static_cast<size_t>(l)];
    std::vector<float>& kc = cache->k_[static_cast<size_t>(l)];
    std::vector<float>& vc = cache->v_[static_cast<size_t>(l)];
    kc.resize(static_cast<size_t>(total * kv_dim));
    vc.resize(static_cast<size_t>(total * kv_dim));
    float* k_new = kc.data() + start * kv_dim;
    float* v_new = vc.data() + start * kv_dim;

    ref::RmsNorm(x.data(), L.attn_norm.data(), xb.data(), t, dim, c.norm_eps);
    kernels::MatMul(xb.data(), t, L.wq, L.bq.empty() ? nullptr : L.bq.data(), q.data(), pool_);
    kernels::MatMul(xb.data(), t, L.wk, L.bk.empty() ? nullptr : L.bk.data(), k_new, pool_);
    kernels::MatMul(xb.data(), t, L.wv, L.bv.empty() ? nullptr : L.bv.data(), v_new, pool_);
    ref::Rope(q.data(), pos.data(), t, nh, hd, c.rope);
    ref::Rope(k_new, pos.data(), t, nkv, hd, c.rope);
    kernels::Attention(q.data(), kc.data(), vc.data(), att.data(), t, total, nh, nkv, hd, start,
                       scale, pool_);
    kernels::MatMul(att.data(), t, L.wo, nullptr, xb.data(), pool_);
    if (comm_ != nullptr) comm_->AllReduceSum(xb.data(), t * dim);  // row-parallel O
    ref::AddRmsNorm(x.data(), xb.data(), L.ffn_norm.data(), xb.data(), t, dim, c.norm_eps);
    kernels::MatMul(xb.data(), t, L.w_gate, nullptr, gate.data(), pool_);
    kernels::MatMul(xb.data(), t, L.w_up, nullptr, up.data(), pool_);
    ref::SwiGlu(gate.data(), up.data(), gate.data(), t * hidden);
    kernels::MatMul(gate.data(), t, L.w_down, nullptr, xb.data(), pool_);
    if (comm_ != nullptr) comm_->AllReduceSum(xb.data(), t * dim);  // row-parallel down
    for (size_t i = 0; i < x.size(); ++i) x[i] += xb[i];
  }
  cache->hidden_.resize(static_cast<size_t>(total * dim));
  ref::RmsNorm(x.data(), w_->output_norm.data(), cache->hidden_.data() + start * dim, t, dim,
               c.norm_eps);
  cache->tokens_.insert(cache->tokens_.end(), tokens, tokens + t);
  return absl::OkStatus();
}

void Transformer::Logits(const KvCache& cache, const int64_t* positions, int64_t n,
                         float* out) const {
  const int64_t dim = w_->config.dim;
  std::vector<float> h(static_cast<size_t>(n * dim));
  for (int64_t i = 0; i < n; ++i) {
    std::memcpy(h.data() + i * dim, cache.hidden_.data() + positions[i] * dim,
                static_cast<size_t>(dim) * sizeof(float));
  }
  if (comm_ == nullptr) {
    kernels::MatMul(h.data(), n, w_->output, nullptr, out, pool_);
    return;
  }
  // Vocabulary-parallel logits: local [n, v_local], gathered by rank.
  const int64_t local = w_->output.rows, size = comm_->size();
  std::vector<float> mine(static_cast<size_t>(n * local)),
      all(static_cast<size_t>(size * n * local));
  kernels::MatMul(h.data(), n, w_->output, nullptr, mine.data(), pool_);
  comm_->AllGather(mine.data(), n * local, all.data());
  for (int64_t r = 0; r < size; ++r) {
    for (int64_t i = 0; i < n; ++i) {
      std::memcpy(out + i * size * local + r * local, all.data() + (r * n + i) * local,
                  static_cast<size_t>(local) * sizeof(float));
    }
  }
}

}  // namespace proctor::engine
