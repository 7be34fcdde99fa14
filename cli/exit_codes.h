// The `proctor` command's exit codes: the contract shell scripts rely on
// (documented in docs/cli.md). Pure functions.
#ifndef PROCTOR_CLI_EXIT_CODES_H_
#define PROCTOR_CLI_EXIT_CODES_H_

#include <string>

#include "absl/status/status.h"
#include "proctor/v1/common.pb.h"

namespace proctor::cli {

enum ExitCode : int {
  kExitOk = 0,
  kExitFailed = 1,  // the run failed, or an error with no better code
  kExitUsage = 2,   // bad command line (unknown command or flag, bad value)
  kExitCancelled = 3,
  kExitNotFound = 4,
  kExitUnavailable = 5,      // coordinator unreachable or did not answer in time
  kExitInvalidArgument = 6,  // the coordinator rejected an argument
};

// Exit code for a failed RPC or operation: NOT_FOUND → 4; UNAVAILABLE and
// DEADLINE_EXCEEDED → 5; INVALID_ARGUMENT, OUT_OF_RANGE → 6; CANCELLED → 3;
// OK → 0; everything else → 1.
int ExitCodeForStatus(const absl::Status& status);

// Exit code once a watched run has ended: SUCCEEDED → 0, CANCELLED → 3,
// FAILED (and any non-terminal state, which should not happen) → 1.
int ExitCodeForRunState(proctor::v1::RunState state);

// "proctor: INVALID_ARGUMENT: <message>" (no newline), the form printed to
// stderr for every error the coordinator returns.
std::string FormatStatusForUser(const absl::Status& status);

}  // namespace proctor::cli

#endif  // PROCTOR_CLI_EXIT_CODES_H_
