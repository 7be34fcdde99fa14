#include "eval/text_metrics.h"

#include <cctype>
#include <cmath>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "eval/strings.h"

namespace proctor::eval {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Case-insensitive ASCII find; npos when absent.
size_t FindIgnoreCase(std::string_view haystack, std::string_view needle, size_t from = 0) {
  if (needle.size() > haystack.size()) return std::string_view::npos;
  for (size_t i = from; i + needle.size() <= haystack.size(); ++i) {
    if (EqualsIgnoreCase(haystack.substr(i, needle.size()), needle)) return i;
  }
  return std::string_view::npos;
}

std::optional<double> ParseNumber(std::string_view s) {
  std::string t(Trim(s));
  if (t.empty()) return std::nullopt;
  char* end = nullptr;
  double v = std::strtod(t.c_str(), &end);
  // Accept a trailing '.' ("18.") as OpenCompass's float() would not, but the
  // regex captures sentence-final periods; strtod stops before it.
  while (end != nullptr && *end == '.') ++end;
  if (end == nullptr || *end != '\0' || !std::isfinite(v)) return std::nullopt;
  return v;
}

}  // namespace

std::optional<std::string> Gsm8kGold(std::string_view answer) {
  size_t p = answer.rfind("####");
  if (p == std::string_view::npos) return std::nullopt;
  std::string gold = ReplaceAll(answer.substr(p + 4), ",", "");
  return std::string(Trim(gold));
}

std::string Gsm8kPrediction(std::string_view generation, Gsm8kMode mode) {
  if (mode == Gsm8kMode::kLegacy2023) {
    std::string_view para = generation;
    if (size_t p = para.find("\n\n"); p != std::string_view::npos) para = para.substr(0, p);
    std::vector<std::string_view> tokens = Split(para, " ");
    for (auto it = tokens.rbegin(); it != tokens.rend(); ++it) {
      bool has_digit = false;
      for (char c : *it) has_digit |= IsDigit(c);
      if (!has_digit) continue;
      std::string digits;
      for (char c : *it) {
        if (IsDigit(c)) digits.push_back(c);
      }
      return digits;
    }
    return "";
  }
  std::string_view text = generation;
  if (size_t p = text.find("Question:"); p != std::string_view::npos) text = text.substr(0, p);
  // Scan for maximal runs of -?[0-9.,]+ left to right; keep the last run
  // that contains a digit.
  std::string last;
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    bool neg = false;
    if (text[i] == '-' && i + 1 < text.size() &&
        (IsDigit(text[i + 1]) || text[i + 1] == '.' || text[i + 1] == ',')) {
      neg = true;
      ++i;
    }
    size_t body = i;
    while (i < text.size() && (IsDigit(text[i]) || text[i] == '.' || text[i] == ',')) ++i;
    if (i == body) {
      i = start + 1;
      continue;
    }
    std::string_view run = text.substr(body, i - body);
    bool has_digit = false;
    for (char c : run) has_digit |= IsDigit(c);
    if (has_digit) {
      last = neg ? "-" : "";
      for (char c : run) {
        if (c != ',') last.push_back(c);
      }
    }
  }
  return last;
}

bool Gsm8kCorrect(std::string_view prediction, std::string_view gold, Gsm8kMode mode) {
  if (mode == Gsm8kMode::kLegacy2023) return !prediction.empty() && prediction == gold;
  std::optional<double> p = ParseNumber(prediction);
  std::optional<double> g = ParseNumber(gold);
  if (!p || !g) return false;
  double tol = 1e-6 * std::max(1.0, std::fabs(*g));
  return std::fabs(*p - *g) < tol;
}

std::string FirstCapital(std::string_view text) {
  for (char c : text) {
    if (c >= 'A' && c <= 'Z') return std::string(1, c);
  }
  return "";
}

