#include "worker/engine/tokenizer.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "worker/engine/test_data.h"

namespace proctor::engine {
namespace {

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

struct Case {
  std::string text;
  std::vector<int32_t> ids;
};

// Parses a llama.cpp vocab suite: .inp strings separated by
// "\n__ggml_vocab_test__\n", .out one line of " id" per string.
std::vector<Case> LoadSuite(const std::string& gguf) {
  const std::string inp = ReadText(gguf + ".inp");
  const std::string out = ReadText(gguf + ".out");
  std::vector<std::string> texts = absl::StrSplit(inp, "\n__ggml_vocab_test__\n");
  if (!texts.empty() && texts.back().empty()) texts.pop_back();
  std::vector<std::string> lines = absl::StrSplit(out, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  std::vector<Case> cases;
  for (size_t i = 0; i < texts.size() && i < lines.size(); ++i) {
    Case c;
    c.text = texts[i];
    std::istringstream ss(lines[i]);
    int32_t id;
    while (ss >> id) c.ids.push_back(id);
    cases.push_back(std::move(c));
  }
  EXPECT_EQ(texts.size(), lines.size()) << gguf;
  return cases;
}

std::string Join(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += " " + std::to_string(id);
  return s;
}

void RunSuite(const std::string& name) {
  const std::string path = engine::testing::SharedData("tokenizers/llama.cpp-vocab/" + name);
  if (path.empty()) GTEST_SKIP() << name << " not found (set PROCTOR_SHARED_DATA)";
  auto f = GgufFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status();
  auto tok = Tokenizer::FromGguf(**f);
  ASSERT_TRUE(tok.ok()) << tok.status();
  const std::vector<Case> cases = LoadSuite(path);
  EXPECT_EQ(cases.size(), 46u);
  int passed = 0;
  for (const Case& c : cases) {
    const std::vector<int32_t> got = (*tok)->Encode(c.text);
    EXPECT_EQ(Join(got), Join(c.ids)) << name << " text: [" << c.text << "]";
    if (got == c.ids) ++passed;
    // Decoding reproduces the text (byte-level BPE and SPM are lossless here).
    if (got == c.ids) {
      EXPECT_EQ((*tok)->Decode(got, true), c.text) << name << " decode of [" << c.text << "]";
    }
  }
  ::testing::Test::RecordProperty("passed", passed);
}

TEST(TokenizerTest, LlamaSpmSuite) { RunSuite("ggml-vocab-llama-spm.gguf"); }
TEST(TokenizerTest, Gpt2Suite) { RunSuite("ggml-vocab-gpt-2.gguf"); }
TEST(TokenizerTest, StarcoderSuite) { RunSuite("ggml-vocab-starcoder.gguf"); }
TEST(TokenizerTest, DeepseekCoderSuite) { RunSuite("ggml-vocab-deepseek-coder.gguf"); }

void RunTiktokenSuite(const std::string& suite, const std::string& ranks, const std::string& pre) {
  // Only the .inp/.out files of these suites are present (no vocab GGUF).
  std::string inp = engine::testing::SharedData("tokenizers/llama.cpp-vocab/" + suite + ".inp");
  const std::string file = engine::testing::SharedData(ranks);
  if (inp.empty() || file.empty()) GTEST_SKIP() << suite << " or " << ranks << " not found";
  inp.resize(inp.size() - 4);
  auto tok = Tokenizer::FromTiktoken(file, pre);
  ASSERT_TRUE(tok.ok()) << tok.status();
  const std::vector<Case> cases = LoadSuite(inp);
  EXPECT_EQ(cases.size(), 46u);
  for (const Case& c : cases) {
    const std::vector<int32_t> got = (*tok)->Encode(c.text);
    EXPECT_EQ(Join(got), Join(c.ids)) << suite << " text: [" << c.text << "]";
    if (got == c.ids) {
      EXPECT_EQ((*tok)->Decode(got, false), c.text);
    }
  }
}

TEST(TokenizerTest, Llama3Suite) {
  RunTiktokenSuite("ggml-vocab-llama-bpe.gguf", "tokenizers/llama3/tokenizer.model", "llama3");
}
TEST(TokenizerTest, Qwen2Suite) {
  RunTiktokenSuite("ggml-vocab-qwen2.gguf", "tokenizers/qwen/qwen.tiktoken", "qwen2");
}

TEST(TokenizerTest, Llama2TokenizerBinKnownIds) {
  PROCTOR_REQUIRE_DATA(path, "tokenizers/llama2/tokenizer.bin");
  auto tok = Tokenizer::FromLlama2cFile(path, 32000);
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ(Join((*tok)->EncodeWithBos("I believe the meaning of life is")),
            " 1 306 4658 278 6593 310 2834 338");
  // And the whole llama-spm suite through the llama2.c vocabulary file.
  PROCTOR_REQUIRE_DATA(spm, "tokenizers/llama.cpp-vocab/ggml-vocab-llama-spm.gguf");
  for (const Case& c : LoadSuite(spm)) {
    EXPECT_EQ(Join((*tok)->Encode(c.text)), Join(c.ids)) << "text: [" << c.text << "]";
  }
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out + "\"";
}

// Re-expresses a byte-level BPE GGUF vocabulary as a Hugging Face
// tokenizer.json (+ tokenizer_config.json) and runs the suite through it.
void RunSuiteViaTokenizerJson(const std::string& name, const std::string& pre_json) {
  const std::string path = engine::testing::SharedData("tokenizers/llama.cpp-vocab/" + name);
  if (path.empty()) GTEST_SKIP() << name << " not found (set PROCTOR_SHARED_DATA)";
  auto f = GgufFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status();
  const GgufValue* toks = (*f)->Find("tokenizer.ggml.tokens");
  const GgufValue* types = (*f)->Find("tokenizer.ggml.token_type");
  const GgufValue* merges = (*f)->Find("tokenizer.ggml.merges");
  ASSERT_TRUE(toks && types && merges);
  std::string vocab, added, merge_list;
  for (size_t i = 0; i < toks->strs.size(); ++i) {
    if (types->ints[i] == 3 || types->ints[i] == 4) {
      absl::StrAppend(&added, added.empty() ? "" : ",", "{\"id\":", i,
                      ",\"content\":", JsonString(toks->strs[i]),
                      ",\"special\":", types->ints[i] == 3 ? "true" : "false", "}");
    } else {
      absl::StrAppend(&vocab, vocab.empty() ? "" : ",", JsonString(toks->strs[i]), ":", i);
    }
  }
  for (size_t i = 0; i < merges->strs.size(); ++i) {
    absl::StrAppend(&merge_list, i ? "," : "", JsonString(merges->strs[i]));
  }
  const std::string dir = ::testing::TempDir() + "/hf_" + name;
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/tokenizer.json")
      << "{\"version\":\"1.0\",\"added_tokens\":[" << added << "],\"pre_tokenizer\":" << pre_json
      << ",\"model\":{\"type\":\"BPE\",\"vocab\":{" << vocab << "},\"merges\":[" << merge_list
      << "]}}";
  std::ofstream(dir + "/tokenizer_config.json")
      << "{\"add_bos_token\":false,\"eos_token\":{\"content\":\"<|endoftext|>\"}}";
  auto tok = Tokenizer::FromHfTokenizerJson(dir + "/tokenizer.json");
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ((*tok)->vocab_size(), static_cast<int64_t>(toks->strs.size()));
  for (const Case& c : LoadSuite(path)) {
    EXPECT_EQ(Join((*tok)->Encode(c.text)), Join(c.ids)) << name << " text: [" << c.text << "]";
  }
}

TEST(TokenizerTest, Gpt2SuiteViaTokenizerJson) {
  RunSuiteViaTokenizerJson(
      "ggml-vocab-gpt-2.gguf",
      "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":true}");
}

TEST(TokenizerTest, StarcoderSuiteViaTokenizerJson) {
  RunSuiteViaTokenizerJson(
      "ggml-vocab-starcoder.gguf",
      "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Digits\",\"individual_digits\":true},"
      "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":true}]}");
}

TEST(TokenizerTest, TokenizerJsonErrors) {
  const std::string dir = ::testing::TempDir() + "/hf_bad";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/tokenizer.json") << "{\"model\":{\"type\":\"Unigram\"}}";
  auto t = Tokenizer::FromHfTokenizerJson(dir + "/tokenizer.json");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("only BPE"), std::string::npos) << t.status();
  std::ofstream(dir + "/tokenizer.json") << "{\"model\":";
  EXPECT_EQ(Tokenizer::FromHfTokenizerJson(dir + "/tokenizer.json").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Tokenizer::FromHfTokenizerJson(dir + "/missing.json").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(TokenizerTest, Stories260KMatchesLlamaCpp) {
  PROCTOR_REQUIRE_DATA(path, "models/stories260K/stories260K.gguf");
  PROCTOR_REQUIRE_DATA(ids_path, "expected/llama-tokenize_once_upon_lily.ids.txt");
  auto f = GgufFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status();
  auto tok = Tokenizer::FromGguf(**f);
  ASSERT_TRUE(tok.ok()) << tok.status();
  std::vector<int32_t> want;
  {
    std::istringstream ss(ReadText(ids_path));
    std::string w;
    while (ss >> w) {
      std::string digits;
      for (char ch : w) {
        if (ch >= '0' && ch <= '9') digits.push_back(ch);
      }
      if (!digits.empty()) want.push_back(std::stoi(digits));
    }
  }
  const std::string text = "Once upon a time, there was a little girl named Lily.";
  EXPECT_EQ(Join((*tok)->EncodeWithBos(text)), Join(want));
  EXPECT_EQ((*tok)->Decode((*tok)->Encode(text), true), text);
  // The llama2.c tokenizer.bin gives the same ids.
  PROCTOR_REQUIRE_DATA(tokbin, "models/stories260K/tok512.bin");
  auto t2 = Tokenizer::FromLlama2cFile(tokbin, 512);
  ASSERT_TRUE(t2.ok()) << t2.status();
  EXPECT_EQ(Join((*t2)->EncodeWithBos(text)), Join(want));
}

TEST(TokenizerTest, ArbitraryBytesNeverCrashAndRoundTrip) {
  std::mt19937 rng(99);
  for (const char* name :
       {"ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf", "ggml-vocab-deepseek-coder.gguf"}) {
    const std::string path =
        engine::testing::SharedData(std::string("tokenizers/llama.cpp-vocab/") + name);
    if (path.empty()) GTEST_SKIP() << name << " not found";
    auto f = GgufFile::Open(path);
    ASSERT_TRUE(f.ok());
    auto tok = Tokenizer::FromGguf(**f);
    ASSERT_TRUE(tok.ok());
    for (int iter = 0; iter < 300; ++iter) {
      std::string s(rng() % 40, '\0');
      for (char& c : s)
        c = static_cast<char>(rng() % 4 == 0 ? 0x80 + rng() % 128 : 0x20 + rng() % 95);
      const std::vector<int32_t> ids = (*tok)->Encode(s);
      for (int32_t id : ids) ASSERT_TRUE(id >= 0 && id < (*tok)->vocab_size());
      // Byte fallback (SPM) and byte-level BPE are lossless on any bytes, except
      // that DeepSeek-Coder's vocabulary spells a few Latin-1 bytes only with
      // added (user-defined) tokens, which decode as their UTF-8 text.
      if (std::string(name) != "ggml-vocab-deepseek-coder.gguf") {
        EXPECT_EQ((*tok)->Decode(ids, true), s) << name;
      }
    }
  }
}

TEST(TokenizerTest, MalformedLlama2cTokenizer) {
  const std::string tmp = ::testing::TempDir() + "/bad_tok.bin";
  std::ofstream(tmp, std::ios::binary).write("\x10\x00\x00\x00\x00\x00", 6);
  auto t = Tokenizer::FromLlama2cFile(tmp, 512);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("truncated"), std::string::npos) << t.status();
}

}  // namespace
}  // namespace proctor::engine
