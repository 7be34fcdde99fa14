#include "worker/engine/safetensors.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kernels/cpu/reference.h"
#include "worker/engine/model.h"
#include "worker/engine/test_data.h"
#include "worker/engine/transformer.h"

namespace proctor::engine {
namespace {

struct Entry {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> values;
};

// Writes a safetensors file of F32 (or BF16) tensors.
std::vector<uint8_t> WriteSafetensors(const std::vector<Entry>& entries, bool bf16) {
  std::string header = "{";
  std::vector<uint8_t> data;
  for (const Entry& e : entries) {
    const size_t begin = data.size();
    for (float v : e.values) {
      if (bf16) {
        uint32_t bits;
        std::memcpy(&bits, &v, 4);
        const uint16_t h = static_cast<uint16_t>(bits >> 16);  // truncation is fine for a fixture
        data.push_back(static_cast<uint8_t>(h & 0xff));
        data.push_back(static_cast<uint8_t>(h >> 8));
      } else {
        const auto* p = reinterpret_cast<const uint8_t*>(&v);
        data.insert(data.end(), p, p + 4);
      }
    }
    std::string shape;
    for (size_t i = 0; i < e.shape.size(); ++i) absl::StrAppend(&shape, i ? "," : "", e.shape[i]);
    absl::StrAppend(&header, header.size() > 1 ? "," : "", "\"", e.name, "\":{\"dtype\":\"",
                    bf16 ? "BF16" : "F32", "\",\"shape\":[", shape, "],\"data_offsets\":[", begin,
                    ",", data.size(), "]}");
  }
  header += ",\"__metadata__\":{\"format\":\"pt\"}}";
  while (header.size() % 8 != 0) header += ' ';
  std::vector<uint8_t> out;
  for (int k = 0; k < 8; ++k) out.push_back(static_cast<uint8_t>(header.size() >> (8 * k)));
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

void WriteFile(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

std::vector<float> Rows(const kernels::WeightMatrix& w) {
  std::vector<float> out(static_cast<size_t>(w.rows * w.cols));
  for (int64_t r = 0; r < w.rows; ++r) {
    kernels::DequantizeRow(w.format, static_cast<const uint8_t*>(w.data) + r * w.stride(),
                           out.data() + r * w.cols, w.cols);
  }
  return out;
}

// GGUF/llama2.c Q and K rows use the interleaved RoPE layout; Hugging Face
// checkpoints the half-split one: row h*hd + j*hd/2 + i (HF) = row h*hd + 2i + j.
std::vector<float> ToHfRope(const std::vector<float>& w, int64_t heads, int64_t hd, int64_t cols) {
  std::vector<float> out(w.size());
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t i = 0; i < hd / 2; ++i) {
      for (int64_t j = 0; j < 2; ++j) {
        std::memcpy(&out[static_cast<size_t>((h * hd + j * hd / 2 + i) * cols)],
                    &w[static_cast<size_t>((h * hd + 2 * i + j) * cols)],
                    static_cast<size_t>(cols) * sizeof(float));
      }
    }
  }
  return out;
}

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string gguf = testing::SharedData("models/stories260K/stories260K.gguf");
    if (gguf.empty()) GTEST_SKIP() << "stories260K not found (set PROCTOR_SHARED_DATA)";
    auto m = Model::Load(gguf);
    ASSERT_TRUE(m.ok()) << m.status();
    ref_ = std::move(*m);
  }