std::string OptionLetter(std::string_view text, std::string_view options) {
  size_t p = FindIgnoreCase(text, "answer is");
  if (p != std::string_view::npos) {
    size_t i = p + 9;
    while (i < text.size() && (text[i] == ' ' || text[i] == '(' || text[i] == ':')) ++i;
    if (i < text.size() && options.find(text[i]) != std::string_view::npos) {
      return std::string(1, text[i]);
    }
  }
  for (size_t i = 0; i < text.size(); ++i) {
    if (options.find(text[i]) == std::string_view::npos) continue;
    bool left_ok = i == 0 || !std::isalnum(static_cast<unsigned char>(text[i - 1]));
    bool right_ok = i + 1 == text.size() || !std::isalnum(static_cast<unsigned char>(text[i + 1]));
    if (left_ok && right_ok) return std::string(1, text[i]);
  }
  return "";
}

std::string NormalizeQaAnswer(std::string_view text) {
  std::string lowered;
  lowered.reserve(text.size());
  for (char c : text) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x80 && std::ispunct(u)) continue;
    lowered.push_back(static_cast<char>(std::tolower(u)));
  }
  std::vector<std::string_view> words = SplitWords(lowered);
  std::string out;
  for (std::string_view w : words) {
    if (w == "a" || w == "an" || w == "the") continue;
    if (!out.empty()) out.push_back(' ');
    out.append(w);
  }
  return out;
}

std::string QaPostprocess(std::string_view generation) {
  std::string_view text = Trim(generation);
  if (size_t p = text.find('\n'); p != std::string_view::npos) text = text.substr(0, p);
  if (size_t p = FindIgnoreCase(text, "answer is"); p != std::string_view::npos) {
    text = text.substr(p + 9);
  }
  text = Trim(text);
  ConsumeSuffix(&text, ".");
  return std::string(Trim(text));
}

bool ExactMatchAny(std::string_view prediction, const std::vector<std::string>& golds) {
  std::string p = NormalizeQaAnswer(prediction);
  for (const std::string& g : golds) {
    if (NormalizeQaAnswer(g) == p) return true;
  }
  return false;
}

std::optional<std::string> LastBoxed(std::string_view text) {
  size_t p = text.rfind("\\boxed");
  size_t q = text.rfind("\\fbox");
  size_t start;
  size_t skip;
  if (p == std::string_view::npos && q == std::string_view::npos) return std::nullopt;
  if (q == std::string_view::npos || (p != std::string_view::npos && p > q)) {
    start = p;
    skip = 6;
  } else {
    start = q;
    skip = 5;
  }
  size_t i = start + skip;
  if (i < text.size() && text[i] == ' ') {
    // "\boxed 5": up to the next '$' or space.
    size_t e = text.find_first_of("$ \n", i + 1);
    return std::string(text.substr(i + 1, e == std::string_view::npos ? e : e - i - 1));
  }
  if (i >= text.size() || text[i] != '{') return std::nullopt;
  int depth = 0;
  for (size_t j = i; j < text.size(); ++j) {
    if (text[j] == '{') ++depth;
    if (text[j] == '}' && --depth == 0) return std::string(text.substr(i + 1, j - i - 1));
  }
  return std::nullopt;
}

std::string MathExtractAnswer(std::string_view generation) {
  if (std::optional<std::string> b = LastBoxed(generation)) return *b;
  size_t best = std::string_view::npos;
  for (size_t p = FindIgnoreCase(generation, "answer is"); p != std::string_view::npos;
       p = FindIgnoreCase(generation, "answer is", p + 1)) {
    best = p;
  }
  if (best == std::string_view::npos) return "";
  std::string_view rest = generation.substr(best + 9);
  if (size_t e = rest.find('\n'); e != std::string_view::npos) rest = rest.substr(0, e);
  rest = Trim(rest);
  ConsumePrefix(&rest, ":");
  rest = Trim(rest);
  ConsumeSuffix(&rest, ".");
  std::string out(rest);
  if (out.size() >= 2 && out.front() == '$' && out.back() == '$')
    out = out.substr(1, out.size() - 2);
  return out;
}

