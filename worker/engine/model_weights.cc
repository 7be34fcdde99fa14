#include "worker/engine/model_weights.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace proctor::engine {

using kernels::WeightFormat;
using kernels::WeightMatrix;

absl::StatusOr<WeightFormat> FormatFromGgml(uint32_t t, const std::string& tensor) {
  switch (t) {
    case 0:
      return WeightFormat::kF32;
    case 1:
      return WeightFormat::kF16;
    case 2:
      return WeightFormat::kQ4_0;
    case 3:
      return WeightFormat::kQ4_1;
    case 8:
      return WeightFormat::kQ8_0;
    case 12:
      return WeightFormat::kQ4_K;
    case 14:
      return WeightFormat::kQ6_K;
    case 30:
      return WeightFormat::kBF16;
    default:
      return absl::FailedPreconditionError(absl::StrCat(
          "tensor '", tensor, "' has type ", GgmlTypeName(t),
          ", which the CPU engine does not support (F32/F16/BF16/Q8_0/Q4_0/Q4_1/Q4_K/Q6_K)"));
  }
}

namespace {

absl::Status ShapeError(const GgufFile& f, const std::string& name, const std::string& want,
                        const GgufTensor& t) {
  std::string got;
  for (size_t i = 0; i < t.dims.size(); ++i) absl::StrAppend(&got, i ? " x " : "", t.dims[i]);
  return absl::FailedPreconditionError(
      absl::StrCat(f.path(), ": tensor '", name, "' has shape [", got, "], expected [", want, "]"));
}

absl::StatusOr<WeightMatrix> Matrix(const GgufFile& f, const std::string& name, int64_t rows,
                                    int64_t cols, int64_t* bytes) {
  const GgufTensor* t = f.FindTensor(name);
  if (t == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(f.path(), ": missing tensor '", name, "'"));
  }
  if (t->dims.size() != 2 || t->dims[0] != cols || t->dims[1] != rows) {
    return ShapeError(f, name, absl::StrCat(cols, " x ", rows), *t);
  }
  PROCTOR_ASSIGN_OR_RETURN(WeightFormat fmt, FormatFromGgml(t->ggml_type, name));
  *bytes += static_cast<int64_t>(t->nbytes);
  return WeightMatrix{fmt, t->data, rows, cols};
}

// Decodes a 1-D tensor of n values into F32; empty when absent and optional.
absl::StatusOr<std::vector<float>> Vector(const GgufFile& f, const std::string& name, int64_t n,
                                          bool optional) {
  const GgufTensor* t = f.FindTensor(name);
  if (t == nullptr) {
    if (optional) return std::vector<float>();
    return absl::FailedPreconditionError(absl::StrCat(f.path(), ": missing tensor '", name, "'"));
  }
  if (t->dims.size() != 1 || t->dims[0] != n) return ShapeError(f, name, absl::StrCat(n), *t);
  PROCTOR_ASSIGN_OR_RETURN(WeightFormat fmt, FormatFromGgml(t->ggml_type, name));
  std::vector<float> out(static_cast<size_t>(n));
  kernels::DequantizeRow(fmt, t->data, out.data(), n);
  return out;
}

}  // namespace

absl::StatusOr<ModelWeights> WeightsFromGguf(const GgufFile& f) {
  ModelWeights w;
  PROCTOR_ASSIGN_OR_RETURN(w.config, ConfigFromGguf(f));
  const ModelConfig& c = w.config;
  const int64_t q_dim = c.n_heads * c.head_dim, kv_dim = c.n_kv_heads * c.head_dim;
  int64_t bytes = 0;
  PROCTOR_ASSIGN_OR_RETURN(w.token_embd,
                           Matrix(f, "token_embd.weight", c.vocab_size, c.dim, &bytes));
  PROCTOR_ASSIGN_OR_RETURN(w.output_norm, Vector(f, "output_norm.weight", c.dim, false));
  if (c.tied_embeddings) {
    w.output = w.token_embd;
  } else {
    PROCTOR_ASSIGN_OR_RETURN(w.output, Matrix(f, "output.weight", c.vocab_size, c.dim, &bytes));
  }
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const std::string p = absl::StrCat("blk.", l, ".");
    LayerWeights L;
    PROCTOR_ASSIGN_OR_RETURN(L.attn_norm, Vector(f, p + "attn_norm.weight", c.dim, false));
    PROCTOR_ASSIGN_OR_RETURN(L.ffn_norm, Vector(f, p + "ffn_norm.weight", c.dim, false));
    PROCTOR_ASSIGN_OR_RETURN(L.wq, Matrix(f, p + "attn_q.weight", q_dim, c.dim, &bytes));
    PROCTOR_ASSIGN_OR_RETURN(L.wk, Matrix(f, p + "attn_k.weight", kv_dim, c.dim, &bytes));
    PROCTOR_ASSIGN_OR_RETURN(L.wv, Matrix(f, p + "attn_v.weight", kv_dim, c.dim, &bytes));
    PROCTOR_ASSIGN_OR_RETURN(L.wo, Matrix(f, p + "attn_output.weight", c.dim, q_dim, &bytes));
    PROCTOR_ASSIGN_OR_RETURN(L.w_gate,
                             Matrix(f, p + "ffn_gate.weight", c.hidden_dim, c.dim, &bytes));
    PROCTOR_ASSIGN_OR_RETURN(L.w_up, Matrix(f, p + "ffn_up.weight", c.hidden_dim, c.dim, &bytes));
    PROCTOR_ASSIGN_OR_RETURN(L.w_down,
                             Matrix(f, p + "ffn_down.weight", c.dim, c.hidden_dim, &bytes));
    PROCTOR_ASSIGN_OR_RETURN(L.bq, Vector(f, p + "attn_q.bias", q_dim, true));
    PROCTOR_ASSIGN_OR_RETURN(L.bk, Vector(f, p + "attn_k.bias", kv_dim, true));
    PROCTOR_ASSIGN_OR_RETURN(L.bv, Vector(f, p + "attn_v.bias", kv_dim, true));
    w.layers.push_back(std::move(L));
  }
  w.mapped_bytes = bytes;
  return w;
}

