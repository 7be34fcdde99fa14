// Judge jobs in the coordinator core (real SQLite store, fake clock, a small
// catalog with a code set whose targets and scores are eval's real records):
// planning, blocking on generate outputs, sandbox-only leases, verdicts,
// idempotence, restart, and stranded judge jobs.
#include "coordinator/judging.h"

#include <filesystem>
#include <map>

#include "absl/strings/str_cat.h"
#include "coordinator/coordinator.h"
#include "coordinator/coordinator_fixture.h"
#include "coordinator/store/sqlite_store.h"
#include "eval/eval_internal.pb.h"
#include "eval/judge.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace proctor::coordinator {
namespace {

using ::testing::HasSubstr;

constexpr char kPrefix[] = "def inc(x):\n";

// Set "code": n samples, one generate request each; the program is
// kPrefix + completion, the tests check inc(). Set "plain": n loglikelihood
// samples that need no judge.
class CodeCatalog final : public eval::Catalog {
 public:
  explicit CodeCatalog(int n) : n_(n) {}
  std::vector<v1::DatasetInfo> ListDatasets() const override { return {}; }
  std::vector<v1::SuiteInfo> ListSuites() const override { return {}; }
  absl::StatusOr<eval::RunPlan> Plan(const v1::RunSpec& spec) const override {
    eval::RunPlan plan;
    for (const char* set : {"plain", "code"}) {
      v1::DatasetInfo info;
      info.set_name(set);
      plan.datasets.push_back(info);
      plan.dataset_sample_counts.push_back(n_);
      for (int i = 0; i < n_; ++i) {
        eval::PlannedSample s;
        s.dataset = set;
        s.sample_index = i;
        v1::Request r;
        eval::internal::SampleTarget t;
        if (std::string(set) == "code") {
          r.mutable_generate()->set_context(absl::StrCat(kPrefix, "# sample ", i, "\n"));
          r.mutable_generate()->set_max_new_tokens(64);
          t.set_program_prefix(kPrefix);
          t.set_tests("def check(candidate):\n    assert candidate(1) == 2\n");
          t.set_entry_point("inc");
          s.max_new_tokens = 64;
        } else {
          r.mutable_loglikelihood()->set_context(absl::StrCat("Q", i));
          r.mutable_loglikelihood()->add_continuations(" yes");
          t.set_gold(0);
          s.max_new_tokens = 0;
        }
        s.target = t.SerializeAsString();
        s.requests.push_back(r);
        s.estimated_prompt_tokens = 900;
        plan.samples.push_back(std::move(s));
      }
    }
    return plan;
  }
  absl::StatusOr<std::string> ScoreSample(std::string_view dataset, std::string_view target,
                                          absl::Span<const v1::Output> outputs) const override {
    eval::internal::SampleTarget t;
    if (outputs.size() != 1 || !t.ParseFromArray(target.data(), static_cast<int>(target.size()))) {
      return absl::InvalidArgumentError("bad sample");
    }
    eval::internal::SampleScore s;
    if (dataset == "code") {
      if (!outputs[0].has_generate()) return absl::InvalidArgumentError("want generate");
      s.set_needs_judge(true);
      s.set_program(t.program_prefix() + outputs[0].generate().text());
      s.set_tests(t.tests());
    } else {
      auto* m = s.add_metrics();
      m->set_name("acc");
      m->set_value(100);
    }
    return s.SerializeAsString();
  }
  absl::StatusOr<v1::Results> Aggregate(const v1::RunSpec&,
                                        const std::vector<eval::SetScores>&) const override {
    return v1::Results();
  }