namespace {

// \frac12 → \frac{1}{2}, \frac1{2} → \frac{1}{2}.
std::string FixFracs(const std::string& s) {
  std::vector<std::string> parts = absl::StrSplit(s, "\\frac");
  std::string out = parts[0];
  for (size_t k = 1; k < parts.size(); ++k) {
    out += "\\frac";
    const std::string& sub = parts[k];
    if (!sub.empty() && sub[0] == '{') {
      out += sub;
      continue;
    }
    if (sub.size() < 2) return s;  // malformed: leave the input unchanged
    char a = sub[0];
    char b = sub[1];
    if (b != '{') {
      out += std::string("{") + a + "}{" + b + "}" + sub.substr(2);
    } else {
      out += std::string("{") + a + "}" + sub.substr(1);
    }
  }
  return out;
}

// "a/b" with integer a, b → \frac{a}{b}.
std::string FixSlash(const std::string& s) {
  std::vector<std::string> parts = absl::StrSplit(s, '/');
  if (parts.size() != 2) return s;
  auto is_int = [](const std::string& t) {
    if (t.empty()) return false;
    for (char c : t) {
      if (!IsDigit(c)) return false;
    }
    return true;
  };
  if (!is_int(parts[0]) || !is_int(parts[1])) return s;
  return "\\frac{" + parts[0] + "}{" + parts[1] + "}";
}

std::string RemoveRightUnits(const std::string& s) {
  size_t p = s.find("\\text{ ");
  if (p != std::string::npos) return s.substr(0, p);
  return s;
}

// \sqrt3 → \sqrt{3}.
std::string FixSqrt(const std::string& s) {
  std::vector<std::string> parts = absl::StrSplit(s, "\\sqrt");
  std::string out = parts[0];
  for (size_t k = 1; k < parts.size(); ++k) {
    const std::string& sub = parts[k];
    if (!sub.empty() && sub[0] != '{') {
      out += "\\sqrt{" + sub.substr(0, 1) + "}" + sub.substr(1);
    } else {
      out += "\\sqrt" + sub;
    }
  }
  return out;
}

}  // namespace

std::string MathNormalize(std::string_view answer) {
  std::string s(answer);
  s = absl::StrReplaceAll(s, {{"\n", ""}, {"\\!", ""}});
  s = absl::StrReplaceAll(s, {{"\\\\", "\\"}});
  s = absl::StrReplaceAll(s, {{"tfrac", "frac"}, {"dfrac", "frac"}});
  s = absl::StrReplaceAll(s, {{"\\left", ""}, {"\\right", ""}});
  s = absl::StrReplaceAll(s, {{"^{\\circ}", ""}, {"^\\circ", ""}});
  s = absl::StrReplaceAll(s, {{"\\$", ""}, {"$", ""}});
  s = RemoveRightUnits(s);
  s = absl::StrReplaceAll(s, {{"\\%", ""}, {"%", ""}});
  s = absl::StrReplaceAll(s, {{" .", " 0."}, {"{.", "{0."}});
  if (s.empty()) return s;
  if (s[0] == '.') s = "0" + s;
  // "k = 5" → "5" when the left side is short.
  {
    std::vector<std::string> eq = absl::StrSplit(s, '=');
    if (eq.size() == 2 && absl::StripAsciiWhitespace(eq[0]).size() <= 2) {
      s = std::string(absl::StripAsciiWhitespace(eq[1]));
    }
  }
  s = FixSqrt(s);
  s = absl::StrReplaceAll(s, {{" ", ""}});
  s = FixFracs(s);
  if (s == "0.5") s = "\\frac{1}{2}";
  s = FixSlash(s);
  return s;
}

bool MathEquivalent(std::string_view a, std::string_view b) {
  return MathNormalize(a) == MathNormalize(b);
}

int64_t Utf8Length(std::string_view text) {
  int64_t n = 0;
  for (char c : text) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  }
  return n;
}

int64_t CountWords(std::string_view text) {
  int64_t n = 0;
  bool in_word = false;
  for (char c : text) {
    bool ws = c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
    if (!ws && !in_word) ++n;
    in_word = !ws;
  }
  return n;
}

}  // namespace proctor::eval
