#include "eval/bleu.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <unordered_map>

#include "absl/strings/str_replace.h"

namespace proctor::eval {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Characters the first 13a rule surrounds with spaces:
// [\{-\~\[-\` -\&\(-\+\:-\@\/].
bool IsSymbol(char c) {
  return (c >= '{' && c <= '~') || (c >= '[' && c <= '`') || (c >= ' ' && c <= '&') ||
         (c >= '(' && c <= '+') || (c >= ':' && c <= '@') || c == '/';
}

// Applies a two-character regex rule left to right without overlaps, as
// Python's re.sub does for a pattern of two single-character classes.
template <typename First, typename Second, typename Emit>
std::string ApplyPairRule(const std::string& s, First first, Second second, Emit emit) {
  std::string out;
  out.reserve(s.size() + s.size() / 2);
  size_t run = 0;  // start of the pending unchanged run
  size_t i = 0;
  while (i + 1 < s.size()) {
    if (first(s[i]) && second(s[i + 1])) {
      out.append(s, run, i - run);
      emit(s[i], s[i + 1], &out);
      i += 2;
      run = i;
    } else {
      ++i;
    }
  }
  out.append(s, run, std::string::npos);
  return out;
}

// Python str.split() whitespace, for UTF-8 input.
size_t WhitespaceLength(const std::string& s, size_t i) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  if (c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F)) return 1;
  auto at = [&](size_t k) { return k < s.size() ? static_cast<unsigned char>(s[k]) : 0; };
  if (c == 0xC2 && (at(i + 1) == 0x85 || at(i + 1) == 0xA0)) return 2;
  if (c == 0xE1 && at(i + 1) == 0x9A && at(i + 2) == 0x80) return 3;  // U+1680
  if (c == 0xE2 && at(i + 1) == 0x80) {
    unsigned char d = at(i + 2);
    if ((d >= 0x80 && d <= 0x8A) || d == 0xA8 || d == 0xA9 || d == 0xAF) return 3;
  }
  if (c == 0xE2 && at(i + 1) == 0x81 && at(i + 2) == 0x9F) return 3;  // U+205F
  if (c == 0xE3 && at(i + 1) == 0x80 && at(i + 2) == 0x80) return 3;  // U+3000
  return 0;
}

using Tokens = std::vector<std::string_view>;

Tokens SplitSpaces(std::string_view text) {
  Tokens out;
  size_t start = 0;
  while (start < text.size()) {
    size_t sp = text.find(' ', start);
    if (sp == std::string_view::npos) sp = text.size();
    if (sp > start) out.push_back(text.substr(start, sp - start));
    start = sp + 1;
  }
  return out;
}

// Lexicographic comparison of the n-grams starting at a (in x) and b (in y).
int CompareNgram(const Tokens& x, size_t a, const Tokens& y, size_t b, size_t n) {
  for (size_t k = 0; k < n; ++k) {
    int c = x[a + k].compare(y[b + k]);
    if (c != 0) return c;
  }
  return 0;
}

// Start positions of all n-grams of `t`, sorted by n-gram content.
std::vector<size_t> SortedNgrams(const Tokens& t, size_t n) {
  std::vector<size_t> starts;
  if (t.size() < n) return starts;
  starts.resize(t.size() - n + 1);
  for (size_t i = 0; i < starts.size(); ++i) starts[i] = i;
  std::sort(starts.begin(), starts.end(),
            [&](size_t a, size_t b) { return CompareNgram(t, a, t, b, n) < 0; });
  return starts;
}

// Packs each n-gram of token ids (< 2^16) into one integer, sorted.
std::vector<uint64_t> PackedNgrams(const std::vector<uint32_t>& ids, size_t n) {
  std::vector<uint64_t> out;
  if (ids.size() < n) return out;
  out.reserve(ids.size() - n + 1);
  for (size_t i = 0; i + n <= ids.size(); ++i) {
    uint64_t key = 0;
    for (size_t k = 0; k < n; ++k) key = (key << 16) | ids[i + k];
    out.push_back(key);
  }
  std::sort(out.begin(), out.end());
  return out;
}

