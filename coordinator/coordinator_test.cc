// Coordinator core against a real SQLite store in a temp dir, a fake clock and
// a small in-test catalog (evaluation semantics are eval/'s tests' business;
// here they only need to be deterministic).
#include "coordinator/coordinator.h"

#include <filesystem>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "coordinator/coordinator_fixture.h"
#include "coordinator/store/sqlite_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace proctor::coordinator {
namespace {

using ::testing::HasSubstr;

// Datasets "a" and "b" with `n` samples each; one loglikelihood request per
// sample with continuations " yes"/" no"; gold is " yes" for even samples.
// A sample scores 1 when the continuation with the higher logprob is gold.
class TinyCatalog final : public eval::Catalog {
 public:
  explicit TinyCatalog(int n) : n_(n) {}
  std::vector<v1::DatasetInfo> ListDatasets() const override {
    std::vector<v1::DatasetInfo> out(2);
    out[0].set_name("a");
    out[1].set_name("b");
    return out;
  }
  std::vector<v1::SuiteInfo> ListSuites() const override {
    v1::SuiteInfo s;
    s.set_name("tiny");
    s.add_datasets("a");
    s.add_datasets("b");
    return {s};
  }
  absl::StatusOr<eval::RunPlan> Plan(const v1::RunSpec& spec) const override {
    if (spec.suite() != "tiny" && !spec.suite().empty()) {
      return absl::InvalidArgumentError("spec.suite: unknown suite \"" + spec.suite() + "\"");
    }
    eval::RunPlan plan;
    for (const char* set : {"a", "b"}) {
      v1::DatasetInfo info;
      info.set_name(set);
      plan.datasets.push_back(info);
      const int n = spec.limit() > 0 ? std::min<int>(n_, static_cast<int>(spec.limit())) : n_;
      plan.dataset_sample_counts.push_back(n);
      for (int i = 0; i < n; ++i) {
        eval::PlannedSample s;
        s.dataset = set;
        s.sample_index = i;
        s.target = i % 2 == 0 ? "0" : "1";
        v1::Request r;
        r.mutable_loglikelihood()->set_context(absl::StrCat("Q", i, ":"));
        r.mutable_loglikelihood()->add_continuations(" yes");
        r.mutable_loglikelihood()->add_continuations(" no");
        s.requests.push_back(r);
        s.prefix = "Answer yes or no.\n";
        s.estimated_prompt_tokens = 1000;
        s.max_new_tokens = 0;
        plan.samples.push_back(std::move(s));
      }
    }
    return plan;
  }
  absl::StatusOr<std::string> ScoreSample(std::string_view, std::string_view target,
                                          absl::Span<const v1::Output> outputs) const override {
    if (outputs.size() != 1 || !outputs[0].has_loglikelihood() ||
        outputs[0].loglikelihood().continuations_size() != 2) {
      return absl::InvalidArgumentError("expected one loglikelihood output with 2 scores");
    }
    const auto& c = outputs[0].loglikelihood().continuations();
    const int best = c[0].logprob() >= c[1].logprob() ? 0 : 1;
    return std::string(best == (target == "0" ? 0 : 1) ? "1" : "0");
  }
  absl::StatusOr<v1::Results> Aggregate(const v1::RunSpec&,
                                        const std::vector<eval::SetScores>& sets) const override {
    v1::Results r;
    for (const auto& s : sets) {
      auto* set = r.add_sets();
      set->set_dataset(s.dataset);
      set->set_num_samples(static_cast<int64_t>(s.sample_scores.size()));
      set->set_num_samples_total(s.num_samples_planned);
      double sum = 0;
      for (const auto& v : s.sample_scores) sum += v == "1" ? 1 : 0;
      auto* m = set->add_metrics();
      m->set_name("acc");
      m->set_value(s.sample_scores.empty() ? 0 : 100 * sum / s.sample_scores.size());
      set->set_complete(static_cast<int64_t>(s.sample_scores.size()) == s.num_samples_planned);
    }
    return r;
  }

