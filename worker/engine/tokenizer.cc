#include "worker/engine/tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <pcre2.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <queue>
#include <unordered_map>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "common/utf8.h"

namespace proctor::engine {
namespace {

// GGUF token types (llama.cpp's llama_token_type).
constexpr int64_t kTypeNormal = 1;
constexpr int64_t kTypeUnknown = 2;
constexpr int64_t kTypeControl = 3;
constexpr int64_t kTypeUserDefined = 4;
constexpr int64_t kTypeUnused = 5;
constexpr int64_t kTypeByte = 6;

size_t Utf8Len(unsigned char c) {
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) return 2;
  if ((c & 0xF0) == 0xE0) return 3;
  if ((c & 0xF8) == 0xF0) return 4;
  return 1;
}

// Length of the well-formed UTF-8 sequence at s[i] (RFC 3629: no overlongs,
// surrogates or code points above U+10FFFF), or 0 when it is malformed.
size_t ValidUtf8At(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) return 1;
  size_t n;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (b(i + 1) < lo || b(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if (b(i + k) < 0x80 || b(i + k) > 0xBF) return 0;
  }
  return n;
}

// Splits `s` into UTF-8 characters (invalid bytes become 1-byte characters).
std::vector<std::string_view> Utf8Chars(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    const size_t n = std::min(Utf8Len(static_cast<unsigned char>(s[i])), s.size() - i);
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

// Parses "<0xAB>" into 0xAB; -1 when `s` is not a byte token.
int ParseByteToken(std::string_view s) {
  if (s.size() != 6 || s.substr(0, 3) != "<0x" || s[5] != '>') return -1;
  int v = 0;
  for (int i = 3; i < 5; ++i) {
    const char c = s[static_cast<size_t>(i)];
    v <<= 4;
    if (c >= '0' && c <= '9') {
      v |= c - '0';
    } else if (c >= 'A' && c <= 'F') {
      v |= c - 'A' + 10;
    } else if (c >= 'a' && c <= 'f') {
      v |= c - 'a' + 10;
    } else {
      return -1;
    }
  }
  return v;
}

struct Vocab {
  std::vector<std::string> text;
  std::vector<float> score;
  std::vector<int64_t> type;
  std::unordered_map<std::string, int32_t> to_id;

  // Text -> id; on duplicate texts the last id wins, except that a
  // user-defined (added) token never shadows a model token: added tokens are
  // matched separately, before the model runs (Hugging Face semantics).
  void Index() {
    to_id.reserve(text.size());
    for (size_t i = 0; i < text.size(); ++i) {
      if (type[i] != kTypeUserDefined) to_id[text[i]] = static_cast<int32_t>(i);
    }
    for (size_t i = 0; i < text.size(); ++i) {
      if (type[i] == kTypeUserDefined) to_id.emplace(text[i], static_cast<int32_t>(i));
    }
  }
  int32_t Find(std::string_view s) const {
    auto it = to_id.find(std::string(s));
    return it == to_id.end() ? -1 : it->second;
  }
};

// ---- SentencePiece BPE ------------------------------------------------------

class SpmTokenizer : public Tokenizer {
 public:
  explicit SpmTokenizer(Vocab v) : vocab_(std::move(v)) {
    kind_ = "spm";
    vocab_size_ = static_cast<int64_t>(vocab_.text.size());
    for (int b = 0; b < 256; ++b) byte_ids_[b] = -1;
    for (size_t i = 0; i < vocab_.text.size(); ++i) {
      const int b = ParseByteToken(vocab_.text[i]);
      if (b >= 0 && (vocab_.type[i] == kTypeByte || vocab_.type[i] == kTypeNormal)) {
        if (byte_ids_[b] < 0) byte_ids_[b] = static_cast<int32_t>(i);
      }
    }
  }
  void set_flags(int32_t bos, int32_t eos, int32_t unk, bool add_bos, bool space_prefix) {
    bos_id_ = bos;
    eos_id_ = eos;
    unk_id_ = unk;
    add_bos_ = add_bos;
    add_space_prefix_ = space_prefix;
  }

  std::vector<int32_t> Encode(std::string_view raw) const override {
    std::vector<int32_t> out;
    if (raw.empty()) return out;
    std::string text;
    if (add_space_prefix_) text = "\xE2\x96\x81";
    for (char c : raw) {
      if (c == ' ') {
        text += "\xE2\x96\x81";
      } else {
        text.push_back(c);
      }
    }
    struct Sym {
      int prev, next;
      size_t start, len;
    };
    std::vector<Sym> syms;
    {
      size_t i = 0;
      while (i < text.size()) {
        // Malformed UTF-8 bytes become one-byte symbols (spelled by byte fallback).
        const size_t n = std::max<size_t>(1, ValidUtf8At(text, i));
        const int idx = static_cast<int>(syms.size());
        syms.push_back(Sym{idx - 1, idx + 1, i, n});
        i += n;
      }
      syms.back().next = -1;
    }
    struct Bigram {
      int left, right;
      float score;
      size_t len;
    };
    auto worse = [](const Bigram& a, const Bigram& b) {
      return a.score < b.score || (a.score == b.score && a.left > b.left);
    };
    std::priority_queue<Bigram, std::vector<Bigram>, decltype(worse)> queue(worse);
    auto try_add = [&](int left, int right) {
      if (left < 0 || right < 0) return;
      const std::string_view piece(text.data() + syms[left].start,
                                   syms[left].len + syms[right].len);
      const int32_t id = vocab_.Find(piece);
      if (id < 0) return;
      queue.push(Bigram{left, right, vocab_.score[static_cast<size_t>(id)], piece.size()});
    };
    for (size_t i = 1; i < syms.size(); ++i) try_add(static_cast<int>(i) - 1, static_cast<int>(i));
    while (!queue.empty()) {
      const Bigram b = queue.top();
      queue.pop();
      Sym& l = syms[static_cast<size_t>(b.left)];
      Sym& r = syms[static_cast<size_t>(b.right)];
      if (l.len == 0 || r.len == 0 || l.len + r.len != b.len) continue;  // stale
      l.len += r.len;
      r.len = 0;
      l.next = r.next;
      if (r.next >= 0) syms[static_cast<size_t>(r.next)].prev = b.left;
      try_add(l.prev, b.left);
      try_add(b.left, l.next);
    }
    for (int i = 0; i >= 0; i = syms[static_cast<size_t>(i)].next) {
      const Sym& sym = syms[static_cast<size_t>(i)];
      EmitPiece(std::string_view(text).substr(sym.start, sym.len), &out);
    }
    return out;
  }

  std::string TokenText(int32_t id) const override {
    if (id < 0 || id >= vocab_size_) return "";
    return vocab_.text[static_cast<size_t>(id)];
  }

  std::string TokenBytes(int32_t id) const override {
    if (id < 0 || id >= vocab_size_) return "";
    const size_t i = static_cast<size_t>(id);
    const int64_t t = vocab_.type[i];
    if (t == kTypeControl || t == kTypeUnknown || t == kTypeUnused) return "";
    const std::string& s = vocab_.text[i];
    if (t == kTypeByte ||
        (t == kTypeNormal && ParseByteToken(s) >= 0 && byte_ids_[ParseByteToken(s)] == id)) {
      return std::string(1, static_cast<char>(ParseByteToken(s)));
    }
    std::string out;
    for (size_t k = 0; k < s.size();) {
      if (s.compare(k, 3, "\xE2\x96\x81") == 0) {
        out.push_back(' ');
        k += 3;
      } else {
        out.push_back(s[k++]);
      }
    }
    return out;
  }

 private:
  // A final symbol is either a vocabulary piece (every merge result is) or a
  // single character missing from the vocabulary, spelled with byte tokens.
  void EmitPiece(std::string_view piece, std::vector<int32_t>* out) const {
    const int32_t id = vocab_.Find(piece);
    if (id >= 0) {
      out->push_back(id);
      return;
    }
    for (char c : piece) {
      const int32_t b = byte_ids_[static_cast<unsigned char>(c)];
      out->push_back(b >= 0 ? b : unk_id_);
    }
  }

  Vocab vocab_;
  int32_t byte_ids_[256];
  int32_t unk_id_ = 0;
};

// ---- Byte-level BPE ---------------------------------------------------------

struct PcreCode {
  pcre2_code* code = nullptr;
  ~PcreCode() {
    if (code != nullptr) pcre2_code_free(code);
  }
};

class BpeTokenizer : public Tokenizer {
 public:
  // `raw_bytes`: vocabulary entries are raw byte strings ranked by id
  // (tiktoken); otherwise GPT-2 byte->unicode strings with a merges list.
  BpeTokenizer(Vocab v, std::unordered_map<std::string, int32_t> ranks, bool ignore_merges,
               bool raw_bytes = false)
      : vocab_(std::move(v)),
        ranks_(std::move(ranks)),
        ignore_merges_(ignore_merges),
        raw_bytes_(raw_bytes) {
    kind_ = "bpe";
    vocab_size_ = static_cast<int64_t>(vocab_.text.size());
    // GPT-2 bytes_to_unicode.
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      const uint32_t cp = printable ? static_cast<uint32_t>(b) : static_cast<uint32_t>(256 + n++);
      byte_to_unicode_[b].clear();
      AppendUtf8(cp, &byte_to_unicode_[b]);
      unicode_to_byte_[byte_to_unicode_[b]] = static_cast<char>(b);
    }
    for (size_t i = 0; i < vocab_.text.size(); ++i) {
      if (vocab_.type[i] == kTypeUserDefined && !vocab_.text[i].empty()) {
        user_defined_.emplace_back(vocab_.text[i], static_cast<int32_t>(i));
      }
    }
  }

  absl::Status SetPretokenizer(const std::vector<std::string>& patterns) {
    for (const std::string& p : patterns) {
      int err;
      PCRE2_SIZE off;
      pcre2_code* code =
          pcre2_compile(reinterpret_cast<PCRE2_SPTR>(p.data()), p.size(),
                        PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &err, &off, nullptr);
      if (code == nullptr) {
        return absl::InternalError(absl::StrCat("cannot compile pre-tokenizer regex at ", off));
      }
      pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
      regexes_.push_back(std::make_shared<PcreCode>());
      regexes_.back()->code = code;
    }
    return absl::OkStatus();
  }
  void set_flags(int32_t bos, int32_t eos, bool add_bos) {
    bos_id_ = bos;
    eos_id_ = eos;
    add_bos_ = add_bos;
  }

  std::vector<int32_t> Encode(std::string_view text) const override {
    std::vector<int32_t> out;
    // User-defined (added) tokens are matched before pre-tokenisation, as
    // Hugging Face tokenizers do: leftmost occurrence, longest token first.
    size_t pos = 0;
    while (pos < text.size()) {
      size_t best_at = text.size(), best_len = 0;
      int32_t best_id = -1;
      for (const auto& [s, id] : user_defined_) {
        const size_t at = text.find(s, pos);
        if (at != std::string_view::npos &&
            (at < best_at || (at == best_at && s.size() > best_len))) {
          best_at = at;
          best_len = s.size();
          best_id = id;
        }
      }
      EncodeText(text.substr(pos, best_at - pos), &out);
      if (best_id < 0) break;
      out.push_back(best_id);
      pos = best_at + best_len;
    }
    return out;
  }

  void EncodeText(std::string_view text, std::vector<int32_t>* out) const {
    // PCRE2 runs with PCRE2_NO_UTF_CHECK, so it must only see valid UTF-8:
    // invalid bytes are split off and encoded as single-byte pieces.
    size_t start = 0, i = 0;
    while (i < text.size()) {
      const size_t n = ValidUtf8At(text, i);
      if (n > 0) {
        i += n;
        continue;
      }
      EncodeValid(text.substr(start, i - start), out);
      EncodePiece(text.substr(i, 1), out);
      start = ++i;
    }
    EncodeValid(text.substr(start), out);
  }

  void EncodeValid(std::string_view text, std::vector<int32_t>* out) const {
    if (text.empty()) return;
    std::vector<std::string_view> pieces{text};
    for (const auto& re : regexes_) pieces = Split(pieces, re->code);
    for (std::string_view piece : pieces) EncodePiece(piece, out);
  }

  std::string TokenText(int32_t id) const override {
    if (id < 0 || id >= vocab_size_) return "";
    return vocab_.text[static_cast<size_t>(id)];
  }

  std::string TokenBytes(int32_t id) const override {
    if (id < 0 || id >= vocab_size_) return "";
    const size_t i = static_cast<size_t>(id);
    const std::string& s = vocab_.text[i];
    if (vocab_.type[i] == kTypeControl) return "";
    if (vocab_.type[i] == kTypeUserDefined || raw_bytes_) return s;
    std::string out;
    for (std::string_view ch : Utf8Chars(s)) {
      auto it = unicode_to_byte_.find(std::string(ch));
      if (it != unicode_to_byte_.end()) {
        out.push_back(it->second);
      } else {
        out.append(ch);
      }
    }
    return out;
  }

 private:
  // Applies one regex: matches and the gaps between them become pieces.
  static std::vector<std::string_view> Split(const std::vector<std::string_view>& in,
                                             pcre2_code* code) {
    std::vector<std::string_view> out;
    pcre2_match_data* md = pcre2_match_data_create_from_pattern(code, nullptr);
    for (std::string_view s : in) {
      size_t pos = 0, last = 0;
      while (pos <= s.size()) {
        const int rc = pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(s.data()), s.size(), pos,
                                   PCRE2_NO_UTF_CHECK, md, nullptr);
        if (rc < 0) break;
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
        const size_t b = ov[0], e = ov[1];
        if (e == b) {  // empty match: advance one character
          pos =
              b + (b < s.size() ? std::min(Utf8Len(static_cast<unsigned char>(s[b])), s.size() - b)
                                : 1);
          continue;
        }
        if (b > last) out.push_back(s.substr(last, b - last));
        out.push_back(s.substr(b, e - b));
        last = pos = e;
      }
      if (last < s.size()) out.push_back(s.substr(last));
    }
    pcre2_match_data_free(md);
    return out;
  }

