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

namespace proctor::eval {

struct JudgeTask {
  std::string program;  // the model's program (HumanEval: prompt + completion)
  std::string tests;    // test code to run after it
};

// The program a sample score asks a judge to run. FAILED_PRECONDITION when
// the score needs no judge (not a code set, or already judged);
// INVALID_ARGUMENT when it does not parse.
absl::StatusOr<JudgeTask> JudgeTaskOf(std::string_view sample_score);

// The score with the verdict applied: metric "pass@1" = 100 or 0, judged.
// Same errors as JudgeTaskOf.
absl::StatusOr<std::string> ApplyJudgeVerdict(std::string_view sample_score, bool passed);

}  // namespace proctor::eval

#endif  // PROCTOR_EVAL_JUDGE_H_
