// Integration and fault tests on a real cluster: a proctor-coordinator
// process and proctor-worker processes (scripted engine, the deterministic
// test double of the model) over loopback, on the real smoke datasets.
//
// Every faulty run must end with exactly one stored output per request and
// the same results as a fault-free run.
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/grpcpp.h"
#include "coordinator/store/sqlite_store.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/testing/cluster.h"

namespace proctor::testing {
namespace {

using ::testing::HasSubstr;

// Coordinator settings that make faults visible in seconds.
const std::vector<std::string> kFastCoordinator = {
    "--lease_ttl=2s", "--heartbeat_interval=300ms", "--job_token_budget=1500",
    "--max_attempts=20"};

v1::RunSpec SmokeSpec() {
  v1::RunSpec spec;
  spec.mutable_model()->set_name("scripted-model");
  spec.set_suite("smoke");
  spec.set_limit(12);
  spec.set_seed(7);
  return spec;
}

// Results without the fields that legitimately differ between runs.
v1::Results Comparable(v1::Results r) {
  r.clear_run_id();
  r.clear_computed_at();
  return r;
}

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (BuildDir().empty()) GTEST_SKIP() << "PROCTOR_BUILD_DIR not set (run through ctest)";
    if (DatasetsDir().empty()) {
      GTEST_SKIP() << "shared datasets not found (set PROCTOR_SHARED_DATA)";
    }
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    cluster_ = std::make_unique<TestCluster>(
        absl::StrCat(::testing::TempDir(), "/cluster_test_", ::getpid(), "_", info->name()));
  }

  // The results of a fault-free run of `spec` (computed once per process).
  const v1::Results& Reference() {
    static v1::Results* reference = [] {
      TestCluster clean(absl::StrCat(::testing::TempDir(), "/cluster_test_", ::getpid(),
                                     "_reference"));
      auto* out = new v1::Results();
      if (!clean.StartCoordinator(kFastCoordinator).ok()) return out;
      for (int i = 0; i < 3; ++i) clean.StartWorker(absl::StrCat("ref", i)).IgnoreError();
      auto run = clean.Submit(SmokeSpec());
      if (!run.ok()) return out;
      auto done = clean.WaitForRun(run->run_id(), absl::Minutes(2));
      if (!done.ok() || done->state() != v1::RUN_STATE_SUCCEEDED) return out;
      auto results = clean.Results(run->run_id());
      if (results.ok()) *out = Comparable(*results);
      return out;
    }();
    return *reference;
  }

  // Exactly one output per request and one score per sample, in the store.
  void ExpectExactlyOnce(const v1::Run& run) {
    EXPECT_EQ(run.progress().requests_done(), run.progress().requests_total());
    cluster_->KillCoordinator();  // the store is read by this process now
    auto store = coordinator::SqliteStore::Open(cluster_->store_path());
    ASSERT_TRUE(store.ok()) << store.status();
    EXPECT_EQ(*(*store)->CountOutputs(run.run_id()), run.progress().requests_total());
    auto samples = (*store)->LoadSamples(run.run_id());
    auto scores = (*store)->LoadScores(run.run_id());
    ASSERT_TRUE(samples.ok() && scores.ok());
    EXPECT_EQ(scores->size(), samples->size());
  }

  void ExpectReferenceResults(const std::string& run_id) {
    ASSERT_GT(Reference().sets_size(), 0) << "the fault-free reference run failed";
    auto results = cluster_->Results(run_id);
    ASSERT_TRUE(results.ok()) << results.status();
    std::string diff;
    google::protobuf::util::MessageDifferencer differ;
    differ.ReportDifferencesToString(&diff);
    EXPECT_TRUE(differ.Compare(Reference(), Comparable(*results))) << diff;
  }

  std::unique_ptr<TestCluster> cluster_;
};

