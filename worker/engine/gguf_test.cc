#include "worker/engine/gguf.h"

#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "worker/engine/model.h"
#include "worker/engine/test_data.h"

namespace proctor::engine {
namespace {

std::vector<uint8_t> ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

// Minimal GGUF writer for hand-made malformed files.
struct Writer {
  std::vector<uint8_t> b;
  template <typename T>
  void Put(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    b.insert(b.end(), p, p + sizeof(T));
  }
  void Str(const std::string& s) {
    Put<uint64_t>(s.size());
    b.insert(b.end(), s.begin(), s.end());
  }
};

TEST(GgufTest, ReadsStories260K) {
  PROCTOR_REQUIRE_DATA(path, "models/stories260K/stories260K.gguf");
  auto f = GgufFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->version(), 3u);
  EXPECT_EQ(*(*f)->GetString("general.architecture"), "llama");
  EXPECT_EQ(*(*f)->GetInt("llama.embedding_length"), 64);
  const GgufTensor* emb = (*f)->FindTensor("token_embd.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->dims, (std::vector<int64_t>{64, 512}));
  EXPECT_EQ(emb->nbytes, 64u * 512u * 4u);
  auto cfg = ConfigFromGguf(**f);
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->n_layers, 5);
  EXPECT_EQ(cfg->n_heads, 8);
  EXPECT_EQ(cfg->n_kv_heads, 4);
  EXPECT_EQ(cfg->hidden_dim, 172);
  EXPECT_EQ(cfg->vocab_size, 512);
}

TEST(GgufTest, DuplicateKeyIsAClearError) {
  PROCTOR_REQUIRE_DATA(path, "tokenizers/llama.cpp-vocab/removed-ggml-vocab-dbrx.gguf");
  auto f = GgufFile::Open(path);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(f.status().message().find("duplicate metadata key 'general.file_type'"),
            std::string::npos)
      << f.status();
}

TEST(GgufTest, MissingFileIsNotFound) {
  EXPECT_EQ(GgufFile::Open("/nonexistent/model.gguf").status().code(), absl::StatusCode::kNotFound);
}

TEST(GgufTest, EveryTruncationFailsCleanly) {
  PROCTOR_REQUIRE_DATA(path, "models/stories260K/stories260K.gguf");
  const std::vector<uint8_t> full = ReadAll(path);
  ASSERT_GT(full.size(), 1000u);
  // Every prefix length through the header, then a stride through the data.
  for (size_t n = 0; n < full.size(); n += (n < 20000 ? 1 : 997)) {
    auto f = GgufFile::Parse(full.data(), n, "truncated");
    EXPECT_FALSE(f.ok()) << "prefix of " << n << " bytes parsed";
  }
  EXPECT_TRUE(GgufFile::Parse(full.data(), full.size(), "full").ok());
}

TEST(GgufTest, BitFlipsNeverCrash) {
  PROCTOR_REQUIRE_DATA(path, "models/stories260K/stories260K.gguf");
  const std::vector<uint8_t> full = ReadAll(path);
  std::mt19937 rng(42);
  // Header/metadata region only: flips in float weights are legitimately valid.
  const GgufTensor* first = nullptr;
  auto f = GgufFile::Parse(full.data(), full.size(), "full");
  ASSERT_TRUE(f.ok());
  first = &(*f)->tensors()[0];
  const size_t header = static_cast<size_t>(first->data - full.data());
  int failures = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::vector<uint8_t> m = full;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < flips; ++k) {
      const size_t at = rng() % header;
      m[at] ^= static_cast<uint8_t>(1u << (rng() % 8));
    }
    auto g = GgufFile::Parse(m.data(), m.size(), "flipped");
    if (!g.ok()) {
      ++failures;
      EXPECT_EQ(g.status().code(), absl::StatusCode::kFailedPrecondition);
      continue;
    }
    // A file that still parses must still be safe to build a model from.
    (void)WeightsFromGguf(**g);
    (void)Tokenizer::FromGguf(**g);
  }
  EXPECT_GT(failures, 0);
}

