// A real Proctor cluster for integration and fault tests: one
// proctor-coordinator process and N proctor-worker processes (scripted
// engine) on loopback, each with its own log under the test's directory.
#ifndef PROCTOR_TESTS_TESTING_CLUSTER_H_
#define PROCTOR_TESTS_TESTING_CLUSTER_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proctor/v1/admin.grpc.pb.h"
#include "proctor/v1/evaluation.grpc.pb.h"
#include "proctor/v1/worker.grpc.pb.h"
#include "tests/testing/subprocess.h"

namespace proctor::testing {

// Locations from the CTest environment; empty when not set.
std::string BuildDir();        // $PROCTOR_BUILD_DIR
std::string DatasetsDir();     // $PROCTOR_SHARED_DATA/datasets if it exists

class TestCluster {
 public:
  // `dir` is created and holds the store and the logs.
  explicit TestCluster(std::string dir);
  ~TestCluster();

  // Starts (or restarts, on the same store and port) the coordinator.
  absl::Status StartCoordinator(const std::vector<std::string>& extra_flags = {});
  void KillCoordinator();
  // Starts worker `name` (restarting it when it exists).
  absl::Status StartWorker(const std::string& name, const std::vector<std::string>& extra = {});
  Subprocess* worker(const std::string& name);
  std::string WorkerLog(const std::string& name) const;
  std::string CoordinatorLog() const;

  int port() const { return port_; }
  const std::string& dir() const { return dir_; }
  std::string store_path() const { return dir_ + "/store.db"; }
  v1::EvaluationService::Stub* evaluation() { return evaluation_.get(); }
  v1::AdminService::Stub* admin() { return admin_.get(); }

  absl::StatusOr<v1::Run> Submit(const v1::RunSpec& spec);
  // Polls GetRun until the run is terminal, tolerating a restarting
  // coordinator.
  absl::StatusOr<v1::Run> WaitForRun(const std::string& run_id, absl::Duration timeout);
  absl::StatusOr<v1::Results> Results(const std::string& run_id);

 private:
  std::string dir_;
  int port_ = 0;
  std::unique_ptr<Subprocess> coordinator_;
  std::map<std::string, std::unique_ptr<Subprocess>> workers_;
  std::unique_ptr<v1::EvaluationService::Stub> evaluation_;
  std::unique_ptr<v1::AdminService::Stub> admin_;
};

}  // namespace proctor::testing

#endif  // PROCTOR_TESTS_TESTING_CLUSTER_H_