TEST_F(ClusterTest, ThreeWorkersCompleteARun) {
  ASSERT_TRUE(cluster_->StartCoordinator(kFastCoordinator).ok()) << cluster_->CoordinatorLog();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(cluster_->StartWorker(absl::StrCat("w", i)).ok());
  auto run = cluster_->Submit(SmokeSpec());
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_GT(run->progress().jobs_total(), 3);
  auto done = cluster_->WaitForRun(run->run_id(), absl::Minutes(2));
  ASSERT_TRUE(done.ok()) << done.status() << cluster_->CoordinatorLog();
  EXPECT_EQ(done->state(), v1::RUN_STATE_SUCCEEDED) << done->failure_reason();
  auto results = cluster_->Results(run->run_id());
  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_GE(results->sets_size(), 4);
  for (const auto& set : results->sets()) {
    EXPECT_TRUE(set.complete()) << set.dataset();
    EXPECT_EQ(set.num_samples(), 12) << set.dataset();
  }
  // More than one worker took part.
  int busy_workers = 0;
  for (int i = 0; i < 3; ++i) {
    busy_workers += cluster_->WorkerLog(absl::StrCat("w", i)).find("job ") != std::string::npos;
  }
  EXPECT_GE(busy_workers, 2);
  ExpectReferenceResults(run->run_id());
  ExpectExactlyOnce(*done);
}

TEST_F(ClusterTest, WorkersKilledMidJobRepeatedly) {
  ASSERT_TRUE(cluster_->StartCoordinator(kFastCoordinator).ok()) << cluster_->CoordinatorLog();
  const std::vector<std::string> slow = {"--scripted_delay_ms=40"};
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(cluster_->StartWorker(absl::StrCat("w", i), slow).ok());
  auto run = cluster_->Submit(SmokeSpec());
  ASSERT_TRUE(run.ok()) << run.status();
  std::mt19937 rng(42);
  for (int kill = 0; kill < 4; ++kill) {
    absl::SleepFor(absl::Milliseconds(400));
    const std::string victim = absl::StrCat("w", rng() % 3);
    cluster_->worker(victim)->Kill();
    ASSERT_TRUE(cluster_->StartWorker(victim, slow).ok());
  }
  auto done = cluster_->WaitForRun(run->run_id(), absl::Minutes(3));
  ASSERT_TRUE(done.ok()) << done.status() << cluster_->CoordinatorLog();
  EXPECT_EQ(done->state(), v1::RUN_STATE_SUCCEEDED) << done->failure_reason();
  ExpectReferenceResults(run->run_id());
  ExpectExactlyOnce(*done);
}

TEST_F(ClusterTest, CoordinatorKilledAndRestartedMidRun) {
  ASSERT_TRUE(cluster_->StartCoordinator(kFastCoordinator).ok()) << cluster_->CoordinatorLog();
  const std::vector<std::string> slow = {"--scripted_delay_ms=30"};
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(cluster_->StartWorker(absl::StrCat("w", i), slow).ok());
  auto run = cluster_->Submit(SmokeSpec());
  ASSERT_TRUE(run.ok()) << run.status();
  for (int restart = 0; restart < 2; ++restart) {
    absl::SleepFor(absl::Milliseconds(700));
    cluster_->KillCoordinator();
    absl::SleepFor(absl::Milliseconds(300));
    ASSERT_TRUE(cluster_->StartCoordinator(kFastCoordinator).ok()) << cluster_->CoordinatorLog();
  }
  auto done = cluster_->WaitForRun(run->run_id(), absl::Minutes(3));
  ASSERT_TRUE(done.ok()) << done.status() << cluster_->CoordinatorLog();
  EXPECT_EQ(done->state(), v1::RUN_STATE_SUCCEEDED) << done->failure_reason();
  EXPECT_THAT(cluster_->CoordinatorLog(), HasSubstr("recovered"));
  ExpectReferenceResults(run->run_id());
  ExpectExactlyOnce(*done);
}

