// The result cache end to end (issue 8): a real proctor-coordinator process
// and a real proctor-worker process (scripted engine) on loopback. A sweep
// over two model files fires twice; between the firings one file is
// overwritten. The second firing must lease jobs only for the changed model,
// answer the other one entirely from the cache, and give the same results.
//
// The scripted engine opens no weights, but the worker hashes the files it is
// pointed at exactly as for a real engine, which is all the cache looks at.
#include <filesystem>
#include <fstream>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/grpc_status.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proctor/v1/sweeps.grpc.pb.h"
#include "tests/testing/cluster.h"

namespace proctor::testing {
namespace {

v1::Results Comparable(v1::Results r) {
  r.clear_run_id();
  r.clear_computed_at();
  return r;
}

// Lines of the worker log that say it leased a job of `run_id`.
int LeasesOfRun(const std::string& log, const std::string& run_id) {
  int n = 0;
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    if (absl::StrContains(line, "leased job") &&
        absl::StrContains(line, absl::StrCat("(run ", run_id, ","))) {
      ++n;
    }
  }
  return n;
}

class SweepCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (BuildDir().empty()) GTEST_SKIP() << "PROCTOR_BUILD_DIR not set (run through ctest)";
    if (DatasetsDir().empty()) {
      GTEST_SKIP() << "shared datasets not found (set PROCTOR_SHARED_DATA)";
    }
    cluster_ = std::make_unique<TestCluster>(
        absl::StrCat(::testing::TempDir(), "/sweep_cache_test_", ::getpid()));
    models_ = cluster_->dir() + "/models";
    std::filesystem::create_directories(models_);
    WriteModel("alpha.gguf", "alpha weights, version 1");
    WriteModel("beta.gguf", "beta weights, version 1");
    ASSERT_TRUE(cluster_
                    ->StartCoordinator(
                        {"--lease_ttl=5s", "--heartbeat_interval=300ms", "--job_token_budget=1500"})
                    .ok())
        << cluster_->CoordinatorLog();
    ASSERT_TRUE(cluster_->StartWorker("w1", {"--max_models=1", "--lease_wait=1s"}).ok());
    sweeps_ = v1::SweepService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", cluster_->port()), grpc::InsecureChannelCredentials()));
  }

  void WriteModel(const std::string& name, const std::string& content) {
    std::ofstream(models_ + "/" + name, std::ios::binary | std::ios::trunc) << content;
  }

  absl::Status CreateSweep() {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::CreateSweepRequest req;
    v1::Sweep* s = req.mutable_sweep();
    s->set_name("nightly");
    s->set_schedule("0 2 1 1 *");  // never due during the test: fired by hand
    s->set_model_glob(models_ + "/*.gguf");
    s->mutable_spec()->set_suite("smoke");
    s->mutable_spec()->set_limit(6);
    s->mutable_spec()->set_seed(7);
    v1::Sweep out;
    return FromGrpcStatus(sweeps_->CreateSweep(&ctx, req, &out));
  }

  // Fires the sweep and waits for its runs; returns model name -> run.
  std::map<std::string, v1::Run> FireAndWait() {
    std::map<std::string, v1::Run> runs;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::TriggerSweepRequest req;
    req.set_name("nightly");
    v1::TriggerSweepResponse resp;
    const absl::Status s = FromGrpcStatus(sweeps_->TriggerSweep(&ctx, req, &resp));
    EXPECT_TRUE(s.ok()) << s;
    EXPECT_EQ(resp.run_ids_size(), 2);
    for (const std::string& id : resp.run_ids()) {
      absl::StatusOr<v1::Run> run = cluster_->WaitForRun(id, absl::Minutes(2));
      EXPECT_TRUE(run.ok()) << run.status() << "\n" << cluster_->WorkerLog("w1");
      if (!run.ok()) continue;
      EXPECT_EQ(run->state(), v1::RUN_STATE_SUCCEEDED) << run->failure_reason();
      runs[run->spec().model().name()] = *run;
    }
    return runs;
  }

  std::unique_ptr<TestCluster> cluster_;
  std::unique_ptr<v1::SweepService::Stub> sweeps_;
  std::string models_;
};

TEST_F(SweepCacheTest, SecondFiringRerunsOnlyTheChangedModel) {
  ASSERT_TRUE(CreateSweep().ok());
  std::map<std::string, v1::Run> first = FireAndWait();
  ASSERT_EQ(first.size(), 2u);
  for (const auto& [model, run] : first) {
    EXPECT_GT(run.progress().requests_total(), 0);
    EXPECT_EQ(run.progress().requests_cached(), 0) << model << ": nothing is cached yet";
    EXPECT_GT(LeasesOfRun(cluster_->WorkerLog("w1"), run.run_id()), 0) << model;
  }

  // Overwrite one checkpoint in place; the next firing needs a new second.
  WriteModel("beta.gguf", "beta weights, version 2 (fine-tuned)");
  absl::SleepFor(absl::Seconds(1.1));
  std::map<std::string, v1::Run> second = FireAndWait();
  ASSERT_EQ(second.size(), 2u);
  const std::string log = cluster_->WorkerLog("w1");

  const v1::Run& alpha = second["alpha"];
  EXPECT_EQ(alpha.progress().requests_cached(), alpha.progress().requests_total())
      << "the unchanged model is answered entirely from the cache";
  EXPECT_EQ(LeasesOfRun(log, alpha.run_id()), 0) << "no job of the unchanged model is leased";

  const v1::Run& beta = second["beta"];
  EXPECT_EQ(beta.progress().requests_cached(), 0) << "a changed file never hits";
  EXPECT_GT(LeasesOfRun(log, beta.run_id()), 0) << "the changed model runs on the worker";

  // Same scores: the cached answers are the answers. (The scripted engine's
  // outputs depend on the model name, not its bytes, so beta matches too.)
  for (const char* model : {"alpha", "beta"}) {
    auto before = cluster_->Results(first[model].run_id());
    auto after = cluster_->Results(second[model].run_id());
    ASSERT_TRUE(before.ok() && after.ok());
    EXPECT_TRUE(
        google::protobuf::util::MessageDifferencer::Equals(Comparable(*before), Comparable(*after)))
        << model << "\n"
        << before->DebugString() << "\nvs\n"
        << after->DebugString();
  }
}

}  // namespace
}  // namespace proctor::testing
