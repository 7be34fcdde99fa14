#include "coordinator/store/sqlite_store.h"

#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "coordinator/store/migrations.h"
#include "coordinator/store/store_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace proctor::coordinator {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A planned run: `num_jobs` jobs of `requests_per_job` requests each, request
// ids numbered from 1 across the run, one sample per job.
struct Plan {
  RunRecord run;
  std::vector<JobRecord> jobs;
  std::vector<JobPayload> payloads;
  std::vector<SampleRecord> samples;
};

Plan MakePlan(const std::string& run_id, int num_jobs, int requests_per_job) {
  Plan plan;
  plan.run.run_id = run_id;
  plan.run.spec.mutable_model()->set_name("smollm2-135m");
  plan.run.spec.mutable_model()->set_tensor_parallel(2);
  plan.run.spec.set_suite("base");
  plan.run.spec.set_seed(1234);
  plan.run.spec.set_priority(v1::PRIORITY_SWEEP);
  (*plan.run.spec.mutable_labels())["team"] = "eval";
  plan.run.state = v1::RUN_STATE_QUEUED;
  plan.run.created_at = absl::FromUnixMicros(1'700'000'000'123'456);
  plan.run.datasets = {{"mmlu", 14042}, {"gsm8k", 1319}};
  int64_t request_id = 1;
  for (int j = 0; j < num_jobs; ++j) {
    JobRecord job;
    job.index_in_run = j;
    job.model_key = "smollm2-135m@cpu";
    job.priority = v1::PRIORITY_SWEEP;
    job.submitter = "alice";
    job.judge = j % 2 == 1;
    job.estimated_tokens = 1000 + j;
    job.num_requests = requests_per_job;
    job.tensor_parallel = 2;
    job.min_gpu_memory_bytes = int64_t{8} << 30;
    job.backend = "cuda";
    plan.jobs.push_back(job);
    JobPayload payload;
    payload.prefixes = {absl::StrCat("few-shot block ", j)};
    SampleRecord sample;
    sample.dataset = j % 2 == 0 ? "mmlu" : "gsm8k";
    sample.sample_index = j;
    sample.target = absl::StrCat("target-", j);
    for (int r = 0; r < requests_per_job; ++r) {
      v1::Request& req = payload.requests.emplace_back();
      req.set_request_id(request_id);
      req.set_prefix_index(1);
      req.mutable_loglikelihood()->set_context(absl::StrCat("Q", request_id));
      req.mutable_loglikelihood()->add_continuations(" A");
      req.mutable_loglikelihood()->add_continuations(" B");
      sample.request_ids.push_back(request_id);
      ++request_id;
    }
    plan.payloads.push_back(std::move(payload));
    plan.samples.push_back(std::move(sample));
  }
  return plan;
}

v1::Output MakeOutput(int64_t request_id) {
  v1::Output out;
  out.set_request_id(request_id);
  auto* c = out.mutable_loglikelihood()->add_continuations();
  c->set_logprob(-0.25 * static_cast<double>(request_id));
  c->set_num_tokens(3);
  c->set_is_greedy(request_id % 2 == 0);
  return out;
}

OutputBatch MakeBatch(const Plan& plan, int job_index) {
  OutputBatch batch;
  batch.run_id = plan.run.run_id;
  batch.job_id = plan.jobs[job_index].job_id;
  for (const v1::Request& req : plan.payloads[job_index].requests) {
    batch.outputs.push_back(MakeOutput(req.request_id()));
  }
  return batch;
}

std::unique_ptr<SqliteStore> OpenOrDie(const std::string& path) {
  absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(path);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? std::move(*store) : nullptr;
}

void ExpectSameJob(const JobRecord& a, const JobRecord& b) {
  EXPECT_EQ(a.job_id, b.job_id);
  EXPECT_EQ(a.run_id, b.run_id);
  EXPECT_EQ(a.index_in_run, b.index_in_run);
  EXPECT_EQ(a.state, b.state);
  EXPECT_EQ(a.attempts, b.attempts);
  EXPECT_EQ(a.fencing_token, b.fencing_token);
  EXPECT_EQ(a.worker_id, b.worker_id);
  EXPECT_EQ(a.lease_expires_at, b.lease_expires_at);
  EXPECT_EQ(a.not_before, b.not_before);
  EXPECT_EQ(a.failure_reason, b.failure_reason);
  EXPECT_EQ(a.model_key, b.model_key);
  EXPECT_EQ(a.priority, b.priority);
  EXPECT_EQ(a.submitter, b.submitter);
  EXPECT_EQ(a.judge, b.judge);
  EXPECT_EQ(a.estimated_tokens, b.estimated_tokens);
  EXPECT_EQ(a.num_requests, b.num_requests);
  EXPECT_EQ(a.tensor_parallel, b.tensor_parallel);
  EXPECT_EQ(a.min_gpu_memory_bytes, b.min_gpu_memory_bytes);
  EXPECT_EQ(a.backend, b.backend);
}

void ExpectSameRun(const RunRecord& a, const RunRecord& b) {
  EXPECT_EQ(a.run_id, b.run_id);
  EXPECT_EQ(a.spec.SerializeAsString(), b.spec.SerializeAsString());
  EXPECT_EQ(a.state, b.state);
  EXPECT_EQ(a.created_at, b.created_at);
  EXPECT_EQ(a.finished_at, b.finished_at);
  EXPECT_EQ(a.failure_reason, b.failure_reason);
  EXPECT_EQ(a.datasets, b.datasets);
  EXPECT_EQ(a.seq, b.seq);
}

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.File("store.db");
    store_ = OpenOrDie(path_);
    ASSERT_NE(store_, nullptr);
  }
  Plan CreatePlan(const std::string& run_id, int num_jobs, int requests_per_job) {
    Plan plan = MakePlan(run_id, num_jobs, requests_per_job);
    absl::Status s = store_->CreateRun(plan.run, plan.jobs, plan.payloads, plan.samples);
    EXPECT_TRUE(s.ok()) << s;
    return plan;
  }
  void Reopen() {
    store_.reset();
    store_ = OpenOrDie(path_);
    ASSERT_NE(store_, nullptr);
  }

  ScratchDir dir_;
  std::string path_;
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(SqliteStoreTest, CreateRunAssignsSeqAndJobIdsAndRoundTrips) {
  Plan a = CreatePlan("run-a", 3, 2);
  Plan b = CreatePlan("run-b", 2, 1);
  EXPECT_EQ(a.run.seq, 1);
  EXPECT_EQ(b.run.seq, 2);
  EXPECT_EQ(a.jobs[0].job_id, 1);
  EXPECT_EQ(a.jobs[2].job_id, 3);
  EXPECT_EQ(b.jobs[0].job_id, 4);
  EXPECT_EQ(b.jobs[1].run_id, "run-b");

  absl::StatusOr<RunRecord> got = store_->GetRun("run-a");
  ASSERT_TRUE(got.ok()) << got.status();
  ExpectSameRun(*got, a.run);
  EXPECT_EQ(got->finished_at, absl::InfinitePast());

  absl::StatusOr<std::vector<RunRecord>> runs = store_->LoadRuns();
  ASSERT_TRUE(runs.ok()) << runs.status();
  ASSERT_EQ(runs->size(), 2u);
  ExpectSameRun((*runs)[0], a.run);
  ExpectSameRun((*runs)[1], b.run);

  absl::StatusOr<std::vector<JobRecord>> jobs = store_->LoadJobsOfRun("run-a");
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  ASSERT_EQ(jobs->size(), 3u);
  for (size_t i = 0; i < jobs->size(); ++i) ExpectSameJob((*jobs)[i], a.jobs[i]);

  absl::StatusOr<JobPayload> payload = store_->LoadJobPayload(a.jobs[1].job_id);
  ASSERT_TRUE(payload.ok()) << payload.status();
  EXPECT_EQ(payload->prefixes, a.payloads[1].prefixes);
  ASSERT_EQ(payload->requests.size(), 2u);
  EXPECT_EQ(payload->requests[1].SerializeAsString(),
            a.payloads[1].requests[1].SerializeAsString());

  absl::StatusOr<std::vector<SampleRecord>> samples = store_->LoadSamples("run-a");
  ASSERT_TRUE(samples.ok()) << samples.status();
  ASSERT_EQ(samples->size(), 3u);
  for (size_t i = 0; i < samples->size(); ++i) {
    EXPECT_EQ((*samples)[i].dataset, a.samples[i].dataset);
    EXPECT_EQ((*samples)[i].sample_index, a.samples[i].sample_index);
    EXPECT_EQ((*samples)[i].target, a.samples[i].target);
    EXPECT_EQ((*samples)[i].request_ids, a.samples[i].request_ids);
  }
}

