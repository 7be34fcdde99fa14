#include "cli/progress.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/run_spec_flags.h"

namespace proctor::cli {

namespace pb = ::proctor::v1;

double RunFraction(const pb::Run& run) {
  const pb::RunProgress& p = run.progress();
  double f = 0;
  if (p.requests_total() > 0) {
    f = static_cast<double>(p.requests_done()) / static_cast<double>(p.requests_total());
  } else if (p.jobs_total() > 0) {
    f = static_cast<double>(p.jobs_done() + p.jobs_failed() + p.jobs_cancelled()) /
        static_cast<double>(p.jobs_total());
  } else if (run.state() == pb::RUN_STATE_SUCCEEDED) {
    f = 1;
  }
  if (!(f >= 0)) return 0;  // also catches NaN
  return std::min(f, 1.0);
}

std::string FormatPercent(double fraction) {
  if (fraction >= 1) return "100%";
  // Never round 99.96% up to "100.0%": truncate to one decimal.
  const double tenths = std::floor(std::max(0.0, fraction) * 1000) / 10;
  return absl::StrFormat("%.1f%%", tenths);
}

bool IsTerminal(pb::RunState state) {
  return state == pb::RUN_STATE_SUCCEEDED || state == pb::RUN_STATE_FAILED ||
         state == pb::RUN_STATE_CANCELLED;
}

namespace {

std::string Counts(const pb::Run& run) {
  const pb::RunProgress& p = run.progress();
  std::string out = absl::StrCat("jobs ", p.jobs_done(), "/", p.jobs_total());
  if (p.jobs_failed() > 0) absl::StrAppend(&out, " (", p.jobs_failed(), " failed)");
  if (p.requests_total() > 0) {
    absl::StrAppend(&out, "  requests ", p.requests_done(), "/", p.requests_total());
    if (p.requests_cached() > 0) absl::StrAppend(&out, " (", p.requests_cached(), " cached)");
  }
  return out;
}

}  // namespace

std::string RenderProgressBar(const pb::Run& run, int width) {
  constexpr int kStateWidth = 9;  // "cancelled"
  constexpr int kMinBar = 10;
  constexpr int kMaxBar = 40;
  const double fraction = RunFraction(run);
  const std::string state = absl::StrFormat("%-*s", kStateWidth, RunStateName(run.state()));
  const std::string tail = absl::StrCat("  ", FormatPercent(fraction), "  ", Counts(run));
  // state + "  [" + bar + "]" + tail
  const int fixed = static_cast<int>(state.size() + 3 + 1 + tail.size());
  const int bar = std::min(kMaxBar, width - fixed);
  std::string line;
  if (bar >= kMinBar) {
    const int filled = static_cast<int>(std::floor(fraction * bar));
    line = absl::StrCat(state, "  [", std::string(filled, '#'), std::string(bar - filled, '.'), "]",
                        tail);
  } else {
    line = absl::StrCat(state, tail);
  }
  if (width >= 0 && static_cast<int>(line.size()) > width) line.resize(width);
  return line;
}

std::string RenderProgressLine(const pb::Run& run, absl::Time at) {
  std::string counts = Counts(run);
  return absl::StrCat(absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", at, absl::UTCTimeZone()), " run ",
                      run.run_id(), " ", RunStateName(run.state()), " ",
                      FormatPercent(RunFraction(run)), " ", counts);
}

std::string RenderFinalLine(const pb::Run& run) {
  std::string out = absl::StrCat("run ", run.run_id(), " ", RunStateName(run.state()));
  const auto& c = run.created_at();
  const auto& f = run.finished_at();
  if ((c.seconds() != 0 || c.nanos() != 0) && (f.seconds() != 0 || f.nanos() != 0)) {
    const absl::Duration d =
        absl::Seconds(f.seconds() - c.seconds()) + absl::Nanoseconds(f.nanos() - c.nanos());
    const absl::Duration whole = absl::Trunc(d, absl::Seconds(1));
    absl::StrAppend(&out, " in ", whole < absl::Seconds(1) ? "<1s" : absl::FormatDuration(whole));
  }
  if (!run.failure_reason().empty()) absl::StrAppend(&out, ": ", run.failure_reason());
  return out;
}

bool ProgressThrottle::ShouldPrint(const pb::Run& run, absl::Time now) {
  const bool due = !last_time_.has_value() || run.state() != last_state_ ||
                   IsTerminal(run.state()) || now - *last_time_ >= interval_;
  if (due) {
    last_time_ = now;
    last_state_ = run.state();
  }
  return due;
}

}  // namespace proctor::cli
