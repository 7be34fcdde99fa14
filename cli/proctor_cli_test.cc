// Drives whole `proctor` commands against an in-process fake coordinator on a
// loopback port: the flags reach the RPCs, the output is what scripts parse,
// and every error path maps to its documented exit code.
#include "cli/proctor_cli.h"

#include <grpcpp/grpcpp.h>

#include <deque>
#include <memory>
#include <sstream>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proctor/v1/admin.grpc.pb.h"
#include "proctor/v1/evaluation.grpc.pb.h"

namespace proctor::cli {
namespace {

namespace pb = ::proctor::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

pb::Run MakeRun(const std::string& id, pb::RunState state, int64_t done, int64_t total) {
  pb::Run run;
  run.set_run_id(id);
  run.set_state(state);
  run.mutable_progress()->set_jobs_done(done);
  run.mutable_progress()->set_jobs_total(total);
  run.mutable_spec()->mutable_model()->set_name("smollm2");
  run.mutable_spec()->set_suite("smoke");
  return run;
}

// A scripted coordinator: knows the suite "smoke" and the runs in `runs_`.
class FakeCoordinator final : public pb::EvaluationService::Service,
                              public pb::AdminService::Service {
 public:
  grpc::Status SubmitRun(grpc::ServerContext*, const pb::SubmitRunRequest* request,
                         pb::Run* response) override {
    absl::MutexLock lock(&mu_);
    last_spec_ = request->spec();
    if (!request->spec().suite().empty() && request->spec().suite() != "smoke") {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "spec.suite: unknown suite \"" + request->spec().suite() + "\"");
    }
    *response = MakeRun("r-42", pb::RUN_STATE_QUEUED, 0, 3);
    *response->mutable_spec() = request->spec();
    return grpc::Status::OK;
  }

  grpc::Status GetRun(grpc::ServerContext*, const pb::GetRunRequest* request,
                      pb::Run* response) override {
    absl::MutexLock lock(&mu_);
    auto it = runs_.find(request->run_id());
    if (it == runs_.end()) return NotFound(request->run_id());
    *response = it->second;
    return grpc::Status::OK;
  }

  grpc::Status ListRuns(grpc::ServerContext*, const pb::ListRunsRequest* request,
                        pb::ListRunsResponse* response) override {
    absl::MutexLock lock(&mu_);
    list_requests_.push_back(*request);
    // Pages of two runs: r-5 .. r-1, newest first.
    int start = request->page_token().empty() ? 5 : std::stoi(request->page_token());
    int n = std::min<int>(std::min(2, request->page_size()), start);
    for (int k = 0; k < n; ++k) {
      *response->add_runs() =
          MakeRun("r-" + std::to_string(start - k), pb::RUN_STATE_SUCCEEDED, 3, 3);
    }
    if (start - n > 0) response->set_next_page_token(std::to_string(start - n));
    return grpc::Status::OK;
  }

  grpc::Status CancelRun(grpc::ServerContext*, const pb::CancelRunRequest* request,
                         pb::Run* response) override {
    absl::MutexLock lock(&mu_);
    auto it = runs_.find(request->run_id());
    if (it == runs_.end()) return NotFound(request->run_id());
    it->second.set_state(pb::RUN_STATE_CANCELLED);
    *response = it->second;
    return grpc::Status::OK;
  }

  grpc::Status WatchRun(grpc::ServerContext*, const pb::WatchRunRequest* request,
                        grpc::ServerWriter<pb::RunEvent>* writer) override {
    std::vector<pb::Run> script;
    {
      absl::MutexLock lock(&mu_);
      if (runs_.find(request->run_id()) == runs_.end()) return NotFound(request->run_id());
      ++watch_calls_;
      if (!watch_scripts_.empty()) {
        script = watch_scripts_.front();
        watch_scripts_.pop_front();
      }
    }
    int64_t second = 1'800'000'000;
    for (const pb::Run& run : script) {
      pb::RunEvent event;
      event.mutable_time()->set_seconds(second++);
      *event.mutable_run() = run;
      if (!writer->Write(event)) break;
    }
    return grpc::Status::OK;
  }