TEST_F(SqliteStoreTest, UnknownIdsAreNotFound) {
  CreatePlan("run-a", 1, 1);
  EXPECT_EQ(store_->GetRun("nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->LoadJobsOfRun("nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->LoadJobPayload(99).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->CountOutputs("nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->LoadSamples("nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->LoadScores("nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->LoadOutputs("nope", {1}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->StoredRequestIds("run-a", 99).status().code(), absl::StatusCode::kNotFound);
  RunRecord ghost;
  ghost.run_id = "ghost";
  EXPECT_EQ(store_->UpdateRun(ghost).code(), absl::StatusCode::kNotFound);
}

TEST_F(SqliteStoreTest, DuplicateRunIsAlreadyExistsAndChangesNothing) {
  Plan a = CreatePlan("run-a", 2, 1);
  Plan again = MakePlan("run-a", 5, 1);
  absl::Status s = store_->CreateRun(again.run, again.jobs, again.payloads, again.samples);
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists) << s;
  EXPECT_THAT(s.message(), HasSubstr("run-a"));
  EXPECT_EQ(again.jobs[0].job_id, 0) << "ids must not be assigned on failure";
  EXPECT_EQ(store_->LoadJobsOfRun("run-a")->size(), 2u);
  // Ids continue after the failed attempt as if it never happened.
  Plan b = CreatePlan("run-b", 1, 1);
  EXPECT_EQ(b.run.seq, 2);
  EXPECT_EQ(b.jobs[0].job_id, 3);
}

TEST_F(SqliteStoreTest, InvalidCreateRunIsAtomic) {
  Plan bad = MakePlan("run-bad", 2, 1);
  bad.payloads.pop_back();
  EXPECT_EQ(store_->CreateRun(bad.run, bad.jobs, bad.payloads, bad.samples).code(),
            absl::StatusCode::kInvalidArgument);

  Plan dup = MakePlan("run-dup", 2, 1);
  dup.samples[1] = dup.samples[0];  // same (dataset, sample_index) twice
  absl::Status s = store_->CreateRun(dup.run, dup.jobs, dup.payloads, dup.samples);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(s.message(), HasSubstr("sample mmlu/0"));
  EXPECT_EQ(store_->GetRun("run-dup").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(store_->LoadActiveJobs()->empty());

  Plan no_id = MakePlan("", 1, 1);
  EXPECT_EQ(store_->CreateRun(no_id.run, no_id.jobs, no_id.payloads, no_id.samples).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(SqliteStoreTest, UpdateRunWritesEveryFieldButSeq) {
  Plan a = CreatePlan("run-a", 1, 1);
  RunRecord run = a.run;
  run.state = v1::RUN_STATE_FAILED;
  run.finished_at = absl::FromUnixMicros(1'800'000'000'000'001);
  run.failure_reason = "job 1 is poison: worker crashed 3 times";
  run.spec.set_limit(10);
  run.datasets = {{"arc_easy", 2376}};
  ASSERT_TRUE(store_->UpdateRun(run).ok());
  absl::StatusOr<RunRecord> got = store_->GetRun("run-a");
  ASSERT_TRUE(got.ok());
  ExpectSameRun(*got, run);
}

TEST_F(SqliteStoreTest, UpdateJobsRoundTripAndActiveFilter) {
  Plan a = CreatePlan("run-a", 4, 1);
  std::vector<JobRecord> jobs = a.jobs;
  jobs[0].state = v1::JOB_STATE_LEASED;
  jobs[0].attempts = 1;
  jobs[0].fencing_token = 17;
  jobs[0].worker_id = "gpu-node-3:0,1";
  jobs[0].lease_expires_at = absl::FromUnixMicros(1'700'000'030'000'000);
  jobs[1].state = v1::JOB_STATE_DONE;
  jobs[2].state = v1::JOB_STATE_FAILED;
  jobs[2].failure_reason = "CUDA out of memory";
  jobs[2].not_before = absl::FromUnixMicros(1'700'000'060'000'000);
  jobs[3].priority = v1::PRIORITY_BACKFILL;
  ASSERT_TRUE(store_->UpdateJobs({jobs[0], jobs[1], jobs[2], jobs[3]}).ok());

  absl::StatusOr<std::vector<JobRecord>> all = store_->LoadJobsOfRun("run-a");
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 4u);
  for (size_t i = 0; i < 4; ++i) ExpectSameJob((*all)[i], jobs[i]);

  absl::StatusOr<std::vector<JobRecord>> active = store_->LoadActiveJobs();
  ASSERT_TRUE(active.ok());
  ASSERT_EQ(active->size(), 2u);
  ExpectSameJob((*active)[0], jobs[0]);
  ExpectSameJob((*active)[1], jobs[3]);
}

TEST_F(SqliteStoreTest, UpdateJobsWithUnknownIdChangesNothing) {
  Plan a = CreatePlan("run-a", 2, 1);
  JobRecord changed = a.jobs[0];
  changed.state = v1::JOB_STATE_DONE;
  JobRecord unknown = a.jobs[1];
  unknown.job_id = 12345;
  absl::Status s = store_->UpdateJobs({changed, unknown});
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
  EXPECT_THAT(s.message(), HasSubstr("12345"));
  absl::StatusOr<std::vector<JobRecord>> jobs = store_->LoadJobsOfRun("run-a");
  ASSERT_TRUE(jobs.ok());
  EXPECT_EQ((*jobs)[0].state, v1::JOB_STATE_QUEUED) << "the known job must not be updated";

  JobRecord invalid = a.jobs[0];
  invalid.state = static_cast<v1::JobState>(42);
  EXPECT_EQ(store_->UpdateJobs({invalid}).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SqliteStoreTest, WriteOutputsIsIdempotent) {
  Plan a = CreatePlan("run-a", 2, 5);
  OutputBatch batch = MakeBatch(a, 0);
  absl::StatusOr<int64_t> first = store_->WriteOutputs(batch);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, 5);
  absl::StatusOr<int64_t> second = store_->WriteOutputs(batch);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*second, 0);
  EXPECT_EQ(*store_->CountOutputs("run-a"), 5);

  // A partly new batch (with an internal duplicate) counts only new outputs.
  OutputBatch mixed = MakeBatch(a, 1);
  mixed.outputs.resize(3);
  mixed.outputs.push_back(mixed.outputs[0]);
  EXPECT_EQ(*store_->WriteOutputs(mixed), 3);
  EXPECT_EQ(*store_->CountOutputs("run-a"), 8);

  EXPECT_THAT(*store_->StoredRequestIds("run-a", a.jobs[0].job_id), ElementsAre(1, 2, 3, 4, 5));
  EXPECT_THAT(*store_->StoredRequestIds("run-a", a.jobs[1].job_id), ElementsAre(6, 7, 8));

  absl::StatusOr<std::vector<v1::Output>> loaded = store_->LoadOutputs("run-a", {7, 2, 10, 6});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_EQ(loaded->size(), 3u) << "request 10 has no output and is skipped";
  EXPECT_EQ((*loaded)[0].SerializeAsString(), MakeOutput(7).SerializeAsString());
  EXPECT_EQ((*loaded)[1].SerializeAsString(), MakeOutput(2).SerializeAsString());
  EXPECT_EQ((*loaded)[2].SerializeAsString(), MakeOutput(6).SerializeAsString());
}

TEST_F(SqliteStoreTest, WriteOutputsRejectsWrongRunOrJob) {
  Plan a = CreatePlan("run-a", 1, 2);
  Plan b = CreatePlan("run-b", 1, 2);
  OutputBatch batch = MakeBatch(a, 0);
  batch.run_id = "nope";
  EXPECT_EQ(store_->WriteOutputs(batch).status().code(), absl::StatusCode::kNotFound);
  batch = MakeBatch(a, 0);
  batch.job_id = 999;
  EXPECT_EQ(store_->WriteOutputs(batch).status().code(), absl::StatusCode::kNotFound);
  batch = MakeBatch(a, 0);
  batch.job_id = b.jobs[0].job_id;
  EXPECT_EQ(store_->WriteOutputs(batch).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*store_->CountOutputs("run-a"), 0);
  EXPECT_EQ(*store_->CountOutputs("run-b"), 0);
}

TEST_F(SqliteStoreTest, ScoresAreWrittenWithOutputsAndFirstScoreWins) {
  Plan a = CreatePlan("run-a", 2, 1);
  OutputBatch batch = MakeBatch(a, 0);
  batch.scores = {{"mmlu", 0, "acc=1"}, {"gsm8k", 1, "em=0"}};
  ASSERT_TRUE(store_->WriteOutputs(batch).ok());
  batch.scores = {{"mmlu", 0, "acc=0"}, {"mmlu", 7, "acc=1"}};
  ASSERT_TRUE(store_->WriteOutputs(batch).ok());
  absl::StatusOr<std::vector<SampleScore>> scores = store_->LoadScores("run-a");
  ASSERT_TRUE(scores.ok());
  ASSERT_EQ(scores->size(), 3u);
  EXPECT_EQ((*scores)[0].dataset, "gsm8k");
  EXPECT_EQ((*scores)[1].dataset, "mmlu");
  EXPECT_EQ((*scores)[1].sample_index, 0);
  EXPECT_EQ((*scores)[1].score, "acc=1") << "an existing score is kept";
  EXPECT_EQ((*scores)[2].sample_index, 7);
}

TEST_F(SqliteStoreTest, FencingTokensAreStrictlyIncreasingAcrossReopen) {
  absl::StatusOr<int64_t> t1 = store_->ReserveFencingTokens(1);
  ASSERT_TRUE(t1.ok());
  EXPECT_EQ(*t1, 1);
  absl::StatusOr<int64_t> t2 = store_->ReserveFencingTokens(10);
  EXPECT_EQ(*t2, 2);
  Reopen();
  absl::StatusOr<int64_t> t3 = store_->ReserveFencingTokens(1);
  ASSERT_TRUE(t3.ok());
  EXPECT_EQ(*t3, 12);
  EXPECT_EQ(store_->ReserveFencingTokens(0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->ReserveFencingTokens(-5).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*store_->ReserveFencingTokens(1), 13);
}

TEST_F(SqliteStoreTest, ReopenKeepsEverything) {
  Plan a = CreatePlan("run-a", 3, 4);
  ASSERT_TRUE(store_->WriteOutputs(MakeBatch(a, 1)).ok());
  JobRecord leased = a.jobs[2];
  leased.state = v1::JOB_STATE_LEASED;
  leased.fencing_token = 5;
  ASSERT_TRUE(store_->UpdateJobs({leased}).ok());
  Reopen();
  absl::StatusOr<RunRecord> run = store_->GetRun("run-a");
  ASSERT_TRUE(run.ok()) << run.status();
  ExpectSameRun(*run, a.run);
  EXPECT_EQ(*store_->CountOutputs("run-a"), 4);
  EXPECT_THAT(*store_->StoredRequestIds("run-a", a.jobs[1].job_id), ElementsAre(5, 6, 7, 8));
  absl::StatusOr<std::vector<JobRecord>> jobs = store_->LoadJobsOfRun("run-a");
  ASSERT_TRUE(jobs.ok());
  ExpectSameJob((*jobs)[2], leased);
  EXPECT_EQ(store_->LoadSamples("run-a")->size(), 3u);
  // Writing after reopen continues the id sequences.
  Plan b = CreatePlan("run-b", 1, 1);
  EXPECT_EQ(b.run.seq, 2);
  EXPECT_EQ(b.jobs[0].job_id, 4);
}

TEST_F(SqliteStoreTest, ConcurrentWritersFromSixteenThreadsAreAllDurable) {
  constexpr int kThreads = 16;
  constexpr int kBatchesPerThread = 10;
  constexpr int kOutputsPerBatch = 20;
  // One job per thread with enough requests for all of its batches.
  Plan plan = CreatePlan("run-c", kThreads, kBatchesPerThread * kOutputsPerBatch);
  std::atomic<int> failures{0};
  std::vector<std::vector<int64_t>> tokens(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      OutputBatch full = MakeBatch(plan, t);
      JobRecord job = plan.jobs[t];
      for (int b = 0; b < kBatchesPerThread; ++b) {
        OutputBatch part;
        part.run_id = full.run_id;
        part.job_id = full.job_id;
        part.outputs.assign(full.outputs.begin() + b * kOutputsPerBatch,
                            full.outputs.begin() + (b + 1) * kOutputsPerBatch);
        absl::StatusOr<int64_t> n = store_->WriteOutputs(part);
        if (!n.ok() || *n != kOutputsPerBatch) ++failures;
        absl::StatusOr<int64_t> token = store_->ReserveFencingTokens(1);
        if (!token.ok())
          ++failures;
        else
          tokens[t].push_back(*token);
        job.attempts = b + 1;
        job.fencing_token = token.ok() ? *token : 0;
        job.state = b + 1 == kBatchesPerThread ? v1::JOB_STATE_DONE : v1::JOB_STATE_LEASED;
        if (!store_->UpdateJobs({job}).ok()) ++failures;
        // A failing call in the same batches must not disturb the others.
        JobRecord ghost = job;
        ghost.job_id = 1'000'000 + t;
        if (store_->UpdateJobs({ghost}).code() != absl::StatusCode::kNotFound) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);

  Reopen();
  EXPECT_EQ(*store_->CountOutputs("run-c"), kThreads * kBatchesPerThread * kOutputsPerBatch);
  std::set<int64_t> all_tokens;
  for (const auto& list : tokens) {
    for (size_t i = 1; i < list.size(); ++i) EXPECT_LT(list[i - 1], list[i]);
    all_tokens.insert(list.begin(), list.end());
  }
  EXPECT_EQ(all_tokens.size(), static_cast<size_t>(kThreads * kBatchesPerThread))
      << "every fencing token is unique";
  absl::StatusOr<std::vector<JobRecord>> jobs = store_->LoadJobsOfRun("run-c");
  ASSERT_TRUE(jobs.ok());
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ((*jobs)[t].state, v1::JOB_STATE_DONE);
    EXPECT_EQ((*jobs)[t].attempts, kBatchesPerThread);
    EXPECT_EQ((*jobs)[t].fencing_token, tokens[t].back());
    EXPECT_EQ(store_->StoredRequestIds("run-c", plan.jobs[t].job_id)->size(),
              static_cast<size_t>(kBatchesPerThread * kOutputsPerBatch));
  }
  EXPECT_TRUE(store_->LoadActiveJobs()->empty());
}

TEST_F(SqliteStoreTest, FailingCallInASharedBatchIsRolledBackAlone) {
  Plan plan = CreatePlan("run-g", 2, 1);
  // Hold the writer so that the next calls queue up behind it.
  absl::Notification release;
  std::thread holder([&] {
    EXPECT_TRUE(store_
                    ->RunInWriteBatchForTest([&](sqlite::Connection&) {
                      release.WaitForNotification();
                      return absl::OkStatus();
                    })
                    .ok());
  });
  auto wait_for_queue = [&](int64_t n) {
    while (store_->queued_writes_for_test() < n) absl::SleepFor(absl::Milliseconds(1));
  };
  wait_for_queue(1);
  const int64_t batches_before = store_->write_batches();

  JobRecord good = plan.jobs[0];
  good.state = v1::JOB_STATE_LEASED;
  good.fencing_token = 9;
  JobRecord good_too = plan.jobs[1];
  good_too.state = v1::JOB_STATE_CANCELLED;
  JobRecord ghost = plan.jobs[1];
  ghost.job_id = 777;
  ghost.state = v1::JOB_STATE_DONE;
  absl::Status good_status, ghost_status;
  absl::StatusOr<int64_t> outputs_written;
  std::thread t1([&] { good_status = store_->UpdateJobs({good}); });
  wait_for_queue(2);
  // Updates a real job first, then fails on the unknown one: the whole call
  // must be undone while its neighbours in the batch commit.
  std::thread t2([&] { ghost_status = store_->UpdateJobs({good_too, ghost}); });
  wait_for_queue(3);
  std::thread t3([&] { outputs_written = store_->WriteOutputs(MakeBatch(plan, 1)); });
  wait_for_queue(4);
  release.Notify();
  for (std::thread* t : {&holder, &t1, &t2, &t3}) t->join();

  EXPECT_EQ(store_->write_batches() - batches_before, 2)
      << "the holder's batch, then one batch shared by the three queued calls";
  EXPECT_TRUE(good_status.ok()) << good_status;
  EXPECT_EQ(ghost_status.code(), absl::StatusCode::kNotFound) << ghost_status;
  ASSERT_TRUE(outputs_written.ok()) << outputs_written.status();
  EXPECT_EQ(*outputs_written, 1);
  Reopen();
  absl::StatusOr<std::vector<JobRecord>> jobs = store_->LoadJobsOfRun("run-g");
  ASSERT_TRUE(jobs.ok());
  EXPECT_EQ((*jobs)[0].state, v1::JOB_STATE_LEASED);
  EXPECT_EQ((*jobs)[0].fencing_token, 9);
  EXPECT_EQ((*jobs)[1].state, v1::JOB_STATE_QUEUED) << "the failed call's first update is undone";
  EXPECT_EQ(*store_->CountOutputs("run-g"), 1);
}

TEST_F(SqliteStoreTest, FullDiskIsUnavailableAndLeavesTheStoreUnchanged) {
  Plan plan = CreatePlan("run-full", 2, 2000);
  ASSERT_TRUE(store_->WriteOutputs(MakeBatch(plan, 0)).ok());
  // Cap the file at its current size: the next batch needs new pages.
  ASSERT_TRUE(store_
                  ->RunInWriteBatchForTest(
                      [](sqlite::Connection& db) { return db.Exec("PRAGMA max_page_count = 1"); })
                  .ok());
  absl::StatusOr<int64_t> full = store_->WriteOutputs(MakeBatch(plan, 1));
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.status().code(), absl::StatusCode::kUnavailable) << full.status();
  EXPECT_EQ(*store_->CountOutputs("run-full"), 2000);
  EXPECT_TRUE(store_->StoredRequestIds("run-full", plan.jobs[1].job_id)->empty());
  // Once space is back, the same batch goes through completely.
  ASSERT_TRUE(store_
                  ->RunInWriteBatchForTest([](sqlite::Connection& db) {
                    return db.Exec("PRAGMA max_page_count = 1073741823");
                  })
                  .ok());
  absl::StatusOr<int64_t> retried = store_->WriteOutputs(MakeBatch(plan, 1));
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(*retried, 2000);
  Reopen();
  EXPECT_EQ(*store_->CountOutputs("run-full"), 4000);
}

TEST_F(SqliteStoreTest, ReadersSeeMonotonicProgressWhileWritersCommit) {
  constexpr int kJobs = 4;
  constexpr int kOutputsPerJob = 200;
  Plan plan = CreatePlan("run-r", kJobs, kOutputsPerJob);
  std::atomic<bool> writing{true};
  std::atomic<int> errors{0};
  std::vector<std::thread> readers;
  // More readers than read connections, so some wait for a free one.
  for (int r = 0; r < 8; ++r) {
    readers.emplace_back([&] {
      int64_t last = 0;
      while (writing.load()) {
        absl::StatusOr<int64_t> n = store_->CountOutputs("run-r");
        if (!n.ok() || *n < last) ++errors;
        if (n.ok()) last = *n;
        if (!store_->LoadJobsOfRun("run-r").ok()) ++errors;
      }
    });
  }
  std::vector<std::thread> writers;
  for (int w = 0; w < kJobs; ++w) {
    writers.emplace_back([&, w] {
      OutputBatch full = MakeBatch(plan, w);
      for (int i = 0; i < kOutputsPerJob; i += 10) {
        OutputBatch part;
        part.run_id = full.run_id;
        part.job_id = full.job_id;
        part.outputs.assign(full.outputs.begin() + i, full.outputs.begin() + i + 10);
        if (!store_->WriteOutputs(part).ok()) ++errors;
      }
    });
  }
  for (auto& t : writers) t.join();
  writing = false;
  for (auto& t : readers) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(*store_->CountOutputs("run-r"), kJobs * kOutputsPerJob);
}

TEST_F(SqliteStoreTest, UndecodableStoredValuesAreDataLoss) {
  Plan plan = CreatePlan("run-x", 2, 1);
  store_.reset();
  {
    absl::StatusOr<std::unique_ptr<sqlite::Connection>> db =
        sqlite::Connection::Open(path_, SQLITE_OPEN_READWRITE);
    ASSERT_TRUE(db.ok());
    // Bytes that are not a valid protobuf (field 1, wire type 7 does not exist).
    ASSERT_TRUE((*db)->Exec("UPDATE runs SET spec = x'0f0f0f'").ok());
    ASSERT_TRUE((*db)->Exec("UPDATE jobs SET state = 42 WHERE job_id = 2").ok());
    ASSERT_TRUE((*db)->Exec("UPDATE job_payloads SET payload = x'ffff' WHERE job_id = 1").ok());
    ASSERT_TRUE((*db)->Exec("UPDATE samples SET request_ids = x'0102030405'").ok());
  }
  Reopen();
  EXPECT_EQ(store_->GetRun("run-x").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(store_->LoadRuns().status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(store_->LoadJobsOfRun("run-x").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(store_->LoadJobPayload(1).status().code(), absl::StatusCode::kDataLoss);
  absl::Status samples = store_->LoadSamples("run-x").status();
  EXPECT_EQ(samples.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(samples.message(), HasSubstr("not a multiple of 8"));
}

// Open-time refusals --------------------------------------------------------

class SqliteStoreOpenTest : public ::testing::Test {
 protected:
  // A real store with a run, outputs and enough rows to span many pages.
  std::string MakeStore(const std::string& name) {
    const std::string path = dir_.File(name);
    std::unique_ptr<SqliteStore> store = OpenOrDie(path);
    Plan plan = MakePlan("run-a", 20, 50);
    EXPECT_TRUE(store->CreateRun(plan.run, plan.jobs, plan.payloads, plan.samples).ok());
    for (int j = 0; j < 20; ++j) EXPECT_TRUE(store->WriteOutputs(MakeBatch(plan, j)).ok());
    return path;
  }
  void SetUserVersion(const std::string& path, int version) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, absl::StrCat("PRAGMA user_version = ", version).c_str(), nullptr,
                           nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }

  ScratchDir dir_;
};

TEST_F(SqliteStoreOpenTest, NewerSchemaIsRefusedAndFileUntouched) {
  const std::string path = MakeStore("newer.db");
  SetUserVersion(path, LatestSchemaVersion() + 1);
  const FileSnapshot before = Snapshot(path);
  ::usleep(20'000);  // so that a write would show in the mtime
  absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(path);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store.status().message(),
            absl::StrCat("store at ", path, " has schema version ", LatestSchemaVersion() + 1,
                         ", this proctor-coordinator supports up to ", LatestSchemaVersion(),
                         "; upgrade proctor"));
  EXPECT_TRUE(Snapshot(path) == before);
}

TEST_F(SqliteStoreOpenTest, TruncatedStoreIsDataLossAndUntouched) {
  const std::string path = MakeStore("truncated.db");
  std::string bytes = ReadFileBytes(path);
  ASSERT_GT(bytes.size(), 16u * 4096) << "the store should span many pages";
  WriteFileBytes(path, bytes.substr(0, bytes.size() / 2));
  const FileSnapshot before = Snapshot(path);
  ::usleep(20'000);
  absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(path);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss) << store.status();
  EXPECT_THAT(store.status().message(), HasSubstr(path));
  EXPECT_THAT(store.status().message(), HasSubstr("NOT modified"));
  EXPECT_TRUE(Snapshot(path) == before);
}

TEST_F(SqliteStoreOpenTest, DamagedPageInTheMiddleIsCaughtByQuickCheck) {
  const std::string path = MakeStore("damaged.db");
  std::string bytes = ReadFileBytes(path);
  ASSERT_GT(bytes.size(), 16u * 4096);
  // Overwrite pages 8..10 (never page 1, which holds the schema) with noise.
  for (size_t i = 7 * 4096; i < 10 * 4096; ++i) bytes[i] = static_cast<char>((i * 37 + 11) % 253);
  WriteFileBytes(path, bytes);
  const FileSnapshot before = Snapshot(path);
  ::usleep(20'000);
  absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(path);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss) << store.status();
  EXPECT_THAT(store.status().message(), HasSubstr("quick_check"));
  EXPECT_THAT(store.status().message(), HasSubstr("NOT modified"));
  EXPECT_TRUE(Snapshot(path) == before);
}

TEST_F(SqliteStoreOpenTest, GarbageFilesAreDataLossAndUntouched) {
  std::string noise(8192, '\0');
  for (size_t i = 0; i < noise.size(); ++i) noise[i] = static_cast<char>((i * 131 + 7) % 251);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"text.db", "this is not a database\n"},
      {"noise.db", noise},
      {"short.db", "SQLite"},
      // A valid magic string followed by garbage: SQLite itself must object.
      {"fake_header.db", std::string("SQLite format 3\0", 16) + noise},
  };
  for (const auto& [name, bytes] : cases) {
    const std::string path = dir_.File(name);
    WriteFileBytes(path, bytes);
    const FileSnapshot before = Snapshot(path);
    absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(path);
    ASSERT_FALSE(store.ok()) << name;
    EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss) << name << ": " << store.status();
    EXPECT_THAT(store.status().message(), HasSubstr(path));
    EXPECT_THAT(store.status().message(), HasSubstr("NOT modified"));
    EXPECT_TRUE(Snapshot(path) == before) << name;
  }
}

TEST_F(SqliteStoreOpenTest, ForeignSqliteFileIsRefused) {
  const std::string path = dir_.File("foreign.db");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);", nullptr,
                         nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  const FileSnapshot before = Snapshot(path);
  absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(path);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(store.status().message(), HasSubstr("not a Proctor store"));
  EXPECT_TRUE(Snapshot(path) == before);
}

TEST_F(SqliteStoreOpenTest, EmptyFileBecomesAStore) {
  const std::string path = dir_.File("empty.db");
  WriteFileBytes(path, "");
  std::unique_ptr<SqliteStore> store = OpenOrDie(path);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(*store->ReserveFencingTokens(1), 1);
}

TEST_F(SqliteStoreOpenTest, UnusablePathsAreFailedPrecondition) {
  EXPECT_EQ(SqliteStore::Open(dir_.File("missing/dir/store.db")).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(SqliteStore::Open(dir_.path()).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(SqliteStore::Open("").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace proctor::coordinator

namespace proctor::coordinator {
namespace {

TEST_F(SqliteStoreTest, SecondOpenOfALiveStoreIsRefused) {
  auto second = SqliteStore::Open(path_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(second.status().message()), ::testing::HasSubstr("in use"));
  Reopen();  // closing releases the lock
  EXPECT_NE(store_, nullptr);
}

}  // namespace
}  // namespace proctor::coordinator