  void EncodePiece(std::string_view piece, std::vector<int32_t>* out) const {
    if (raw_bytes_) return EncodePieceRaw(piece, out);
    std::string mapped;
    for (char c : piece) mapped += byte_to_unicode_[static_cast<unsigned char>(c)];
    if (ignore_merges_) {
      const int32_t id = vocab_.Find(mapped);
      if (id >= 0) {
        out->push_back(id);
        return;
      }
    }
    std::vector<std::string> syms;
    for (std::string_view ch : Utf8Chars(mapped)) syms.emplace_back(ch);
    while (syms.size() > 1) {
      int32_t best = std::numeric_limits<int32_t>::max();
      size_t at = 0;
      for (size_t i = 0; i + 1 < syms.size(); ++i) {
        auto it = ranks_.find(syms[i] + " " + syms[i + 1]);
        if (it != ranks_.end() && it->second < best) {
          best = it->second;
          at = i;
        }
      }
      if (best == std::numeric_limits<int32_t>::max()) break;
      syms[at] += syms[at + 1];
      syms.erase(syms.begin() + static_cast<std::ptrdiff_t>(at) + 1);
    }
    for (const std::string& s : syms) {
      const int32_t id = vocab_.Find(s);
      if (id >= 0) {
        out->push_back(id);
        continue;
      }
      for (std::string_view ch : Utf8Chars(s)) {  // should not happen with a consistent vocab
        const int32_t cid = vocab_.Find(ch);
        if (cid >= 0) out->push_back(cid);
      }
    }
  }

