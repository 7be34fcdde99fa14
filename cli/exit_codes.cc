#include "cli/exit_codes.h"

#include "absl/strings/str_cat.h"

namespace proctor::cli {

int ExitCodeForStatus(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return kExitOk;
    case absl::StatusCode::kNotFound:
      return kExitNotFound;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      return kExitUnavailable;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return kExitInvalidArgument;
    case absl::StatusCode::kCancelled:
      return kExitCancelled;
    default:
      return kExitFailed;
  }
}

int ExitCodeForRunState(proctor::v1::RunState state) {
  switch (state) {
    case proctor::v1::RUN_STATE_SUCCEEDED:
      return kExitOk;
    case proctor::v1::RUN_STATE_CANCELLED:
      return kExitCancelled;
    default:
      return kExitFailed;
  }
}

std::string FormatStatusForUser(const absl::Status& status) {
  return absl::StrCat("proctor: ", absl::StatusCodeToString(status.code()), ": ", status.message());
}

}  // namespace proctor::cli
