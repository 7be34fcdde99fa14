// Paired comparison of two evaluation runs of the same sets: per-set
// differences with paired standard errors and significance tests, roll-up of
// the differences through groups and dimensions to Overall, and win/tie/loss
// counts. Pure functions; thread-safe. See docs/compare.md.
//
// Pairing: a sample of set S in run A is paired with the sample of S in run B
// with the same sample index. Unpaired samples (one run planned or scored a
// sample the other did not) are dropped and counted.
#ifndef PROCTOR_EVAL_COMPARE_H_
#define PROCTOR_EVAL_COMPARE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "proctor/v1/evaluation.pb.h"

namespace proctor::eval {

// ---- Tests on paired samples ------------------------------------------------

// Two-sided exact McNemar test: the binomial test of the discordant pairs.
// `a_only` = pairs where only A is right, `b_only` = pairs where only B is
// right. p = min(1, 2 * P(X <= min(a_only, b_only))) with
// X ~ Binomial(a_only + b_only, 1/2); p = 1 when there are no discordant
// pairs. Accurate for any count (computed in log space).
double McNemarExactPValue(int64_t a_only, int64_t b_only);

// How a set's metric is computed from per-sample statistics. Every sample
// carries `StatsWidth(kind)` numbers:
//  kMean:                 {value}                      → mean(value)
//  kCorpusBleu:           {hyp_len, ref_len, c1..c4, t1..t4} → corpus BLEU
//                         (no smoothing, as the set score is computed)
//  kCorpusWordPerplexity: {loglikelihood, words}       → exp(-Σll / Σwords)
enum class CorpusKind { kMean, kCorpusBleu, kCorpusWordPerplexity };
int StatsWidth(CorpusKind kind);

// The metric of a resample given as per-sample multiplicities. `stats` holds
// n samples of StatsWidth(kind) numbers each; `counts` has n entries.
double CorpusMetric(CorpusKind kind, absl::Span<const double> stats,
                    absl::Span<const int64_t> counts);

// The deterministic generator of the paired bootstrap: SplitMix64, and an
// unbiased draw in [0, n) by rejection (x % n, rejecting x above the largest
// multiple of n). Independent of the standard library, so resamples are the
// same on every platform (docs/compare.md gives the algorithm).
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t Next();
  uint64_t Below(uint64_t n);  // n >= 1

 private:
  uint64_t state_;
};

inline constexpr uint64_t kPairedBootstrapSeed = 20230701;
inline constexpr int kPairedBootstrapResamples = 1000;

struct PairedBootstrapResult {
  double delta = 0;    // metric(B) - metric(A) on the full paired sample
  double stderr_ = 0;  // standard deviation of the resampled deltas
  double p_value = 1;  // two-sided, null-centred (see below)
  int resamples = 0;
};

// Paired bootstrap (Koehn 2004; Berg-Kirkpatrick et al. 2012): `resamples`
// draws of n sample indices with replacement (SplitMix64 seeded with `seed`,
// one Below(n) per index, in order), each applied to both runs. The p-value
// is (1 + #{b : |δ_b − δ| ≥ |δ|}) / (resamples + 1), the share of resampled
// deltas at least as far from the observed delta as the observed delta is
// from zero. INVALID_ARGUMENT when the stats do not hold the same whole
// number (>= 1) of samples or resamples < 1.
absl::StatusOr<PairedBootstrapResult> PairedBootstrap(CorpusKind kind,
                                                      absl::Span<const double> stats_a,
                                                      absl::Span<const double> stats_b,
                                                      int resamples, uint64_t seed);

// ---- Comparing two runs ------------------------------------------------------

struct CompareOptions {
  double alpha = 0.05;  // significance level of win/loss
  int bootstrap_resamples = kPairedBootstrapResamples;
  uint64_t bootstrap_seed = kPairedBootstrapSeed;
};

// Compares run B against baseline A. `samples_*` come from GetSampleResults,
// `results_*` from GetResults of the same runs. Sets are those present in
// both runs' sample results, in A's order; groups, dimensions and Overall
// are those of A's results that B also has.
//
// Set deltas are B − A of the metric recomputed on the paired samples; the
// test is exact McNemar when every paired value of both runs is 0 or 100
// (accuracy-type), else the paired bootstrap. A set is a win for B when B is
// better (per the metric's direction) with p < alpha, a loss when A is, and
// a tie otherwise; a set without paired samples has outcome "none" and is
// not counted. Groups, dimensions and Overall show B − A of the reported
// scores, with a standard error propagated from the paired set errors
// (mean: sqrt(Σse²)/k; weighted: sqrt(Σ(w·se)²)) when every member was
// compared paired, else sqrt(se_A² + se_B²) of the two reports (unpaired).
//
// INVALID_ARGUMENT for malformed sample results (stats width, count
// mismatch) naming the run and set; never for differing prompt configs,
// which are flagged in the result instead.
absl::StatusOr<v1::Comparison> CompareRuns(const v1::SampleResults& samples_a,
                                           const v1::Results& results_a,
                                           const v1::SampleResults& samples_b,
                                           const v1::Results& results_b,
                                           const CompareOptions& options);

}  // namespace proctor::eval

#endif  // PROCTOR_EVAL_COMPARE_H_