int64_t MergeCount(const std::vector<uint64_t>& h, const std::vector<uint64_t>& r) {
  int64_t matches = 0;
  size_t i = 0, j = 0;
  while (i < h.size() && j < r.size()) {
    if (h[i] < r[j]) {
      ++i;
    } else if (h[i] > r[j]) {
      ++j;
    } else {
      size_t i2 = i + 1, j2 = j + 1;
      while (i2 < h.size() && h[i2] == h[i]) ++i2;
      while (j2 < r.size() && r[j2] == r[j]) ++j2;
      matches += static_cast<int64_t>(std::min(i2 - i, j2 - j));
      i = i2;
      j = j2;
    }
  }
  return matches;
}

// Sum over distinct n-grams of min(count in hyp, count in ref): a merge of
// the two sorted lists.
int64_t ClippedMatches(const Tokens& hyp, const Tokens& ref, size_t n) {
  std::vector<size_t> h = SortedNgrams(hyp, n);
  std::vector<size_t> r = SortedNgrams(ref, n);
  int64_t matches = 0;
  size_t i = 0, j = 0;
  while (i < h.size() && j < r.size()) {
    int c = CompareNgram(hyp, h[i], ref, r[j], n);
    if (c < 0) {
      ++i;
    } else if (c > 0) {
      ++j;
    } else {
      size_t i2 = i + 1, j2 = j + 1;
      while (i2 < h.size() && CompareNgram(hyp, h[i2], hyp, h[i], n) == 0) ++i2;
      while (j2 < r.size() && CompareNgram(ref, r[j2], ref, r[j], n) == 0) ++j2;
      matches += static_cast<int64_t>(std::min(i2 - i, j2 - j));
      i = i2;
      j = j2;
    }
  }
  return matches;
}

}  // namespace

std::string Tokenize13a(std::string_view line) {
  std::string s(line);
  if (s.find('<') != std::string::npos) s = absl::StrReplaceAll(s, {{"<skipped>", ""}});
  if (s.find('\n') != std::string::npos) {
    s = absl::StrReplaceAll(s, {{"-\n", ""}});
    s = absl::StrReplaceAll(s, {{"\n", " "}});
  }
  if (s.find('&') != std::string::npos) {
    s = absl::StrReplaceAll(s, {{"&quot;", "\""}});
    s = absl::StrReplaceAll(s, {{"&amp;", "&"}});
    s = absl::StrReplaceAll(s, {{"&lt;", "<"}});
    s = absl::StrReplaceAll(s, {{"&gt;", ">"}});
  }
  s = " " + s + " ";
  std::string t;
  t.reserve(s.size() * 2);
  size_t run = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (IsSymbol(s[i])) {
      t.append(s, run, i - run);
      const char pad[3] = {' ', s[i], ' '};
      t.append(pad, 3);
      run = i + 1;
    }
  }
  t.append(s, run, std::string::npos);
  auto dot_comma = [](char c) { return c == '.' || c == ','; };
  auto non_digit = [](char c) { return !IsDigit(c); };
  t = ApplyPairRule(t, non_digit, dot_comma, [](char a, char b, std::string* out) {
    out->push_back(a);
    out->push_back(' ');
    out->push_back(b);
    out->push_back(' ');
  });
  t = ApplyPairRule(t, dot_comma, non_digit, [](char a, char b, std::string* out) {
    out->push_back(' ');
    out->push_back(a);
    out->push_back(' ');
    out->push_back(b);
  });
  t = ApplyPairRule(
      t, IsDigit, [](char c) { return c == '-'; },
      [](char a, char b, std::string* out) {
        out->push_back(a);
        out->push_back(' ');
        out->push_back(b);
        out->push_back(' ');
      });
  // Python's ' '.join(line.split()), without materialising the tokens.
  std::string out;
  out.reserve(t.size());
  size_t i = 0;
  while (i < t.size()) {
    size_t w = WhitespaceLength(t, i);
    if (w > 0) {
      i += w;
      continue;
    }
    size_t start = i;
    while (i < t.size() && WhitespaceLength(t, i) == 0) ++i;
    if (!out.empty()) out.push_back(' ');
    out.append(t, start, i - start);
  }
  return out;
}

BleuStats& BleuStats::operator+=(const BleuStats& o) {
  hyp_len += o.hyp_len;
  ref_len += o.ref_len;
  for (int n = 0; n < 4; ++n) {
    correct[n] += o.correct[n];
    total[n] += o.total[n];
  }
  return *this;
}

