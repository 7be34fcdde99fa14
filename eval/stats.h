// Summary statistics of SUITE.md rules 8-10: mean with standard error,
// pooled standard error for size-weighted groups, the unbiased pass@k
// estimator, word perplexity and bits per byte. Pure functions.
#ifndef PROCTOR_EVAL_STATS_H_
#define PROCTOR_EVAL_STATS_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace proctor::eval {

struct MeanStderr {
  double mean = 0;
  double stderr_ = 0;       // sample standard deviation (n-1) / sqrt(n)
  bool has_stderr = false;  // false when n < 2
  int64_t n = 0;
};

// Mean and standard error of `values` (rule 9). Empty input gives n = 0.
MeanStderr ComputeMeanStderr(const std::vector<double>& values);

// Size-weighted mean of group members and its pooled standard error:
// sqrt(sum(w_i^2 * se_i^2)) with w_i = n_i / sum(n).
MeanStderr WeightedMean(const std::vector<MeanStderr>& members);

// Unbiased pass@k of one problem with n samples of which c passed (rule 8):
// 1 - C(n-c, k) / C(n, k). INVALID_ARGUMENT unless 0 <= c <= n and 1 <= k <= n.
absl::StatusOr<double> PassAtK(int64_t n, int64_t c, int64_t k);

// exp(-sum_ll / num_words); INVALID_ARGUMENT when num_words <= 0.
absl::StatusOr<double> WordPerplexity(double sum_loglikelihood, int64_t num_words);

// -sum_ll / num_bytes / ln 2; INVALID_ARGUMENT when num_bytes <= 0.
absl::StatusOr<double> BitsPerByte(double sum_loglikelihood, int64_t num_bytes);

}  // namespace proctor::eval

#endif  // PROCTOR_EVAL_STATS_H_
