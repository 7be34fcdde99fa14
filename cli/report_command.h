// `proctor report RUN [RUN...] --out DIR [--format html,md,csv]`: fetches the
// runs' results (GetResults) and the comparison of every later run against
// the first (CompareRuns), renders the report (eval/report/report.h) and
// writes DIR/report.html, DIR/report.md, DIR/report.csv. See docs/report.md.
//
// proctor_cli.cc owns the flag parsing loop and the connection; this file
// owns the command's flags, their validation and the work.
#ifndef PROCTOR_CLI_REPORT_COMMAND_H_
#define PROCTOR_CLI_REPORT_COMMAND_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cli/coordinator_client.h"
#include "cli/flag_parser.h"
#include "eval/report/report.h"

namespace proctor::cli {

struct ReportCommandOptions {
  std::vector<std::string> run_ids;  // runs[0] is the baseline
  std::string out_dir;
  std::vector<eval::report::ReportFormat> formats;
  double alpha = 0;  // 0 = the coordinator's default (0.05)
  std::string title;
};

// Declares --out, --format, --alpha and --title.
void AddReportFlags(FlagParser* parser);

// Validates the parsed command line. INVALID_ARGUMENT (a usage error) naming
// the flag: --out missing or empty, a bad --format list, --alpha outside
// (0, 1), no run, more than eval::report::kMaxRuns runs, a run given twice.
absl::StatusOr<ReportCommandOptions> ParseReportCommand(const ParsedFlags& flags);

// Creates out_dir (and parents) when missing, fetches everything, renders
// each format and writes it through a temporary file renamed into place.
// Returns the paths written, in the order of `formats`. Errors:
// FAILED_PRECONDITION naming the directory or file when it cannot be created
// or written (checked before any call to the coordinator); the coordinator's
// status for a failed call, its message prefixed with the run id (NOT_FOUND
// for an unknown run).
absl::StatusOr<std::vector<std::string>> WriteReport(CoordinatorClient& client,
                                                     const ReportCommandOptions& options,
                                                     absl::Time now);

}  // namespace proctor::cli

#endif  // PROCTOR_CLI_REPORT_COMMAND_H_
