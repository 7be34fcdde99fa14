#include "worker/engine/safetensors.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace proctor::engine {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

constexpr uint64_t kMaxHeader = 100ull << 20;

absl::Status Bad(const std::string& name, const std::string& what) {
  return absl::FailedPreconditionError(
      absl::StrCat("malformed safetensors file ", name, ": ", what));
}

absl::StatusOr<Struct> ParseJson(const std::string& text, const std::string& name) {
  Struct s;
  auto st = google::protobuf::util::JsonStringToMessage(text, &s);
  if (!st.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat(name, ": not a JSON object: ", std::string(st.message())));
  }
  return s;
}

// A JSON number that is a non-negative integer below 2^53.
bool AsIndex(const Value& v, int64_t* out) {
  if (v.kind_case() != Value::kNumberValue) return false;
  const double d = v.number_value();
  if (!(d >= 0) || d > 9007199254740992.0 || std::floor(d) != d) return false;
  *out = static_cast<int64_t>(d);
  return true;
}

int64_t DtypeSize(const std::string& dtype) {
  if (dtype == "F64" || dtype == "I64" || dtype == "U64") return 8;
  if (dtype == "F32" || dtype == "I32" || dtype == "U32") return 4;
  if (dtype == "F16" || dtype == "BF16" || dtype == "I16" || dtype == "U16") return 2;
  if (dtype == "I8" || dtype == "U8" || dtype == "BOOL" || dtype == "F8_E4M3" ||
      dtype == "F8_E5M2") {
    return 1;
  }
  return 0;
}

absl::StatusOr<std::string> ReadSmallFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::FailedPreconditionError(absl::StrCat("cannot read ", path));
  std::string s((std::istreambuf_iterator<char>(in)), {});
  if (s.size() > kMaxHeader)
    return absl::FailedPreconditionError(absl::StrCat(path, " is too large"));
  return s;
}

}  // namespace