  // Writes stories260K as a Hugging Face checkpoint sharded over two files.
  std::string WriteCheckpoint(const std::string& name, bool bf16) {
    const ModelWeights& w = ref_->weights();
    const ModelConfig& c = w.config;
    std::vector<Entry> a, b;
    a.push_back({"model.embed_tokens.weight", {c.vocab_size, c.dim}, Rows(w.token_embd)});
    a.push_back({"model.norm.weight", {c.dim}, w.output_norm});
    for (int64_t l = 0; l < c.n_layers; ++l) {
      const LayerWeights& L = w.layers[static_cast<size_t>(l)];
      std::vector<Entry>& dst = l < 2 ? a : b;
      const std::string p = absl::StrCat("model.layers.", l, ".");
      dst.push_back({p + "input_layernorm.weight", {c.dim}, L.attn_norm});
      dst.push_back({p + "post_attention_layernorm.weight", {c.dim}, L.ffn_norm});
      dst.push_back({p + "self_attn.q_proj.weight",
                     {L.wq.rows, L.wq.cols},
                     ToHfRope(Rows(L.wq), c.n_heads, c.head_dim, c.dim)});
      dst.push_back({p + "self_attn.k_proj.weight",
                     {L.wk.rows, L.wk.cols},
                     ToHfRope(Rows(L.wk), c.n_kv_heads, c.head_dim, c.dim)});
      dst.push_back({p + "self_attn.v_proj.weight", {L.wv.rows, L.wv.cols}, Rows(L.wv)});
      dst.push_back({p + "self_attn.o_proj.weight", {L.wo.rows, L.wo.cols}, Rows(L.wo)});
      dst.push_back({p + "mlp.gate_proj.weight", {L.w_gate.rows, L.w_gate.cols}, Rows(L.w_gate)});
      dst.push_back({p + "mlp.up_proj.weight", {L.w_up.rows, L.w_up.cols}, Rows(L.w_up)});
      dst.push_back({p + "mlp.down_proj.weight", {L.w_down.rows, L.w_down.cols}, Rows(L.w_down)});
    }
    const std::string dir = ::testing::TempDir() + "/" + name;
    std::filesystem::create_directories(dir);
    WriteFile(dir + "/model-00001-of-00002.safetensors", WriteSafetensors(a, bf16));
    WriteFile(dir + "/model-00002-of-00002.safetensors", WriteSafetensors(b, bf16));
    std::string index = "{\"metadata\":{},\"weight_map\":{";
    bool first = true;
    for (const auto* part : {&a, &b}) {
      for (const Entry& e : *part) {
        absl::StrAppend(&index, first ? "" : ",", "\"", e.name, "\":\"model-0000",
                        part == &a ? 1 : 2, "-of-00002.safetensors\"");
        first = false;
      }
    }
    index += "}}";
    std::ofstream(dir + "/model.safetensors.index.json") << index;
    std::ofstream(dir + "/config.json") << absl::StrCat(
        "{\"model_type\":\"llama\",\"hidden_size\":", c.dim,
        ",\"intermediate_size\":", c.hidden_dim, ",\"num_hidden_layers\":", c.n_layers,
        ",\"num_attention_heads\":", c.n_heads, ",\"num_key_value_heads\":", c.n_kv_heads,
        ",\"vocab_size\":", c.vocab_size, ",\"max_position_embeddings\":", c.context_length,
        ",\"rms_norm_eps\":1e-05,",
        "\"rope_theta\":10000.0,\"tie_word_embeddings\":true,\"rope_scaling\":null}");
    return dir;
  }

  std::vector<float> Logits(const Model& m, const std::vector<int32_t>& toks) {
    Transformer tf(&m.weights(), nullptr);
    KvCache cache(m.config());
    EXPECT_TRUE(tf.Extend(toks, &cache).ok());
    std::vector<int64_t> pos(toks.size());
    for (size_t i = 0; i < pos.size(); ++i) pos[i] = static_cast<int64_t>(i);
    std::vector<float> out(toks.size() * static_cast<size_t>(m.config().vocab_size));
    tf.Logits(cache, pos.data(), static_cast<int64_t>(pos.size()), out.data());
    return out;
  }

  std::unique_ptr<Model> ref_;
};

TEST_F(SafetensorsTest, ShardedHfCheckpointMatchesGguf) {
  const std::string dir = WriteCheckpoint("hf_f32", false);
  auto m = Model::Load(dir);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ((*m)->format(), "safetensors");
  EXPECT_TRUE((*m)->config().rope.neox_layout);
  const std::vector<int32_t> toks = {1, 403, 407, 261, 378, 432, 383, 286, 261};
  const auto a = Logits(*ref_, toks), b = Logits(**m, toks);
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 1e-4) << i;
  // BF16 weights load too and stay close.
  auto bf = Model::Load(WriteCheckpoint("hf_bf16", true));
  ASSERT_TRUE(bf.ok()) << bf.status();
  const auto c = Logits(**bf, toks);
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(double{a[i]} - c[i]));
  EXPECT_LT(worst, 0.5);
}