 private:
  int n_;
};

// Even samples answer correctly, odd ones do not.
std::string CompletionFor(int64_t sample) {
  return sample % 2 == 0 ? "    return x + 1\n" : "    return x\n";
}

class JudgingTest : public CoordinatorFixture {
 protected:
  eval::Catalog* catalog() override { return &catalog_; }
  void SetUp() override {
    CoordinatorFixture::SetUp();
    options_.lease_ttl = absl::Seconds(10);
    options_.max_lease_wait = absl::ZeroDuration();
    options_.planner.job_token_budget = 2100;  // 2 samples per job
    Open();
  }
  std::string Submit() {
    v1::RunSpec spec;
    spec.mutable_model()->set_name("m");
    // Model jobs need backend "scripted": the sandbox workers of these tests
    // ("cpu") only ever get judge jobs.
    spec.mutable_model()->set_backend("scripted");
    spec.set_suite("s");
    auto run = coordinator_->SubmitRun(spec);
    EXPECT_TRUE(run.ok()) << run.status();
    return run.ok() ? run->run_id() : "";
  }
  std::string Register(const std::string& name, bool sandbox) {
    v1::RegisterRequest r;
    r.set_worker_name(name);
    r.mutable_capabilities()->set_backend(sandbox ? "cpu" : "scripted");
    r.mutable_capabilities()->set_sandbox(sandbox);
    auto resp = coordinator_->Register(r);
    EXPECT_TRUE(resp.ok()) << resp.status();
    return resp.ok() ? resp->worker_id() : "";
  }
  std::optional<v1::Job> Lease(const std::string& worker) {
    v1::LeaseRequest r;
    r.set_worker_id(worker);
    auto resp = coordinator_->Lease(r);
    EXPECT_TRUE(resp.ok()) << resp.status();
    if (!resp.ok() || !resp->has_job()) return std::nullopt;
    return resp->job();
  }
  // A model worker's answers: generate texts from CompletionFor (the sample
  // index is in the context), loglikelihoods for the rest.
  absl::StatusOr<v1::ReportOutputsResponse> ReportModel(const v1::Job& job, bool complete) {
    v1::ReportOutputsRequest r;
    r.set_job_id(job.job_id());
    r.set_fencing_token(job.fencing_token());
    for (const v1::Request& q : job.requests()) {
      v1::Output* o = r.add_outputs();
      o->set_request_id(q.request_id());
      if (q.has_generate()) {
        const std::string& c = q.generate().context();
        const int64_t sample = std::stoll(c.substr(c.find("# sample ") + 9));
        o->mutable_generate()->set_text(CompletionFor(sample));
      } else {
        o->mutable_loglikelihood()->add_continuations()->set_logprob(-1);
      }
    }
    r.set_complete(complete);
    return coordinator_->ReportOutputs(r);
  }
  // A sandbox worker's verdicts: passed when the program is a correct inc().
  absl::StatusOr<v1::ReportOutputsResponse> ReportJudge(const v1::Job& job, bool complete) {
    v1::ReportOutputsRequest r;
    r.set_job_id(job.job_id());
    r.set_fencing_token(job.fencing_token());
    for (const v1::Request& q : job.requests()) {
      v1::Output* o = r.add_outputs();
      o->set_request_id(q.request_id());
      const bool ok = q.execute_code().program().find("x + 1") != std::string::npos;
      o->mutable_execute_code()->set_outcome(ok ? v1::EXECUTION_OUTCOME_PASSED
                                                : v1::EXECUTION_OUTCOME_FAILED);
    }
    r.set_complete(complete);
    return coordinator_->ReportOutputs(r);
  }
  // Judged scores of set "code": sample index -> pass@1.
  std::map<int64_t, double> CodeVerdicts(const std::string& run_id) {
    std::map<int64_t, double> out;
    auto scores = coordinator_->GetSampleScores(run_id);
    EXPECT_TRUE(scores.ok()) << scores.status();
    if (!scores.ok()) return out;
    for (const auto& set : scores->sets) {
      if (set.dataset != "code") continue;
      for (const auto& [index, bytes] : set.scores) {
        eval::internal::SampleScore s;
        EXPECT_TRUE(s.ParseFromString(bytes));
        EXPECT_TRUE(s.judged()) << "an unjudged code score was stored for sample " << index;
        for (const auto& m : s.metrics()) {
          if (m.name() == "pass@1") out[index] = m.value();
        }
      }
    }
    return out;
  }

