// A blocking client for the coordinator's EvaluationService and AdminService,
// as the `proctor` command uses it: every unary call carries a deadline, and
// gRPC errors come back as absl::Status with the server's code and message.
// Keeps <grpcpp> out of this header (see TOOLCHAIN.md: gRPC headers are slow).
#ifndef PROCTOR_CLI_COORDINATOR_CLIENT_H_
#define PROCTOR_CLI_COORDINATOR_CLIENT_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proctor/v1/admin.pb.h"
#include "proctor/v1/evaluation.pb.h"
#include "proctor/v1/sweeps.pb.h"

namespace proctor::cli {

// Thread-compatible: one caller at a time (the CLI is single-threaded).
class CoordinatorClient {
 public:
  struct Options {
    std::string target;                              // "host:port"; any gRPC target syntax
    absl::Duration rpc_timeout = absl::Seconds(30);  // each unary call's deadline
    // When non-empty every call carries "authorization: Bearer <token>".
    std::string bearer_token;
    // TLS: on when `tls` is set or `ca_cert_pem` is non-empty. An empty
    // `ca_cert_pem` means the system's root certificates. A client
    // certificate and key (PEM) may be added for mTLS.
    bool tls = false;
    std::string ca_cert_pem;
    std::string client_cert_pem;
    std::string client_key_pem;
  };

  // Opens a channel per `options`. Does not connect yet: a coordinator that
  // is down surfaces as UNAVAILABLE from the first call.
  static std::unique_ptr<CoordinatorClient> Create(const Options& options);
  // Plaintext channel, the common case on a trusted network and in tests.
  static std::unique_ptr<CoordinatorClient> Create(const std::string& target,
                                                   absl::Duration rpc_timeout,
                                                   const std::string& bearer_token = "");
  ~CoordinatorClient();

  absl::StatusOr<proctor::v1::Run> SubmitRun(const proctor::v1::RunSpec& spec);
  absl::StatusOr<proctor::v1::Run> GetRun(const std::string& run_id);
  absl::StatusOr<proctor::v1::ListRunsResponse> ListRuns(
      const proctor::v1::ListRunsRequest& request);
  absl::StatusOr<proctor::v1::Run> CancelRun(const std::string& run_id);
  absl::StatusOr<proctor::v1::Results> GetResults(const std::string& run_id);
  absl::StatusOr<proctor::v1::ListDatasetsResponse> ListDatasets();
  absl::StatusOr<proctor::v1::ListSuitesResponse> ListSuites();
  absl::StatusOr<proctor::v1::ListWorkersResponse> ListWorkers();
  absl::StatusOr<proctor::v1::Comparison> CompareRuns(
      const proctor::v1::CompareRunsRequest& request);

  // SweepService (docs/sweeps.md).
  absl::StatusOr<proctor::v1::Sweep> CreateSweep(const proctor::v1::Sweep& sweep);
  absl::StatusOr<proctor::v1::ListSweepsResponse> ListSweeps();
  absl::StatusOr<proctor::v1::Sweep> PauseSweep(const std::string& name);
  absl::StatusOr<proctor::v1::Sweep> ResumeSweep(const std::string& name);
  absl::Status DeleteSweep(const std::string& name);
  absl::StatusOr<proctor::v1::TriggerSweepResponse> TriggerSweep(const std::string& name);

  // Opens WatchRun(run_id) and calls `on_event` for each event until the
  // stream ends or `on_event` returns false (then the call is cancelled and
  // OK is returned). The stream itself has no deadline. Returns the stream's
  // final status: OK when the server closed it normally.
  absl::Status WatchRun(const std::string& run_id,
                        const std::function<bool(const proctor::v1::RunEvent&)>& on_event);

 private:
  struct Stubs;
  CoordinatorClient(std::unique_ptr<Stubs> stubs, absl::Duration rpc_timeout,
                    std::string bearer_token);

  std::unique_ptr<Stubs> stubs_;
  absl::Duration rpc_timeout_;
  std::string bearer_token_;
};

}  // namespace proctor::cli

#endif  // PROCTOR_CLI_COORDINATOR_CLIENT_H_
