// Corpus BLEU compatible with sacreBLEU (13a tokenisation, one reference per
// segment, max n-gram order 4, corpus-level statistics; SUITE.md rule 7).
// Pure functions; thread-safe.
#ifndef PROCTOR_EVAL_BLEU_H_
#define PROCTOR_EVAL_BLEU_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "eval/stats.h"

namespace proctor::eval {

// sacreBLEU's "13a" tokenizer (mteval-v13a): unescapes &quot; &amp; &lt;
// &gt;, splits punctuation and symbols, separates '.' and ',' unless between
// digits, splits '-' after a digit; tokens joined by single spaces.
std::string Tokenize13a(std::string_view line);

// Sufficient statistics of one segment (or, summed, of a corpus).
struct BleuStats {
  int64_t hyp_len = 0;
  int64_t ref_len = 0;
  std::array<int64_t, 4> correct{};  // clipped n-gram matches, n = 1..4
  std::array<int64_t, 4> total{};    // hypothesis n-grams, n = 1..4
  BleuStats& operator+=(const BleuStats& o);
};

// Statistics of one hypothesis against one reference, both raw text (they
// are tokenised with Tokenize13a here).
BleuStats SegmentBleuStats(std::string_view hypothesis, std::string_view reference);

enum class BleuSmoothing {
  kNone,         // a zero n-gram precision makes BLEU 0 (SUITE.md rule 7)
  kExponential,  // sacreBLEU's default "exp" smoothing
};

// BLEU in [0, 100] from summed statistics.
double BleuFromStats(const BleuStats& stats, BleuSmoothing smoothing);

// Corpus BLEU of parallel hypothesis/reference lists (sizes must match;
// extra entries of the longer list are ignored).
double CorpusBleu(const std::vector<std::string>& hypotheses,
                  const std::vector<std::string>& references, BleuSmoothing smoothing);

// Corpus BLEU of per-segment statistics with a bootstrap standard error
// (`resamples` draws with replacement from a std::mt19937_64 seeded with
// `seed`; rule 9). has_stderr is false for fewer than 2 segments.
MeanStderr CorpusBleuBootstrap(const std::vector<BleuStats>& segments, BleuSmoothing smoothing,
                               int resamples, uint64_t seed);

}  // namespace proctor::eval

#endif  // PROCTOR_EVAL_BLEU_H_
