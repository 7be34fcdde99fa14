// JudgeRunner over the real sandbox: outputs, skips, parallelism, errors.
#include "worker/judge_execution.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace proctor::worker {
namespace {

v1::Request Code(int64_t id, const std::string& program, const std::string& tests,
                 double timeout_s = 0) {
  v1::Request r;
  r.set_request_id(id);
  v1::ExecuteCodeRequest* c = r.mutable_execute_code();
  c->set_language("python");
  c->set_program(program);
  c->set_tests(tests);
  if (timeout_s > 0) {
    c->mutable_timeout()->set_seconds(static_cast<int64_t>(timeout_s));
    c->mutable_timeout()->set_nanos(static_cast<int32_t>(
        (timeout_s - static_cast<double>(static_cast<int64_t>(timeout_s))) * 1e9));
  }
  return r;
}

class JudgeRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = sandbox::Sandbox::Create({});
    ASSERT_TRUE(s.ok()) << s.status();
    sandbox_ = std::move(s).value();
  }
  std::unique_ptr<JudgeRunner> Runner(int parallelism) {
    JudgeRunnerOptions options;
    options.parallelism = parallelism;
    options.max_timeout = absl::Seconds(5);
    auto r = JudgeRunner::Create(sandbox_.get(), options);
    EXPECT_TRUE(r.ok()) << r.status();
    return std::move(r).value();
  }
  absl::Status Run(JudgeRunner& runner, const v1::Job& job, std::vector<int64_t> skip = {}) {
    outputs_.clear();
    std::atomic<bool> cancelled{false};
    return runner.RunJob(
        job, skip, [this](v1::Output o) { outputs_[o.request_id()] = o.execute_code(); },
        cancelled);
  }
  std::unique_ptr<sandbox::Sandbox> sandbox_;
  std::map<int64_t, v1::ExecuteCodeOutput> outputs_;
};

TEST_F(JudgeRunnerTest, ProgramThenTestsDecideTheOutcome) {
  v1::Job job;
  job.set_job_id(7);
  job.set_judge(true);
  const std::string add = "def add(a, b):\n    return a + b";
  *job.add_requests() = Code(1, add, "assert add(1, 2) == 3");
  *job.add_requests() = Code(2, add, "assert add(1, 2) == 4");
  *job.add_requests() = Code(3, "def add(a, b):\n    while True: pass", "add(1, 2)", 0.5);
  *job.add_requests() = Code(4, "def add(a, b)\n", "");  // syntax error
  auto runner = Runner(2);
  ASSERT_TRUE(Run(*runner, job).ok());
  ASSERT_EQ(outputs_.size(), 4u);
  EXPECT_EQ(outputs_[1].outcome(), v1::EXECUTION_OUTCOME_PASSED);
  EXPECT_EQ(outputs_[1].exit_code(), 0);
  EXPECT_EQ(outputs_[2].outcome(), v1::EXECUTION_OUTCOME_FAILED);
  EXPECT_THAT(outputs_[2].stderr_tail(), ::testing::HasSubstr("AssertionError"));
  EXPECT_EQ(outputs_[3].outcome(), v1::EXECUTION_OUTCOME_TIMEOUT);
  EXPECT_LT(outputs_[3].wall_time().seconds(), 3);
  EXPECT_EQ(outputs_[4].outcome(), v1::EXECUTION_OUTCOME_FAILED);
  EXPECT_THAT(outputs_[4].stderr_tail(), ::testing::HasSubstr("SyntaxError"));
  for (auto& [id, o] : outputs_) EXPECT_EQ(o.network_isolated(), sandbox_->network_isolated());
}

TEST_F(JudgeRunnerTest, SkipsStoredRequestsAndRunsInParallel) {
  v1::Job job;
  for (int i = 1; i <= 5; ++i) *job.add_requests() = Code(i, "import time", "time.sleep(1.5)");
  auto runner = Runner(4);
  const absl::Time start = absl::Now();
  ASSERT_TRUE(Run(*runner, job, {5}).ok());
  EXPECT_EQ(outputs_.size(), 4u);
  EXPECT_FALSE(outputs_.contains(5));
  // Four 1.5 s programs at once take about 1.5 s, not 6 s.
  EXPECT_LT(absl::Now() - start, absl::Seconds(4.5));
}

TEST_F(JudgeRunnerTest, RequestsCapTheirTimeoutAtTheWorkerMaximum) {
  v1::Job job;
  *job.add_requests() = Code(1, "while True: pass", "", 3600);
  JudgeRunnerOptions options;
  options.max_timeout = absl::Milliseconds(500);
  auto runner = JudgeRunner::Create(sandbox_.get(), options);
  ASSERT_TRUE(runner.ok());
  ASSERT_TRUE(Run(**runner, job).ok());
  EXPECT_EQ(outputs_[1].outcome(), v1::EXECUTION_OUTCOME_TIMEOUT);
}

TEST_F(JudgeRunnerTest, WrongRequestsAreInvalidArgument) {
  auto runner = Runner(1);
  v1::Job job;
  job.add_requests()->mutable_generate()->set_context("x");
  EXPECT_EQ(Run(*runner, job).code(), absl::StatusCode::kInvalidArgument);
  job.Clear();
  *job.add_requests() = Code(1, "print(1)", "");
  job.mutable_requests(0)->mutable_execute_code()->set_language("ruby");
  EXPECT_EQ(Run(*runner, job).code(), absl::StatusCode::kInvalidArgument);
  job.Clear();
  *job.add_requests() = Code(1, std::string("print(1)\0", 9), "");
  EXPECT_EQ(Run(*runner, job).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(JudgeRunner::Create(sandbox_.get(), {.parallelism = 0}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(JudgeRunner::Create(nullptr, {}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(JudgeRunnerTest, CancelledBeforeStartRunsNothing) {
  auto runner = Runner(2);
  v1::Job job;
  *job.add_requests() = Code(1, "print(1)", "");
  std::atomic<bool> cancelled{true};
  int n = 0;
  absl::Status s = runner->RunJob(
      job, {}, [&n](v1::Output) { ++n; }, cancelled);
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(n, 0);
}

TEST(JudgeProgramTest, ProgramThenTestsOnSeparateLines) {
  v1::ExecuteCodeRequest r;
  r.set_program("def f():\n    return 1");
  r.set_tests("assert f() == 1");
  EXPECT_EQ(JudgeProgramOf(r), "def f():\n    return 1\n\nassert f() == 1\n");
}

}  // namespace
}  // namespace proctor::worker
