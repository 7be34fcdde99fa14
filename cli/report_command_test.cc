// `proctor report` end to end against an in-process fake coordinator on a
// loopback port: the files written, the numbers in them, and the error paths
// (unknown run, unwritable directory, bad flags) with their exit codes.
#include <grpcpp/grpcpp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "absl/synchronization/mutex.h"
#include "cli/exit_codes.h"
#include "cli/proctor_cli.h"
#include "gtest/gtest.h"
#include "proctor/v1/evaluation.grpc.pb.h"

namespace proctor::cli {
namespace {

namespace pb = ::proctor::v1;

pb::Results MakeResults(const std::string& id, double arc) {
  pb::Results r;
  r.set_run_id(id);
  r.set_model("model-" + id);
  r.set_state(pb::RUN_STATE_SUCCEEDED);
  pb::SetResult* s = r.add_sets();
  s->set_dataset("arc_e");
  s->set_dimension("Exam");
  s->set_primary_metric("acc");
  s->set_prompt_hash("6b528da0");
  s->set_num_samples(12);
  s->set_num_samples_total(12);
  s->set_complete(true);
  pb::MetricValue* m = s->add_metrics();
  m->set_name("acc");
  m->set_value(arc);
  m->set_stderr(4.5);
  m->set_has_stderr(true);
  pb::GroupResult* d = r.add_dimensions();
  d->set_name("Exam");
  d->set_score(arc);
  d->set_stderr(4.5);
  d->set_has_stderr(true);
  d->set_complete(false);
  d->add_missing("mmlu");
  return r;
}

class FakeEvaluation final : public pb::EvaluationService::Service {
 public:
  grpc::Status GetResults(grpc::ServerContext*, const pb::GetResultsRequest* request,
                          pb::Results* response) override {
    if (request->run_id() == "r1") {
      *response = MakeResults("r1", 41.6667);
    } else if (request->run_id() == "r2") {
      *response = MakeResults("r2", 58.3333);
    } else {
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          "run \"" + request->run_id() + "\" not found");
    }
    return grpc::Status::OK;
  }
  grpc::Status CompareRuns(grpc::ServerContext*, const pb::CompareRunsRequest* request,
                           pb::Comparison* response) override {
    absl::MutexLock lock(&mu_);
    last_alpha_ = request->alpha();
    response->set_run_a(request->run_a());
    response->set_run_b(request->run_b());
    response->set_alpha(request->alpha() == 0 ? 0.05 : request->alpha());
    pb::SetComparison* s = response->add_sets();
    s->set_dataset("arc_e");
    s->set_score_a(41.6667);
    s->set_score_b(58.3333);
    s->set_delta(16.6666);
    s->set_delta_stderr(7.1);
    s->set_test("mcnemar_exact");
    s->set_p_value(0.125);
    s->set_num_paired(12);
    s->set_outcome("tie");
    response->set_ties(1);
    return grpc::Status::OK;
  }
  double last_alpha() {
    absl::MutexLock lock(&mu_);
    return last_alpha_;
  }

 private:
  absl::Mutex mu_;
  double last_alpha_ ABSL_GUARDED_BY(mu_) = -1;
};

class ReportCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    dir_ = ::testing::TempDir() + "/report_command_test_" + std::to_string(::getpid());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override {
    server_->Shutdown();
    std::filesystem::remove_all(dir_);
  }

  int Run(std::vector<std::string> args) {
    out_.str("");
    err_.str("");
    CliEnv env;
    env.out = &out_;
    env.err = &err_;
    env.default_coordinator = "127.0.0.1:" + std::to_string(port_);
    args.insert(args.begin(), "report");
    return RunProctor(args, env);
  }

  static std::string Read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  FakeEvaluation service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::string dir_;
  std::ostringstream out_, err_;
};

TEST_F(ReportCommandTest, WritesAllFormatsAndPrintsPaths) {
  ASSERT_EQ(Run({"r1", "r2", "--out", dir_ + "/nested/out", "--alpha", "0.01"}), kExitOk)
      << err_.str();
  const std::string base = dir_ + "/nested/out/report";
  EXPECT_EQ(out_.str(), base + ".html\n" + base + ".md\n" + base + ".csv\n");
  EXPECT_DOUBLE_EQ(service_.last_alpha(), 0.01);
  const std::string html = Read(base + ".html");
  EXPECT_NE(html.find("data-run=\"r2\" data-key=\"set:arc_e\"><span class=\"v\">58.33</span>"),
            std::string::npos);
  EXPECT_NE(html.find("id=\"comparison-0\" data-run-a=\"r1\" data-run-b=\"r2\""),
            std::string::npos);
  EXPECT_NE(html.find("generated 20"), std::string::npos);
  EXPECT_NE(Read(base + ".md").find("| arc\\_e | Exam | acc | 41.67 ± 4.50 | 12 |"),
            std::string::npos);
  EXPECT_NE(Read(base + ".csv").find("\ncompare_set,r2,"), std::string::npos);
  // No temporary file is left behind.
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_ + "/nested/out")) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 3);
}

TEST_F(ReportCommandTest, OneFormatOneRun) {
  ASSERT_EQ(Run({"r1", "--out=" + dir_, "--format=csv"}), kExitOk) << err_.str();
  EXPECT_EQ(out_.str(), dir_ + "/report.csv\n");
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/report.html"));
}

TEST_F(ReportCommandTest, UnknownRunIsNotFound) {
  EXPECT_EQ(Run({"r1", "nope", "--out", dir_}), kExitNotFound);
  EXPECT_NE(err_.str().find("run nope: run \"nope\" not found"), std::string::npos) << err_.str();
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/report.html"));
}

TEST_F(ReportCommandTest, UnwritableDirectoryIsClear) {
  std::filesystem::create_directories(dir_);
  std::ofstream(dir_ + "/file") << "x";
  EXPECT_EQ(Run({"r1", "--out", dir_ + "/file"}), kExitFailed);
  EXPECT_NE(err_.str().find("--out: "), std::string::npos) << err_.str();
  EXPECT_NE(err_.str().find(dir_ + "/file"), std::string::npos) << err_.str();
  if (::geteuid() != 0) {  // root writes anywhere
    std::filesystem::create_directories(dir_ + "/ro");
    ::chmod((dir_ + "/ro").c_str(), 0555);
    EXPECT_EQ(Run({"r1", "--out", dir_ + "/ro"}), kExitFailed);
    EXPECT_NE(err_.str().find("not writable"), std::string::npos) << err_.str();
  }
}

TEST_F(ReportCommandTest, UsageErrors) {
  EXPECT_EQ(Run({"r1"}), kExitUsage);
  EXPECT_NE(err_.str().find("--out"), std::string::npos);
  EXPECT_EQ(Run({"r1", "--out", dir_, "--format", "html,pdf"}), kExitUsage);
  EXPECT_NE(err_.str().find("pdf"), std::string::npos);
  EXPECT_EQ(Run({"r1", "r1", "--out", dir_}), kExitUsage);
  EXPECT_EQ(Run({"r1", "--out", dir_, "--alpha", "2"}), kExitUsage);
  EXPECT_EQ(Run({"--out", dir_}), kExitUsage);
}

}  // namespace
}  // namespace proctor::cli
