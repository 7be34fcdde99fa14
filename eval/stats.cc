#include "eval/stats.h"

#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace proctor::eval {

MeanStderr ComputeMeanStderr(const std::vector<double>& values) {
  MeanStderr r;
  r.n = static_cast<int64_t>(values.size());
  if (values.empty()) return r;
  double sum = 0;
  for (double v : values) sum += v;
  r.mean = sum / static_cast<double>(r.n);
  if (r.n < 2) return r;
  double ss = 0;
  for (double v : values) ss += (v - r.mean) * (v - r.mean);
  double sd = std::sqrt(ss / static_cast<double>(r.n - 1));
  r.stderr_ = sd / std::sqrt(static_cast<double>(r.n));
  r.has_stderr = true;
  return r;
}

MeanStderr WeightedMean(const std::vector<MeanStderr>& members) {
  MeanStderr r;
  for (const MeanStderr& m : members) r.n += m.n;
  if (r.n == 0) return r;
  double var = 0;
  r.has_stderr = true;
  for (const MeanStderr& m : members) {
    double w = static_cast<double>(m.n) / static_cast<double>(r.n);
    r.mean += w * m.mean;
    var += w * w * m.stderr_ * m.stderr_;
    r.has_stderr = r.has_stderr && (m.has_stderr || m.n == 0);
  }
  r.stderr_ = std::sqrt(var);
  return r;
}

absl::StatusOr<double> PassAtK(int64_t n, int64_t c, int64_t k) {
  if (n < 1 || c < 0 || c > n || k < 1 || k > n) {
    return absl::InvalidArgumentError(
        absl::StrCat("pass@k: need 0 <= c <= n and 1 <= k <= n; got n=", n, " c=", c, " k=", k));
  }
  if (n - c < k) return 1.0;
  // C(n-c, k) / C(n, k) = prod_{i=n-c+1}^{n} (1 - k / i).
  double prod = 1.0;
  for (int64_t i = n - c + 1; i <= n; ++i) {
    prod *= 1.0 - static_cast<double>(k) / static_cast<double>(i);
  }
  return 1.0 - prod;
}

absl::StatusOr<double> WordPerplexity(double sum_loglikelihood, int64_t num_words) {
  if (num_words <= 0) return absl::InvalidArgumentError("word perplexity: no words");
  return std::exp(-sum_loglikelihood / static_cast<double>(num_words));
}

absl::StatusOr<double> BitsPerByte(double sum_loglikelihood, int64_t num_bytes) {
  if (num_bytes <= 0) return absl::InvalidArgumentError("bits per byte: no bytes");
  return -sum_loglikelihood / static_cast<double>(num_bytes) / std::log(2.0);
}

}  // namespace proctor::eval
