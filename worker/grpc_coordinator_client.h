// CoordinatorClient over a gRPC channel. This header stays free of <grpcpp>;
// only grpc_coordinator_client.cc includes it.
#ifndef PROCTOR_WORKER_GRPC_COORDINATOR_CLIENT_H_
#define PROCTOR_WORKER_GRPC_COORDINATOR_CLIENT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "worker/coordinator_client.h"

namespace proctor::worker {

struct GrpcClientOptions {
  // Largest message the worker accepts (a leased job); the coordinator keeps
  // jobs well under gRPC's 4 MiB default.
  int max_receive_message_bytes = 64 << 20;
  // Compress what the worker sends (outputs) with gzip.
  bool compress = true;
  // TLS: when tls_ca_file is set the channel uses TLS, verifying the
  // coordinator against that PEM bundle; tls_cert_file + tls_key_file (PEM)
  // add a client certificate (mTLS). Empty = plaintext.
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
  // Sent as "authorization: Bearer <token>" on every call when non-empty.
  std::string bearer_token;
};

// Returns a client for the coordinator at `target` ("host:port" or any gRPC
// target URI). Connection happens lazily; an unreachable coordinator shows as
// UNAVAILABLE from the calls. Returns INVALID_ARGUMENT for an empty target or
// a TLS key without a certificate (or the reverse), FAILED_PRECONDITION
// naming the file when a TLS file cannot be read.
absl::StatusOr<std::unique_ptr<CoordinatorClient>> NewGrpcCoordinatorClient(
    const std::string& target, const GrpcClientOptions& options = {});

}  // namespace proctor::worker

#endif  // PROCTOR_WORKER_GRPC_COORDINATOR_CLIENT_H_