absl::Status SafetensorsCheckpoint::ParseFile(const uint8_t* data, size_t size,
                                              const std::string& name,
                                              std::map<std::string, SafetensorsTensor>* out) {
  if (size < 8) return Bad(name, "shorter than the 8-byte header length");
  uint64_t n;
  std::memcpy(&n, data, 8);
  if (n > kMaxHeader || n > size - 8) {
    return Bad(name, absl::StrCat("header length ", n, " exceeds the file (", size, " bytes)"));
  }
  PROCTOR_ASSIGN_OR_RETURN(
      Struct header, ParseJson(std::string(reinterpret_cast<const char*>(data) + 8, n), name));
  const uint8_t* base = data + 8 + n;
  const uint64_t data_size = size - 8 - n;
  for (const auto& [tname, v] : header.fields()) {
    if (tname == "__metadata__") continue;
    if (v.kind_case() != Value::kStructValue)
      return Bad(name, absl::StrCat("entry '", tname, "' is not an object"));
    const auto& f = v.struct_value().fields();
    auto dt = f.find("dtype");
    auto sh = f.find("shape");
    auto off = f.find("data_offsets");
    if (dt == f.end() || sh == f.end() || off == f.end() ||
        dt->second.kind_case() != Value::kStringValue ||
        sh->second.kind_case() != Value::kListValue ||
        off->second.kind_case() != Value::kListValue ||
        off->second.list_value().values_size() != 2) {
      return Bad(name, absl::StrCat("tensor '", tname, "' needs dtype, shape and data_offsets[2]"));
    }
    SafetensorsTensor t;
    t.dtype = dt->second.string_value();
    const int64_t esize = DtypeSize(t.dtype);
    if (esize == 0)
      return Bad(name, absl::StrCat("tensor '", tname, "' has unknown dtype ", t.dtype));
    int64_t elems = 1;
    for (const Value& d : sh->second.list_value().values()) {
      int64_t dim;
      if (!AsIndex(d, &dim) || dim > (int64_t{1} << 40) ||
          (dim > 0 && elems > (int64_t{1} << 50) / dim)) {
        return Bad(name, absl::StrCat("tensor '", tname, "' has a bad or oversized shape"));
      }
      t.shape.push_back(dim);
      elems *= dim;
    }
    int64_t b, e;
    if (!AsIndex(off->second.list_value().values(0), &b) ||
        !AsIndex(off->second.list_value().values(1), &e) || b > e ||
        static_cast<uint64_t>(e) > data_size) {
      return Bad(name, absl::StrCat("tensor '", tname, "' data_offsets lie outside the ", data_size,
                                    "-byte data section"));
    }
    if (e - b != elems * esize) {
      return Bad(name, absl::StrCat("tensor '", tname, "' spans ", e - b,
                                    " bytes but its shape needs ", elems * esize));
    }
    t.data = base + b;
    t.nbytes = e - b;
    if (!out->emplace(tname, std::move(t)).second) {
      return Bad(name, absl::StrCat("duplicate tensor '", tname, "'"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<SafetensorsCheckpoint>> SafetensorsCheckpoint::Open(
    const std::string& path) {
  namespace fs = std::filesystem;
  std::unique_ptr<SafetensorsCheckpoint> c(new SafetensorsCheckpoint());
  std::vector<std::string> files;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    const fs::path index = fs::path(path) / "model.safetensors.index.json";
    if (fs::exists(index, ec)) {
      PROCTOR_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(index.string()));
      PROCTOR_ASSIGN_OR_RETURN(Struct s, ParseJson(text, index.string()));
      auto wm = s.fields().find("weight_map");
      if (wm == s.fields().end() || wm->second.kind_case() != Value::kStructValue) {
        return absl::FailedPreconditionError(
            absl::StrCat(index.string(), ": no weight_map object"));
      }
      std::set<std::string> shards;
      for (const auto& [tensor, file] : wm->second.struct_value().fields()) {
        const std::string f = file.string_value();
        if (file.kind_case() != Value::kStringValue || f.empty() ||
            f.find('/') != std::string::npos || f == "..") {
          return absl::FailedPreconditionError(
              absl::StrCat(index.string(), ": bad shard file name for '", tensor, "'"));
        }
        shards.insert(f);
      }
      for (const std::string& f : shards) files.push_back((fs::path(path) / f).string());
    } else {
      files.push_back((fs::path(path) / "model.safetensors").string());
    }
  } else {
    files.push_back(path);
  }
  for (const std::string& f : files) {
    PROCTOR_ASSIGN_OR_RETURN(MappedFile map, MappedFile::Open(f));
    PROCTOR_RETURN_IF_ERROR(ParseFile(map.data(), map.size(), f, &c->tensors_));
    c->files_.push_back(std::move(map));
  }
  return c;
}

const SafetensorsTensor* SafetensorsCheckpoint::Find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

absl::StatusOr<ModelConfig> ConfigFromHfJson(const std::string& json, const std::string& name) {
  PROCTOR_ASSIGN_OR_RETURN(Struct s, ParseJson(json, name));
  const auto& f = s.fields();
  auto num = [&](const std::string& key, double def, bool required) -> absl::StatusOr<double> {
    auto it = f.find(key);
    if (it == f.end() || it->second.kind_case() == Value::kNullValue) {
      if (required)
        return absl::FailedPreconditionError(absl::StrCat(name, ": missing '", key, "'"));
      return def;
    }
    if (it->second.kind_case() != Value::kNumberValue) {
      return absl::FailedPreconditionError(absl::StrCat(name, ": '", key, "' is not a number"));
    }
    return it->second.number_value();
  };
  ModelConfig c;
  if (auto it = f.find("model_type"); it != f.end()) c.arch = it->second.string_value();
  if (c.arch != "llama" && c.arch != "mistral" && c.arch != "qwen2" && c.arch != "internlm2" &&
      c.arch != "baichuan") {
    return absl::FailedPreconditionError(
        absl::StrCat(name, ": unsupported model_type '", c.arch, "'"));
  }
  PROCTOR_ASSIGN_OR_RETURN(double dim, num("hidden_size", 0, true));
  PROCTOR_ASSIGN_OR_RETURN(double hidden, num("intermediate_size", 0, true));
  PROCTOR_ASSIGN_OR_RETURN(double layers, num("num_hidden_layers", 0, true));
  PROCTOR_ASSIGN_OR_RETURN(double heads, num("num_attention_heads", 0, true));
  PROCTOR_ASSIGN_OR_RETURN(double kv, num("num_key_value_heads", heads, false));
  PROCTOR_ASSIGN_OR_RETURN(double vocab, num("vocab_size", 0, true));
  PROCTOR_ASSIGN_OR_RETURN(double ctx, num("max_position_embeddings", 2048, false));
  PROCTOR_ASSIGN_OR_RETURN(double eps, num("rms_norm_eps", 1e-6, false));
  PROCTOR_ASSIGN_OR_RETURN(double theta, num("rope_theta", 10000, false));
  auto clamp = [](double v) { return v > 0 && v < 1e9 ? static_cast<int64_t>(v) : int64_t{0}; };
  c.dim = clamp(dim);
  c.hidden_dim = clamp(hidden);
  c.n_layers = clamp(layers);
  c.n_heads = clamp(heads);
  c.n_kv_heads = clamp(kv);
  c.vocab_size = clamp(vocab);
  c.context_length = clamp(ctx);
  c.norm_eps = static_cast<float>(eps);
  c.rope.theta = static_cast<float>(theta);
  c.rope.neox_layout = true;
  c.head_dim = c.n_heads > 0 ? c.dim / c.n_heads : 0;
  PROCTOR_ASSIGN_OR_RETURN(double hd, num("head_dim", static_cast<double>(c.head_dim), false));
  c.head_dim = clamp(hd);
  c.tied_embeddings = false;
  if (auto it = f.find("tie_word_embeddings"); it != f.end())
    c.tied_embeddings = it->second.bool_value();
  if (auto it = f.find("rope_scaling");
      it != f.end() && it->second.kind_case() == Value::kStructValue) {
    const auto& r = it->second.struct_value().fields();
    std::string type;
    if (auto t = r.find("rope_type"); t != r.end()) type = t->second.string_value();
    if (auto t = r.find("type"); type.empty() && t != r.end()) type = t->second.string_value();
    auto rnum = [&](const char* key, double def) {
      auto k = r.find(key);
      return k != r.end() && k->second.kind_case() == Value::kNumberValue ? k->second.number_value()
                                                                          : def;
    };
    if (type == "linear") {
      c.rope.linear_factor = static_cast<float>(rnum("factor", 1.0));
    } else if (type == "llama3") {
      c.rope.llama3_factor = static_cast<float>(rnum("factor", 8.0));
      c.rope.llama3_low_freq_factor = static_cast<float>(rnum("low_freq_factor", 1.0));
      c.rope.llama3_high_freq_factor = static_cast<float>(rnum("high_freq_factor", 4.0));
      c.rope.llama3_original_max_position =
          static_cast<float>(rnum("original_max_position_embeddings", 8192.0));
    } else if (!type.empty() && type != "default") {
      return absl::FailedPreconditionError(
          absl::StrCat(name, ": unsupported rope_scaling '", type, "'"));
    }
  }
  absl::Status v = c.Validate();
  if (!v.ok()) return absl::FailedPreconditionError(absl::StrCat(name, ": ", v.message()));
  if (c.head_dim * c.n_heads != c.dim) {
    return absl::FailedPreconditionError(absl::StrCat(name, ": head_dim x heads != hidden_size"));
  }
  return c;
}

namespace {

absl::StatusOr<kernels::WeightFormat> FormatOf(const SafetensorsTensor& t,
                                               const std::string& name) {
  if (t.dtype == "F32") return kernels::WeightFormat::kF32;
  if (t.dtype == "F16") return kernels::WeightFormat::kF16;
  if (t.dtype == "BF16") return kernels::WeightFormat::kBF16;
  return absl::FailedPreconditionError(
      absl::StrCat("tensor '", name, "' has dtype ", t.dtype, " (need F32, F16 or BF16)"));
}

absl::StatusOr<kernels::WeightMatrix> Matrix(const SafetensorsCheckpoint& c,
                                             const std::string& name, int64_t rows, int64_t cols,
                                             int64_t* bytes) {
  const SafetensorsTensor* t = c.Find(name);
  if (t == nullptr)
    return absl::FailedPreconditionError(absl::StrCat("missing tensor '", name, "'"));
  if (t->shape != std::vector<int64_t>{rows, cols}) {
    return absl::FailedPreconditionError(absl::StrCat(
        "tensor '", name, "' has the wrong shape (expected [", rows, ", ", cols, "])"));
  }
  PROCTOR_ASSIGN_OR_RETURN(kernels::WeightFormat fmt, FormatOf(*t, name));
  *bytes += t->nbytes;
  return kernels::WeightMatrix{fmt, t->data, rows, cols, 0};
}

absl::StatusOr<std::vector<float>> Vector(const SafetensorsCheckpoint& c, const std::string& name,
                                          int64_t n, bool optional) {
  const SafetensorsTensor* t = c.Find(name);
  if (t == nullptr) {
    if (optional) return std::vector<float>();
    return absl::FailedPreconditionError(absl::StrCat("missing tensor '", name, "'"));
  }
  if (t->shape != std::vector<int64_t>{n}) {
    return absl::FailedPreconditionError(absl::StrCat("tensor '", name, "' has the wrong shape"));
  }
  PROCTOR_ASSIGN_OR_RETURN(kernels::WeightFormat fmt, FormatOf(*t, name));
  std::vector<float> out(static_cast<size_t>(n));
  kernels::DequantizeRow(fmt, t->data, out.data(), n);
  return out;
}

}  // namespace

absl::StatusOr<ModelWeights> WeightsFromSafetensors(const SafetensorsCheckpoint& ck,
                                                    const ModelConfig& config) {
  ModelWeights w;
  w.config = config;
  const ModelConfig& c = w.config;
  const int64_t q_dim = c.n_heads * c.head_dim, kv_dim = c.n_kv_heads * c.head_dim;
  int64_t bytes = 0;
  PROCTOR_ASSIGN_OR_RETURN(w.token_embd,
                           Matrix(ck, "model.embed_tokens.weight", c.vocab_size, c.dim, &bytes));
  PROCTOR_ASSIGN_OR_RETURN(w.output_norm, Vector(ck, "model.norm.weight", c.dim, false));
  if (c.tied_embeddings || ck.Find("lm_head.weight") == nullptr) {
    w.config.tied_embeddings = true;
    w.output = w.token_embd;
  } else {
    PROCTOR_ASSIGN_OR_RETURN(w.output, Matrix(ck, "lm_head.weight", c.vocab_size, c.dim, &bytes));
  }
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const std::string p = absl::StrCat("model.layers.", l, ".");
    LayerWeights L;
    PROCTOR_ASSIGN_OR_RETURN(L.attn_norm, Vector(ck, p + "input_layernorm.weight", c.dim, false));
    PROCTOR_ASSIGN_OR_RETURN(L.ffn_norm,
                             Vector(ck, p + "post_attention_layernorm.weight", c.dim, false));
    PROCTOR_ASSIGN_OR_RETURN(L.wq, Matrix(ck, p + "self_attn.q_proj.weight", q_dim, c.dim, &bytes));
    PROCTOR_ASSIGN_OR_RETURN(L.wk,
                             Matrix(ck, p + "self_attn.k_proj.weight", kv_dim, c.dim, &bytes));
    PROCTOR_ASSIGN_OR_RETURN(L.wv,
                             Matrix(ck, p + "self_attn.v_proj.weight", kv_dim, c.dim, &bytes));
    PROCTOR_ASSIGN_OR_RETURN(L.wo, Matrix(ck, p + "self_attn.o_proj.weight", c.dim, q_dim, &bytes));
    PROCTOR_ASSIGN_OR_RETURN(L.w_gate,
                             Matrix(ck, p + "mlp.gate_proj.weight", c.hidden_dim, c.dim, &bytes));
    PROCTOR_ASSIGN_OR_RETURN(L.w_up,
                             Matrix(ck, p + "mlp.up_proj.weight", c.hidden_dim, c.dim, &bytes));
    PROCTOR_ASSIGN_OR_RETURN(L.w_down,
                             Matrix(ck, p + "mlp.down_proj.weight", c.dim, c.hidden_dim, &bytes));
    PROCTOR_ASSIGN_OR_RETURN(L.bq, Vector(ck, p + "self_attn.q_proj.bias", q_dim, true));
    PROCTOR_ASSIGN_OR_RETURN(L.bk, Vector(ck, p + "self_attn.k_proj.bias", kv_dim, true));
    PROCTOR_ASSIGN_OR_RETURN(L.bv, Vector(ck, p + "self_attn.v_proj.bias", kv_dim, true));
    w.layers.push_back(std::move(L));
  }
  w.mapped_bytes = bytes;
  return w;
}

}  // namespace proctor::engine