  grpc::Status GetResults(grpc::ServerContext* context, const pb::GetResultsRequest* request,
                          pb::Results* response) override {
    if (request->run_id() == "slow") {
      absl::SleepFor(absl::Seconds(1));
      return grpc::Status(grpc::StatusCode::INTERNAL, "too late");
    }
    absl::MutexLock lock(&mu_);
    if (runs_.find(request->run_id()) == runs_.end()) return NotFound(request->run_id());
    response->set_run_id(request->run_id());
    response->set_model("smollm2");
    response->set_state(pb::RUN_STATE_SUCCEEDED);
    pb::SetResult* set = response->add_sets();
    set->set_dataset("arc_easy");
    set->set_dimension("Reasoning");
    set->set_primary_metric("acc");
    set->set_num_samples(20);
    set->set_num_samples_total(20);
    set->set_complete(true);
    set->set_prompt_hash("abcd");
    pb::MetricValue* m = set->add_metrics();
    m->set_name("acc");
    m->set_value(55);
    m->set_stderr(11.4);
    m->set_has_stderr(true);
    return grpc::Status::OK;
  }

  grpc::Status ListDatasets(grpc::ServerContext*, const pb::ListDatasetsRequest*,
                            pb::ListDatasetsResponse* response) override {
    pb::DatasetInfo* d = response->add_datasets();
    d->set_name("arc_easy");
    d->set_available(true);
    return grpc::Status::OK;
  }

  grpc::Status ListSuites(grpc::ServerContext*, const pb::ListSuitesRequest*,
                          pb::ListSuitesResponse* response) override {
    pb::SuiteInfo* s = response->add_suites();
    s->set_name("smoke");
    s->add_datasets("arc_easy");
    return grpc::Status::OK;
  }

  grpc::Status ListWorkers(grpc::ServerContext*, const pb::ListWorkersRequest*,
                           pb::ListWorkersResponse* response) override {
    pb::WorkerInfo* w = response->add_workers();
    w->set_worker_id("w-1");
    w->set_state(pb::WORKER_STATE_IDLE);
    return grpc::Status::OK;
  }

  grpc::Status DrainWorker(grpc::ServerContext*, const pb::DrainWorkerRequest*,
                           pb::DrainWorkerResponse*) override {
    return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "not in the fake");
  }

  void AddRun(const pb::Run& run) {
    absl::MutexLock lock(&mu_);
    runs_[run.run_id()] = run;
  }
  void AddWatchScript(std::vector<pb::Run> events) {
    absl::MutexLock lock(&mu_);
    watch_scripts_.push_back(std::move(events));
  }
  pb::RunSpec last_spec() {
    absl::MutexLock lock(&mu_);
    return last_spec_;
  }
  std::vector<pb::ListRunsRequest> list_requests() {
    absl::MutexLock lock(&mu_);
    return list_requests_;
  }
  int watch_calls() {
    absl::MutexLock lock(&mu_);
    return watch_calls_;
  }

 private:
  static grpc::Status NotFound(const std::string& id) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "run \"" + id + "\" not found");
  }

  absl::Mutex mu_;
  std::map<std::string, pb::Run> runs_ ABSL_GUARDED_BY(mu_);
  std::deque<std::vector<pb::Run>> watch_scripts_ ABSL_GUARDED_BY(mu_);
  pb::RunSpec last_spec_ ABSL_GUARDED_BY(mu_);
  std::vector<pb::ListRunsRequest> list_requests_ ABSL_GUARDED_BY(mu_);
  int watch_calls_ ABSL_GUARDED_BY(mu_) = 0;
};

class ProctorCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(static_cast<pb::EvaluationService::Service*>(&fake_));
    builder.RegisterService(static_cast<pb::AdminService::Service*>(&fake_));
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port, 0);
    env_.out = &out_;
    env_.err = &err_;
    env_.default_coordinator = "127.0.0.1:" + std::to_string(port);
    env_.user = "alice";
    env_.watch_reconnect_delay = absl::Milliseconds(1);
    env_.watch_max_reconnects = 2;
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  int Run(const std::vector<std::string>& args) {
    out_.str("");
    err_.str("");
    return RunProctor(args, env_);
  }

  FakeCoordinator fake_;
  std::unique_ptr<grpc::Server> server_;
  std::ostringstream out_;
  std::ostringstream err_;
  CliEnv env_;
};

