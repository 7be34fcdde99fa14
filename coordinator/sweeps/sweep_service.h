// The coordinator's sweep machinery as one object: the SweepStore on the
// coordinator's store file, a RunLauncher over the Coordinator, the
// SweepManager with its timer, and the gRPC SweepService over them
// (docs/sweeps.md). CoordinatorServer owns one; destroying it stops the timer.
#ifndef PROCTOR_COORDINATOR_SWEEPS_SWEEP_SERVICE_H_
#define PROCTOR_COORDINATOR_SWEEPS_SWEEP_SERVICE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "coordinator/coordinator.h"
#include "coordinator/sweeps/sweep_manager.h"
#include "proctor/v1/sweeps.grpc.pb.h"

namespace proctor::coordinator {

// RunLauncher over a Coordinator (which must outlive it).
class CoordinatorLauncher final : public RunLauncher {
 public:
  explicit CoordinatorLauncher(Coordinator* c) : c_(c) {}
  absl::StatusOr<std::vector<v1::Run>> FindRuns(
      const std::map<std::string, std::string>& labels) override;
  absl::StatusOr<std::string> Submit(v1::RunSpec spec) override;
  // The suite and every dataset name must be in the coordinator's catalog.
  absl::Status Validate(const v1::RunSpec& spec) override;

 private:
  Coordinator* const c_;
};

// Thin gRPC adapter over SweepManager (which must outlive it).
class SweepServiceImpl final : public v1::SweepService::Service {
 public:
  explicit SweepServiceImpl(SweepManager* m) : m_(m) {}
  grpc::Status CreateSweep(grpc::ServerContext*, const v1::CreateSweepRequest*,
                           v1::Sweep*) override;
  grpc::Status GetSweep(grpc::ServerContext*, const v1::GetSweepRequest*, v1::Sweep*) override;
  grpc::Status ListSweeps(grpc::ServerContext*, const v1::ListSweepsRequest*,
                          v1::ListSweepsResponse*) override;
  grpc::Status PauseSweep(grpc::ServerContext*, const v1::PauseSweepRequest*, v1::Sweep*) override;
  grpc::Status ResumeSweep(grpc::ServerContext*, const v1::ResumeSweepRequest*,
                           v1::Sweep*) override;
  grpc::Status DeleteSweep(grpc::ServerContext*, const v1::DeleteSweepRequest*,
                           v1::DeleteSweepResponse*) override;
  grpc::Status TriggerSweep(grpc::ServerContext*, const v1::TriggerSweepRequest*,
                            v1::TriggerSweepResponse*) override;

 private:
  SweepManager* const m_;
};

class SweepsRuntime {
 public:
  // Opens the sweep tables of the store at `store_path` (already opened and
  // migrated by SqliteStore), fires due sweeps once (missed-while-down
  // firings) and starts the timer (`period`). `coordinator` and `clock` must
  // outlive the runtime.
  static absl::StatusOr<std::unique_ptr<SweepsRuntime>> Start(
      const std::string& store_path, Coordinator* coordinator, const Clock* clock,
      absl::Duration period = absl::Seconds(5));
  ~SweepsRuntime();  // stops the timer

  grpc::Service* service() { return &service_; }
  SweepManager& manager() { return manager_; }

 private:
  SweepsRuntime(std::unique_ptr<SweepStore> store, Coordinator* coordinator, const Clock* clock);

  std::unique_ptr<SweepStore> store_;
  CoordinatorLauncher launcher_;
  SweepManager manager_;
  SweepServiceImpl service_;
};

}  // namespace proctor::coordinator

#endif  // PROCTOR_COORDINATOR_SWEEPS_SWEEP_SERVICE_H_
