// The worker's protocol behaviour against an in-test WorkerService: a real
// gRPC server on 127.0.0.1:0 that hands out scripted jobs and records every
// call. (End-to-end tests with the real coordinator live in tests/.)
#include "worker/pull_loop.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "proctor/v1/worker.grpc.pb.h"
#include "worker/fake_worker_service.h"
#include "worker/grpc_coordinator_client.h"
#include "worker/scripted_engine.h"

namespace proctor::worker {
namespace {

// One worker (scripted engine, real gRPC client) against one fake service.
class PullLoopTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(coordinator_.ok()); }

  void TearDown() override {
    if (loop_ != nullptr) loop_->RequestDrain(true);
    if (thread_.joinable()) thread_.join();
    loop_.reset();
    coordinator_.Shutdown();
  }

  void StartWorker(absl::Duration request_delay = absl::ZeroDuration(),
                   absl::Duration drain_timeout = absl::Seconds(10)) {
    ScriptedEngineOptions scripted;
    scripted.request_delay = request_delay;
    engine_ = CreateScriptedEngine(scripted);
    models_ = std::make_unique<ModelCache>(engine_.get(), ModelCacheOptions{}, &metrics_);
    auto client = NewGrpcCoordinatorClient(coordinator_.address());
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::move(client).value();
    PullLoopOptions options;
    options.name = "test-worker";
    options.backend = engine_->backend();
    options.hostname = "test-host";
    options.version = "test";
    options.lease_wait = absl::Milliseconds(200);
    options.drain_timeout = drain_timeout;
    options.rpc_timeout = absl::Seconds(2);
    options.backoff.initial = absl::Milliseconds(10);
    options.backoff.max = absl::Milliseconds(50);
    options.reporter.max_batch_outputs = 4;
    options.reporter.flush_interval = absl::Milliseconds(20);
    options.reporter.backoff = options.backoff;
    options.on_registered = [this](const std::string& id) {
      absl::MutexLock lock(&registered_mu_);
      registered_ids_.push_back(id);
    };
    loop_ = std::make_unique<PullLoop>(options, client_.get(), models_.get(), &metrics_);
    thread_ = std::thread([this] { run_status_ = loop_->Run(); });
  }

