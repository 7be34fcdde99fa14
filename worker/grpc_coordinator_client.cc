#include "worker/grpc_coordinator_client.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "proctor/v1/worker.grpc.pb.h"

namespace proctor::worker {
namespace {

absl::StatusOr<std::string> ReadPemFile(const std::string& path, const char* flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::FailedPreconditionError(absl::StrCat(flag, ": cannot read ", path));
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

std::chrono::system_clock::time_point DeadlineAfter(absl::Duration timeout) {
  return std::chrono::system_clock::now() +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(
             absl::ToChronoNanoseconds(timeout));
}

class GrpcReportStream final : public ReportStream {
 public:
  GrpcReportStream(v1::WorkerService::Stub* stub, const GrpcClientOptions& options,
                   absl::Duration timeout) {
    ctx_.set_deadline(DeadlineAfter(timeout));
    if (!options.bearer_token.empty()) {
      ctx_.AddMetadata("authorization", "Bearer " + options.bearer_token);
    }
    writer_ = stub->ReportOutputs(&ctx_, &response_);
  }

  bool Write(const v1::ReportOutputsRequest& message) override { return writer_->Write(message); }

  absl::StatusOr<v1::ReportOutputsResponse> Finish() override {
    writer_->WritesDone();
    const grpc::Status status = writer_->Finish();
    if (!status.ok()) return FromGrpcStatus(status);
    return response_;
  }

  void Cancel() override { ctx_.TryCancel(); }

 private:
  grpc::ClientContext ctx_;
  v1::ReportOutputsResponse response_;
  std::unique_ptr<grpc::ClientWriter<v1::ReportOutputsRequest>> writer_;
};

class GrpcCoordinatorClient final : public CoordinatorClient {
 public:
  GrpcCoordinatorClient(std::shared_ptr<grpc::Channel> channel, const GrpcClientOptions& options)
      : stub_(v1::WorkerService::NewStub(std::move(channel))), options_(options) {}

  absl::StatusOr<v1::RegisterResponse> Register(const v1::RegisterRequest& request,
                                                absl::Duration timeout) override {
    return Unary(&v1::WorkerService::Stub::Register, request, timeout);
  }

  absl::StatusOr<v1::LeaseResponse> Lease(const v1::LeaseRequest& request,
                                          absl::Duration timeout) override {
    return Unary(&v1::WorkerService::Stub::Lease, request, timeout);
  }

  absl::StatusOr<v1::HeartbeatResponse> Heartbeat(const v1::HeartbeatRequest& request,
                                                  absl::Duration timeout) override {
    return Unary(&v1::WorkerService::Stub::Heartbeat, request, timeout);
  }

  absl::StatusOr<v1::GetReportStateResponse> GetReportState(
      const v1::GetReportStateRequest& request, absl::Duration timeout) override {
    return Unary(&v1::WorkerService::Stub::GetReportState, request, timeout);
  }

  std::unique_ptr<ReportStream> OpenReportStream(absl::Duration timeout) override {
    return std::make_unique<GrpcReportStream>(stub_.get(), options_, timeout);
  }

 private:
  void Prepare(grpc::ClientContext* ctx, absl::Duration timeout) const {
    ctx->set_deadline(DeadlineAfter(timeout));
    if (!options_.bearer_token.empty()) {
      ctx->AddMetadata("authorization", "Bearer " + options_.bearer_token);
    }
  }

  // One unary call of `method` with the deadline and credentials of Prepare.
  template <typename Request, typename Response>
  absl::StatusOr<Response> Unary(grpc::Status (v1::WorkerService::Stub::*method)(
                                     grpc::ClientContext*, const Request&, Response*),
                                 const Request& request, absl::Duration timeout) const {
    grpc::ClientContext ctx;
    Prepare(&ctx, timeout);
    Response response;
    const grpc::Status status = (stub_.get()->*method)(&ctx, request, &response);
    if (!status.ok()) return FromGrpcStatus(status);
    return response;
  }

  const std::unique_ptr<v1::WorkerService::Stub> stub_;
  const GrpcClientOptions options_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<CoordinatorClient>> NewGrpcCoordinatorClient(
    const std::string& target, const GrpcClientOptions& options) {
  if (target.empty()) return absl::InvalidArgumentError("--coordinator: empty target");
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls_cert_file and --tls_key_file must be given together (client certificate)");
  }
  if (options.tls_ca_file.empty() && !options.tls_cert_file.empty()) {
    return absl::InvalidArgumentError("--tls_cert_file needs --tls_ca_file (TLS is off)");
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (options.tls_ca_file.empty()) {
    credentials = grpc::InsecureChannelCredentials();
  } else {
    grpc::SslCredentialsOptions ssl;
    auto ca = ReadPemFile(options.tls_ca_file, "--tls_ca_file");
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *std::move(ca);
    if (!options.tls_cert_file.empty()) {
      auto cert = ReadPemFile(options.tls_cert_file, "--tls_cert_file");
      if (!cert.ok()) return cert.status();
      auto key = ReadPemFile(options.tls_key_file, "--tls_key_file");
      if (!key.ok()) return key.status();
      ssl.pem_cert_chain = *std::move(cert);
      ssl.pem_private_key = *std::move(key);
    }
    credentials = grpc::SslCredentials(ssl);
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  if (options.compress) args.SetCompressionAlgorithm(GRPC_COMPRESS_GZIP);
  return std::unique_ptr<CoordinatorClient>(std::make_unique<GrpcCoordinatorClient>(
      grpc::CreateCustomChannel(target, credentials, args), options));
}

}  // namespace proctor::worker
