#include "eval/judge.h"

#include "absl/status/status.h"
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