  // Polls `pred` (called under the service lock) for up to 5 s.
  bool WaitFor(const std::function<bool()>& pred) {
    const absl::Time end = absl::Now() + absl::Seconds(5);
    while (absl::Now() < end) {
      {
        absl::MutexLock lock(&service_.mu);
        if (pred()) return true;
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
    return false;
  }

  // Joins the worker thread; fails the test if Run() does not end in 5 s.
  void ExpectExitsWithin(absl::Duration limit) {
    const absl::Time start = absl::Now();
    thread_.join();
    EXPECT_LT(absl::Now() - start, limit);
    EXPECT_TRUE(run_status_.ok()) << run_status_;
  }

  void AddJob(v1::Job job) {
    absl::MutexLock lock(&service_.mu);
    service_.jobs.push_back(std::move(job));
  }

  bool MetricHas(const std::string& line) {
    return metrics_.RenderText().find(line) != std::string::npos;
  }

  FakeCoordinator coordinator_;
  FakeWorkerService& service_ = coordinator_.service();
  WorkerMetrics metrics_;
  std::unique_ptr<engine::Engine> engine_;
  std::unique_ptr<ModelCache> models_;
  std::unique_ptr<CoordinatorClient> client_;
  std::unique_ptr<PullLoop> loop_;
  std::thread thread_;
  absl::Status run_status_;
  absl::Mutex registered_mu_;
  std::vector<std::string> registered_ids_;
};

TEST_F(PullLoopTest, LeasesRunsStreamsAndCompletesAJob) {
  const v1::Job job = MakeTestJob(1, 10);
  AddJob(job);
  StartWorker();
  ASSERT_TRUE(WaitFor([&] { return service_.completed.contains(1); }));
  ASSERT_TRUE(WaitFor([&] { return service_.leases.size() >= 2; }));  // polling again
  loop_->RequestDrain();
  ExpectExitsWithin(absl::Seconds(2));

  absl::MutexLock lock(&service_.mu);
  ASSERT_FALSE(service_.registers.empty());
  const v1::WorkerCapabilities& caps = service_.registers[0].capabilities();
  EXPECT_EQ(service_.registers[0].worker_name(), "test-worker");
  EXPECT_EQ(caps.backend(), "scripted");
  EXPECT_EQ(caps.gpu_count(), 0);
  EXPECT_EQ(caps.gpu_memory_bytes(), 0);
  EXPECT_FALSE(caps.sandbox());
  EXPECT_EQ(caps.hostname(), "test-host");
  EXPECT_EQ(caps.version(), "test");
  EXPECT_EQ(registered_ids_, std::vector<std::string>{"w-1"});
  EXPECT_EQ(loop_->worker_id(), "w-1");
  EXPECT_EQ(loop_->jobs_finished(), 1);

  // Every output arrived once, under the job's fencing token, and equals what
  // the engine computes in-process.
  EXPECT_EQ(service_.received.size(), 10u);
  for (const auto& [key, count] : service_.received) EXPECT_EQ(count, 1);
  for (const auto& m : service_.report_messages) {
    EXPECT_EQ(m.job_id(), 1);
    EXPECT_EQ(m.fencing_token(), 101);
    EXPECT_LE(m.outputs_size(), 4);  // bounded batches
  }
  EXPECT_GE(service_.report_messages.size(), 3u);
  EXPECT_TRUE(service_.report_messages.back().complete());
  auto model = engine_->Load(job.model());
  ASSERT_TRUE(model.ok());
  std::atomic<bool> no{false};
  std::vector<v1::Output> expected;
  ASSERT_TRUE((*model)
                  ->RunJob(
                      job, {}, [&](v1::Output o) { expected.push_back(o); }, no)
                  .ok());
  for (const v1::Output& o : expected) {
    EXPECT_EQ(service_.outputs.at(o.request_id()).SerializeAsString(), o.SerializeAsString());
  }

  // Leases after the job advertise the loaded model (affinity).
  ASSERT_GE(service_.leases.size(), 2u);
  EXPECT_EQ(service_.leases[0].loaded_models_size(), 0);
  EXPECT_EQ(service_.leases.back().loaded_models(0), "tiny-key");
  EXPECT_EQ(service_.leases.back().worker_id(), "w-1");

  EXPECT_TRUE(MetricHas("proctor_worker_jobs_total{result=\"completed\"} 1"));
  EXPECT_TRUE(MetricHas("proctor_worker_requests_total{kind=\"loglikelihood\"} 10"));
  EXPECT_TRUE(MetricHas("proctor_worker_outputs_reported_total 10"));
  EXPECT_TRUE(MetricHas("proctor_worker_models_loaded 1"));
  EXPECT_TRUE(MetricHas("proctor_worker_job_duration_seconds_count 1"));
}

TEST_F(PullLoopTest, HeartbeatsCarryTheActiveLease) {
  AddJob(MakeTestJob(2, 20));
  StartWorker(absl::Milliseconds(15));  // ~300 ms of work, heartbeats every 50 ms
  ASSERT_TRUE(WaitFor([&] { return service_.completed.contains(2); }));
  absl::MutexLock lock(&service_.mu);
  int with_lease = 0;
  for (const auto& hb : service_.heartbeats) {
    EXPECT_EQ(hb.worker_id(), "w-1");
    if (hb.leases_size() == 0) continue;
    ++with_lease;
    EXPECT_EQ(hb.leases(0).job_id(), 2);
    EXPECT_EQ(hb.leases(0).fencing_token(), 102);
    EXPECT_LE(hb.leases(0).outputs_done(), 20);
  }
  EXPECT_GE(with_lease, 3);
}

TEST_F(PullLoopTest, StaleFencingTokenDropsTheJobAndTheWorkerContinues) {
  {
    absl::MutexLock lock(&service_.mu);
    service_.reject_reports = true;
  }
  AddJob(MakeTestJob(3, 50));
  StartWorker(absl::Milliseconds(5));
  ASSERT_TRUE(WaitFor([&] { return !service_.leased_job_ids.empty(); }));
  ASSERT_TRUE(WaitFor([&] { return loop_->jobs_finished() == 1; }));
  EXPECT_TRUE(MetricHas("proctor_worker_jobs_total{result=\"dropped\"} 1"));
  {
    absl::MutexLock lock(&service_.mu);
    EXPECT_TRUE(service_.report_messages.empty());
    EXPECT_EQ(service_.report_state_calls, 0);  // not retried
    service_.reject_reports = false;
    service_.jobs.push_back(MakeTestJob(4, 5));
  }
  ASSERT_TRUE(WaitFor([&] { return service_.completed.contains(4); }));
}

TEST_F(PullLoopTest, BrokenStreamResumesWithoutLossOrDuplicates) {
  {
    absl::MutexLock lock(&service_.mu);
    service_.break_stream_after = 2;
  }
  AddJob(MakeTestJob(5, 30));
  StartWorker(absl::Milliseconds(2));
  ASSERT_TRUE(WaitFor([&] { return service_.completed.contains(5); }));
  absl::MutexLock lock(&service_.mu);
  EXPECT_EQ(service_.broken_streams, 1);
  EXPECT_GE(service_.report_state_calls, 1);
  EXPECT_EQ(service_.received.size(), 30u);
  for (const auto& [key, count] : service_.received) {
    EXPECT_EQ(count, 1) << "request " << key.second;
  }
}

TEST_F(PullLoopTest, HeartbeatCancellationStopsTheJob) {
  AddJob(MakeTestJob(6, 200));
  StartWorker(absl::Milliseconds(20));  // 4 s if not stopped
  ASSERT_TRUE(WaitFor([&] { return !service_.report_messages.empty(); }));
  const absl::Time cancelled_at = absl::Now();
  {
    absl::MutexLock lock(&service_.mu);
    service_.cancel_jobs.insert(6);
  }
  ASSERT_TRUE(WaitFor([&] { return loop_->jobs_finished() == 1; }));
  EXPECT_LT(absl::Now() - cancelled_at, absl::Seconds(1));
  EXPECT_TRUE(MetricHas("proctor_worker_jobs_total{result=\"cancelled\"} 1"));
  absl::MutexLock lock(&service_.mu);
  EXPECT_FALSE(service_.completed.contains(6));
  EXPECT_LT(service_.received.size(), 200u);
}

TEST_F(PullLoopTest, DrainFinishesTheCurrentJobAndLeasesNoMore) {
  AddJob(MakeTestJob(7, 20));
  AddJob(MakeTestJob(8, 20));
  StartWorker(absl::Milliseconds(10));
  ASSERT_TRUE(WaitFor([&] { return !service_.report_messages.empty(); }));  // job 7 runs
  loop_->RequestDrain();
  ExpectExitsWithin(absl::Seconds(3));
  absl::MutexLock lock(&service_.mu);
  EXPECT_TRUE(service_.completed.contains(7));
  EXPECT_EQ(service_.leased_job_ids, std::vector<int64_t>{7});
  EXPECT_EQ(service_.received.size(), 20u);
  bool told_draining = false;
  for (const auto& hb : service_.heartbeats) told_draining = told_draining || hb.draining();
  EXPECT_TRUE(told_draining);
}

TEST_F(PullLoopTest, JobLeasedAsTheDrainBeginsIsHandedBackUnstarted) {
  {
    absl::MutexLock lock(&service_.mu);
    service_.hold_leased_jobs = true;
  }
  AddJob(MakeTestJob(13, 5));
  StartWorker();
  ASSERT_TRUE(WaitFor([&] { return !service_.leased_job_ids.empty(); }));
  loop_->RequestDrain();  // while the Lease answer is on its way
  {
    absl::MutexLock lock(&service_.mu);
    service_.hold_leased_jobs = false;
  }
  ExpectExitsWithin(absl::Seconds(2));
  EXPECT_TRUE(models_->LoadedKeys().empty());  // the model was never loaded
  EXPECT_TRUE(MetricHas("proctor_worker_jobs_total{result=\"released\"} 1"));
  absl::MutexLock lock(&service_.mu);
  EXPECT_TRUE(service_.released.contains(13));
  EXPECT_TRUE(service_.received.empty());
  EXPECT_EQ(service_.report_state_calls, 0);
}

TEST_F(PullLoopTest, DrainTimeoutHandsTheJobBack) {
  AddJob(MakeTestJob(9, 200));
  StartWorker(absl::Milliseconds(20), /*drain_timeout=*/absl::Milliseconds(100));
  ASSERT_TRUE(WaitFor([&] { return !service_.report_messages.empty(); }));
  loop_->RequestDrain();
  ExpectExitsWithin(absl::Seconds(2));
  EXPECT_TRUE(MetricHas("proctor_worker_jobs_total{result=\"released\"} 1"));
  absl::MutexLock lock(&service_.mu);
  EXPECT_TRUE(service_.released.contains(9));
  EXPECT_FALSE(service_.completed.contains(9));
  EXPECT_TRUE(service_.report_messages.back().release());
}

TEST_F(PullLoopTest, HeartbeatDrainFlagStopsAnIdleWorker) {
  StartWorker();
  ASSERT_TRUE(WaitFor([&] { return !service_.heartbeats.empty(); }));
  {
    absl::MutexLock lock(&service_.mu);
    service_.drain = true;
  }
  ExpectExitsWithin(absl::Seconds(2));
}

TEST_F(PullLoopTest, RegistersAgainWhenTheCoordinatorForgetsTheWorker) {
  {
    absl::MutexLock lock(&service_.mu);
    service_.register_failures = 2;  // coordinator still starting: UNAVAILABLE
  }
  StartWorker();
  ASSERT_TRUE(WaitFor([&] { return service_.known_workers.size() == 1; }));
  {
    absl::MutexLock lock(&service_.mu);
    service_.known_workers.clear();  // coordinator restarted without the worker
  }
  ASSERT_TRUE(WaitFor([&] { return service_.known_workers.contains("w-2"); }));
  AddJob(MakeTestJob(10, 3));
  ASSERT_TRUE(WaitFor([&] { return service_.completed.contains(10); }));
  absl::MutexLock lock(&service_.mu);
  EXPECT_EQ(service_.registers.size(), 4u);
  absl::MutexLock lock2(&registered_mu_);
  EXPECT_EQ(registered_ids_, (std::vector<std::string>{"w-1", "w-2"}));
  EXPECT_TRUE(MetricHas("proctor_worker_errors_total{kind=\"register\"} 2"));
}

TEST_F(PullLoopTest, RetriedJobSkipsOutputsAlreadyStored) {
  v1::Job job = MakeTestJob(11, 6, /*attempt=*/2);
  {
    absl::MutexLock lock(&service_.mu);
    service_.received[{11, 11001}] = 1;
    service_.received[{11, 11002}] = 1;
  }
  AddJob(job);
  StartWorker();
  ASSERT_TRUE(WaitFor([&] { return service_.completed.contains(11); }));
  absl::MutexLock lock(&service_.mu);
  EXPECT_EQ(service_.report_state_calls, 1);
  EXPECT_EQ(service_.received.size(), 6u);
  for (const auto& [key, count] : service_.received) EXPECT_EQ(count, 1);
  EXPECT_FALSE(service_.outputs.contains(11001));  // never re-sent
  EXPECT_TRUE(service_.outputs.contains(11003));
}

TEST_F(PullLoopTest, BadModelFileFailsTheJobWithFailedPrecondition) {
  AddJob(MakeTestJob(12, 3, 1, "/nonexistent/models/tiny.gguf"));
  StartWorker();
  ASSERT_TRUE(WaitFor([&] { return service_.failures.contains(12); }));
  absl::MutexLock lock(&service_.mu);
  const v1::JobFailure& failure = service_.failures.at(12);
  EXPECT_EQ(failure.code(), static_cast<int>(grpc::StatusCode::FAILED_PRECONDITION));
  EXPECT_NE(failure.message().find("/nonexistent/models/tiny.gguf"), std::string::npos);
  EXPECT_TRUE(service_.received.empty());
}

TEST_F(PullLoopTest, UnreachableCoordinatorIsRetriedAndDrainStillExits) {
  coordinator_.Shutdown();
  StartWorker();
  absl::SleepFor(absl::Milliseconds(150));
  EXPECT_TRUE(loop_->worker_id().empty());
  loop_->RequestDrain();
  ExpectExitsWithin(absl::Seconds(1));
  EXPECT_FALSE(MetricHas("proctor_worker_errors_total{kind=\"register\"} 0"));
}

}  // namespace
}  // namespace proctor::worker