  // tiktoken: merge the adjacent pair whose concatenation has the lowest rank.
  void EncodePieceRaw(std::string_view piece, std::vector<int32_t>* out) const {
    const int32_t whole = vocab_.Find(piece);
    if (whole >= 0) {
      out->push_back(whole);
      return;
    }
    std::vector<std::string> syms;
    for (char c : piece) syms.emplace_back(1, c);
    while (syms.size() > 1) {
      int32_t best = std::numeric_limits<int32_t>::max();
      size_t at = 0;
      for (size_t i = 0; i + 1 < syms.size(); ++i) {
        const int32_t r = vocab_.Find(syms[i] + syms[i + 1]);
        if (r >= 0 && r < best) {
          best = r;
          at = i;
        }
      }
      if (best == std::numeric_limits<int32_t>::max()) break;
      syms[at] += syms[at + 1];
      syms.erase(syms.begin() + static_cast<std::ptrdiff_t>(at) + 1);
    }
    for (const std::string& s : syms) {
      const int32_t id = vocab_.Find(s);
      if (id >= 0) out->push_back(id);
    }
  }

  Vocab vocab_;
  std::unordered_map<std::string, int32_t> ranks_;
  bool ignore_merges_;
  bool raw_bytes_;
  std::string byte_to_unicode_[256];
  std::unordered_map<std::string, char> unicode_to_byte_;
  std::vector<std::shared_ptr<PcreCode>> regexes_;
  std::vector<std::pair<std::string, int32_t>> user_defined_;
};

