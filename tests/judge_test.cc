// End to end: HumanEval scored by judge jobs on a real proctor-coordinator and
// a real `proctor-worker --sandbox` process. The model is played by this test
// through the WorkerService API (backend "scripted", so the sandbox worker,
// registered as "cpu", only ever receives judge jobs): it answers some real
// HumanEval problems with their canonical solutions and the others with
// wrong or hostile code, so pass@1 is known exactly. A second test SIGKILLs
// the sandbox worker in the middle of a judge job.
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <functional>
#include <map>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "coordinator/store/sqlite_store.h"
#include "eval/json.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proctor/v1/worker.grpc.pb.h"
#include "tests/testing/cluster.h"
#include "worker/sandbox/sandbox.h"

namespace proctor::testing {
namespace {

struct Problem {
  std::string prompt;
  std::string canonical;
  std::string entry_point;
};

// The first `n` problems of HumanEval.jsonl.gz, in file order.
absl::StatusOr<std::vector<Problem>> ReadHumanEval(const std::string& path, size_t n) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) return absl::NotFoundError("cannot open " + path);
  std::string text;
  char buf[1 << 16];
  int got;
  while ((got = gzread(f, buf, sizeof(buf))) > 0) text.append(buf, static_cast<size_t>(got));
  gzclose(f);
  std::vector<Problem> out;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (out.size() == n) break;
    absl::StatusOr<eval::JsonValue> v = eval::ParseJson(std::string_view(line.data(), line.size()));
    if (!v.ok()) return v.status();
    const eval::JsonValue* prompt = v->Find("prompt");
    const eval::JsonValue* canonical = v->Find("canonical_solution");
    const eval::JsonValue* entry = v->Find("entry_point");
    if (prompt == nullptr || canonical == nullptr || entry == nullptr) {
      return absl::DataLossError("HumanEval record without prompt/canonical_solution");
    }
    out.push_back(Problem{prompt->str(), canonical->str(), entry->str()});
  }
  return out;
}

void SetDeadline(grpc::ClientContext& ctx, absl::Duration d) {
  ctx.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::milliseconds(absl::ToInt64Milliseconds(d)));
}

// The model: a WorkerService client that answers generate requests with
// `completion_of(prompt)`.
class ScriptedModel {
 public:
  ScriptedModel(int port, std::function<std::string(const std::string&)> completion_of)
      : completion_of_(std::move(completion_of)) {
    stub_ = v1::WorkerService::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  }
  absl::Status Register() {
    grpc::ClientContext ctx;
    SetDeadline(ctx, absl::Seconds(10));
    v1::RegisterRequest r;
    r.set_worker_name("scripted-model");
    r.mutable_capabilities()->set_backend("scripted");
    v1::RegisterResponse resp;
    grpc::Status s = stub_->Register(&ctx, r, &resp);
    if (!s.ok()) return absl::UnavailableError(s.error_message());
    worker_id_ = resp.worker_id();
    return absl::OkStatus();
  }
  // Leases and answers model jobs until none is left; returns how many.
  absl::StatusOr<int> AnswerAll() {
    int jobs = 0;
    while (true) {
      grpc::ClientContext ctx;
      SetDeadline(ctx, absl::Seconds(10));
      v1::LeaseRequest lease;
      lease.set_worker_id(worker_id_);
      v1::LeaseResponse resp;
      grpc::Status s = stub_->Lease(&ctx, lease, &resp);
      if (!s.ok()) return absl::UnavailableError(s.error_message());
      if (!resp.has_job()) return jobs;
      const v1::Job& job = resp.job();
      if (job.judge()) return absl::InternalError("the model worker got a judge job");
      v1::ReportOutputsRequest report;
      report.set_job_id(job.job_id());
      report.set_fencing_token(job.fencing_token());
      for (const v1::Request& r : job.requests()) {
        if (!r.has_generate()) return absl::InternalError("expected generate requests");
        std::string context = r.generate().context();
        if (r.prefix_index() > 0) context = job.prefixes(r.prefix_index() - 1) + context;
        v1::Output* o = report.add_outputs();
        o->set_request_id(r.request_id());
        o->mutable_generate()->set_text(completion_of_(context));
        o->mutable_generate()->set_finish_reason(v1::FINISH_REASON_EOS);
      }
      report.set_complete(true);
      grpc::ClientContext rctx;
      SetDeadline(rctx, absl::Seconds(10));
      v1::ReportOutputsResponse rresp;
      auto writer = stub_->ReportOutputs(&rctx, &rresp);
      writer->Write(report);
      writer->WritesDone();
      s = writer->Finish();
      if (!s.ok()) return absl::UnavailableError("ReportOutputs: " + s.error_message());
      ++jobs;
    }
  }

