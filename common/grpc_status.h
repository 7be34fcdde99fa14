// The one-line boundary between absl::Status and grpc::Status (the codes are
// the same numbers). Kept apart from status_macros.h so that only the files
// that talk gRPC pay for including <grpcpp>.
#ifndef PROCTOR_COMMON_GRPC_STATUS_H_
#define PROCTOR_COMMON_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include <string>

#include "absl/status/status.h"

namespace proctor {

// Status messages travel in trailers, which peers cap (8 KiB by default):
// longer messages are cut so the code still arrives intact.
inline constexpr size_t kMaxStatusMessageBytes = 4096;

inline grpc::Status ToGrpcStatus(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  std::string message(s.message());
  if (message.size() > kMaxStatusMessageBytes) {
    message.resize(kMaxStatusMessageBytes);
    message += "... (truncated)";
  }
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::move(message));
}

inline absl::Status FromGrpcStatus(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

}  // namespace proctor

#endif  // PROCTOR_COMMON_GRPC_STATUS_H_