constexpr char kGpt2Regex[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
constexpr char kLlama3Regex[] =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
    "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr char kQwen2Regex[] =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
    "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

absl::StatusOr<std::vector<std::string>> PretokenizerFor(const std::string& pre) {
  if (pre.empty() || pre == "default" || pre == "gpt-2" || pre == "gpt2" || pre == "olmo") {
    return std::vector<std::string>{kGpt2Regex};
  }
  if (pre == "starcoder" || pre == "smollm" || pre == "refact" || pre == "codeshell") {
    return std::vector<std::string>{"\\p{N}", kGpt2Regex};
  }
  if (pre == "llama3" || pre == "llama-bpe" || pre == "llama-v3") {
    return std::vector<std::string>{kLlama3Regex};
  }
  if (pre == "qwen2") return std::vector<std::string>{kQwen2Regex};
  if (pre == "deepseek-coder") {
    return std::vector<std::string>{
        "[\\r\\n]",    "\\s?\\p{L}+",
        "\\s?\\p{P}+", "[\\x{4E00}-\\x{9FA5}\\x{0800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+",
        "\\p{N}",      kGpt2Regex};
  }
  return absl::FailedPreconditionError(
      absl::StrCat("unsupported byte-level BPE pre-tokenizer '", pre, "'"));
}

absl::Status VocabError(const GgufFile& f, const std::string& what) {
  return absl::FailedPreconditionError(absl::StrCat(f.path(), ": bad tokenizer metadata: ", what));
}

}  // namespace

