#include "coordinator/services.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_status.h"
#include "coordinator/auth_processor.h"
#include "coordinator/proto_time.h"
#include "coordinator/sweeps/run_comparison.h"

namespace proctor::coordinator {
namespace {

const char* CodeName(grpc::StatusCode code) {
  static constexpr const char* kNames[] = {"OK",
                                           "CANCELLED",
                                           "UNKNOWN",
                                           "INVALID_ARGUMENT",
                                           "DEADLINE_EXCEEDED",
                                           "NOT_FOUND",
                                           "ALREADY_EXISTS",
                                           "PERMISSION_DENIED",
                                           "RESOURCE_EXHAUSTED",
                                           "FAILED_PRECONDITION",
                                           "ABORTED",
                                           "OUT_OF_RANGE",
                                           "UNIMPLEMENTED",
                                           "INTERNAL",
                                           "UNAVAILABLE",
                                           "DATA_LOSS",
                                           "UNAUTHENTICATED"};
  const int i = static_cast<int>(code);
  return (i >= 0 && i <= 16) ? kNames[i] : "UNKNOWN";
}

// Runs `body` (returning absl::Status or StatusOr), stores its value via
// `store`, and records latency and code.
template <typename Body>
grpc::Status Handle(CoordinatorMetrics* metrics, const char* method, Body body) {
  const absl::Time start = absl::Now();
  grpc::Status status = ToGrpcStatus(body());
  if (metrics) {
    metrics->Rpc(method, CodeName(status.error_code()), absl::ToDoubleSeconds(absl::Now() - start));
  }
  return status;
}

template <typename T>
absl::Status Assign(absl::StatusOr<T> value, T* out) {
  if (!value.ok()) return value.status();
  *out = *std::move(value);
  return absl::OkStatus();
}

}  // namespace

// ---- EvaluationService ---------------------------------------------------------

grpc::Status EvaluationServiceImpl::SubmitRun(grpc::ServerContext* context,
                                              const v1::SubmitRunRequest* request, v1::Run* out) {
  return Handle(metrics_, "SubmitRun", [&] {
    v1::RunSpec spec = request->spec();
    // With authentication on, the submitter is the caller's token name (fair
    // share is per submitter, so it must not be self-declared).
    if (std::string caller = CallerName(*context); !caller.empty()) spec.set_submitter(caller);
    return Assign(c_->SubmitRun(std::move(spec)), out);
  });
}

grpc::Status EvaluationServiceImpl::GetRun(grpc::ServerContext*, const v1::GetRunRequest* request,
                                           v1::Run* out) {
  return Handle(metrics_, "GetRun", [&] { return Assign(c_->GetRun(request->run_id()), out); });
}

grpc::Status EvaluationServiceImpl::ListRuns(grpc::ServerContext*,
                                             const v1::ListRunsRequest* request,
                                             v1::ListRunsResponse* out) {
  return Handle(metrics_, "ListRuns", [&] { return Assign(c_->ListRuns(*request), out); });
}

grpc::Status EvaluationServiceImpl::CancelRun(grpc::ServerContext*,
                                              const v1::CancelRunRequest* request, v1::Run* out) {
  return Handle(metrics_, "CancelRun",
                [&] { return Assign(c_->CancelRun(request->run_id()), out); });
}

grpc::Status EvaluationServiceImpl::WatchRun(grpc::ServerContext* context,
                                             const v1::WatchRunRequest* request,
                                             grpc::ServerWriter<v1::RunEvent>* writer) {
  return Handle(metrics_, "WatchRun", [&]() -> absl::Status {
    uint64_t version = 0;
    absl::Time last_sent = absl::InfinitePast();
    while (!context->IsCancelled()) {
      // At most ~10 events per second; a slow run still gets a keep-alive
      // event every few seconds.
      absl::StatusOr<v1::Run> run =
          c_->WaitForRunChange(request->run_id(), &version, absl::Now() + absl::Seconds(5));
      if (!run.ok()) return run.status();
      v1::RunEvent event;
      const absl::Time now = absl::Now();
      *event.mutable_time() = TimeToProto(now);
      *event.mutable_run() = *std::move(run);
      if (!writer->Write(event)) return absl::CancelledError("client went away");
      const auto state = event.run().state();
      if (state == v1::RUN_STATE_SUCCEEDED || state == v1::RUN_STATE_FAILED ||
          state == v1::RUN_STATE_CANCELLED) {
        return absl::OkStatus();
      }
      const absl::Duration since = now - last_sent;
      last_sent = now;
      if (since < absl::Milliseconds(100)) absl::SleepFor(absl::Milliseconds(100) - since);
    }
    return absl::CancelledError("client went away");
  });
}

grpc::Status EvaluationServiceImpl::GetResults(grpc::ServerContext*,
                                               const v1::GetResultsRequest* request,
                                               v1::Results* out) {
  return Handle(metrics_, "GetResults",
                [&] { return Assign(c_->GetResults(request->run_id()), out); });
}

grpc::Status EvaluationServiceImpl::GetSampleResults(grpc::ServerContext*,
                                                     const v1::GetSampleResultsRequest* request,
                                                     v1::SampleResults* out) {
  return Handle(metrics_, "GetSampleResults",
                [&] { return Assign(coordinator::GetSampleResults(*c_, *request), out); });
}

grpc::Status EvaluationServiceImpl::CompareRuns(grpc::ServerContext*,
                                                const v1::CompareRunsRequest* request,
                                                v1::Comparison* out) {
  return Handle(metrics_, "CompareRuns",
                [&] { return Assign(coordinator::CompareRuns(*c_, *request), out); });
}

grpc::Status EvaluationServiceImpl::ListDatasets(grpc::ServerContext*,
                                                 const v1::ListDatasetsRequest*,
                                                 v1::ListDatasetsResponse* out) {
  return Handle(metrics_, "ListDatasets", [&] {
    for (v1::DatasetInfo& d : c_->catalog().ListDatasets()) *out->add_datasets() = std::move(d);
    return absl::OkStatus();
  });
}

grpc::Status EvaluationServiceImpl::ListSuites(grpc::ServerContext*, const v1::ListSuitesRequest*,
                                               v1::ListSuitesResponse* out) {
  return Handle(metrics_, "ListSuites", [&] {
    for (v1::SuiteInfo& s : c_->catalog().ListSuites()) *out->add_suites() = std::move(s);
    return absl::OkStatus();
  });
}

// ---- WorkerService -------------------------------------------------------------

grpc::Status WorkerServiceImpl::Register(grpc::ServerContext*, const v1::RegisterRequest* request,
                                         v1::RegisterResponse* out) {
  return Handle(metrics_, "Register", [&] { return Assign(c_->Register(*request), out); });
}

grpc::Status WorkerServiceImpl::Lease(grpc::ServerContext*, const v1::LeaseRequest* request,
                                      v1::LeaseResponse* out) {
  return Handle(metrics_, "Lease", [&] { return Assign(c_->Lease(*request), out); });
}

grpc::Status WorkerServiceImpl::Heartbeat(grpc::ServerContext*, const v1::HeartbeatRequest* request,
                                          v1::HeartbeatResponse* out) {
  return Handle(metrics_, "Heartbeat", [&] { return Assign(c_->Heartbeat(*request), out); });
}

grpc::Status WorkerServiceImpl::ReportOutputs(grpc::ServerContext*,
                                              grpc::ServerReader<v1::ReportOutputsRequest>* reader,
                                              v1::ReportOutputsResponse* out) {
  return Handle(metrics_, "ReportOutputs", [&]() -> absl::Status {
    v1::ReportOutputsRequest message;
    int64_t job_id = 0;
    int64_t token = 0;
    int index = 0;
    while (reader->Read(&message)) {
      if (index > 0 && (message.job_id() != job_id || message.fencing_token() != token)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "message ", index, ": job_id/fencing_token differ from the stream's first message"));
      }
      job_id = message.job_id();
      token = message.fencing_token();
      absl::StatusOr<v1::ReportOutputsResponse> r = c_->ReportOutputs(message);
      if (!r.ok()) return r.status();
      *out = *std::move(r);
      ++index;
    }
    return absl::OkStatus();
  });
}