  CodeCatalog catalog_{6};
};

TEST_F(JudgingTest, JudgeJobsWaitForOutputsAndScoreTheRun) {
  const std::string run_id = Submit();
  auto run = coordinator_->GetRun(run_id);
  ASSERT_TRUE(run.ok());
  // 12 model requests + 6 judge requests; 6 model jobs + 3 judge jobs.
  EXPECT_EQ(run->progress().requests_total(), 18);
  EXPECT_EQ(run->progress().jobs_total(), 9);

  const std::string judge = Register("judge", /*sandbox=*/true);
  const std::string model = Register("model", /*sandbox=*/false);
  EXPECT_FALSE(Lease(judge).has_value()) << "nothing to judge before the model ran";
  int model_jobs = 0;
  while (auto job = Lease(model)) {
    EXPECT_FALSE(job->judge()) << "a worker without sandbox got a judge job";
    ASSERT_TRUE(ReportModel(*job, true).ok());
    ++model_jobs;
  }
  EXPECT_EQ(model_jobs, 6);
  run = coordinator_->GetRun(run_id);
  EXPECT_EQ(run->state(), v1::RUN_STATE_RUNNING) << "a run is not done before its judge jobs";
  EXPECT_TRUE(CodeVerdicts(run_id).empty()) << "pending code scores must not be stored";

  int judge_jobs = 0;
  while (auto job = Lease(judge)) {
    ASSERT_TRUE(job->judge());
    for (const v1::Request& q : job->requests()) {
      ASSERT_TRUE(q.has_execute_code());
      EXPECT_EQ(q.execute_code().language(), "python");
      EXPECT_EQ(q.execute_code().timeout().seconds(), 3);
      EXPECT_THAT(q.execute_code().program(), ::testing::StartsWith(kPrefix));
      EXPECT_THAT(q.execute_code().tests(), HasSubstr("\ncheck(inc)\n"));
    }
    // Reported twice before completion: idempotent.
    ASSERT_TRUE(ReportJudge(*job, false).ok());
    const int64_t done = coordinator_->GetRun(run_id)->progress().requests_done();
    ASSERT_TRUE(ReportJudge(*job, true).ok());
    EXPECT_EQ(coordinator_->GetRun(run_id)->progress().requests_done(), done);
    ++judge_jobs;
  }
  EXPECT_EQ(judge_jobs, 3);
  run = coordinator_->GetRun(run_id);
  EXPECT_EQ(run->state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(run->progress().requests_done(), 18);
  const std::map<int64_t, double> verdicts = CodeVerdicts(run_id);
  ASSERT_EQ(verdicts.size(), 6u);
  for (const auto& [index, pass] : verdicts) {
    EXPECT_EQ(pass, index % 2 == 0 ? 100.0 : 0.0) << "sample " << index;
  }
}

TEST_F(JudgingTest, AJudgeJobIsLeasedOnlyOnceItsInputsAreStored) {
  Submit();
  const std::string judge = Register("judge", true);
  const std::string model = Register("model", false);
  // Plain jobs, then the first code job, answered; the other code jobs
  // are leased but not answered.
  int code_jobs = 0;
  std::vector<v1::Job> held;
  while (auto job = Lease(model)) {
    if (job->requests(0).has_generate() && code_jobs++ > 0) {
      held.push_back(*job);
      continue;
    }
    ASSERT_TRUE(ReportModel(*job, true).ok());
  }
  ASSERT_EQ(held.size(), 2u);
  std::optional<v1::Job> first = Lease(judge);
  ASSERT_TRUE(first.has_value());
  EXPECT_TRUE(first->judge());
  EXPECT_EQ(first->requests_size(), 2);
  EXPECT_FALSE(Lease(judge).has_value()) << "the other judge jobs' inputs are not stored yet";
  // Half of a held job's outputs are not enough either.
  v1::ReportOutputsRequest partial;
  partial.set_job_id(held[0].job_id());
  partial.set_fencing_token(held[0].fencing_token());
  v1::Output* o = partial.add_outputs();
  o->set_request_id(held[0].requests(0).request_id());
  o->mutable_generate()->set_text(CompletionFor(2));
  ASSERT_TRUE(coordinator_->ReportOutputs(partial).ok());
  EXPECT_FALSE(Lease(judge).has_value());
  ASSERT_TRUE(ReportModel(held[0], true).ok());
  std::optional<v1::Job> second = Lease(judge);
  ASSERT_TRUE(second.has_value());
  EXPECT_TRUE(second->judge());
}

TEST_F(JudgingTest, RestartKeepsJudgeJobsBlockedOrReady) {
  const std::string run_id = Submit();
  std::string model = Register("model", false);
  // Answer the plain jobs and the first code job; hold the second code job's
  // lease; leave the third queued.
  int code_jobs = 0;
  while (auto job = Lease(model)) {
    if (job->requests(0).has_generate() && ++code_jobs == 2) break;
    ASSERT_TRUE(ReportModel(*job, true).ok());
  }
  Open();  // coordinator restart on the same store
  const std::string judge = Register("judge", true);
  std::optional<v1::Job> first = Lease(judge);
  ASSERT_TRUE(first.has_value()) << "a judge job whose inputs were stored is ready after restart";
  EXPECT_FALSE(Lease(judge).has_value()) << "blocked judge jobs stay blocked after restart";
  ASSERT_TRUE(ReportJudge(*first, true).ok());
  // The held lease expires; a new model worker answers the rest.
  clock_.Advance(absl::Seconds(11));
  coordinator_->Tick();
  clock_.Advance(absl::Minutes(2));  // past the retry backoff
  coordinator_->Tick();
  model = Register("model2", false);
  while (auto job = Lease(model)) ASSERT_TRUE(ReportModel(*job, true).ok());
  int judged = 0;
  while (auto job = Lease(judge)) {
    ASSERT_TRUE(ReportJudge(*job, true).ok());
    ++judged;
  }
  EXPECT_EQ(judged, 2);
  EXPECT_EQ(coordinator_->GetRun(run_id)->state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(CodeVerdicts(run_id).size(), 6u);
}

TEST_F(JudgingTest, FailedModelJobCancelsTheJudgeJobsItStrands) {
  const std::string run_id = Submit();
  const std::string model = Register("model", false);
  while (auto job = Lease(model)) {
    if (job->requests(0).has_generate()) {
      v1::ReportOutputsRequest r;
      r.set_job_id(job->job_id());
      r.set_fencing_token(job->fencing_token());
      r.mutable_failure()->set_code(static_cast<int>(absl::StatusCode::kInvalidArgument));
      r.mutable_failure()->set_message("context too long");
      ASSERT_TRUE(coordinator_->ReportOutputs(r).ok());
    } else {
      ASSERT_TRUE(ReportModel(*job, true).ok());
    }
  }
  auto run = coordinator_->GetRun(run_id);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->state(), v1::RUN_STATE_FAILED) << "the run must end, not wait for judges";
  EXPECT_EQ(run->progress().jobs_cancelled(), 3);
  EXPECT_THAT(run->failure_reason(), HasSubstr("context too long"));
}

TEST_F(JudgingTest, BadJudgeOutputsAreRejected) {
  Submit();
  const std::string model = Register("model", false);
  while (auto job = Lease(model)) ASSERT_TRUE(ReportModel(*job, true).ok());
  const std::string judge = Register("judge", true);
  auto job = Lease(judge);
  ASSERT_TRUE(job.has_value());
  v1::ReportOutputsRequest r;
  r.set_job_id(job->job_id());
  r.set_fencing_token(job->fencing_token());
  v1::Output* o = r.add_outputs();
  o->set_request_id(job->requests(0).request_id());
  o->mutable_generate()->set_text("hi");
  EXPECT_EQ(coordinator_->ReportOutputs(r).status().code(), absl::StatusCode::kInvalidArgument);
  o->mutable_execute_code()->set_outcome(v1::EXECUTION_OUTCOME_UNSPECIFIED);
  EXPECT_EQ(coordinator_->ReportOutputs(r).status().code(), absl::StatusCode::kInvalidArgument);
  o->mutable_execute_code()->set_outcome(v1::EXECUTION_OUTCOME_PASSED);
  o->set_request_id(3);  // a model request, not a judge request
  EXPECT_EQ(coordinator_->ReportOutputs(r).status().code(), absl::StatusCode::kInvalidArgument);
  o->set_request_id(1'000'000);
  EXPECT_EQ(coordinator_->ReportOutputs(r).status().code(), absl::StatusCode::kInvalidArgument);
  // Completing without every verdict is refused like any other job.
  v1::ReportOutputsRequest done;
  done.set_job_id(job->job_id());
  done.set_fencing_token(job->fencing_token());
  done.set_complete(true);
  EXPECT_EQ(coordinator_->ReportOutputs(done).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(PlanJudgeJobsTest, OneJudgeJobPerCodeShardCappedInSize) {
  PlannedRun planned;
  eval::internal::SampleTarget code;
  code.set_tests("assert True");
  const std::string code_target = code.SerializeAsString();
  // Job 0: 100 code samples; job 1: 3 plain samples.
  planned.jobs.resize(2);
  planned.payloads.resize(2);
  int64_t id = 0;
  for (int i = 0; i < 103; ++i) {
    const size_t job = i < 100 ? 0 : 1;
    v1::Request r;
    r.set_request_id(++id);
    planned.payloads[job].requests.push_back(r);
    planned.samples.push_back(
        SampleRecord{i < 100 ? "humaneval" : "plain", i, i < 100 ? code_target : "", {id}});
  }
  planned.jobs[0].num_requests = 100;
  auto inputs = PlanJudgeJobs(planned);
  ASSERT_TRUE(inputs.ok()) << inputs.status();
  ASSERT_EQ(inputs->size(), 2u);
  EXPECT_EQ((*inputs)[0].size(), 64u);
  EXPECT_EQ((*inputs)[1].size(), 36u);
  ASSERT_EQ(planned.jobs.size(), 4u);
  EXPECT_TRUE(planned.jobs[2].judge);
  EXPECT_EQ(planned.jobs[2].index_in_run, 2);
  EXPECT_EQ(planned.jobs[3].num_requests, 36);
  EXPECT_EQ(planned.payloads[2].requests[0].request_id(), 103 + 1);
  EXPECT_EQ(planned.payloads[3].requests.back().request_id(), 103 + 100);

  PlannedRun plain;
  plain.jobs.resize(1);
  plain.payloads.resize(1);
  plain.samples.push_back(SampleRecord{"plain", 0, "", {1}});
  ASSERT_TRUE(PlanJudgeJobs(plain).ok());
  EXPECT_EQ(plain.jobs.size(), 1u);
}

TEST(JudgeBookTest, UnblocksOnceEveryInputIsStored) {
  JudgeBook book;
  EXPECT_FALSE(book.Block("r", 10, {}));
  EXPECT_TRUE(book.Block("r", 11, {1, 2}));
  EXPECT_TRUE(book.Block("r", 12, {3}));
  EXPECT_TRUE(book.IsBlocked(11));
  EXPECT_TRUE(book.OutputsStored("r", {1, 1, 99}).empty());
  EXPECT_EQ(book.OutputsStored("r", {2, 3}), (std::vector<int64_t>{11, 12}));
  EXPECT_TRUE(book.OutputsStored("r", {2}).empty()) << "a job is released once";
  EXPECT_TRUE(book.BlockedJobs("r").empty());
  EXPECT_TRUE(book.Block("r", 13, {4}));
  book.Unblock(13);
  EXPECT_TRUE(book.OutputsStored("r", {4}).empty());
  EXPECT_TRUE(book.Block("q", 14, {4}));
  book.ForgetRun("q");
  EXPECT_FALSE(book.IsBlocked(14));
}

}  // namespace
}  // namespace proctor::coordinator

namespace proctor::eval {
namespace {

// eval/judge.h's target-aware half (its score half is in eval/scoring_test.cc).
TEST(EvalJudgeTest, HumanEvalTestsCallCheckWithTheEntryPoint) {
  internal::SampleScore score;
  score.set_needs_judge(true);
  score.set_program("def inc(x):\n    return x + 1\n");
  score.set_tests("def check(candidate):\n    assert candidate(1) == 2");
  internal::SampleTarget target;
  target.set_tests(score.tests());
  target.set_entry_point("inc");
  EXPECT_TRUE(TargetNeedsJudge(target.SerializeAsString()));
  auto task = JudgeTaskOf(score.SerializeAsString(), target.SerializeAsString());
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->tests, "def check(candidate):\n    assert candidate(1) == 2\n\ncheck(inc)\n");

  // MBPP: plain asserts, nothing appended.
  score.set_tests("assert inc(1) == 2");
  target.set_entry_point("");
  task = JudgeTaskOf(score.SerializeAsString(), target.SerializeAsString());
  ASSERT_TRUE(task.ok());
  EXPECT_EQ(task->tests, "assert inc(1) == 2");

  // The entry point is data, never code.
  score.set_tests("def check(candidate):\n    pass\n");
  target.set_entry_point("inc); import os; os.system('x'");
  EXPECT_EQ(JudgeTaskOf(score.SerializeAsString(), target.SerializeAsString()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(JudgeTaskOf(score.SerializeAsString(), "\xff\xff").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(EvalJudgeTest, OnlyCodeTargetsNeedAJudge) {
  internal::SampleTarget plain;
  plain.add_answers("42");
  EXPECT_FALSE(TargetNeedsJudge(plain.SerializeAsString()));
  EXPECT_FALSE(TargetNeedsJudge("\xff\xff\xff"));
  EXPECT_FALSE(TargetNeedsJudge(""));
  EXPECT_EQ(JudgeTimeout("humaneval"), absl::Seconds(3));
  EXPECT_EQ(JudgeTimeout("mbpp"), absl::Seconds(2));
}

}  // namespace
}  // namespace proctor::eval