std::string Tokenizer::Decode(const std::vector<int32_t>& ids, bool strip_leading_space) const {
  std::string out;
  for (int32_t id : ids) out += TokenBytes(id);
  if (strip_leading_space && add_space_prefix_ && !out.empty() && out[0] == ' ') out.erase(0, 1);
  return out;
}

std::vector<int32_t> Tokenizer::EncodeWithBos(std::string_view text) const {
  std::vector<int32_t> ids;
  if (add_bos_ && bos_id_ >= 0) ids.push_back(bos_id_);
  std::vector<int32_t> rest = Encode(text);
  ids.insert(ids.end(), rest.begin(), rest.end());
  return ids;
}

bool Tokenizer::IsEndOfGeneration(int32_t id) const {
  if (id == eos_id_) return true;
  return std::find(eog_ids_.begin(), eog_ids_.end(), id) != eog_ids_.end();
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromGguf(const GgufFile& f) {
  PROCTOR_ASSIGN_OR_RETURN(std::string model, f.GetString("tokenizer.ggml.model"));
  const GgufValue* toks = f.Find("tokenizer.ggml.tokens");
  if (toks == nullptr || toks->elem_type != GgufType::kString || toks->strs.empty()) {
    return VocabError(f, "tokenizer.ggml.tokens missing or not a string array");
  }
  Vocab v;
  v.text = toks->strs;
  const size_t n = v.text.size();
  v.score.assign(n, 0.0f);
  v.type.assign(n, kTypeNormal);
  if (const GgufValue* s = f.Find("tokenizer.ggml.scores"); s != nullptr) {
    if (s->floats.size() != n) return VocabError(f, "scores length differs from tokens");
    for (size_t i = 0; i < n; ++i) v.score[i] = static_cast<float>(s->floats[i]);
  }
  if (const GgufValue* t = f.Find("tokenizer.ggml.token_type"); t != nullptr) {
    if (t->ints.size() != n) return VocabError(f, "token_type length differs from tokens");
    v.type = t->ints;
  }
  v.Index();
  auto id_or = [&](const std::string& key, int64_t def) -> absl::StatusOr<int32_t> {
    PROCTOR_ASSIGN_OR_RETURN(int64_t id, f.GetIntOr(key, def));
    if (id < -1 || id >= static_cast<int64_t>(n)) {
      return VocabError(f, absl::StrCat(key, " = ", id, " is outside the vocabulary"));
    }
    return static_cast<int32_t>(id);
  };
  const bool spm = model == "llama";
  PROCTOR_ASSIGN_OR_RETURN(int32_t bos, id_or("tokenizer.ggml.bos_token_id", spm ? 1 : -1));
  PROCTOR_ASSIGN_OR_RETURN(int32_t eos, id_or("tokenizer.ggml.eos_token_id", spm ? 2 : -1));
  PROCTOR_ASSIGN_OR_RETURN(int64_t add_bos,
                           f.GetIntOr("tokenizer.ggml.add_bos_token", spm ? 1 : 0));
  std::unique_ptr<Tokenizer> result;
  if (spm) {
    PROCTOR_ASSIGN_OR_RETURN(int32_t unk, id_or("tokenizer.ggml.unknown_token_id", 0));
    PROCTOR_ASSIGN_OR_RETURN(int64_t prefix, f.GetIntOr("tokenizer.ggml.add_space_prefix", 1));
    auto t = std::make_unique<SpmTokenizer>(std::move(v));
    t->set_flags(bos, eos, std::max(unk, 0), add_bos != 0, prefix != 0);
    result = std::move(t);
  } else if (model == "gpt2") {
    const GgufValue* merges = f.Find("tokenizer.ggml.merges");
    if (merges == nullptr || merges->elem_type != GgufType::kString) {
      return VocabError(f, "tokenizer.ggml.merges missing for a gpt2 tokenizer");
    }
    std::unordered_map<std::string, int32_t> ranks;
    ranks.reserve(merges->strs.size());
    for (size_t i = 0; i < merges->strs.size(); ++i) {
      ranks.emplace(merges->strs[i], static_cast<int32_t>(i));
    }
    std::string pre = "default";
    if (const GgufValue* p = f.Find("tokenizer.ggml.pre"); p != nullptr) pre = p->str;
    PROCTOR_ASSIGN_OR_RETURN(std::vector<std::string> patterns, PretokenizerFor(pre));
    auto t = std::make_unique<BpeTokenizer>(std::move(v), std::move(ranks),
                                            pre == "llama3" || pre == "llama-bpe");
    PROCTOR_RETURN_IF_ERROR(t->SetPretokenizer(patterns));
    t->set_flags(bos, eos, add_bos != 0);
    result = std::move(t);
  } else {
    return VocabError(f, absl::StrCat("unsupported tokenizer.ggml.model '", model, "'"));
  }
  for (size_t i = 0; i < n; ++i) {
    const std::string& s = toks->strs[i];
    if (s == "<|eot_id|>" || s == "<|im_end|>" || s == "<|end|>" || s == "<end_of_turn>" ||
        s == "<|endoftext|>" || s == "<|end_of_text|>") {
      result->eog_ids_.push_back(static_cast<int32_t>(i));
    }
  }
  if (const GgufValue* eot = f.Find("tokenizer.ggml.eot_token_id");
      eot != nullptr && eot->is_int()) {
    result->eog_ids_.push_back(static_cast<int32_t>(eot->i));
  }
  result->vocab_size_ = static_cast<int64_t>(n);
  return result;
}

namespace {

int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

bool Base64Decode(std::string_view in, std::string* out) {
  out->clear();
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    const int v = Base64Value(c);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return true;
}

}  // namespace

namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

absl::StatusOr<Struct> ReadJsonFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  const std::string text((std::istreambuf_iterator<char>(in)), {});
  Struct s;
  auto st = google::protobuf::util::JsonStringToMessage(text, &s);
  if (!st.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": not a JSON object: ", std::string(st.message())));
  }
  return s;
}