absl::StatusOr<ModelWeights> WeightsFromLlama2c(const MappedFile& map) {
  ModelWeights w;
  PROCTOR_ASSIGN_OR_RETURN(w.config, ConfigFromLlama2cHeader(map.data(), map.size(), map.path()));
  const ModelConfig& c = w.config;
  const int64_t L = c.n_layers, d = c.dim, h = c.hidden_dim;
  const int64_t kv = c.n_kv_heads * c.head_dim;
  const int64_t head_size = c.head_dim;
  // Float counts of each section, in file order.
  const int64_t n_embed = c.vocab_size * d;
  const int64_t total = n_embed + L * d /*rms_att*/ + L * d * d /*wq*/ + 2 * L * kv * d /*wk,wv*/ +
                        L * d * d /*wo*/ + L * d /*rms_ffn*/ + 3 * L * h * d /*w1,w2,w3*/ +
                        d /*rms_final*/ + c.context_length * head_size /*freq_cis re+im*/ +
                        (c.tied_embeddings ? 0 : n_embed);
  const uint64_t need = 28 + static_cast<uint64_t>(total) * 4;
  if (map.size() < need) {
    return absl::FailedPreconditionError(absl::StrCat(map.path(), ": llama2.c file has ",
                                                      map.size(), " bytes, its header needs ", need,
                                                      " (truncated or wrong header)"));
  }
  const float* p = reinterpret_cast<const float*>(map.data() + 28);
  auto take = [&p](int64_t n) {
    const float* r = p;
    p += n;
    return r;
  };
  auto mat = [](const float* data, int64_t rows, int64_t cols) {
    return WeightMatrix{WeightFormat::kF32, data, rows, cols};
  };
  w.layers.resize(static_cast<size_t>(L));
  w.token_embd = mat(take(n_embed), c.vocab_size, d);
  const float* rms_att = take(L * d);
  const float* wq = take(L * d * d);
  const float* wk = take(L * kv * d);
  const float* wv = take(L * kv * d);
  const float* wo = take(L * d * d);
  const float* rms_ffn = take(L * d);
  const float* w1 = take(L * h * d);
  const float* w2 = take(L * d * h);
  const float* w3 = take(L * h * d);
  const float* rms_final = take(d);
  take(c.context_length * head_size);  // precomputed RoPE tables, unused
  const float* wcls =
      c.tied_embeddings ? static_cast<const float*>(w.token_embd.data) : take(n_embed);
  for (int64_t l = 0; l < L; ++l) {
    LayerWeights& lw = w.layers[static_cast<size_t>(l)];
    lw.attn_norm.assign(rms_att + l * d, rms_att + (l + 1) * d);
    lw.ffn_norm.assign(rms_ffn + l * d, rms_ffn + (l + 1) * d);
    lw.wq = mat(wq + l * d * d, d, d);
    lw.wk = mat(wk + l * kv * d, kv, d);
    lw.wv = mat(wv + l * kv * d, kv, d);
    lw.wo = mat(wo + l * d * d, d, d);
    lw.w_gate = mat(w1 + l * h * d, h, d);
    lw.w_down = mat(w2 + l * d * h, d, h);
    lw.w_up = mat(w3 + l * h * d, h, d);
  }
  w.output_norm.assign(rms_final, rms_final + d);
  w.output = mat(wcls, c.vocab_size, d);
  w.mapped_bytes = static_cast<int64_t>(need);
  return w;
}

}  // namespace proctor::engine
