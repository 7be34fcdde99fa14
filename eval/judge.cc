#include "eval/judge.h"

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "eval/eval_internal.pb.h"

namespace proctor::eval {
namespace {

absl::StatusOr<internal::SampleScore> ParsePending(std::string_view sample_score) {
  internal::SampleScore s;
  if (!s.ParseFromArray(sample_score.data(), static_cast<int>(sample_score.size()))) {
    return absl::InvalidArgumentError("judge: sample score does not parse");
  }
  if (!s.needs_judge()) {
    return absl::FailedPreconditionError("judge: sample score needs no judge");
  }
  if (s.judged()) return absl::FailedPreconditionError("judge: sample score is already judged");
  return s;
}

}  // namespace

absl::StatusOr<JudgeTask> JudgeTaskOf(std::string_view sample_score) {
  absl::StatusOr<internal::SampleScore> s = ParsePending(sample_score);
  if (!s.ok()) return s.status();
  return JudgeTask{s->program(), s->tests()};
}

bool TargetNeedsJudge(std::string_view target) {
  internal::SampleTarget t;
  return t.ParseFromArray(target.data(), static_cast<int>(target.size())) && !t.tests().empty();
}

absl::StatusOr<JudgeTask> JudgeTaskOf(std::string_view sample_score, std::string_view target) {
  PROCTOR_ASSIGN_OR_RETURN(JudgeTask task, JudgeTaskOf(sample_score));
  internal::SampleTarget t;
  if (!t.ParseFromArray(target.data(), static_cast<int>(target.size()))) {
    return absl::InvalidArgumentError("judge: sample target does not parse");
  }
  const std::string& entry = t.entry_point();
  if (!entry.empty() && absl::StrContains(task.tests, "def check(")) {
    // The entry point comes from the data set, not from the model: refuse
    // anything but an identifier so it cannot inject code.
    for (char c : entry) {
      if (!(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_')) {
        return absl::InvalidArgumentError(
            absl::StrCat("judge: entry_point \"", entry, "\" is not a Python identifier"));
      }
    }
    if (!task.tests.empty() && task.tests.back() != '\n') task.tests += '\n';
    absl::StrAppend(&task.tests, "\ncheck(", entry, ")\n");
  }
  return task;
}

absl::Duration JudgeTimeout(std::string_view dataset) {
  if (dataset == "mbpp") return absl::Seconds(2);
  return absl::Seconds(3);
}

absl::StatusOr<std::string> ApplyJudgeVerdict(std::string_view sample_score, bool passed) {
  absl::StatusOr<internal::SampleScore> s = ParsePending(sample_score);
  if (!s.ok()) return s.status();
  s->set_judged(true);
  internal::MetricValue* m = s->add_metrics();
  m->set_name("pass@1");
  m->set_value(passed ? 100.0 : 0.0);
  return s->SerializeAsString();
}

}  // namespace proctor::eval