TEST(GgufTest, HandMadeMalformedFiles) {
  auto header = [](uint64_t tensors, uint64_t kvs) {
    Writer w;
    w.Put<uint32_t>(0x46554747);
    w.Put<uint32_t>(3);
    w.Put<uint64_t>(tensors);
    w.Put<uint64_t>(kvs);
    return w;
  };
  {  // Huge metadata count.
    Writer w = header(0, 1ull << 60);
    auto f = GgufFile::Parse(w.b.data(), w.b.size(), "x");
    ASSERT_FALSE(f.ok());
    EXPECT_NE(f.status().message().find("metadata count"), std::string::npos) << f.status();
  }
  {  // Oversized array length.
    Writer w = header(0, 1);
    w.Str("k");
    w.Put<uint32_t>(9);
    w.Put<uint32_t>(4);
    w.Put<uint64_t>(1ull << 40);
    auto f = GgufFile::Parse(w.b.data(), w.b.size(), "x");
    ASSERT_FALSE(f.ok());
    EXPECT_NE(f.status().message().find("array length"), std::string::npos) << f.status();
  }
  {  // Oversized dimension and bad type.
    Writer w = header(1, 0);
    w.Str("t");
    w.Put<uint32_t>(2);
    w.Put<uint64_t>(1ull << 41);
    w.Put<uint64_t>(2);
    w.Put<uint32_t>(0);
    w.Put<uint64_t>(0);
    auto f = GgufFile::Parse(w.b.data(), w.b.size(), "x");
    ASSERT_FALSE(f.ok());
    EXPECT_NE(f.status().message().find("oversized"), std::string::npos) << f.status();
  }
  {  // Tensor data past the end.
    Writer w = header(1, 0);
    w.Str("t");
    w.Put<uint32_t>(1);
    w.Put<uint64_t>(1024);
    w.Put<uint32_t>(0);
    w.Put<uint64_t>(0);
    auto f = GgufFile::Parse(w.b.data(), w.b.size(), "x");
    ASSERT_FALSE(f.ok());
    EXPECT_NE(f.status().message().find("outside"), std::string::npos) << f.status();
  }
  {  // Unknown ggml type.
    Writer w = header(1, 0);
    w.Str("t");
    w.Put<uint32_t>(1);
    w.Put<uint64_t>(32);
    w.Put<uint32_t>(99);
    w.Put<uint64_t>(0);
    auto f = GgufFile::Parse(w.b.data(), w.b.size(), "x");
    ASSERT_FALSE(f.ok());
    EXPECT_NE(f.status().message().find("unknown ggml type"), std::string::npos) << f.status();
  }
  {  // Version 1 and bad magic.
    Writer w = header(0, 0);
    w.b[4] = 1;
    EXPECT_FALSE(GgufFile::Parse(w.b.data(), w.b.size(), "x").ok());
    w.b[0] = 'X';
    EXPECT_FALSE(GgufFile::Parse(w.b.data(), w.b.size(), "x").ok());
  }
}

TEST(GgufTest, Llama2cBinMatchesGgufConfig) {
  PROCTOR_REQUIRE_DATA(bin, "models/stories260K/stories260K.bin");
  auto m = Model::Load(bin);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ((*m)->format(), "llama2c");
  EXPECT_EQ((*m)->config().dim, 64);
  EXPECT_EQ((*m)->config().n_kv_heads, 4);
  EXPECT_TRUE((*m)->config().tied_embeddings);
  ASSERT_NE((*m)->tokenizer(), nullptr);  // tok512.bin beside it
  // Truncated .bin files fail with a clear message.
  const std::vector<uint8_t> full = ReadAll(bin);
  const std::string tmp = ::testing::TempDir() + "/trunc.bin";
  for (size_t n : {size_t{0}, size_t{10}, size_t{28}, full.size() / 2, full.size() - 4}) {
    std::ofstream(tmp, std::ios::binary)
        .write(reinterpret_cast<const char*>(full.data()), static_cast<std::streamsize>(n));
    auto t = Model::Load(tmp);
    EXPECT_FALSE(t.ok()) << n;
  }
}

}  // namespace
}  // namespace proctor::engine