TEST_F(ProctorCliTest, SubmitPrintsOnlyTheRunIdAndSendsTheSpec) {
  EXPECT_EQ(Run({"submit", "--model=/m/smollm2.gguf", "--suite", "smoke", "--dataset=gsm8k:5",
                 "--priority=backfill", "--label=team=nlp", "--seed=3"}),
            0);
  EXPECT_EQ(out_.str(), "r-42\n");
  EXPECT_EQ(err_.str(), "");
  const pb::RunSpec spec = fake_.last_spec();
  EXPECT_EQ(spec.model().name(), "smollm2");
  EXPECT_EQ(spec.model().path(), "/m/smollm2.gguf");
  EXPECT_EQ(spec.suite(), "smoke");
  EXPECT_EQ(spec.datasets(0).limit(), 5);
  EXPECT_EQ(spec.priority(), pb::PRIORITY_BACKFILL);
  EXPECT_EQ(spec.labels().at("team"), "nlp");
  EXPECT_EQ(spec.seed(), 3u);
  EXPECT_EQ(spec.submitter(), "alice");
}

TEST_F(ProctorCliTest, ServerInvalidArgumentIsExit6WithItsMessage) {
  EXPECT_EQ(Run({"submit", "--model=m", "--suite=nope"}), 6);
  EXPECT_EQ(out_.str(), "");
  EXPECT_EQ(err_.str(), "proctor: INVALID_ARGUMENT: spec.suite: unknown suite \"nope\"\n");
}

