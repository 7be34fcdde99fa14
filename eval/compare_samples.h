// Decoding of a set's opaque per-sample scores (eval::Catalog::ScoreSample)
// into the per-sample primary-metric values and corpus statistics that a
// paired comparison needs (v1::SampleResultSet). Pure functions; thread-safe.
#ifndef PROCTOR_EVAL_COMPARE_SAMPLES_H_
#define PROCTOR_EVAL_COMPARE_SAMPLES_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "proctor/v1/evaluation.pb.h"

namespace proctor::eval {

// One stored score: (sample index, opaque SampleScore bytes).
using IndexedScore = std::pair<int64_t, std::string>;

// Decodes the scores of set `dataset` (any order; sorted here by sample
// index). Samples awaiting a judge verdict are left out, as aggregation does.
// NOT_FOUND for a set the registry does not know; INVALID_ARGUMENT naming the
// set and sample index for bytes that do not parse or a duplicate index.
absl::StatusOr<v1::SampleResultSet> DecodeSampleResults(std::string_view dataset,
                                                        int64_t num_samples_planned,
                                                        std::vector<IndexedScore> scores);

// Whether a larger value of `metric` is better (false for perplexities).
bool HigherIsBetter(std::string_view metric);

}  // namespace proctor::eval

#endif  // PROCTOR_EVAL_COMPARE_SAMPLES_H_