BleuStats SegmentBleuStats(std::string_view hypothesis, std::string_view reference) {
  // Tokenize13a joins tokens with single spaces: split on ' ' directly.
  std::string hyp_text = Tokenize13a(hypothesis);
  std::string ref_text = Tokenize13a(reference);
  Tokens hyp = SplitSpaces(hyp_text);
  Tokens ref = SplitSpaces(ref_text);
  BleuStats st;
  st.hyp_len = static_cast<int64_t>(hyp.size());
  st.ref_len = static_cast<int64_t>(ref.size());
  // Token ids shared by both sides; n-grams packed into integers when every
  // id fits in 16 bits (always, unless a segment pair has 65536+ distinct
  // tokens, where the exact string comparison is used).
  std::unordered_map<std::string_view, uint32_t> vocab;
  auto ids_of = [&vocab](const Tokens& toks) {
    std::vector<uint32_t> ids;
    ids.reserve(toks.size());
    for (std::string_view t : toks) {
      auto [it, inserted] = vocab.emplace(t, static_cast<uint32_t>(vocab.size()));
      ids.push_back(it->second);
    }
    return ids;
  };
  std::vector<uint32_t> hyp_ids = ids_of(hyp);
  std::vector<uint32_t> ref_ids = ids_of(ref);
  bool packed = vocab.size() < (1u << 16);
  for (size_t n = 1; n <= 4; ++n) {
    st.correct[n - 1] = packed ? MergeCount(PackedNgrams(hyp_ids, n), PackedNgrams(ref_ids, n))
                               : ClippedMatches(hyp, ref, n);
    st.total[n - 1] = hyp.size() >= n ? static_cast<int64_t>(hyp.size() - n + 1) : 0;
  }
  return st;
}

double BleuFromStats(const BleuStats& stats, BleuSmoothing smoothing) {
  if (stats.hyp_len == 0) return 0.0;
  double log_sum = 0;
  double smooth_mteval = 1.0;
  for (int n = 0; n < 4; ++n) {
    if (stats.total[n] == 0) return 0.0;
    double p;
    if (stats.correct[n] == 0) {
      if (smoothing == BleuSmoothing::kNone) return 0.0;
      smooth_mteval *= 2;
      p = 100.0 / (smooth_mteval * static_cast<double>(stats.total[n]));
    } else {
      p = 100.0 * static_cast<double>(stats.correct[n]) / static_cast<double>(stats.total[n]);
    }
    log_sum += std::log(p);
  }
  double bp = 1.0;
  if (stats.hyp_len < stats.ref_len) {
    bp = std::exp(1.0 - static_cast<double>(stats.ref_len) / static_cast<double>(stats.hyp_len));
  }
  return bp * std::exp(log_sum / 4.0);
}

double CorpusBleu(const std::vector<std::string>& hypotheses,
                  const std::vector<std::string>& references, BleuSmoothing smoothing) {
  BleuStats total;
  size_t n = std::min(hypotheses.size(), references.size());
  for (size_t i = 0; i < n; ++i) total += SegmentBleuStats(hypotheses[i], references[i]);
  return BleuFromStats(total, smoothing);
}

MeanStderr CorpusBleuBootstrap(const std::vector<BleuStats>& segments, BleuSmoothing smoothing,
                               int resamples, uint64_t seed) {
  MeanStderr r;
  r.n = static_cast<int64_t>(segments.size());
  BleuStats total;
  for (const BleuStats& s : segments) total += s;
  r.mean = BleuFromStats(total, smoothing);
  if (segments.size() < 2 || resamples < 2) return r;
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<size_t> pick(0, segments.size() - 1);
  std::vector<double> scores;
  scores.reserve(static_cast<size_t>(resamples));
  for (int b = 0; b < resamples; ++b) {
    BleuStats sample;
    for (size_t i = 0; i < segments.size(); ++i) sample += segments[pick(rng)];
    scores.push_back(BleuFromStats(sample, smoothing));
  }
  MeanStderr boot = ComputeMeanStderr(scores);
  // The bootstrap standard error is the standard deviation of the resampled
  // statistic: undo the 1/sqrt(B) of ComputeMeanStderr.
  r.stderr_ = boot.stderr_ * std::sqrt(static_cast<double>(boot.n));
  r.has_stderr = true;
  return r;
}

}  // namespace proctor::eval