 private:
  int n_;
};

// Answers every request deterministically: " yes" wins on even request ids.
v1::Output AnswerFor(const v1::Request& r) {
  v1::Output o;
  o.set_request_id(r.request_id());
  auto* ll = o.mutable_loglikelihood();
  const bool yes = r.request_id() % 2 == 1;  // request 1 = sample 0 (even)
  for (int i = 0; i < r.loglikelihood().continuations_size(); ++i) {
    auto* c = ll->add_continuations();
    c->set_logprob((i == 0) == yes ? -1.0 : -2.0);
    c->set_num_tokens(1);
  }
  return o;
}

class CoordinatorTest : public CoordinatorFixture {
 protected:
  eval::Catalog* catalog() override { return &catalog_; }
  void SetUp() override {
    CoordinatorFixture::SetUp();
    options_.lease_ttl = absl::Seconds(10);
    options_.max_lease_wait = absl::ZeroDuration();
    options_.planner.job_token_budget = 4000;  // 4 samples per job
    Open();
  }
  v1::RunSpec Spec() {
    v1::RunSpec spec;
    spec.mutable_model()->set_name("m");
    spec.set_suite("tiny");
    return spec;
  }
  std::string RegisterWorker(const std::string& name) {
    v1::RegisterRequest r;
    r.set_worker_name(name);
    r.mutable_capabilities()->set_backend("cpu");
    auto resp = coordinator_->Register(r);
    EXPECT_TRUE(resp.ok()) << resp.status();
    return resp->worker_id();
  }
  std::optional<v1::Job> LeaseJob(const std::string& worker) {
    v1::LeaseRequest r;
    r.set_worker_id(worker);
    auto resp = coordinator_->Lease(r);
    EXPECT_TRUE(resp.ok()) << resp.status();
    if (!resp.ok() || !resp->has_job()) return std::nullopt;
    return resp->job();
  }
  absl::StatusOr<v1::ReportOutputsResponse> Report(const v1::Job& job, bool complete,
                                                   int64_t token_override = 0) {
    v1::ReportOutputsRequest r;
    r.set_job_id(job.job_id());
    r.set_fencing_token(token_override ? token_override : job.fencing_token());
    for (const auto& req : job.requests()) *r.add_outputs() = AnswerFor(req);
    r.set_complete(complete);
    return coordinator_->ReportOutputs(r);
  }
  // Leases and completes every job; returns how many.
  int DrainAll(const std::string& worker) {
    int n = 0;
    while (auto job = LeaseJob(worker)) {
      auto r = Report(*job, true);
      EXPECT_TRUE(r.ok()) << r.status();
      ++n;
    }
    return n;
  }

  TinyCatalog catalog_{10};
};

TEST_F(CoordinatorTest, RunCompletesAndScores) {
  auto run = coordinator_->SubmitRun(Spec());
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->state(), v1::RUN_STATE_QUEUED);
  EXPECT_EQ(run->progress().requests_total(), 20);
  EXPECT_GE(run->progress().jobs_total(), 5);
  const std::string w = RegisterWorker("w1");
  auto job = LeaseJob(w);
  ASSERT_TRUE(job.has_value());
  EXPECT_EQ(job->attempt(), 1);
  EXPECT_GT(job->fencing_token(), 0);
  ASSERT_EQ(job->prefixes_size(), 1);
  EXPECT_EQ(job->requests(0).prefix_index(), 1);
  EXPECT_EQ(coordinator_->GetRun(run->run_id())->state(), v1::RUN_STATE_RUNNING);
  ASSERT_TRUE(Report(*job, true).ok());
  DrainAll(w);
  auto done = coordinator_->GetRun(run->run_id());
  EXPECT_EQ(done->state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(done->progress().requests_done(), 20);
  auto results = coordinator_->GetResults(run->run_id());
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->sets_size(), 2);
  EXPECT_TRUE(results->sets(0).complete());
  EXPECT_DOUBLE_EQ(results->sets(0).metrics(0).value(), 100.0);
}

TEST_F(CoordinatorTest, RepeatedReportIsIdempotent) {
  auto run = coordinator_->SubmitRun(Spec());
  const std::string w = RegisterWorker("w1");
  auto job = LeaseJob(w);
  ASSERT_TRUE(Report(*job, false).ok());
  ASSERT_TRUE(Report(*job, false).ok());
  EXPECT_EQ(coordinator_->GetRun(run->run_id())->progress().requests_done(), job->requests_size());
  ASSERT_TRUE(Report(*job, true).ok());
  EXPECT_EQ(*store_->CountOutputs(run->run_id()), job->requests_size());
}