 private:
  std::function<std::string(const std::string&)> completion_of_;
  std::unique_ptr<v1::WorkerService::Stub> stub_;
  std::string worker_id_;
};

class JudgeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (BuildDir().empty()) GTEST_SKIP() << "PROCTOR_BUILD_DIR not set (run through ctest)";
    const std::string data = DatasetsDir();
    const std::string path = data + "/humaneval/HumanEval.jsonl.gz";
    if (data.empty() || !std::filesystem::exists(path)) {
      GTEST_SKIP() << "HumanEval not found under $PROCTOR_SHARED_DATA/datasets/humaneval";
    }
    auto problems = ReadHumanEval(path, 8);
    ASSERT_TRUE(problems.ok()) << problems.status();
    problems_ = *std::move(problems);
    auto sandbox = sandbox::Sandbox::Create({});
    ASSERT_TRUE(sandbox.ok()) << sandbox.status();
    isolated_ = (*sandbox)->network_isolated();
    cluster_ = std::make_unique<TestCluster>(
        ::testing::TempDir() + "/judge_test_" +
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    ASSERT_TRUE(cluster_->StartCoordinator({"--lease_ttl=3s", "--heartbeat_interval=1s"}).ok())
        << cluster_->CoordinatorLog();
  }
  void TearDown() override {
    if (HasFailure() && cluster_ != nullptr) {
      std::fprintf(stderr, "--- coordinator log ---\n%s\n--- worker log ---\n%s\n",
                   cluster_->CoordinatorLog().c_str(), cluster_->WorkerLog("sandbox").c_str());
    }
    if (cluster_ != nullptr) {
      const std::string temp_root = cluster_->dir() + "/sandbox-tmp";
      cluster_.reset();  // stops the processes first
      std::error_code ec;
      std::filesystem::remove_all(temp_root, ec);
    }
  }
  absl::Status StartSandboxWorker() {
    // Private run directories under the test's own directory, so the ones a
    // SIGKILLed worker leaves behind go away with it.
    const std::string temp_root = cluster_->dir() + "/sandbox-tmp";
    std::error_code ec;
    std::filesystem::create_directories(temp_root, ec);
    std::filesystem::permissions(temp_root, std::filesystem::perms(0755), ec);
    return cluster_->StartWorker("sandbox", {"--backend=cpu", "--sandbox", "--sandbox_parallelism=2",
                                             "--lease_wait=1s", "--sandbox_temp_root=" + temp_root});
  }
  v1::RunSpec Spec() const {
    v1::RunSpec spec;
    spec.mutable_model()->set_name("scripted-coder");
    spec.mutable_model()->set_backend("scripted");
    v1::DatasetSelection* d = spec.add_datasets();
    d->set_name("humaneval");
    d->set_limit(static_cast<int64_t>(problems_.size()));
    return spec;
  }
  // The problem whose prompt ends the generate context (the set's template
  // puts an instruction before it).
  int ProblemOf(const std::string& context) const {
    for (size_t i = 0; i < problems_.size(); ++i) {
      if (absl::EndsWith(absl::StripTrailingAsciiWhitespace(context),
                         absl::StripTrailingAsciiWhitespace(problems_[i].prompt))) {
        return static_cast<int>(i);
      }
    }
    return -1;
  }
  double PassAt1(const v1::Results& results) {
    for (const v1::SetResult& set : results.sets()) {
      if (set.dataset() != "humaneval") continue;
      EXPECT_EQ(set.num_samples(), static_cast<int64_t>(problems_.size()));
      EXPECT_TRUE(set.complete());
      for (const v1::MetricValue& m : set.metrics()) {
        if (m.name() == "pass@1") return m.value();
      }
    }
    ADD_FAILURE() << "no humaneval pass@1 in " << results.DebugString();
    return -1;
  }

  std::vector<Problem> problems_;
  bool isolated_ = false;
  std::unique_ptr<TestCluster> cluster_;
};

