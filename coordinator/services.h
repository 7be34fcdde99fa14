// gRPC adapters over Coordinator: validate, call, convert the status. Each
// handler records its latency and status code in CoordinatorMetrics.
#ifndef PROCTOR_COORDINATOR_SERVICES_H_
#define PROCTOR_COORDINATOR_SERVICES_H_

#include <memory>

#include "absl/time/time.h"
#include "coordinator/coordinator.h"
#include "proctor/v1/admin.grpc.pb.h"
#include "proctor/v1/evaluation.grpc.pb.h"
#include "proctor/v1/worker.grpc.pb.h"

namespace proctor::coordinator {

class EvaluationServiceImpl final : public v1::EvaluationService::Service {
 public:
  // `coordinator` and `metrics` (nullable) must outlive the service.
  EvaluationServiceImpl(Coordinator* coordinator, CoordinatorMetrics* metrics)
      : c_(coordinator), metrics_(metrics) {}

  grpc::Status SubmitRun(grpc::ServerContext*, const v1::SubmitRunRequest*, v1::Run*) override;
  grpc::Status GetRun(grpc::ServerContext*, const v1::GetRunRequest*, v1::Run*) override;
  grpc::Status ListRuns(grpc::ServerContext*, const v1::ListRunsRequest*,
                        v1::ListRunsResponse*) override;
  grpc::Status CancelRun(grpc::ServerContext*, const v1::CancelRunRequest*, v1::Run*) override;
  grpc::Status WatchRun(grpc::ServerContext*, const v1::WatchRunRequest*,
                        grpc::ServerWriter<v1::RunEvent>*) override;
  grpc::Status GetResults(grpc::ServerContext*, const v1::GetResultsRequest*,
                          v1::Results*) override;
  grpc::Status ListDatasets(grpc::ServerContext*, const v1::ListDatasetsRequest*,
                            v1::ListDatasetsResponse*) override;
  grpc::Status ListSuites(grpc::ServerContext*, const v1::ListSuitesRequest*,
                          v1::ListSuitesResponse*) override;
  grpc::Status GetSampleResults(grpc::ServerContext*, const v1::GetSampleResultsRequest*,
                                v1::SampleResults*) override;
  grpc::Status CompareRuns(grpc::ServerContext*, const v1::CompareRunsRequest*,
                           v1::Comparison*) override;

 private:
  Coordinator* const c_;
  CoordinatorMetrics* const metrics_;
};

class WorkerServiceImpl final : public v1::WorkerService::Service {
 public:
  WorkerServiceImpl(Coordinator* coordinator, CoordinatorMetrics* metrics)
      : c_(coordinator), metrics_(metrics) {}

  grpc::Status Register(grpc::ServerContext*, const v1::RegisterRequest*,
                        v1::RegisterResponse*) override;
  grpc::Status Lease(grpc::ServerContext*, const v1::LeaseRequest*, v1::LeaseResponse*) override;
  grpc::Status Heartbeat(grpc::ServerContext*, const v1::HeartbeatRequest*,
                         v1::HeartbeatResponse*) override;
  grpc::Status ReportOutputs(grpc::ServerContext*, grpc::ServerReader<v1::ReportOutputsRequest>*,
                             v1::ReportOutputsResponse*) override;
  grpc::Status GetReportState(grpc::ServerContext*, const v1::GetReportStateRequest*,
                              v1::GetReportStateResponse*) override;

 private:
  Coordinator* const c_;
  CoordinatorMetrics* const metrics_;
};

class AdminServiceImpl final : public v1::AdminService::Service {
 public:
  AdminServiceImpl(Coordinator* coordinator, CoordinatorMetrics* metrics)
      : c_(coordinator), metrics_(metrics) {}

  grpc::Status ListWorkers(grpc::ServerContext*, const v1::ListWorkersRequest*,
                           v1::ListWorkersResponse*) override;
  grpc::Status DrainWorker(grpc::ServerContext*, const v1::DrainWorkerRequest*,
                           v1::DrainWorkerResponse*) override;

 private:
  Coordinator* const c_;
  CoordinatorMetrics* const metrics_;
};

}  // namespace proctor::coordinator

#endif  // PROCTOR_COORDINATOR_SERVICES_H_