const Value* Field(const Struct& s, const std::string& key) {
  auto it = s.fields().find(key);
  return it == s.fields().end() ? nullptr : &it->second;
}

// Collects the pre-tokenizer regexes of a tokenizer.json pre_tokenizer node;
// sets *byte_level when a ByteLevel step is present.
absl::Status CollectPretokenizer(const Value& node, std::vector<std::string>* patterns,
                                 bool* byte_level, int depth) {
  if (node.kind_case() != Value::kStructValue || depth > 4) {
    return absl::FailedPreconditionError("pre_tokenizer is not an object");
  }
  const Struct& s = node.struct_value();
  const Value* type = Field(s, "type");
  const std::string t = type != nullptr ? type->string_value() : "";
  if (t == "Sequence") {
    const Value* list = Field(s, "pretokenizers");
    if (list == nullptr || list->kind_case() != Value::kListValue) {
      return absl::FailedPreconditionError("Sequence pre_tokenizer without pretokenizers");
    }
    for (const Value& v : list->list_value().values()) {
      PROCTOR_RETURN_IF_ERROR(CollectPretokenizer(v, patterns, byte_level, depth + 1));
    }
  } else if (t == "Split") {
    const Value* pattern = Field(s, "pattern");
    const Value* behavior = Field(s, "behavior");
    if (pattern == nullptr || pattern->kind_case() != Value::kStructValue ||
        (behavior != nullptr && behavior->string_value() != "Isolated")) {
      return absl::FailedPreconditionError("only Isolated Split pre-tokenizers with a pattern");
    }
    const Value* re = Field(pattern->struct_value(), "Regex");
    const Value* str = Field(pattern->struct_value(), "String");
    if (re != nullptr) {
      patterns->push_back(re->string_value());
    } else if (str != nullptr) {
      std::string quoted = "\\Q" + str->string_value() + "\\E";
      patterns->push_back(quoted);
    }
  } else if (t == "Digits") {
    const Value* individual = Field(s, "individual_digits");
    patterns->push_back(individual != nullptr && individual->bool_value() ? "\\p{N}" : "\\p{N}+");
  } else if (t == "ByteLevel") {
    *byte_level = true;
    const Value* use_regex = Field(s, "use_regex");
    if (use_regex == nullptr || use_regex->bool_value()) patterns->push_back(kGpt2Regex);
  } else {
    return absl::FailedPreconditionError(absl::StrCat("unsupported pre_tokenizer type '", t, "'"));
  }
  return absl::OkStatus();
}

