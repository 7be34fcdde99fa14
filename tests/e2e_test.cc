// End to end with the real CPU engine and a real model (stories260K, from
// shared/data/models): a coordinator process and two worker processes must
// score a run exactly like the one-process `proctor eval`; a corrupt model file
// fails the run with a reason naming the file; a worker killed while loading
// its model costs nothing but time.
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "coordinator/store/sqlite_store.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/testing/cluster.h"

namespace proctor::testing {
namespace {

using ::testing::HasSubstr;

std::string StoriesModel() {
  const char* shared = std::getenv("PROCTOR_SHARED_DATA");
  if (shared == nullptr) return "";
  const std::string path = absl::StrCat(shared, "/models/stories260K/stories260K.gguf");
  return std::filesystem::exists(path) ? path : "";
}

v1::RunSpec StoriesSpec(const std::string& model) {
  v1::RunSpec spec;
  spec.mutable_model()->set_name("stories260K");
  spec.mutable_model()->set_path(model);
  spec.set_suite("smoke");
  spec.set_limit(6);
  return spec;
}

// Runs a command, returns its stdout (stderr goes to `log`).
std::string Capture(const std::string& command, const std::string& log, int* exit_code) {
  std::string out;
  FILE* pipe = ::popen(absl::StrCat(command, " 2>>", log).c_str(), "r");
  if (pipe == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
  const int status = ::pclose(pipe);
  *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

class EndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (BuildDir().empty()) GTEST_SKIP() << "PROCTOR_BUILD_DIR not set (run through ctest)";
    if (DatasetsDir().empty() || StoriesModel().empty()) {
      GTEST_SKIP() << "shared datasets or stories260K not found (set PROCTOR_SHARED_DATA)";
    }
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    cluster_ = std::make_unique<TestCluster>(
        absl::StrCat(::testing::TempDir(), "/e2e_test_", ::getpid(), "_", info->name()));
  }
  std::unique_ptr<TestCluster> cluster_;
};

TEST_F(EndToEndTest, ClusterScoresEqualInProcessEval) {
  const std::string model = StoriesModel();
  // 1. The one-process evaluation.
  int rc = -1;
  const std::string json = Capture(
      absl::StrCat(BuildDir(), "/bin/proctor eval --engine cpu --threads 1 --model ", model,
                   " --model-name stories260K --suite smoke --limit 6 --data-dir ", DatasetsDir(),
                   " --store-dir ", cluster_->dir(), "/embedded --format json"),
      cluster_->dir() + "/eval.log", &rc);
  ASSERT_EQ(rc, 0) << ReadFileOrEmpty(cluster_->dir() + "/eval.log");
  v1::Results embedded;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &embedded).ok()) << json;
  ASSERT_GE(embedded.sets_size(), 4);

  // 2. The same run on a coordinator and two worker processes.
  ASSERT_TRUE(cluster_->StartCoordinator({"--job_token_budget=2000"}).ok())
      << cluster_->CoordinatorLog();
  for (const char* name : {"cpu0", "cpu1"}) {
    ASSERT_TRUE(cluster_->StartWorker(name, {"--backend=cpu", "--threads=1"}).ok());
  }
  auto run = cluster_->Submit(StoriesSpec(model));
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_GT(run->progress().jobs_total(), 1);
  auto done = cluster_->WaitForRun(run->run_id(), absl::Minutes(5));
  ASSERT_TRUE(done.ok()) << done.status() << cluster_->CoordinatorLog();
  ASSERT_EQ(done->state(), v1::RUN_STATE_SUCCEEDED) << done->failure_reason();
  auto results = cluster_->Results(run->run_id());
  ASSERT_TRUE(results.ok()) << results.status();

  for (v1::Results* r : {&embedded, &*results}) {
    r->clear_run_id();
    r->clear_computed_at();
  }
  std::string diff;
  google::protobuf::util::MessageDifferencer differ;
  differ.ReportDifferencesToString(&diff);
  EXPECT_TRUE(differ.Compare(embedded, *results)) << diff;
}

TEST_F(EndToEndTest, CorruptModelFileFailsTheRunWithItsName) {
  const std::string corrupt = cluster_->dir() + "/corrupt.gguf";
  {
    std::ifstream in(StoriesModel(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(corrupt, std::ios::binary) << bytes.substr(0, bytes.size() / 3);
  }
  ASSERT_TRUE(cluster_->StartCoordinator({"--max_attempts=2", "--lease_ttl=5s"}).ok())
      << cluster_->CoordinatorLog();
  ASSERT_TRUE(cluster_->StartWorker("cpu0", {"--backend=cpu", "--threads=1"}).ok());
  auto run = cluster_->Submit(StoriesSpec(corrupt));
  ASSERT_TRUE(run.ok()) << run.status();
  auto done = cluster_->WaitForRun(run->run_id(), absl::Minutes(2));
  ASSERT_TRUE(done.ok()) << done.status() << cluster_->CoordinatorLog();
  EXPECT_EQ(done->state(), v1::RUN_STATE_FAILED);
  EXPECT_THAT(done->failure_reason(), HasSubstr("FAILED_PRECONDITION"));
  EXPECT_THAT(done->failure_reason(), HasSubstr("corrupt.gguf"));
  EXPECT_EQ(done->progress().requests_done(), 0);
}

TEST_F(EndToEndTest, WorkerKilledDuringModelLoad) {
  ASSERT_TRUE(cluster_->StartCoordinator({"--lease_ttl=2s", "--heartbeat_interval=300ms"}).ok())
      << cluster_->CoordinatorLog();
  const std::vector<std::string> slow_load = {"--scripted_load_delay_ms=3000"};
  ASSERT_TRUE(cluster_->StartWorker("loader", slow_load).ok());
  v1::RunSpec spec = StoriesSpec(StoriesModel());
  spec.set_limit(3);
  auto run = cluster_->Submit(spec);
  ASSERT_TRUE(run.ok()) << run.status();
  // Wait until the worker is loading, then kill it.
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (absl::Now() < deadline &&
         cluster_->WorkerLog("loader").find("leased job") == std::string::npos) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_THAT(cluster_->WorkerLog("loader"), HasSubstr("leased job"));
  absl::SleepFor(absl::Milliseconds(300));
  cluster_->worker("loader")->Kill();
  ASSERT_TRUE(cluster_->StartWorker("fresh").ok());
  auto done = cluster_->WaitForRun(run->run_id(), absl::Minutes(2));
  ASSERT_TRUE(done.ok()) << done.status() << cluster_->CoordinatorLog();
  EXPECT_EQ(done->state(), v1::RUN_STATE_SUCCEEDED) << done->failure_reason();
  EXPECT_EQ(done->progress().requests_done(), done->progress().requests_total());
  cluster_->KillCoordinator();
  auto store = coordinator::SqliteStore::Open(cluster_->store_path());
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ(*(*store)->CountOutputs(run->run_id()), done->progress().requests_total());
}

}  // namespace
}  // namespace proctor::testing
