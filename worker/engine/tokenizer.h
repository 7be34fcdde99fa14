// Text <-> token ids for the models the engine runs. Two algorithms:
//  * SentencePiece BPE with byte fallback (Llama 1/2, Mistral, stories260K):
//    score-ordered merges over UTF-8 characters, "▁" for spaces, an optional
//    leading space, unknown pieces spelled as <0xXX> byte tokens.
//  * Byte-level BPE (GPT-2, StarCoder, DeepSeek-Coder, Llama-3, Qwen2, SmolLM2):
//    the model's pre-tokenizer regex (PCRE2) splits the text, each chunk is
//    mapped byte->unicode and merged by rank.
// Vocabularies come from GGUF metadata (tokenizer.ggml.*) or a llama2.c
// tokenizer.bin. Tokenizers are immutable after construction and safe to use
// from several threads.
#ifndef PROCTOR_WORKER_ENGINE_TOKENIZER_H_
#define PROCTOR_WORKER_ENGINE_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/engine/gguf.h"

namespace proctor::engine {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Reads tokenizer.ggml.model ("llama" = SentencePiece, "gpt2" = byte-level
  // BPE) and its vocabulary. FAILED_PRECONDITION on a missing or inconsistent
  // vocabulary (lengths of tokens/scores/types differ, ids out of range...).
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromGguf(const GgufFile& f);

  // Reads a llama2.c tokenizer.bin (int32 max_len, then per token: f32 score,
  // int32 length, bytes) for a model with `vocab_size` tokens; BOS=1, EOS=2.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromLlama2cFile(const std::string& path,
                                                                    int64_t vocab_size);

  // Reads a tiktoken rank file (one "base64(bytes) rank" per line, ranks
  // 0..n-1 in order: Llama-3 tokenizer.model, qwen.tiktoken) with the named
  // pre-tokenizer ("llama3", "qwen2", "gpt2", ...). Special tokens are not
  // part of these files: no BOS/EOS.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromTiktoken(const std::string& path,
                                                                 const std::string& pre);

  // Reads a Hugging Face tokenizer.json with a byte-level BPE model (vocab,
  // merges, added_tokens; pre_tokenizer Split/Digits/ByteLevel steps become
  // PCRE2 regexes) and, beside it, tokenizer_config.json for bos/eos tokens
  // and add_bos_token. FAILED_PRECONDITION for other model types
  // (SentencePiece-style Metaspace tokenizers are read from GGUF instead).
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromHfTokenizerJson(const std::string& path);

  // Token ids of `text`, without BOS; special-token text is not parsed.
  virtual std::vector<int32_t> Encode(std::string_view text) const = 0;

  // The bytes token `id` stands for ("" for control tokens and bad ids).
  virtual std::string TokenBytes(int32_t id) const = 0;

  // The raw vocabulary entry of `id` ("" for bad ids).
  virtual std::string TokenText(int32_t id) const = 0;

  // Concatenated TokenBytes; when `strip_leading_space`, a single space the
  // tokenizer itself prefixed (SentencePiece add_space_prefix) is removed from
  // the start of the result.
  std::string Decode(const std::vector<int32_t>& ids, bool strip_leading_space) const;

  // Encode with BOS prepended when the model wants it (add_bos()).
  std::vector<int32_t> EncodeWithBos(std::string_view text) const;

  int64_t vocab_size() const { return vocab_size_; }
  int32_t bos_id() const { return bos_id_; }  // -1 when none
  int32_t eos_id() const { return eos_id_; }  // -1 when none
  bool add_bos() const { return add_bos_; }
  // Whether Encode prefixes a space (SentencePiece); Decode may strip it.
  bool adds_space_prefix() const { return add_space_prefix_; }
  // True for EOS and other end-of-generation control tokens (e.g. <|im_end|>).
  bool IsEndOfGeneration(int32_t id) const;
  const std::string& kind() const { return kind_; }

 protected:
  std::string kind_;
  int64_t vocab_size_ = 0;
  int32_t bos_id_ = -1;
  int32_t eos_id_ = -1;
  bool add_bos_ = true;
  bool add_space_prefix_ = false;
  std::vector<int32_t> eog_ids_;
};

}  // namespace proctor::engine

#endif  // PROCTOR_WORKER_ENGINE_TOKENIZER_H_
