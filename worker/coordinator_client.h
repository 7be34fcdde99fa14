// The worker's view of the coordinator's WorkerService
// (proto/proctor/v1/worker.proto), free of gRPC types so that the pull loop
// and its tests do not pay for <grpcpp> in every translation unit. The gRPC
// implementation is in grpc_coordinator_client.h.
//
// Every call takes a deadline (`timeout`); errors come back as absl::Status
// with the gRPC code unchanged (UNAVAILABLE: coordinator unreachable,
// NOT_FOUND: unknown worker id, FAILED_PRECONDITION: stale fencing token, ...).
#ifndef PROCTOR_WORKER_COORDINATOR_CLIENT_H_
#define PROCTOR_WORKER_COORDINATOR_CLIENT_H_

#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proctor/v1/worker.pb.h"

namespace proctor::worker {

// One ReportOutputs client stream. Write and Finish are called from one
// thread; Cancel may be called from any thread at any time.
class ReportStream {
 public:
  virtual ~ReportStream() = default;
  // Sends one message. Returns false when the stream is broken; Finish then
  // says why. Never call Write after it returned false or after Finish.
  virtual bool Write(const v1::ReportOutputsRequest& message) = 0;
  // Half-closes the stream and waits for the coordinator's answer: every
  // message written is stored when this returns OK. Call exactly once.
  virtual absl::StatusOr<v1::ReportOutputsResponse> Finish() = 0;
  // Aborts the stream; a blocked Write or Finish returns promptly.
  virtual void Cancel() = 0;
};

// Thread-safe: calls may be made concurrently from several threads.
class CoordinatorClient {
 public:
  virtual ~CoordinatorClient() = default;

  virtual absl::StatusOr<v1::RegisterResponse> Register(const v1::RegisterRequest& request,
                                                        absl::Duration timeout) = 0;
  // `timeout` must cover request.wait (the long-poll) plus the round trip.
  virtual absl::StatusOr<v1::LeaseResponse> Lease(const v1::LeaseRequest& request,
                                                  absl::Duration timeout) = 0;
  virtual absl::StatusOr<v1::HeartbeatResponse> Heartbeat(const v1::HeartbeatRequest& request,
                                                          absl::Duration timeout) = 0;
  virtual absl::StatusOr<v1::GetReportStateResponse> GetReportState(
      const v1::GetReportStateRequest& request, absl::Duration timeout) = 0;
  // Opens a stream whose whole life (all writes and Finish) must end within
  // `timeout`. Never fails here; a failure to connect shows in Write/Finish.
  virtual std::unique_ptr<ReportStream> OpenReportStream(absl::Duration timeout) = 0;
};

}  // namespace proctor::worker

#endif  // PROCTOR_WORKER_COORDINATOR_CLIENT_H_
