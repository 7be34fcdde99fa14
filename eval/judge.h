// Code-execution sets (HumanEval, MBPP): the sandbox judge hand-off. A
// ScoreSample result for a "pass@1" set carries the program and its tests
// and counts as unscored until a judge verdict is applied; the coordinator
// runs the program in a judge job (never in its own process) and stores the
// score returned by ApplyJudgeVerdict in place of the original.
#ifndef PROCTOR_EVAL_JUDGE_H_
#define PROCTOR_EVAL_JUDGE_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace proctor::eval {

struct JudgeTask {
  std::string program;  // the model's program (HumanEval: prompt + completion)
  std::string tests;    // test code to run after it
};

// The program a sample score asks a judge to run. FAILED_PRECONDITION when
// the score needs no judge (not a code set, or already judged);
// INVALID_ARGUMENT when it does not parse.
absl::StatusOr<JudgeTask> JudgeTaskOf(std::string_view sample_score);

// Whether a sample with this target (eval::PlannedSample::target) is judged:
// a code set's sample, which carries tests. False for anything else,
// including bytes that do not parse. The coordinator plans one judge request
// for each such sample.
bool TargetNeedsJudge(std::string_view target);

// As JudgeTaskOf(sample_score), with the tests made runnable from the
// sample's target: HumanEval's tests only define check(candidate), so a call
// check(<entry_point>) is appended; MBPP's asserts run as they are.
// INVALID_ARGUMENT also when `target` does not parse.
absl::StatusOr<JudgeTask> JudgeTaskOf(std::string_view sample_score, std::string_view target);

// Wall-clock limit of one program of `dataset` (SUITE.md: HumanEval 3 s,
// MBPP 2 s; 3 s for any other code set).
absl::Duration JudgeTimeout(std::string_view dataset);

// The score with the verdict applied: metric "pass@1" = 100 or 0, judged.
// Same errors as JudgeTaskOf.
absl::StatusOr<std::string> ApplyJudgeVerdict(std::string_view sample_score, bool passed);

}  // namespace proctor::eval

#endif  // PROCTOR_EVAL_JUDGE_H_