TEST_F(ClusterTest, PausedWorkerReportsUnderStaleToken) {
  ASSERT_TRUE(cluster_->StartCoordinator(kFastCoordinator).ok()) << cluster_->CoordinatorLog();
  ASSERT_TRUE(cluster_->StartWorker("sleepy", {"--scripted_delay_ms=60"}).ok());
  auto run = cluster_->Submit(SmokeSpec());
  ASSERT_TRUE(run.ok()) << run.status();
  // Wait until the worker holds a lease, then freeze it past the lease TTL.
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  bool leased = false;
  while (!leased && absl::Now() < deadline) {
    grpc::ClientContext ctx;
    v1::ListWorkersResponse workers;
    if (cluster_->admin()->ListWorkers(&ctx, v1::ListWorkersRequest(), &workers).ok()) {
      for (const auto& w : workers.workers()) leased = leased || w.leased_job_ids_size() > 0;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_TRUE(leased);
  cluster_->worker("sleepy")->Signal(SIGSTOP);
  ASSERT_TRUE(cluster_->StartWorker("helper", {"--scripted_delay_ms=5"}).ok());
  absl::SleepFor(absl::Seconds(4));  // > TTL: the job is re-leased to "helper"
  cluster_->worker("sleepy")->Signal(SIGCONT);
  auto done = cluster_->WaitForRun(run->run_id(), absl::Minutes(3));
  ASSERT_TRUE(done.ok()) << done.status() << cluster_->CoordinatorLog();
  EXPECT_EQ(done->state(), v1::RUN_STATE_SUCCEEDED) << done->failure_reason();
  EXPECT_THAT(cluster_->CoordinatorLog(), HasSubstr("lease expired"));
  // The thawed worker learns it lost the lease either from its heartbeat or
  // from a report refused for its stale token; both stop it cleanly.
  absl::SleepFor(absl::Milliseconds(500));
  const std::string log = cluster_->WorkerLog("sleepy");
  EXPECT_TRUE(log.find("stale fencing token") != std::string::npos ||
              log.find("no longer recognises the lease") != std::string::npos)
      << log;
  ExpectReferenceResults(run->run_id());
  ExpectExactlyOnce(*done);
}

// The late report itself, made deterministic: a raw WorkerService client
// leases a job, goes silent past the TTL, a real worker finishes the job, then
// the raw client reports under its old token.
TEST_F(ClusterTest, LateReportUnderStaleTokenChangesNothing) {
  ASSERT_TRUE(cluster_->StartCoordinator(kFastCoordinator).ok()) << cluster_->CoordinatorLog();
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", cluster_->port()),
                                     grpc::InsecureChannelCredentials());
  auto stub = v1::WorkerService::NewStub(channel);
  v1::RegisterRequest reg;
  reg.set_worker_name("ghost");
  reg.mutable_capabilities()->set_backend("cpu");
  v1::RegisterResponse registered;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub->Register(&ctx, reg, &registered).ok());
  }
  auto run = cluster_->Submit(SmokeSpec());
  ASSERT_TRUE(run.ok()) << run.status();
  v1::LeaseResponse lease;
  {
    grpc::ClientContext ctx;
    v1::LeaseRequest req;
    req.set_worker_id(registered.worker_id());
    ASSERT_TRUE(stub->Lease(&ctx, req, &lease).ok());
    ASSERT_TRUE(lease.has_job());
  }
  absl::SleepFor(absl::Seconds(3));  // > lease TTL, no heartbeat
  ASSERT_TRUE(cluster_->StartWorker("w0").ok());
  auto done = cluster_->WaitForRun(run->run_id(), absl::Minutes(2));
  ASSERT_TRUE(done.ok()) << done.status();
  ASSERT_EQ(done->state(), v1::RUN_STATE_SUCCEEDED);
  grpc::ClientContext ctx;
  v1::ReportOutputsResponse ack;
  auto writer = stub->ReportOutputs(&ctx, &ack);
  v1::ReportOutputsRequest msg;
  msg.set_job_id(lease.job().job_id());
  msg.set_fencing_token(lease.job().fencing_token());
  for (const auto& r : lease.job().requests()) {
    auto* o = msg.add_outputs();
    o->set_request_id(r.request_id());
    o->mutable_generate()->set_text("a different answer");
  }
  msg.set_complete(true);
  writer->Write(msg);
  writer->WritesDone();
  grpc::Status status = writer->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("stale fencing token"));
  ExpectReferenceResults(run->run_id());
  ExpectExactlyOnce(*done);
}