TEST_F(SafetensorsTest, MalformedFilesFailCleanly) {
  const std::string dir = WriteCheckpoint("hf_bad", false);
  std::ifstream in(dir + "/model-00001-of-00002.safetensors", std::ios::binary);
  const std::vector<uint8_t> full((std::istreambuf_iterator<char>(in)), {});
  std::map<std::string, SafetensorsTensor> t;
  ASSERT_TRUE(SafetensorsCheckpoint::ParseFile(full.data(), full.size(), "ok", &t).ok());
  uint64_t header;
  std::memcpy(&header, full.data(), 8);
  // Every truncation through the header and a stride through the data.
  for (size_t n = 0; n < full.size(); n += (n < header + 16 ? 1 : 509)) {
    std::map<std::string, SafetensorsTensor> out;
    EXPECT_FALSE(SafetensorsCheckpoint::ParseFile(full.data(), n, "trunc", &out).ok()) << n;
  }
  // Random byte corruption of the header: never a crash, errors are FAILED_PRECONDITION.
  std::mt19937 rng(5);
  for (int iter = 0; iter < 2000; ++iter) {
    std::vector<uint8_t> m = full;
    for (int k = 0; k < 3; ++k) m[rng() % (8 + header)] = static_cast<uint8_t>(rng());
    std::map<std::string, SafetensorsTensor> out;
    absl::Status s = SafetensorsCheckpoint::ParseFile(m.data(), m.size(), "flip", &out);
    if (!s.ok()) {
      EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
    }
  }
  // Hand-made hostile headers.
  auto make = [](const std::string& json, size_t data_bytes) {
    std::vector<uint8_t> b;
    for (int k = 0; k < 8; ++k) b.push_back(static_cast<uint8_t>(json.size() >> (8 * k)));
    b.insert(b.end(), json.begin(), json.end());
    b.resize(b.size() + data_bytes);
    return b;
  };
  for (const auto& [json, what] : std::vector<std::pair<std::string, std::string>>{
           {"{\"x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,64]}}", "outside"},
           {"{\"x\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,16]}}", "shape needs"},
           {"{\"x\":{\"dtype\":\"Q9\",\"shape\":[4],\"data_offsets\":[0,16]}}", "unknown dtype"},
           {"{\"x\":{\"dtype\":\"F32\",\"shape\":[-4],\"data_offsets\":[0,16]}}", "shape"},
           {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1099511627776,1099511627776],\"data_offsets\":[0,"
            "16]}}",
            "oversized"},
           {"{\"x\":[1,2]}", "not an object"},
           {"not json", "JSON"}}) {
    const std::vector<uint8_t> b = make(json, 16);
    std::map<std::string, SafetensorsTensor> out;
    absl::Status s = SafetensorsCheckpoint::ParseFile(b.data(), b.size(), "hand", &out);
    ASSERT_FALSE(s.ok()) << json;
    EXPECT_NE(s.message().find(what), std::string::npos) << s;
  }
  std::vector<uint8_t> huge(16, 0xff);
  std::map<std::string, SafetensorsTensor> out;
  EXPECT_FALSE(SafetensorsCheckpoint::ParseFile(huge.data(), huge.size(), "huge", &out).ok());
  // A config.json that does not fit the weights.
  std::ofstream(dir + "/config.json") << "{\"model_type\":\"llama\",\"hidden_size\":128,"
                                         "\"intermediate_size\":172,\"num_hidden_layers\":5,"
                                         "\"num_attention_heads\":8,\"vocab_size\":512}";
  auto m = Model::Load(dir);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("wrong shape"), std::string::npos) << m.status();
}

}  // namespace
}  // namespace proctor::engine