TEST_F(CoordinatorTest, StaleTokenIsRejectedAfterExpiry) {
  auto run = coordinator_->SubmitRun(Spec());
  const std::string w1 = RegisterWorker("w1");
  const std::string w2 = RegisterWorker("w2");
  auto first = LeaseJob(w1);
  ASSERT_TRUE(first.has_value());
  clock_.Advance(absl::Seconds(11));  // past the TTL, no heartbeat
  coordinator_->Tick();
  clock_.Advance(absl::Seconds(2));  // past the retry backoff
  std::optional<v1::Job> second;
  while (auto j = LeaseJob(w2)) {
    if (j->job_id() == first->job_id()) {
      second = j;
      break;
    }
  }
  ASSERT_TRUE(second.has_value());
  EXPECT_GT(second->fencing_token(), first->fencing_token());
  EXPECT_EQ(second->attempt(), 2);
  auto late = Report(*first, true);
  EXPECT_EQ(late.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(late.status().message(), HasSubstr("stale fencing token"));
  EXPECT_EQ(*store_->CountOutputs(run->run_id()), 0);
  EXPECT_TRUE(Report(*second, true).ok());
}

TEST_F(CoordinatorTest, HeartbeatKeepsLeaseAlive) {
  coordinator_->SubmitRun(Spec()).IgnoreError();
  const std::string w = RegisterWorker("w1");
  auto job = LeaseJob(w);
  for (int i = 0; i < 5; ++i) {
    clock_.Advance(absl::Seconds(6));
    v1::HeartbeatRequest hb;
    hb.set_worker_id(w);
    auto* l = hb.add_leases();
    l->set_job_id(job->job_id());
    l->set_fencing_token(job->fencing_token());
    auto resp = coordinator_->Heartbeat(hb);
    ASSERT_TRUE(resp.ok());
    EXPECT_EQ(resp->lost_job_ids_size(), 0);
    coordinator_->Tick();
  }
  EXPECT_TRUE(Report(*job, true).ok());
}

TEST_F(CoordinatorTest, PoisonJobFailsRunWithReason) {
  options_.planner.default_max_attempts = 2;
  Open();
  auto run = coordinator_->SubmitRun(Spec());
  const std::string w = RegisterWorker("w1");
  auto job = LeaseJob(w);
  v1::ReportOutputsRequest fail;
  fail.set_job_id(job->job_id());
  fail.set_fencing_token(job->fencing_token());
  fail.mutable_failure()->set_code(static_cast<int>(absl::StatusCode::kResourceExhausted));
  fail.mutable_failure()->set_message("out of memory");
  auto r = coordinator_->ReportOutputs(fail);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->job_state(), v1::JOB_STATE_QUEUED);
  clock_.Advance(absl::Minutes(2));
  std::optional<v1::Job> again;
  while (auto j = LeaseJob(w)) {
    if (j->job_id() == job->job_id()) {
      again = j;
      break;
    }
    ASSERT_TRUE(Report(*j, true).ok());
  }
  ASSERT_TRUE(again.has_value());
  fail.set_fencing_token(again->fencing_token());
  r = coordinator_->ReportOutputs(fail);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->job_state(), v1::JOB_STATE_FAILED);
  DrainAll(w);
  auto final_run = coordinator_->GetRun(run->run_id());
  EXPECT_EQ(final_run->state(), v1::RUN_STATE_FAILED);
  EXPECT_THAT(final_run->failure_reason(), HasSubstr("out of memory"));
  EXPECT_THAT(final_run->failure_reason(), HasSubstr("attempt 2 of 2"));
}

TEST_F(CoordinatorTest, CancelReachesWorkerThroughHeartbeat) {
  auto run = coordinator_->SubmitRun(Spec());
  const std::string w = RegisterWorker("w1");
  auto job = LeaseJob(w);
  auto cancelled = coordinator_->CancelRun(run->run_id());
  ASSERT_TRUE(cancelled.ok());
  EXPECT_EQ(cancelled->state(), v1::RUN_STATE_CANCELLED);
  EXPECT_FALSE(LeaseJob(w).has_value());
  v1::HeartbeatRequest hb;
  hb.set_worker_id(w);
  hb.add_leases()->set_job_id(job->job_id());
  hb.mutable_leases(0)->set_fencing_token(job->fencing_token());
  auto resp = coordinator_->Heartbeat(hb);
  ASSERT_TRUE(resp.ok());
  EXPECT_THAT(resp->cancelled_job_ids(), ::testing::ElementsAre(job->job_id()));
  EXPECT_EQ(Report(*job, true).status().code(), absl::StatusCode::kFailedPrecondition);
  // Idempotent.
  EXPECT_EQ(coordinator_->CancelRun(run->run_id())->state(), v1::RUN_STATE_CANCELLED);
}

