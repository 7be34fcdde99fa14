#include "cli/exit_codes.h"

#include "gtest/gtest.h"

namespace proctor::cli {
namespace {

namespace pb = ::proctor::v1;

TEST(ExitCodesTest, StatusCodesMapToDocumentedExitCodes) {
  EXPECT_EQ(ExitCodeForStatus(absl::OkStatus()), 0);
  EXPECT_EQ(ExitCodeForStatus(absl::NotFoundError("run r-1")), 4);
  EXPECT_EQ(ExitCodeForStatus(absl::UnavailableError("down")), 5);
  EXPECT_EQ(ExitCodeForStatus(absl::DeadlineExceededError("slow")), 5);
  EXPECT_EQ(ExitCodeForStatus(absl::InvalidArgumentError("spec.suite")), 6);
  EXPECT_EQ(ExitCodeForStatus(absl::OutOfRangeError("limit")), 6);
  EXPECT_EQ(ExitCodeForStatus(absl::CancelledError("x")), 3);
  EXPECT_EQ(ExitCodeForStatus(absl::InternalError("x")), 1);
  EXPECT_EQ(ExitCodeForStatus(absl::PermissionDeniedError("x")), 1);
  EXPECT_EQ(ExitCodeForStatus(absl::FailedPreconditionError("x")), 1);
}

TEST(ExitCodesTest, RunStatesMapToExitCodes) {
  EXPECT_EQ(ExitCodeForRunState(pb::RUN_STATE_SUCCEEDED), 0);
  EXPECT_EQ(ExitCodeForRunState(pb::RUN_STATE_FAILED), 1);
  EXPECT_EQ(ExitCodeForRunState(pb::RUN_STATE_CANCELLED), 3);
  EXPECT_EQ(ExitCodeForRunState(pb::RUN_STATE_RUNNING), 1);
}

TEST(ExitCodesTest, FormatsErrorWithCodeName) {
  EXPECT_EQ(FormatStatusForUser(absl::InvalidArgumentError("spec.suite: unknown suite \"x\"")),
            "proctor: INVALID_ARGUMENT: spec.suite: unknown suite \"x\"");
  EXPECT_EQ(FormatStatusForUser(absl::NotFoundError("run r-9")), "proctor: NOT_FOUND: run r-9");
}

}  // namespace
}  // namespace proctor::cli
