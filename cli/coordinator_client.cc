#include "cli/coordinator_client.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "proctor/v1/admin.grpc.pb.h"
#include "proctor/v1/evaluation.grpc.pb.h"
#include "proctor/v1/sweeps.grpc.pb.h"

namespace proctor::cli {

namespace pb = ::proctor::v1;

struct CoordinatorClient::Stubs {
  std::unique_ptr<pb::EvaluationService::Stub> evaluation;
  std::unique_ptr<pb::AdminService::Stub> admin;
  std::unique_ptr<pb::SweepService::Stub> sweeps;
};

namespace {

// Prepares a context for one unary call: deadline and credentials.
void Prepare(grpc::ClientContext* context, absl::Duration timeout, const std::string& token) {
  if (timeout > absl::ZeroDuration() && timeout != absl::InfiniteDuration()) {
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::microseconds(absl::ToInt64Microseconds(timeout)));
  }
  if (!token.empty()) context->AddMetadata("authorization", absl::StrCat("Bearer ", token));
}

// Calls `method` on `stub` with a fresh context; converts the status.
template <typename Stub, typename Request, typename Response, typename Method>
absl::StatusOr<Response> Call(Stub* stub, Method method, const Request& request,
                              absl::Duration timeout, const std::string& token) {
  grpc::ClientContext context;
  Prepare(&context, timeout, token);
  Response response;
  grpc::Status status = (stub->*method)(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

}  // namespace

std::unique_ptr<CoordinatorClient> CoordinatorClient::Create(const Options& options) {
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (options.tls || !options.ca_cert_pem.empty()) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = options.ca_cert_pem;
    ssl.pem_cert_chain = options.client_cert_pem;
    ssl.pem_private_key = options.client_key_pem;
    credentials = grpc::SslCredentials(ssl);
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }
  std::shared_ptr<grpc::Channel> channel = grpc::CreateChannel(options.target, credentials);
  auto stubs = std::make_unique<Stubs>();
  stubs->evaluation = pb::EvaluationService::NewStub(channel);
  stubs->admin = pb::AdminService::NewStub(channel);
  stubs->sweeps = pb::SweepService::NewStub(channel);
  return std::unique_ptr<CoordinatorClient>(
      new CoordinatorClient(std::move(stubs), options.rpc_timeout, options.bearer_token));
}

std::unique_ptr<CoordinatorClient> CoordinatorClient::Create(const std::string& target,
                                                             absl::Duration rpc_timeout,
                                                             const std::string& bearer_token) {
  Options options;
  options.target = target;
  options.rpc_timeout = rpc_timeout;
  options.bearer_token = bearer_token;
  return Create(options);
}

CoordinatorClient::CoordinatorClient(std::unique_ptr<Stubs> stubs, absl::Duration rpc_timeout,
                                     std::string bearer_token)
    : stubs_(std::move(stubs)), rpc_timeout_(rpc_timeout), bearer_token_(std::move(bearer_token)) {}

CoordinatorClient::~CoordinatorClient() = default;

absl::StatusOr<pb::Run> CoordinatorClient::SubmitRun(const pb::RunSpec& spec) {
  pb::SubmitRunRequest request;
  *request.mutable_spec() = spec;
  return Call<pb::EvaluationService::Stub, pb::SubmitRunRequest, pb::Run>(
      stubs_->evaluation.get(), &pb::EvaluationService::Stub::SubmitRun, request, rpc_timeout_,
      bearer_token_);
}

absl::StatusOr<pb::Run> CoordinatorClient::GetRun(const std::string& run_id) {
  pb::GetRunRequest request;
  request.set_run_id(run_id);
  return Call<pb::EvaluationService::Stub, pb::GetRunRequest, pb::Run>(
      stubs_->evaluation.get(), &pb::EvaluationService::Stub::GetRun, request, rpc_timeout_,
      bearer_token_);
}

absl::StatusOr<pb::ListRunsResponse> CoordinatorClient::ListRuns(
    const pb::ListRunsRequest& request) {
  return Call<pb::EvaluationService::Stub, pb::ListRunsRequest, pb::ListRunsResponse>(
      stubs_->evaluation.get(), &pb::EvaluationService::Stub::ListRuns, request, rpc_timeout_,
      bearer_token_);
}

absl::StatusOr<pb::Run> CoordinatorClient::CancelRun(const std::string& run_id) {
  pb::CancelRunRequest request;
  request.set_run_id(run_id);
  return Call<pb::EvaluationService::Stub, pb::CancelRunRequest, pb::Run>(
      stubs_->evaluation.get(), &pb::EvaluationService::Stub::CancelRun, request, rpc_timeout_,
      bearer_token_);
}

absl::StatusOr<pb::Results> CoordinatorClient::GetResults(const std::string& run_id) {
  pb::GetResultsRequest request;
  request.set_run_id(run_id);
  return Call<pb::EvaluationService::Stub, pb::GetResultsRequest, pb::Results>(
      stubs_->evaluation.get(), &pb::EvaluationService::Stub::GetResults, request, rpc_timeout_,
      bearer_token_);
}

absl::StatusOr<pb::ListDatasetsResponse> CoordinatorClient::ListDatasets() {
  return Call<pb::EvaluationService::Stub, pb::ListDatasetsRequest, pb::ListDatasetsResponse>(
      stubs_->evaluation.get(), &pb::EvaluationService::Stub::ListDatasets,
      pb::ListDatasetsRequest(), rpc_timeout_, bearer_token_);
}

absl::StatusOr<pb::ListSuitesResponse> CoordinatorClient::ListSuites() {
  return Call<pb::EvaluationService::Stub, pb::ListSuitesRequest, pb::ListSuitesResponse>(
      stubs_->evaluation.get(), &pb::EvaluationService::Stub::ListSuites, pb::ListSuitesRequest(),
      rpc_timeout_, bearer_token_);
}

absl::StatusOr<pb::ListWorkersResponse> CoordinatorClient::ListWorkers() {
  return Call<pb::AdminService::Stub, pb::ListWorkersRequest, pb::ListWorkersResponse>(
      stubs_->admin.get(), &pb::AdminService::Stub::ListWorkers, pb::ListWorkersRequest(),
      rpc_timeout_, bearer_token_);
}

absl::StatusOr<pb::Comparison> CoordinatorClient::CompareRuns(
    const pb::CompareRunsRequest& request) {
  return Call<pb::EvaluationService::Stub, pb::CompareRunsRequest, pb::Comparison>(
      stubs_->evaluation.get(), &pb::EvaluationService::Stub::CompareRuns, request, rpc_timeout_,
      bearer_token_);
}

absl::StatusOr<pb::Sweep> CoordinatorClient::CreateSweep(const pb::Sweep& sweep) {
  pb::CreateSweepRequest request;
  *request.mutable_sweep() = sweep;
  return Call<pb::SweepService::Stub, pb::CreateSweepRequest, pb::Sweep>(
      stubs_->sweeps.get(), &pb::SweepService::Stub::CreateSweep, request, rpc_timeout_,
      bearer_token_);
}

absl::StatusOr<pb::ListSweepsResponse> CoordinatorClient::ListSweeps() {
  return Call<pb::SweepService::Stub, pb::ListSweepsRequest, pb::ListSweepsResponse>(
      stubs_->sweeps.get(), &pb::SweepService::Stub::ListSweeps, pb::ListSweepsRequest(),
      rpc_timeout_, bearer_token_);
}

absl::StatusOr<pb::Sweep> CoordinatorClient::PauseSweep(const std::string& name) {
  pb::PauseSweepRequest request;
  request.set_name(name);
  return Call<pb::SweepService::Stub, pb::PauseSweepRequest, pb::Sweep>(
      stubs_->sweeps.get(), &pb::SweepService::Stub::PauseSweep, request, rpc_timeout_,
      bearer_token_);
}

absl::StatusOr<pb::Sweep> CoordinatorClient::ResumeSweep(const std::string& name) {
  pb::ResumeSweepRequest request;
  request.set_name(name);
  return Call<pb::SweepService::Stub, pb::ResumeSweepRequest, pb::Sweep>(
      stubs_->sweeps.get(), &pb::SweepService::Stub::ResumeSweep, request, rpc_timeout_,
      bearer_token_);
}

absl::Status CoordinatorClient::DeleteSweep(const std::string& name) {
  pb::DeleteSweepRequest request;
  request.set_name(name);
  return Call<pb::SweepService::Stub, pb::DeleteSweepRequest, pb::DeleteSweepResponse>(
             stubs_->sweeps.get(), &pb::SweepService::Stub::DeleteSweep, request, rpc_timeout_,
             bearer_token_)
      .status();
}

absl::StatusOr<pb::TriggerSweepResponse> CoordinatorClient::TriggerSweep(const std::string& name) {
  pb::TriggerSweepRequest request;
  request.set_name(name);
  return Call<pb::SweepService::Stub, pb::TriggerSweepRequest, pb::TriggerSweepResponse>(
      stubs_->sweeps.get(), &pb::SweepService::Stub::TriggerSweep, request, rpc_timeout_,
      bearer_token_);
}

absl::Status CoordinatorClient::WatchRun(const std::string& run_id,
                                         const std::function<bool(const pb::RunEvent&)>& on_event) {
  grpc::ClientContext context;
  Prepare(&context, absl::InfiniteDuration(), bearer_token_);
  pb::WatchRunRequest request;
  request.set_run_id(run_id);
  std::unique_ptr<grpc::ClientReader<pb::RunEvent>> reader =
      stubs_->evaluation->WatchRun(&context, request);
  pb::RunEvent event;
  while (reader->Read(&event)) {
    if (!on_event(event)) {
      context.TryCancel();
      (void)reader->Finish();
      return absl::OkStatus();
    }
  }
  return FromGrpcStatus(reader->Finish());
}

}  // namespace proctor::cli
