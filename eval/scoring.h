// Per-sample scoring: post-processes a sample's outputs and computes its
// metric values (SUITE.md rules 4, 6, 7, 10). Pure functions.
#ifndef PROCTOR_EVAL_SCORING_H_
#define PROCTOR_EVAL_SCORING_H_

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "eval/eval_internal.pb.h"
#include "eval/set_def.h"
#include "proctor/v1/requests.pb.h"

namespace proctor::eval {

// Index of the best option: highest logprob (acc) or highest logprob per
// character (acc_norm, rule 4); ties go to the lowest index. `option_chars`
// of zero count as one character. -1 for an empty list.
int ArgmaxOption(absl::Span<const double> logprobs, absl::Span<const int32_t> option_chars,
                 bool per_char);

// Index of the option whose whole text (context and option) has the highest
// mean log-likelihood per token, i.e. the lowest perplexity: OpenCompass's
// PPL-mode rule. `tokens` of zero count as one; ties go to the lowest index;
// -1 for an empty list.
int ArgmaxMeanLoglikelihood(absl::Span<const double> logprobs, absl::Span<const int32_t> tokens);

// Scores one sample. A loglikelihood set yields three accuracies:
//   "acc"      OpenCompass's PPL rule (the primary metric): the option whose
//              context + option text has the highest mean log-likelihood per
//              token (ArgmaxMeanLoglikelihood over the option score plus the
//              context score of the sample's context request, prompt.h);
//              without context scores, over the option tokens alone;
//   "acc_ll"   the highest summed log-likelihood of the option
//              (lm-evaluation-harness's acc);
//   "acc_norm" the highest log-likelihood per character (SUITE.md rule 4).
// The prediction is the "acc" option index. INVALID_ARGUMENT when the outputs do not match the
// requests the target was planned with (count, kind, continuations).
absl::StatusOr<internal::SampleScore> ScoreOutputs(const SetDef& def,
                                                   const internal::SampleTarget& target,
                                                   absl::Span<const v1::Output> outputs);

// The post-processed prediction of a generation per def.postprocessor.
std::string PostProcess(const SetDef& def, std::string_view generation);

}  // namespace proctor::eval

#endif  // PROCTOR_EVAL_SCORING_H_
