#include "worker/engine/model_config.h"

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace proctor::engine {

absl::Status ModelConfig::Validate() const {
  auto bad = [](const std::string& what) {
    return absl::FailedPreconditionError(absl::StrCat("invalid model config: ", what));
  };
  constexpr int64_t kMaxDim = 1 << 20;
  if (dim <= 0 || dim > kMaxDim) return bad(absl::StrCat("dim = ", dim));
  if (hidden_dim <= 0 || hidden_dim > 8 * kMaxDim)
    return bad(absl::StrCat("hidden_dim = ", hidden_dim));
  if (n_layers <= 0 || n_layers > 1024) return bad(absl::StrCat("n_layers = ", n_layers));
  if (n_heads <= 0 || n_heads > 4096) return bad(absl::StrCat("n_heads = ", n_heads));
  if (n_kv_heads <= 0 || n_kv_heads > n_heads || n_heads % n_kv_heads != 0) {
    return bad(absl::StrCat("n_kv_heads = ", n_kv_heads, " must divide n_heads = ", n_heads));
  }
  if (head_dim <= 0 || head_dim % 2 != 0) return bad(absl::StrCat("head_dim = ", head_dim));
  if (vocab_size <= 0 || vocab_size > (1 << 24))
    return bad(absl::StrCat("vocab_size = ", vocab_size));
  if (context_length <= 0 || context_length > (1 << 24)) {
    return bad(absl::StrCat("context_length = ", context_length));
  }
  if (!(norm_eps > 0.0f && norm_eps < 1.0f)) return bad(absl::StrCat("norm_eps = ", norm_eps));
  if (!(rope.theta > 1.0f)) return bad(absl::StrCat("rope theta = ", rope.theta));
  if (rope.n_rot < 0 || rope.n_rot > head_dim || rope.n_rot % 2 != 0) {
    return bad(absl::StrCat("rope dimension count = ", rope.n_rot));
  }
  if (!(rope.linear_factor > 0.0f)) return bad("rope linear scaling factor must be > 0");
  return absl::OkStatus();
}

std::string ModelConfig::DebugString() const {
  return absl::StrCat("arch=", arch, " dim=", dim, " hidden=", hidden_dim, " layers=", n_layers,
                      " heads=", n_heads, " kv_heads=", n_kv_heads, " head_dim=", head_dim,
                      " vocab=", vocab_size, " ctx=", context_length, " eps=", norm_eps,
                      " rope_theta=", rope.theta, rope.neox_layout ? " rope=neox" : " rope=normal",
                      tied_embeddings ? " tied" : "");
}

absl::StatusOr<ModelConfig> ConfigFromGguf(const GgufFile& f) {
  ModelConfig c;
  PROCTOR_ASSIGN_OR_RETURN(c.arch, f.GetString("general.architecture"));
  const std::string& a = c.arch;
  if (a != "llama" && a != "qwen2" && a != "mistral" && a != "internlm2" && a != "baichuan") {
    return absl::FailedPreconditionError(
        absl::StrCat(f.path(), ": unsupported architecture '", a, "'"));
  }
  PROCTOR_ASSIGN_OR_RETURN(c.dim, f.GetInt(a + ".embedding_length"));
  PROCTOR_ASSIGN_OR_RETURN(c.hidden_dim, f.GetInt(a + ".feed_forward_length"));
  PROCTOR_ASSIGN_OR_RETURN(c.n_layers, f.GetInt(a + ".block_count"));
  PROCTOR_ASSIGN_OR_RETURN(c.n_heads, f.GetInt(a + ".attention.head_count"));
  PROCTOR_ASSIGN_OR_RETURN(c.n_kv_heads, f.GetIntOr(a + ".attention.head_count_kv", c.n_heads));
  PROCTOR_ASSIGN_OR_RETURN(c.context_length, f.GetIntOr(a + ".context_length", 2048));
  PROCTOR_ASSIGN_OR_RETURN(double eps, f.GetFloatOr(a + ".attention.layer_norm_rms_epsilon", 1e-5));
  c.norm_eps = static_cast<float>(eps);
  PROCTOR_ASSIGN_OR_RETURN(double theta, f.GetFloatOr(a + ".rope.freq_base", 10000.0));
  c.rope.theta = static_cast<float>(theta);
  if (c.n_heads > 0) c.head_dim = c.dim / c.n_heads;
  PROCTOR_ASSIGN_OR_RETURN(c.head_dim, f.GetIntOr(a + ".attention.key_length", c.head_dim));
  PROCTOR_ASSIGN_OR_RETURN(c.rope.n_rot, f.GetIntOr(a + ".rope.dimension_count", c.head_dim));
  if (c.rope.n_rot == c.head_dim) c.rope.n_rot = 0;
  // llama.cpp: qwen2 uses the NeoX layout; llama-family GGUFs were permuted at
  // conversion to use the interleaved ("normal") layout.
  c.rope.neox_layout = (a == "qwen2" || a == "internlm2");
  if (const GgufValue* st = f.Find(a + ".rope.scaling.type"); st != nullptr) {
    PROCTOR_ASSIGN_OR_RETURN(double factor, f.GetFloatOr(a + ".rope.scaling.factor", 1.0));
    if (st->str == "linear" && factor > 0) c.rope.linear_factor = static_cast<float>(factor);
  }
  if (const GgufValue* v = f.Find(a + ".vocab_size"); v != nullptr && v->is_int()) {
    c.vocab_size = v->i;
  } else if (const GgufValue* toks = f.Find("tokenizer.ggml.tokens"); toks != nullptr) {
    c.vocab_size = static_cast<int64_t>(toks->array_len);
  } else if (const GgufTensor* emb = f.FindTensor("token_embd.weight");
             emb != nullptr && emb->dims.size() == 2) {
    c.vocab_size = emb->dims[1];
  }
  c.tied_embeddings = f.FindTensor("output.weight") == nullptr;
  PROCTOR_RETURN_IF_ERROR(c.Validate());
  if (c.head_dim * c.n_heads != c.dim) {
    return absl::FailedPreconditionError(absl::StrCat(f.path(), ": head_dim ", c.head_dim,
                                                      " x heads ", c.n_heads, " != dim ", c.dim));
  }
  return c;
}

absl::StatusOr<ModelConfig> ConfigFromLlama2cHeader(const uint8_t* data, size_t size,
                                                    const std::string& path) {
  if (size < 28) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": llama2.c file shorter than its 28-byte header"));
  }
  int32_t h[7];
  std::memcpy(h, data, sizeof(h));
  ModelConfig c;
  c.dim = h[0];
  c.hidden_dim = h[1];
  c.n_layers = h[2];
  c.n_heads = h[3];
  c.n_kv_heads = h[4];
  c.tied_embeddings = h[5] > 0;
  c.vocab_size = h[5] > 0 ? h[5] : -static_cast<int64_t>(h[5]);
  c.context_length = h[6];
  c.head_dim = c.n_heads > 0 ? c.dim / c.n_heads : 0;
  c.norm_eps = 1e-5f;
  c.rope.theta = 10000.0f;
  c.rope.neox_layout = false;
  absl::Status s = c.Validate();
  if (!s.ok()) return absl::FailedPreconditionError(absl::StrCat(path, ": ", s.message()));
  if (c.head_dim * c.n_heads != c.dim) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": dim ", c.dim, " is not divisible by n_heads ", c.n_heads));
  }
  return c;
}

}  // namespace proctor::engine