TEST_F(JudgeTest, HumanEvalPassAt1IsExactlyTheCorrectFraction) {
  ASSERT_TRUE(StartSandboxWorker().ok());
  auto run = cluster_->Submit(Spec());
  ASSERT_TRUE(run.ok()) << run.status();
  const std::string outside = absl::StrCat("/tmp/proctor-judge-test-escape-", getpid());
  std::filesystem::remove(outside);
  // Even problems: the canonical solution. Odd ones: wrong or hostile.
  auto completion_of = [this, &outside](const std::string& context) -> std::string {
    const int i = ProblemOf(context);
    if (i < 0) return "    raise SystemExit('unknown prompt')\n";
    const std::string& ok = problems_[static_cast<size_t>(i)].canonical;
    switch (i) {
      case 1:
        return "    return None\n";  // wrong
      case 3:
        return "    while True:\n        pass\n";  // hangs
      case 5:                                      // fork bomb
        return "    import os\n    while True:\n        try:\n            os.fork()\n"
               "        except OSError:\n            pass\n";
      case 7:  // a correct answer that first writes outside its directory
        return absl::StrCat("    open('", outside, "', 'w').write('escaped')\n", ok);
      default:
        return ok;
    }
  };
  ScriptedModel model(cluster_->port(), completion_of);
  ASSERT_TRUE(model.Register().ok());
  auto answered = model.AnswerAll();
  ASSERT_TRUE(answered.ok()) << answered.status();
  EXPECT_GE(*answered, 1);
  auto done = cluster_->WaitForRun(run->run_id(), absl::Seconds(90));
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state(), v1::RUN_STATE_SUCCEEDED) << done->failure_reason();
  EXPECT_EQ(done->progress().requests_done(), 2 * static_cast<int64_t>(problems_.size()));
  auto results = cluster_->Results(run->run_id());
  ASSERT_TRUE(results.ok()) << results.status();
  // Problems 0, 2, 4, 6 pass; 7 passes only where the filesystem is not
  // read-only (a host without namespaces).
  const double expected = isolated_ ? 50.0 : 62.5;
  EXPECT_DOUBLE_EQ(PassAt1(*results), expected);
  if (isolated_) {
    EXPECT_FALSE(std::filesystem::exists(outside)) << "a program wrote " << outside;
  }
  std::filesystem::remove(outside);
}

TEST_F(JudgeTest, JudgeJobSurvivesASigkilledWorker) {
  ASSERT_TRUE(StartSandboxWorker().ok());
  auto run = cluster_->Submit(Spec());
  ASSERT_TRUE(run.ok()) << run.status();
  // Every answer is right but slow, so the judge job is still running when
  // the worker is killed.
  ScriptedModel model(cluster_->port(), [this](const std::string& context) {
    const int i = ProblemOf(context);
    if (i < 0) return std::string("    raise SystemExit('unknown prompt')\n");
    // Sleeps once per program (the tests call the function many times).
    return absl::StrCat(
        "    if '_slept' not in globals():\n"
        "        globals()['_slept'] = __import__('time').sleep(0.7)\n",
        problems_[static_cast<size_t>(i)].canonical);
  });
  ASSERT_TRUE(model.Register().ok());
  ASSERT_TRUE(model.AnswerAll().ok());
  // Wait until the sandbox worker holds a judge job, then SIGKILL it.
  bool leased = false;
  for (int i = 0; i < 100 && !leased; ++i) {
    grpc::ClientContext ctx;
    SetDeadline(ctx, absl::Seconds(5));
    v1::ListWorkersResponse workers;
    if (cluster_->admin()->ListWorkers(&ctx, v1::ListWorkersRequest(), &workers).ok()) {
      for (const v1::WorkerInfo& w : workers.workers()) {
        if (w.worker_name() == "sandbox" && w.leased_job_ids_size() > 0) leased = true;
      }
    }
    if (!leased) absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_TRUE(leased) << "the sandbox worker never leased the judge job";
  absl::SleepFor(absl::Milliseconds(1500));  // some programs finished, some running
  cluster_->worker("sandbox")->Kill();
  // The killed worker's sandboxed programs die with it.
  absl::SleepFor(absl::Milliseconds(300));
  ASSERT_TRUE(StartSandboxWorker().ok());
  auto done = cluster_->WaitForRun(run->run_id(), absl::Seconds(90));
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state(), v1::RUN_STATE_SUCCEEDED) << done->failure_reason();
  // Every judge output stored once: no duplicates, no losses.
  EXPECT_EQ(done->progress().requests_done(), 2 * static_cast<int64_t>(problems_.size()));
  auto results = cluster_->Results(run->run_id());
  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_DOUBLE_EQ(PassAt1(*results), 100.0);

  cluster_->KillCoordinator();  // the store is read by this process now
  auto store = coordinator::SqliteStore::Open(cluster_->store_path());
  ASSERT_TRUE(store.ok()) << store.status();
  auto jobs = (*store)->LoadJobsOfRun(run->run_id());
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  int judge_jobs = 0;
  for (const coordinator::JobRecord& j : *jobs) {
    if (!j.judge) continue;
    ++judge_jobs;
    EXPECT_EQ(j.state, v1::JOB_STATE_DONE);
    EXPECT_EQ(j.attempts, 2) << "the judge job was leased again after the kill";
  }
  EXPECT_EQ(judge_jobs, 1);
  auto scores = (*store)->LoadScores(run->run_id());
  ASSERT_TRUE(scores.ok());
  EXPECT_EQ(scores->size(), problems_.size()) << "each sample scored exactly once";
}

}  // namespace
}  // namespace proctor::testing