TEST_F(ClusterTest, MetricsEndpointCountsTheRun) {
  const std::string port_file = cluster_->dir() + "/metrics.port";
  ASSERT_TRUE(cluster_
                  ->StartCoordinator({"--metrics_address=127.0.0.1:0",
                                      "--metrics_port_file=" + port_file})
                  .ok())
      << cluster_->CoordinatorLog();
  int metrics_port = 0;
  ASSERT_TRUE(ReadPortFile(port_file, absl::Seconds(10), &metrics_port).ok());
  ASSERT_TRUE(cluster_->StartWorker("w0").ok());
  auto run = cluster_->Submit(SmokeSpec());
  ASSERT_TRUE(run.ok()) << run.status();
  auto done = cluster_->WaitForRun(run->run_id(), absl::Minutes(2));
  ASSERT_TRUE(done.ok()) << done.status();
  const std::string cmd = absl::StrCat("curl -sf http://127.0.0.1:", metrics_port, "/metrics");
  const std::vector<std::string> expected = {
      absl::StrCat("proctor_coordinator_outputs_ingested_total ",
                   done->progress().requests_total()),
      "proctor_coordinator_runs{state=\"succeeded\"} 1",
      "proctor_coordinator_job_transitions_total{event=\"complete\"}",
      "proctor_rpc_server_handling_seconds_count{code=\"OK\",method=\"Lease\"}",
      "proctor_coordinator_workers{state=\"idle\"} 1",
  };
  // State gauges are refreshed by the coordinator's 200 ms tick: poll.
  std::string body;
  for (int attempt = 0; attempt < 50; ++attempt) {
    body.clear();
    if (FILE* pipe = ::popen(cmd.c_str(), "r")) {
      char buf[4096];
      size_t n;
      while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) body.append(buf, n);
      ::pclose(pipe);
    }
    bool all = !body.empty();
    for (const std::string& e : expected) all = all && body.find(e) != std::string::npos;
    if (all) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_FALSE(body.empty()) << "no answer from " << cmd;
  for (const std::string& e : expected) EXPECT_THAT(body, HasSubstr(e));
  // Never an id as a label.
  EXPECT_THAT(body, ::testing::Not(HasSubstr(run->run_id())));
}

TEST_F(ClusterTest, BadArgumentsOverTheWire) {
  ASSERT_TRUE(cluster_->StartCoordinator().ok()) << cluster_->CoordinatorLog();
  v1::RunSpec spec = SmokeSpec();
  spec.set_suite("no-such-suite");
  auto r = cluster_->Submit(spec);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("spec.suite"));
  spec = SmokeSpec();
  spec.mutable_model()->Clear();
  EXPECT_THAT(cluster_->Submit(spec).status().message(), HasSubstr("spec.model"));
  spec = SmokeSpec();
  spec.set_limit(-3);
  EXPECT_THAT(cluster_->Submit(spec).status().message(), HasSubstr("spec.limit"));
  spec = SmokeSpec();
  spec.add_datasets()->set_name(std::string(1 << 20, 'x'));
  EXPECT_EQ(cluster_->Submit(spec).status().code(), absl::StatusCode::kInvalidArgument);
  spec = SmokeSpec();
  spec.mutable_model()->set_name(std::string(20 << 20, 'x'));  // over the message limit
  EXPECT_EQ(cluster_->Submit(spec).status().code(), absl::StatusCode::kResourceExhausted);
  auto missing = cluster_->WaitForRun("run-does-not-exist", absl::Milliseconds(300));
  EXPECT_FALSE(missing.ok());
}

TEST_F(ClusterTest, CorruptStoreFailsStartupAndIsNotTouched) {
  const std::string store = cluster_->store_path();
  {
    std::ofstream out(store, std::ios::binary);
    out << "SQLite format 3" << std::string(5000, '\x7f');
  }
  const std::string before = ReadFileOrEmpty(store);
  EXPECT_FALSE(cluster_->StartCoordinator().ok());
  EXPECT_THAT(cluster_->CoordinatorLog(), HasSubstr(store));
  EXPECT_EQ(ReadFileOrEmpty(store), before);
}

}  // namespace
}  // namespace proctor::testing
