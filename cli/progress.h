// Progress display for `proctor watch`: the one-line bar redrawn with "\r" on
// a terminal, the plain log lines written otherwise, and the throttle that
// decides when a plain line is due. Pure functions and a value class.
#ifndef PROCTOR_CLI_PROGRESS_H_
#define PROCTOR_CLI_PROGRESS_H_

#include <optional>
#include <string>

#include "absl/time/time.h"
#include "proctor/v1/common.pb.h"

namespace proctor::cli {

// Fraction of the run finished, in [0, 1]: requests_done / requests_total
// when the run has requests, else finished jobs (done + failed + cancelled) /
// jobs_total, else 0 (1 for a succeeded run). Values out of range are clamped.
double RunFraction(const proctor::v1::Run& run);

// "45.0%" (one decimal; "100%" only when the fraction is exactly 1).
std::string FormatPercent(double fraction);

// True for SUCCEEDED, FAILED and CANCELLED.
bool IsTerminal(proctor::v1::RunState state);

// One line, no "\r" and no newline, at most `width` display columns:
//   "running  [#########...........]  45.0%  jobs 9/20  requests 4500/10000"
// The bar shrinks (down to 10 cells, then disappears) to fit; if even the
// text does not fit it is cut at `width`. Failed jobs appear as
// "jobs 9/20 (1 failed)"; requests answered from the result cache as
// "requests 4500/10000 (1200 cached)".
std::string RenderProgressBar(const proctor::v1::Run& run, int width);

// A plain line for logs, no newline:
//   "2026-11-27T07:00:05Z run r-1 running 45.0% jobs 9/20 requests 4500/10000"
std::string RenderProgressLine(const proctor::v1::Run& run, absl::Time at);

// The closing line once a run ends, no newline:
//   "run r-1 succeeded in 3m12s" / "run r-1 failed: <reason>"
// Duration from created_at to finished_at when both are set.
std::string RenderFinalLine(const proctor::v1::Run& run);

// Decides which progress events become plain lines: the first one, every
// change of state, the terminal one, and otherwise at most one per
// `interval`. Not thread-safe.
class ProgressThrottle {
 public:
  explicit ProgressThrottle(absl::Duration interval) : interval_(interval) {}

  // True when the event for `run` observed at `now` should be printed; if so
  // it is remembered as the last printed one.
  bool ShouldPrint(const proctor::v1::Run& run, absl::Time now);

 private:
  absl::Duration interval_;
  std::optional<absl::Time> last_time_;
  proctor::v1::RunState last_state_ = proctor::v1::RUN_STATE_UNSPECIFIED;
};

}  // namespace proctor::cli

#endif  // PROCTOR_CLI_PROGRESS_H_