TEST_F(ProctorCliTest, ClientSideBadArgumentIsUsageExit2) {
  EXPECT_EQ(Run({"submit", "--model=m", "--suite=smoke", "--priority=urgent"}), 2);
  EXPECT_THAT(err_.str(), StartsWith("proctor: --priority: unknown priority \"urgent\""));
  EXPECT_THAT(err_.str(), HasSubstr("proctor submit --help"));
  EXPECT_EQ(Run({"submit", "--modle=m"}), 2);
  EXPECT_THAT(err_.str(), StartsWith("proctor: unknown flag --modle\n"));
  EXPECT_EQ(Run({"frobnicate"}), 2);
  EXPECT_THAT(err_.str(), StartsWith("proctor: unknown command 'frobnicate'\nusage: proctor"));
  EXPECT_EQ(Run({}), 2);
  EXPECT_EQ(Run({"watch"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("missing argument"));
  EXPECT_EQ(Run({"results", "a", "b"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("unexpected argument 'b'"));
  EXPECT_EQ(Run({"results", "r-1", "--format=xml"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("unknown format \"xml\""));
  EXPECT_EQ(Run({"--timeout=soon", "runs"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("--timeout"));
  EXPECT_EQ(Run({"--ca-cert=/nonexistent/ca.pem", "runs"}), 2);
  EXPECT_THAT(err_.str(), StartsWith("proctor: --ca-cert: cannot read \"/nonexistent/ca.pem\""));
  EXPECT_EQ(Run({"runs", "--client-cert=/x.pem"}), 2);
  EXPECT_THAT(err_.str(), StartsWith("proctor: --client-cert and --client-key go together"));
}

int FakeModelCommand(int argc, char** argv) {
  // argv[0] is the command name; the rest as typed.
  if (argc == 3 && std::string(argv[0]) == "model" && std::string(argv[1]) == "info" &&
      std::string(argv[2]) == "--x=1" && argv[3] == nullptr) {
    return 42;
  }
  return 99;
}

TEST_F(ProctorCliTest, ExternalCommandsGetTheirArguments) {
  EXPECT_EQ(Run({"model", "info", "--x=1"}), 2);  // not handed in: usage error
  EXPECT_THAT(err_.str(), StartsWith("proctor: command 'model' is not built into this proctor"));
  env_.external_commands.push_back({"model", "local model tools", &FakeModelCommand});
  EXPECT_EQ(Run({"model", "info", "--x=1"}), 42);
  EXPECT_EQ(Run({"--help"}), 0);
  EXPECT_THAT(out_.str(), HasSubstr("  model     local model tools\n"));
}

TEST_F(ProctorCliTest, HelpGoesToStdoutWithExit0) {
  EXPECT_EQ(Run({"--help"}), 0);
  EXPECT_THAT(out_.str(), HasSubstr("commands:"));
  EXPECT_EQ(Run({"results", "--help"}), 0);
  EXPECT_THAT(out_.str(), StartsWith("usage: proctor results RUN"));
  EXPECT_THAT(out_.str(), HasSubstr("--coordinator=HOST:PORT"));
  EXPECT_EQ(Run({"help", "runs"}), 0);
  EXPECT_THAT(out_.str(), StartsWith("usage: proctor runs"));
  EXPECT_EQ(err_.str(), "");
}

TEST_F(ProctorCliTest, NotFoundIsExit4) {
  EXPECT_EQ(Run({"results", "r-missing"}), 4);
  EXPECT_EQ(err_.str(), "proctor: NOT_FOUND: run \"r-missing\" not found\n");
  EXPECT_EQ(Run({"watch", "r-missing"}), 4);
  EXPECT_EQ(Run({"cancel", "r-missing"}), 4);
}

TEST_F(ProctorCliTest, UnreachableCoordinatorIsExit5) {
  server_->Shutdown();
  server_.reset();
  EXPECT_EQ(Run({"runs", "--timeout=2s"}), 5);
  EXPECT_THAT(err_.str(), StartsWith("proctor: UNAVAILABLE: "));
}

TEST_F(ProctorCliTest, DeadlineIsExit5) {
  EXPECT_EQ(Run({"--timeout=100ms", "results", "slow"}), 5);
  EXPECT_THAT(err_.str(), StartsWith("proctor: DEADLINE_EXCEEDED: "));
}

TEST_F(ProctorCliTest, ResultsInEveryFormat) {
  fake_.AddRun(MakeRun("r-1", pb::RUN_STATE_SUCCEEDED, 3, 3));
  EXPECT_EQ(Run({"results", "r-1"}), 0);
  EXPECT_EQ(out_.str(),
            "run r-1  model smollm2  state succeeded\n\n"
            "dataset   dimension  metric  score  ±stderr   n  prompt\n"
            "--------  ---------  ------  -----  -------  --  ------\n"
            "arc_easy  Reasoning  acc     55.00    11.40  20  abcd\n");
  EXPECT_EQ(Run({"--format", "csv", "results", "r-1"}), 0);
  EXPECT_THAT(out_.str(), HasSubstr("set,arc_easy,Reasoning,acc,true,55,11.4,20,20,abcd,true,\n"));
  EXPECT_EQ(Run({"results", "r-1", "--format=json"}), 0);
  EXPECT_THAT(out_.str(), HasSubstr("\"primaryMetric\": \"acc\""));
  EXPECT_EQ(Run({"results", "r-1", "--format=md"}), 0);
  EXPECT_THAT(out_.str(), HasSubstr("| arc_easy | Reasoning | acc | 55.00 | 11.40 | 20 | abcd |"));
}

TEST_F(ProctorCliTest, WatchPrintsPlainLinesAndExitsWithTheRunState) {
  fake_.AddRun(MakeRun("r-1", pb::RUN_STATE_RUNNING, 0, 3));
  fake_.AddWatchScript(
      {MakeRun("r-1", pb::RUN_STATE_QUEUED, 0, 3), MakeRun("r-1", pb::RUN_STATE_RUNNING, 1, 3),
       MakeRun("r-1", pb::RUN_STATE_RUNNING, 2, 3), MakeRun("r-1", pb::RUN_STATE_SUCCEEDED, 3, 3)});
  EXPECT_EQ(Run({"watch", "r-1", "--interval=1h"}), 0);
  // The second "running" event is throttled; state changes always print.
  EXPECT_EQ(out_.str(),
            "2027-01-15T08:00:00Z run r-1 queued 0.0% jobs 0/3\n"
            "2027-01-15T08:00:01Z run r-1 running 33.3% jobs 1/3\n"
            "2027-01-15T08:00:03Z run r-1 succeeded 100% jobs 3/3\n"
            "run r-1 succeeded\n");
}

TEST_F(ProctorCliTest, WatchExitCodesForFailedAndCancelled) {
  fake_.AddRun(MakeRun("r-1", pb::RUN_STATE_RUNNING, 0, 3));
  pb::Run failed = MakeRun("r-1", pb::RUN_STATE_FAILED, 2, 3);
  failed.set_failure_reason("job 3 poison: worker crashed 3 times");
  fake_.AddWatchScript({failed});
  EXPECT_EQ(Run({"watch", "r-1"}), 1);
  EXPECT_THAT(out_.str(), HasSubstr("run r-1 failed: job 3 poison: worker crashed 3 times\n"));
  fake_.AddWatchScript({MakeRun("r-1", pb::RUN_STATE_CANCELLED, 1, 3)});
  EXPECT_EQ(Run({"watch", "r-1"}), 3);
}

TEST_F(ProctorCliTest, WatchOnATerminalRedrawsOneLine) {
  env_.out_is_tty = true;
  env_.terminal_width = 61;
  fake_.AddRun(MakeRun("r-1", pb::RUN_STATE_RUNNING, 0, 2));
  fake_.AddWatchScript(
      {MakeRun("r-1", pb::RUN_STATE_RUNNING, 1, 2), MakeRun("r-1", pb::RUN_STATE_SUCCEEDED, 2, 2)});
  EXPECT_EQ(Run({"watch", "r-1"}), 0);
  EXPECT_EQ(out_.str(), "\rrunning    [" + std::string(15, '#') + std::string(15, '.') +
                            "]  50.0%  jobs 1/2\x1b[K"
                            "\rsucceeded  [" +
                            std::string(31, '#') +
                            "]  100%  jobs 2/2\x1b[K\n"
                            "run r-1 succeeded\n");
}

TEST_F(ProctorCliTest, WatchReconnectsWhenTheStreamEndsEarly) {
  fake_.AddRun(MakeRun("r-1", pb::RUN_STATE_RUNNING, 1, 3));
  // First stream closes before the run ends; the second one sees the end.
  fake_.AddWatchScript({MakeRun("r-1", pb::RUN_STATE_RUNNING, 1, 3)});
  fake_.AddWatchScript({MakeRun("r-1", pb::RUN_STATE_SUCCEEDED, 3, 3)});
  EXPECT_EQ(Run({"watch", "r-1"}), 0);
  EXPECT_EQ(fake_.watch_calls(), 2);
  EXPECT_THAT(out_.str(), HasSubstr("run r-1 succeeded\n"));
}

TEST_F(ProctorCliTest, WatchGivesUpAfterRepeatedEmptyStreams) {
  fake_.AddRun(MakeRun("r-1", pb::RUN_STATE_RUNNING, 1, 3));
  // Every stream ends with no event while the run stays "running": after
  // watch_max_reconnects empty streams, give up as unavailable.
  EXPECT_EQ(Run({"watch", "r-1"}), 5);
  EXPECT_GE(fake_.watch_calls(), 1);
}

TEST_F(ProctorCliTest, SubmitWatchKeepsStdoutForTheId) {
  fake_.AddRun(MakeRun("r-42", pb::RUN_STATE_QUEUED, 0, 3));
  fake_.AddWatchScript({MakeRun("r-42", pb::RUN_STATE_SUCCEEDED, 3, 3)});
  EXPECT_EQ(Run({"submit", "--model=m", "--suite=smoke", "--watch"}), 0);
  EXPECT_EQ(out_.str(), "r-42\n");
  EXPECT_THAT(err_.str(), HasSubstr("run r-42 succeeded\n"));
}

TEST_F(ProctorCliTest, RunsPagesUpToTheLimitAndPassesFilters) {
  EXPECT_EQ(Run({"runs", "--limit=3", "--state=succeeded", "--state=failed", "--label=team=nlp",
                 "--format=csv"}),
            0);
  const std::string csv = out_.str();
  EXPECT_THAT(csv, HasSubstr("\nr-5,succeeded"));
  EXPECT_THAT(csv, HasSubstr("\nr-4,succeeded"));
  EXPECT_THAT(csv, HasSubstr("\nr-3,succeeded"));
  EXPECT_THAT(csv, Not(HasSubstr("r-2")));
  const auto requests = fake_.list_requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].page_size(), 3);
  EXPECT_EQ(requests[1].page_size(), 1);
  EXPECT_EQ(requests[1].page_token(), "3");
  EXPECT_THAT(requests[0].states(), ElementsAre(pb::RUN_STATE_SUCCEEDED, pb::RUN_STATE_FAILED));
  EXPECT_EQ(requests[0].label_selector().at("team"), "nlp");
  EXPECT_EQ(Run({"runs", "--state=done"}), 2);
}

TEST_F(ProctorCliTest, CancelAndListings) {
  fake_.AddRun(MakeRun("r-1", pb::RUN_STATE_RUNNING, 1, 3));
  EXPECT_EQ(Run({"cancel", "r-1"}), 0);
  EXPECT_EQ(out_.str(), "r-1 cancelled\n");
  EXPECT_EQ(Run({"cancel", "r-1", "r-nope"}), 4);
  EXPECT_EQ(out_.str(), "r-1 cancelled\n");
  EXPECT_EQ(Run({"workers", "--format=csv"}), 0);
  EXPECT_THAT(out_.str(), HasSubstr("\nw-1,,idle,"));
  EXPECT_EQ(Run({"datasets"}), 0);
  EXPECT_THAT(out_.str(), HasSubstr("arc_easy"));
  EXPECT_EQ(Run({"suites", "--format=json"}), 0);
  EXPECT_THAT(out_.str(), HasSubstr("\"name\": \"smoke\""));
}

}  // namespace
}  // namespace proctor::cli
