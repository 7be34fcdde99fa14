#include "eval/compare_samples.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "eval/eval_internal.pb.h"
#include "eval/registry.h"

namespace proctor::eval {
bool HigherIsBetter(std::string_view metric) {
  return metric != "word_perplexity" && metric != "bits_per_byte";
}

absl::StatusOr<v1::SampleResultSet> DecodeSampleResults(std::string_view dataset,
                                                        int64_t num_samples_planned,
                                                        std::vector<IndexedScore> scores) {
  const SetDef* def = FindSet(dataset);
  if (def == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("set \"", std::string(dataset), "\" is not in the registry"));
  }
  std::sort(scores.begin(), scores.end(),
            [](const IndexedScore& a, const IndexedScore& b) { return a.first < b.first; });
  v1::SampleResultSet out;
  out.set_dataset(def->name);
  out.set_prompt_hash(PromptHash(*def));
  out.set_primary_metric(PrimaryMetric(*def));
  out.set_higher_is_better(HigherIsBetter(out.primary_metric()));
  out.set_num_samples_total(num_samples_planned);
  if (def->metric == "bleu") {
    out.set_aggregation("corpus_bleu");
    out.set_stats_width(10);
  } else if (def->metric == "word_perplexity") {
    out.set_aggregation("corpus_word_perplexity");
    out.set_stats_width(2);
  } else {
    out.set_aggregation("mean");
    out.set_stats_width(1);
  }
  for (size_t i = 0; i < scores.size(); ++i) {
    const auto& [index, bytes] = scores[i];
    if (i > 0 && scores[i - 1].first == index) {
      return absl::InvalidArgumentError(
          absl::StrCat(def->name, ": duplicate score for sample ", index));
    }
    internal::SampleScore s;
    if (!s.ParseFromString(bytes)) {
      return absl::InvalidArgumentError(
          absl::StrCat(def->name, ": score of sample ", index, " does not parse"));
    }
    if (s.needs_judge() && !s.judged()) continue;
    double value = 0;
    for (const internal::MetricValue& m : s.metrics()) {
      if (m.name() == out.primary_metric()) value = m.value();
    }
    out.add_sample_indices(index);
    out.add_values(value);
    if (def->metric == "bleu") {
      out.add_stats(static_cast<double>(s.bleu_hyp_len()));
      out.add_stats(static_cast<double>(s.bleu_ref_len()));
      for (int n = 0; n < 4; ++n) {
        out.add_stats(n < s.bleu_correct_size() ? static_cast<double>(s.bleu_correct(n)) : 0);
      }
      for (int n = 0; n < 4; ++n) {
        out.add_stats(n < s.bleu_total_size() ? static_cast<double>(s.bleu_total(n)) : 0);
      }
    } else if (def->metric == "word_perplexity") {
      out.add_stats(s.rolling_loglikelihood());
      out.add_stats(static_cast<double>(s.rolling_words()));
    } else {
      out.add_stats(value);
    }
  }
  return out;
}

}  // namespace proctor::eval