// Token id of a tokenizer_config.json entry ("<s>" or {"content": "<s>"}).
int32_t SpecialId(const Struct* config, const std::string& key, const Vocab& v) {
  if (config == nullptr) return -1;
  const Value* e = Field(*config, key);
  if (e == nullptr) return -1;
  std::string text = e->string_value();
  if (e->kind_case() == Value::kStructValue) {
    if (const Value* c = Field(e->struct_value(), "content"); c != nullptr)
      text = c->string_value();
  }
  return text.empty() ? -1 : v.Find(text);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromHfTokenizerJson(const std::string& path) {
  PROCTOR_ASSIGN_OR_RETURN(Struct root, ReadJsonFile(path));
  auto bad = [&](const std::string& what) {
    return absl::FailedPreconditionError(absl::StrCat(path, ": ", what));
  };
  const Value* model = Field(root, "model");
  if (model == nullptr || model->kind_case() != Value::kStructValue) return bad("no model object");
  const Struct& m = model->struct_value();
  const Value* type = Field(m, "type");
  if (type == nullptr || type->string_value() != "BPE") {
    return bad("only BPE tokenizer.json models are supported");
  }
  const Value* vocab = Field(m, "vocab");
  const Value* merges = Field(m, "merges");
  if (vocab == nullptr || vocab->kind_case() != Value::kStructValue || merges == nullptr ||
      merges->kind_case() != Value::kListValue) {
    return bad("BPE model needs a vocab object and a merges list");
  }
  Vocab v;
  auto place = [&](const std::string& text, const Value& idv, int64_t type_id) -> absl::Status {
    const double d = idv.number_value();
    if (idv.kind_case() != Value::kNumberValue || !(d >= 0) || d >= (1 << 24) ||
        d != std::floor(d)) {
      return bad(absl::StrCat("token '", text, "' has a bad id"));
    }
    const size_t id = static_cast<size_t>(d);
    if (id >= v.text.size()) {
      v.text.resize(id + 1);
      v.score.resize(id + 1, 0.0f);
      v.type.resize(id + 1, kTypeUnused);
    }
    v.text[id] = text;
    v.type[id] = type_id;
    return absl::OkStatus();
  };
  for (const auto& [text, idv] : vocab->struct_value().fields()) {
    PROCTOR_RETURN_IF_ERROR(place(text, idv, kTypeNormal));
  }
  if (const Value* added = Field(root, "added_tokens"); added != nullptr) {
    for (const Value& a : added->list_value().values()) {
      const Value* content = Field(a.struct_value(), "content");
      const Value* id = Field(a.struct_value(), "id");
      const Value* special = Field(a.struct_value(), "special");
      if (content == nullptr || id == nullptr) return bad("added token without content or id");
      PROCTOR_RETURN_IF_ERROR(
          place(content->string_value(), *id,
                special != nullptr && special->bool_value() ? kTypeControl : kTypeUserDefined));
    }
  }
  std::unordered_map<std::string, int32_t> ranks;
  int32_t rank = 0;
  for (const Value& mv : merges->list_value().values()) {
    std::string key;
    if (mv.kind_case() == Value::kStringValue) {
      key = mv.string_value();
    } else if (mv.kind_case() == Value::kListValue && mv.list_value().values_size() == 2) {
      key =
          mv.list_value().values(0).string_value() + " " + mv.list_value().values(1).string_value();
    } else {
      return bad(absl::StrCat("merge ", rank, " is neither \"a b\" nor [a, b]"));
    }
    ranks.emplace(std::move(key), rank++);
  }
  std::vector<std::string> patterns;
  bool byte_level = false;
  if (const Value* pre = Field(root, "pre_tokenizer");
      pre != nullptr && pre->kind_case() != Value::kNullValue) {
    absl::Status st = CollectPretokenizer(*pre, &patterns, &byte_level, 0);
    if (!st.ok()) return bad(std::string(st.message()));
  }
  if (!byte_level) return bad("only byte-level BPE tokenizer.json files are supported");
  const Value* ignore = Field(m, "ignore_merges");
  v.Index();
  // BOS/EOS and add_bos from tokenizer_config.json beside it, when present.
  absl::StatusOr<Struct> config =
      ReadJsonFile((std::filesystem::path(path).parent_path() / "tokenizer_config.json").string());
  const Struct* cfg = config.ok() ? &*config : nullptr;
  const int32_t bos = SpecialId(cfg, "bos_token", v), eos = SpecialId(cfg, "eos_token", v);
  bool add_bos = false;
  if (cfg != nullptr) {
    if (const Value* ab = Field(*cfg, "add_bos_token"); ab != nullptr) add_bos = ab->bool_value();
  }
  const int64_t n = static_cast<int64_t>(v.text.size());
  std::vector<int32_t> eog;
  for (size_t i = 0; i < v.text.size(); ++i) {
    const std::string& t = v.text[i];
    if (v.type[i] == kTypeControl && (t == "<|eot_id|>" || t == "<|im_end|>" || t == "<|end|>" ||
                                      t == "<|endoftext|>" || t == "<|end_of_text|>")) {
      eog.push_back(static_cast<int32_t>(i));
    }
  }
  auto t = std::make_unique<BpeTokenizer>(std::move(v), std::move(ranks),
                                          ignore != nullptr && ignore->bool_value());
  PROCTOR_RETURN_IF_ERROR(t->SetPretokenizer(patterns));
  t->set_flags(bos, eos, add_bos && bos >= 0);
  std::unique_ptr<Tokenizer> result = std::move(t);
  result->eog_ids_ = std::move(eog);
  result->vocab_size_ = n;
  return result;
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromTiktoken(const std::string& path,
                                                                   const std::string& pre) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open tiktoken file ", path));
  Vocab v;
  std::string line, bytes;
  int64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    const size_t sp = line.find(' ');
    int64_t rank = -1;
    if (sp == std::string::npos || !Base64Decode(std::string_view(line).substr(0, sp), &bytes)) {
      return absl::FailedPreconditionError(absl::StrCat(path, ":", line_no, ": not 'base64 rank'"));
    }
    if (!absl::SimpleAtoi(absl::string_view(line).substr(sp + 1), &rank)) rank = -1;
    if (rank != static_cast<int64_t>(v.text.size())) {
      return absl::FailedPreconditionError(absl::StrCat(
          path, ":", line_no, ": rank ", line.substr(sp + 1), " is not ", v.text.size()));
    }
    v.text.push_back(bytes);
    v.score.push_back(0.0f);
    v.type.push_back(kTypeNormal);
  }
  if (v.text.empty())
    return absl::FailedPreconditionError(absl::StrCat(path, ": empty vocabulary"));
  PROCTOR_ASSIGN_OR_RETURN(std::vector<std::string> patterns, PretokenizerFor(pre));
  v.Index();
  auto t = std::make_unique<BpeTokenizer>(std::move(v), std::unordered_map<std::string, int32_t>(),
                                          true, /*raw_bytes=*/true);
  PROCTOR_RETURN_IF_ERROR(t->SetPretokenizer(patterns));
  t->set_flags(-1, -1, false);
  return std::unique_ptr<Tokenizer>(std::move(t));
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromLlama2cFile(const std::string& path,
                                                                      int64_t vocab_size) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open tokenizer file ", path));
  auto bad = [&](const std::string& what) {
    return absl::FailedPreconditionError(
        absl::StrCat("malformed llama2.c tokenizer ", path, ": ", what));
  };
  int32_t max_len;
  if (!in.read(reinterpret_cast<char*>(&max_len), 4)) return bad("truncated header");
  if (vocab_size <= 0 || vocab_size > (1 << 22)) return bad("bad vocabulary size");
  Vocab v;
  for (int64_t i = 0; i < vocab_size; ++i) {
    float score;
    int32_t len;
    if (!in.read(reinterpret_cast<char*>(&score), 4) ||
        !in.read(reinterpret_cast<char*>(&len), 4)) {
      return bad(absl::StrCat("truncated at token ", i));
    }
    if (len < 0 || len > max_len || len > 4096)
      return bad(absl::StrCat("token ", i, " length ", len));
    std::string s(static_cast<size_t>(len), '\0');
    if (!in.read(s.data(), len)) return bad(absl::StrCat("truncated in token ", i));
    // llama2.c stores spaces as ' '; restore SentencePiece's "▁".
    std::string t;
    for (char c : s) {
      if (c == ' ') {
        t += "\xE2\x96\x81";
      } else {
        t.push_back(c);
      }
    }
    v.text.push_back(std::move(t));
    v.score.push_back(score);
    v.type.push_back(i < 3 ? (i == 0 ? kTypeUnknown : kTypeControl)
                           : (ParseByteToken(v.text.back()) >= 0 ? kTypeByte : kTypeNormal));
  }
  v.Index();
  auto t = std::make_unique<SpmTokenizer>(std::move(v));
  t->set_flags(1, 2, 0, true, true);
  return std::unique_ptr<Tokenizer>(std::move(t));
}

}  // namespace proctor::engine
