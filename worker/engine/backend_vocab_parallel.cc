#include "worker/engine/backend_vocab_parallel.h"

#include <cmath>
#include <limits>

namespace proctor::engine {

VocabShardStats ReduceVocabShard(const float* logits, int64_t n, int64_t vocab_begin,
                                 int32_t target) {
  VocabShardStats s;
  float mx = logits[0];
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i) {
    if (logits[i] > mx) {
      mx = logits[i];
      best = i;
    }
  }
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(logits[i] - mx));
  s.max = mx;
  s.sum_exp = static_cast<float>(sum);
  s.argmax = static_cast<float>(vocab_begin + best);
  const int64_t local = static_cast<int64_t>(target) - vocab_begin;
  if (local >= 0 && local < n) {
    s.target_logit = logits[local];
    s.has_target = 1.0f;
  }
  return s;
}

void CombineVocabShards(const VocabShardStats* per_rank, int size, float* logprob,
                        int32_t* argmax) {
  float mx = -std::numeric_limits<float>::infinity();
  float best_value = -std::numeric_limits<float>::infinity();
  int32_t best = 0;
  bool have_target = false;
  float target = 0.0f;
  for (int r = 0; r < size; ++r) {
    const VocabShardStats& s = per_rank[r];
    mx = std::fmax(mx, s.max);
    // Strictly greater: on ties the lower rank (lower ids) wins.
    if (r == 0 || s.max > best_value) {
      best_value = s.max;
      best = static_cast<int32_t>(s.argmax);
    }
    if (s.has_target != 0.0f) {
      have_target = true;
      target = s.target_logit;
    }
  }
  double sum = 0.0;
  for (int r = 0; r < size; ++r) {
    sum += static_cast<double>(per_rank[r].sum_exp) *
           std::exp(static_cast<double>(per_rank[r].max - mx));
  }
  *argmax = best;
  *logprob = have_target ? static_cast<float>(static_cast<double>(target - mx) - std::log(sum))
                         : std::numeric_limits<float>::quiet_NaN();
}

}  // namespace proctor::engine