grpc::Status WorkerServiceImpl::GetReportState(grpc::ServerContext*,
                                               const v1::GetReportStateRequest* request,
                                               v1::GetReportStateResponse* out) {
  return Handle(metrics_, "GetReportState",
                [&] { return Assign(c_->GetReportState(*request), out); });
}

// ---- AdminService --------------------------------------------------------------

grpc::Status AdminServiceImpl::ListWorkers(grpc::ServerContext*, const v1::ListWorkersRequest*,
                                           v1::ListWorkersResponse* out) {
  return Handle(metrics_, "ListWorkers", [&] { return Assign(c_->ListWorkers(), out); });
}

grpc::Status AdminServiceImpl::DrainWorker(grpc::ServerContext*,
                                           const v1::DrainWorkerRequest* request,
                                           v1::DrainWorkerResponse* out) {
  return Handle(metrics_, "DrainWorker", [&]() -> absl::Status {
    if (request->worker_id().empty()) return absl::InvalidArgumentError("worker_id is empty");
    absl::StatusOr<v1::WorkerInfo> info = c_->DrainWorker(request->worker_id());
    if (!info.ok()) return info.status();
    *out->mutable_worker() = *std::move(info);
    return absl::OkStatus();
  });
}

}  // namespace proctor::coordinator
