#include "tests/testing/cluster.h"

#include <grpcpp/grpcpp.h>

#include <cstdlib>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_status.h"

namespace proctor::testing {
namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

void SetDeadline(grpc::ClientContext& ctx, absl::Duration d) {
  ctx.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::milliseconds(absl::ToInt64Milliseconds(d)));
}

bool IsTerminal(v1::RunState s) {
  return s == v1::RUN_STATE_SUCCEEDED || s == v1::RUN_STATE_FAILED ||
         s == v1::RUN_STATE_CANCELLED;
}

}  // namespace

std::string BuildDir() { return Env("PROCTOR_BUILD_DIR"); }

std::string DatasetsDir() {
  const std::string shared = Env("PROCTOR_SHARED_DATA");
  if (shared.empty()) return "";
  const std::string d = shared + "/datasets";
  return std::filesystem::is_directory(d) ? d : "";
}

TestCluster::TestCluster(std::string dir) : dir_(std::move(dir)) {
  std::filesystem::remove_all(dir_);
  std::filesystem::create_directories(dir_);
}

TestCluster::~TestCluster() {
  workers_.clear();
  coordinator_.reset();
}

absl::Status TestCluster::StartCoordinator(const std::vector<std::string>& extra_flags) {
  KillCoordinator();
  const std::string port_file = dir_ + "/coordinator.port";
  std::filesystem::remove(port_file);
  std::vector<std::string> argv = {
      BuildDir() + "/bin/proctor-coordinator",
      absl::StrCat("--port=", port_),  // 0 the first time; the same port on restart
      "--port_file=" + port_file,
      "--store=" + store_path(),
      "--data_dir=" + DatasetsDir(),
  };
  argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
  coordinator_ = std::make_unique<Subprocess>();
  absl::Status s = coordinator_->Start(argv, dir_ + "/coordinator.log");
  if (!s.ok()) return s;
  int port = 0;
  s = ReadPortFile(port_file, absl::Seconds(30), &port, coordinator_.get());
  if (!s.ok()) {
    return absl::UnavailableError(
        absl::StrCat("coordinator did not start: ", s.message(), "\n", CoordinatorLog()));
  }
  port_ = port;
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", port_),
                                     grpc::InsecureChannelCredentials());
  evaluation_ = v1::EvaluationService::NewStub(channel);
  admin_ = v1::AdminService::NewStub(channel);
  return absl::OkStatus();
}

void TestCluster::KillCoordinator() {
  if (coordinator_) coordinator_->Kill();
}

absl::Status TestCluster::StartWorker(const std::string& name,
                                      const std::vector<std::string>& extra) {
  auto& w = workers_[name];
  if (w) w->Kill();
  w = std::make_unique<Subprocess>();
  std::vector<std::string> argv = {
      BuildDir() + "/bin/proctor-worker",
      absl::StrCat("--coordinator=127.0.0.1:", port_),
      "--name=" + name,
      "--backend=scripted",
  };
  argv.insert(argv.end(), extra.begin(), extra.end());
  return w->Start(argv, dir_ + "/worker-" + name + ".log");
}

Subprocess* TestCluster::worker(const std::string& name) {
  auto it = workers_.find(name);
  return it == workers_.end() ? nullptr : it->second.get();
}

std::string TestCluster::WorkerLog(const std::string& name) const {
  return ReadFileOrEmpty(dir_ + "/worker-" + name + ".log");
}

std::string TestCluster::CoordinatorLog() const {
  return ReadFileOrEmpty(dir_ + "/coordinator.log");
}

absl::StatusOr<v1::Run> TestCluster::Submit(const v1::RunSpec& spec) {
  grpc::ClientContext ctx;
  SetDeadline(ctx, absl::Seconds(30));
  v1::SubmitRunRequest req;
  *req.mutable_spec() = spec;
  v1::Run run;
  grpc::Status s = evaluation_->SubmitRun(&ctx, req, &run);
  if (!s.ok()) return FromGrpcStatus(s);
  return run;
}

absl::StatusOr<v1::Run> TestCluster::WaitForRun(const std::string& run_id,
                                                absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::Status last = absl::DeadlineExceededError("no answer yet");
  v1::Run run;
  while (absl::Now() < deadline) {
    grpc::ClientContext ctx;
    SetDeadline(ctx, absl::Seconds(5));
    v1::GetRunRequest req;
    req.set_run_id(run_id);
    grpc::Status s = evaluation_->GetRun(&ctx, req, &run);
    if (s.ok() && IsTerminal(run.state())) return run;
    if (!s.ok()) last = FromGrpcStatus(s);
    absl::SleepFor(absl::Milliseconds(100));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("run ", run_id, " not finished in time; last state ",
                   v1::RunState_Name(run.state()), ", jobs done ", run.progress().jobs_done(),
                   "/", run.progress().jobs_total(), "; last error: ", last.ToString()));
}

absl::StatusOr<v1::Results> TestCluster::Results(const std::string& run_id) {
  grpc::ClientContext ctx;
  SetDeadline(ctx, absl::Seconds(30));
  v1::GetResultsRequest req;
  req.set_run_id(run_id);
  v1::Results results;
  grpc::Status s = evaluation_->GetResults(&ctx, req, &results);
  if (!s.ok()) return FromGrpcStatus(s);
  return results;
}

}  // namespace proctor::testing
