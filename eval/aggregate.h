// Aggregation of per-sample scores into set results (mean ± stderr, corpus
// BLEU with a bootstrap stderr), groups, dimensions and Overall (SUITE.md
// "Dimension scores" and rule 9). Pure functions.
#ifndef PROCTOR_EVAL_AGGREGATE_H_
#define PROCTOR_EVAL_AGGREGATE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "eval/set_def.h"
#include "proctor/v1/evaluation.pb.h"

namespace proctor::eval {

// One planned set with its serialised SampleScores (sample order).
struct PlannedSetScores {
  const SetDef* def = nullptr;
  int64_t num_samples_planned = 0;
  const std::vector<std::string>* sample_scores = nullptr;  // may be null: none yet
};

// Seed and resample count of the corpus-metric bootstrap (rule 9).
inline constexpr uint64_t kBootstrapSeed = 20230701;
inline constexpr int kBootstrapResamples = 200;

// The result of one set. A score that does not parse is INVALID_ARGUMENT
// naming the set and the sample position. Code samples without a judge
// verdict are not counted as scored.
absl::StatusOr<v1::SetResult> AggregateSet(const PlannedSetScores& set);

// Set results, groups (naive mean, plus "<group>_weighted" for MMLU),
// dimensions and Overall (mean of the five dimensions of Dimensions()).
// A group or dimension with a member that was not planned or is incomplete
// has complete = false and names it in `missing`; its score is then the mean
// over the complete members present (0 when none), for information only.
absl::StatusOr<v1::Results> AggregateAll(const std::vector<PlannedSetScores>& sets);

}  // namespace proctor::eval

#endif  // PROCTOR_EVAL_AGGREGATE_H_