TEST_F(CoordinatorTest, DrainStopsLeasingAndReleaseCostsNoAttempt) {
  coordinator_->SubmitRun(Spec()).IgnoreError();
  const std::string w = RegisterWorker("w1");
  auto job = LeaseJob(w);
  ASSERT_TRUE(coordinator_->DrainWorker(w).ok());
  EXPECT_FALSE(LeaseJob(w).has_value());
  v1::HeartbeatRequest hb;
  hb.set_worker_id(w);
  EXPECT_TRUE(coordinator_->Heartbeat(hb)->drain());
  v1::ReportOutputsRequest release;
  release.set_job_id(job->job_id());
  release.set_fencing_token(job->fencing_token());
  release.set_release(true);
  auto r = coordinator_->ReportOutputs(release);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->job_state(), v1::JOB_STATE_QUEUED);
  const std::string w2 = RegisterWorker("w2");
  auto again = LeaseJob(w2);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->job_id(), job->job_id());
  EXPECT_EQ(again->attempt(), 1);
}

TEST_F(CoordinatorTest, RecoversEverythingAfterRestart) {
  auto run = coordinator_->SubmitRun(Spec());
  const std::string w = RegisterWorker("w1");
  auto done = LeaseJob(w);
  ASSERT_TRUE(Report(*done, true).ok());
  auto held = LeaseJob(w);  // leased when the coordinator "dies"
  ASSERT_TRUE(Report(*held, false).ok());
  Open();  // restart on the same store
  auto recovered = coordinator_->GetRun(run->run_id());
  ASSERT_TRUE(recovered.ok()) << recovered.status();
  EXPECT_EQ(recovered->progress().jobs_done(), 1);
  EXPECT_EQ(recovered->progress().jobs_leased(), 1);
  EXPECT_EQ(recovered->progress().requests_done(), done->requests_size() + held->requests_size());
  // The old worker re-registers and re-attaches its lease by heartbeat.
  const std::string w2 = RegisterWorker("w1");
  v1::HeartbeatRequest hb;
  hb.set_worker_id(w2);
  hb.add_leases()->set_job_id(held->job_id());
  hb.mutable_leases(0)->set_fencing_token(held->fencing_token());
  auto resp = coordinator_->Heartbeat(hb);
  ASSERT_TRUE(resp.ok());
  EXPECT_EQ(resp->lost_job_ids_size(), 0);
  ASSERT_TRUE(Report(*held, true).ok());
  auto next = LeaseJob(w2);
  ASSERT_TRUE(next.has_value());
  EXPECT_GT(next->fencing_token(), held->fencing_token());
  ASSERT_TRUE(Report(*next, true).ok());
  DrainAll(w2);
  EXPECT_EQ(coordinator_->GetRun(run->run_id())->state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_DOUBLE_EQ(coordinator_->GetResults(run->run_id())->sets(1).metrics(0).value(), 100.0);
}

TEST_F(CoordinatorTest, BadArgumentsNameTheField) {
  v1::RunSpec spec = Spec();
  spec.mutable_model()->clear_name();
  EXPECT_THAT(coordinator_->SubmitRun(spec).status().message(), HasSubstr("spec.model"));
  spec = Spec();
  spec.set_limit(-1);
  EXPECT_THAT(coordinator_->SubmitRun(spec).status().message(), HasSubstr("spec.limit"));
  spec = Spec();
  spec.set_suite("nope");
  EXPECT_EQ(coordinator_->SubmitRun(spec).status().code(), absl::StatusCode::kInvalidArgument);
  spec = Spec();
  spec.set_priority(static_cast<v1::Priority>(42));
  EXPECT_THAT(coordinator_->SubmitRun(spec).status().message(), HasSubstr("spec.priority"));
  spec = Spec();
  (*spec.mutable_labels())["k"] = std::string(100'000, 'x');
  EXPECT_THAT(coordinator_->SubmitRun(spec).status().message(), HasSubstr("spec.labels"));
  EXPECT_EQ(coordinator_->GetRun("missing").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(coordinator_->GetRun("").status().code(), absl::StatusCode::kInvalidArgument);
  v1::LeaseRequest lease;
  lease.set_worker_id("ghost");
  EXPECT_EQ(coordinator_->Lease(lease).status().code(), absl::StatusCode::kNotFound);
  v1::RegisterRequest reg;
  EXPECT_THAT(coordinator_->Register(reg).status().message(), HasSubstr("worker_name"));
  // An output for a request that is not in the run.
  coordinator_->SubmitRun(Spec()).IgnoreError();
  const std::string w = RegisterWorker("w1");
  auto job = LeaseJob(w);
  v1::ReportOutputsRequest bad;
  bad.set_job_id(job->job_id());
  bad.set_fencing_token(job->fencing_token());
  bad.add_outputs()->set_request_id(999999);
  EXPECT_THAT(coordinator_->ReportOutputs(bad).status().message(),
              HasSubstr("outputs[0].request_id"));
  // Completing without every output is refused.
  v1::ReportOutputsRequest early;
  early.set_job_id(job->job_id());
  early.set_fencing_token(job->fencing_token());
  early.set_complete(true);
  EXPECT_EQ(coordinator_->ReportOutputs(early).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(CoordinatorTest, ListRunsPagesNewestFirst) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    v1::RunSpec spec = Spec();
    (*spec.mutable_labels())["i"] = absl::StrCat(i);
    ids.push_back(coordinator_->SubmitRun(spec)->run_id());
  }
  v1::ListRunsRequest req;
  req.set_page_size(2);
  auto page1 = coordinator_->ListRuns(req);
  ASSERT_EQ(page1->runs_size(), 2);
  EXPECT_EQ(page1->runs(0).run_id(), ids[4]);
  req.set_page_token(page1->next_page_token());
  auto page2 = coordinator_->ListRuns(req);
  ASSERT_EQ(page2->runs_size(), 2);
  EXPECT_EQ(page2->runs(0).run_id(), ids[2]);
  v1::ListRunsRequest by_label;
  (*by_label.mutable_label_selector())["i"] = "3";
  auto labelled = coordinator_->ListRuns(by_label);
  ASSERT_EQ(labelled->runs_size(), 1);
  EXPECT_EQ(labelled->runs(0).run_id(), ids[3]);
}

TEST_F(CoordinatorTest, LongPollWakesWhenWorkArrives) {
  options_.max_lease_wait = absl::Seconds(10);
  Open();
  const std::string w = RegisterWorker("w1");
  std::optional<v1::Job> got;
  std::thread waiter([&] {
    v1::LeaseRequest r;
    r.set_worker_id(w);
    r.mutable_wait()->set_seconds(10);
    auto resp = coordinator_->Lease(r);
    if (resp.ok() && resp->has_job()) got = resp->job();
  });
  absl::SleepFor(absl::Milliseconds(100));
  coordinator_->SubmitRun(Spec()).IgnoreError();
  waiter.join();
  EXPECT_TRUE(got.has_value());
}

TEST_F(CoordinatorTest, ConcurrentWorkersCompleteEveryRequestOnce) {
  catalog_ = TinyCatalog(200);
  Open();
  auto run = coordinator_->SubmitRun(Spec());
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      const std::string w = RegisterWorker(absl::StrCat("w", t));
      DrainAll(w);
    });
  }
  for (auto& t : threads) t.join();
  auto done = coordinator_->GetRun(run->run_id());
  EXPECT_EQ(done->state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(done->progress().requests_done(), 400);
  EXPECT_EQ(*store_->CountOutputs(run->run_id()), 400);
}

// A job completes only once every one of its requests has an output stored,
// counting outputs accepted under an earlier (expired) lease once each, and a
// repeated output not at all (the coordinator counts them in memory for the
// runs it planned; the store holds the same count).
TEST_F(CoordinatorTest, CompletionCountsEachStoredOutputOnce) {
  auto run = coordinator_->SubmitRun(Spec());
  const std::string w = RegisterWorker("w1");
  auto first = LeaseJob(w);
  ASSERT_TRUE(first.has_value());
  ASSERT_EQ(first->requests_size(), 4);
  auto report = [&](const v1::Job& job, int from, int to, bool complete) {
    v1::ReportOutputsRequest r;
    r.set_job_id(job.job_id());
    r.set_fencing_token(job.fencing_token());
    for (int i = from; i < to; ++i) *r.add_outputs() = AnswerFor(job.requests(i));
    r.set_complete(complete);
    return coordinator_->ReportOutputs(r);
  };
  ASSERT_TRUE(report(*first, 0, 2, false).ok());
  auto early = report(*first, 0, 0, true);
  EXPECT_EQ(early.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(early.status().message(), HasSubstr("has 2 of 4 outputs stored"));
  // The lease expires; the job comes back under a new token.
  clock_.Advance(absl::Seconds(11));
  coordinator_->Tick();
  clock_.Advance(absl::Seconds(2));
  std::optional<v1::Job> second;
  while (auto j = LeaseJob(w)) {
    if (j->job_id() == first->job_id()) {
      second = j;
      break;
    }
  }
  ASSERT_TRUE(second.has_value());
  // Requests 0 and 1 again (already stored) and 2: still one short.
  auto short_by_one = report(*second, 0, 3, true);
  EXPECT_EQ(short_by_one.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(short_by_one.status().message(), HasSubstr("has 3 of 4 outputs stored"));
  auto done = report(*second, 0, 4, true);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->job_state(), v1::JOB_STATE_DONE);
  EXPECT_EQ(done->outputs_stored(), 4);
  EXPECT_EQ(store_->StoredRequestIds(run->run_id(), first->job_id())->size(), 4u);
  EXPECT_EQ(coordinator_->GetRun(run->run_id())->progress().jobs_done(), 1);
}

// The lease protocol's guarantee: by the time Lease returns a job, its lease
// (state, worker, fencing token) is committed to the store, so a coordinator
// killed right after answering recovers every lease a worker heard of. Checked
// under concurrency, where leases share group commits.
TEST_F(CoordinatorTest, EveryGrantedLeaseIsCommittedBeforeTheWorkerHearsOfIt) {
  catalog_ = TinyCatalog(200);
  Open();
  auto run = coordinator_->SubmitRun(Spec());
  ASSERT_TRUE(run.ok());
  absl::Mutex mu;
  std::vector<std::pair<int64_t, int64_t>> missing;  // (job, token) not found committed
  int64_t checked = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      const std::string w = RegisterWorker(absl::StrCat("w", t));
      while (auto job = LeaseJob(w)) {
        // What the store holds right now (its read connections see only
        // committed transactions).
        auto jobs = store_->LoadJobsOfRun(run->run_id());
        ASSERT_TRUE(jobs.ok()) << jobs.status();
        bool found = false;
        for (const JobRecord& j : *jobs) {
          if (j.job_id != job->job_id()) continue;
          found = j.fencing_token == job->fencing_token() &&
                  (j.state == v1::JOB_STATE_LEASED || j.state == v1::JOB_STATE_DONE);
        }
        {
          absl::MutexLock lock(&mu);
          ++checked;
          if (!found) missing.emplace_back(job->job_id(), job->fencing_token());
        }
        ASSERT_TRUE(Report(*job, true).ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(checked, 100);  // 400 requests, 4 per job
  EXPECT_TRUE(missing.empty()) << missing.size() << " leases were not committed, first job "
                               << missing.front().first;
  // And a restart on the same store recovers every job's final state.
  Open();
  EXPECT_EQ(coordinator_->GetRun(run->run_id())->progress().jobs_done(), 100);
}

}  // namespace
}  // namespace proctor::coordinator

namespace proctor::coordinator {
namespace {

TEST_F(CoordinatorTest, ModelPathsAreConfinedToTheModelRoot) {
  std::filesystem::create_directories(dir_ / "models");
  options_.model_root = (dir_ / "models").string();
  Open();
  v1::RunSpec spec = Spec();
  spec.mutable_model()->set_path("../../etc/shadow");
  auto refused = coordinator_->SubmitRun(spec);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), HasSubstr("spec.model.path"));
  spec.mutable_model()->set_path("/etc/passwd");
  EXPECT_EQ(coordinator_->SubmitRun(spec).status().code(), absl::StatusCode::kInvalidArgument);
  spec.mutable_model()->set_path("tiny.gguf");
  auto accepted = coordinator_->SubmitRun(spec);
  ASSERT_TRUE(accepted.ok()) << accepted.status();
  EXPECT_EQ(accepted->spec().model().path(), (dir_ / "models" / "tiny.gguf").string());
}

}  // namespace
}  // namespace proctor::coordinator
