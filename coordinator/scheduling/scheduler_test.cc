#include "coordinator/scheduling/scheduler.h"

#include <algorithm>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace proctor::coordinator {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);

JobRecord MakeJob(int64_t id, std::string model = "m|cuda|1", std::string submitter = "alice",
                  v1::Priority priority = v1::PRIORITY_INTERACTIVE) {
  JobRecord j;
  j.job_id = id;
  j.run_id = absl::StrCat("run-", id / 1000);
  j.index_in_run = static_cast<int32_t>(id % 1000);
  j.model_key = std::move(model);
  j.submitter = std::move(submitter);
  j.priority = priority;
  j.backend = "cuda";
  j.tensor_parallel = 1;
  return j;
}

WorkerProfile GpuWorker(int32_t gpus = 1, std::vector<std::string> loaded = {}) {
  WorkerProfile w;
  w.worker_id = "w";
  w.backend = "cuda";
  w.gpu_count = gpus;
  w.gpu_memory_bytes = int64_t{80} << 30;
  w.loaded_models = std::move(loaded);
  return w;
}

int64_t PickId(Scheduler& s, const WorkerProfile& w, absl::Time now = kT0) {
  std::optional<JobRecord> j = s.Pick(w, now);
  return j.has_value() ? j->job_id : -1;
}

TEST(CanRunTest, BackendMatching) {
  JobRecord job = MakeJob(1);
  WorkerProfile cpu;
  cpu.backend = "cpu";
  EXPECT_FALSE(CanRun(cpu, job)) << "cpu worker vs cuda job";
  EXPECT_TRUE(CanRun(GpuWorker(), job));
  job.backend = "";  // any backend, but tp 1 still needs a GPU
  EXPECT_FALSE(CanRun(cpu, job));
  job.tensor_parallel = 0;
  EXPECT_TRUE(CanRun(cpu, job));
  job.backend = "cpu";
  job.tensor_parallel = 4;  // a CPU job uses no GPU: tp is thread-level there
  EXPECT_TRUE(CanRun(cpu, job));
  EXPECT_FALSE(CanRun(GpuWorker(8), job)) << "cuda worker vs cpu job";
}

TEST(CanRunTest, GpuCountAndMemory) {
  JobRecord job = MakeJob(1);
  job.tensor_parallel = 4;
  EXPECT_FALSE(CanRun(GpuWorker(2), job));
  EXPECT_TRUE(CanRun(GpuWorker(4), job));
  EXPECT_TRUE(CanRun(GpuWorker(8), job));

  job.min_gpu_memory_bytes = int64_t{300} << 30;  // 4 x 80 GiB = 320 GiB: fits
  EXPECT_TRUE(CanRun(GpuWorker(4), job));
  job.min_gpu_memory_bytes = int64_t{330} << 30;  // needs more than tp x per-GPU
  EXPECT_FALSE(CanRun(GpuWorker(8), job));
  WorkerProfile unknown_memory = GpuWorker(4);
  unknown_memory.gpu_memory_bytes = 0;
  EXPECT_TRUE(CanRun(unknown_memory, job)) << "unknown memory is not a reason to refuse";

  job.tensor_parallel = 0;  // backend decides: all of the worker's GPUs count
  EXPECT_TRUE(CanRun(GpuWorker(8), job));
  EXPECT_FALSE(CanRun(GpuWorker(4), job));

  WorkerProfile hostile = GpuWorker(1 << 30);
  hostile.gpu_memory_bytes = INT64_MAX / 2;  // product overflows: saturates, no wrap
  EXPECT_TRUE(CanRun(hostile, job));
}

TEST(CanRunTest, JudgeJobsNeedSandboxOnly) {
  JobRecord judge = MakeJob(1);
  judge.judge = true;
  judge.tensor_parallel = 8;
  WorkerProfile w = GpuWorker(1);
  EXPECT_FALSE(CanRun(w, judge));
  w.sandbox = true;
  EXPECT_TRUE(CanRun(w, judge));
  w.backend = "cpu";
  w.gpu_count = 0;
  EXPECT_TRUE(CanRun(w, judge)) << "a judge job runs code, not the model";
}

TEST(SchedulerTest, EmptyQueue) {
  Scheduler s;
  EXPECT_EQ(s.queued(), 0);
  EXPECT_FALSE(s.Pick(GpuWorker(), kT0).has_value());
  EXPECT_FALSE(s.NextReadyTime().has_value());
}

TEST(SchedulerTest, PriorityClassesInOrder) {
  Scheduler s;
  s.Enqueue(MakeJob(1, "m|cuda|1", "alice", v1::PRIORITY_BACKFILL));
  s.Enqueue(MakeJob(2, "m|cuda|1", "alice", v1::PRIORITY_SWEEP));
  s.Enqueue(MakeJob(3, "m|cuda|1", "alice", v1::PRIORITY_INTERACTIVE));
  s.Enqueue(MakeJob(4, "m|cuda|1", "alice", v1::PRIORITY_UNSPECIFIED));
  EXPECT_EQ(s.queued(), 4);
  EXPECT_EQ(s.queued(v1::PRIORITY_INTERACTIVE), 2);
  EXPECT_EQ(s.queued(v1::PRIORITY_UNSPECIFIED), 2);
  EXPECT_EQ(s.queued(v1::PRIORITY_SWEEP), 1);
  EXPECT_EQ(s.queued(v1::PRIORITY_BACKFILL), 1);
  const WorkerProfile w = GpuWorker();
  EXPECT_EQ(PickId(s, w), 3);
  EXPECT_EQ(PickId(s, w), 4);
  EXPECT_EQ(PickId(s, w), 2);
  EXPECT_EQ(PickId(s, w), 1);
  EXPECT_EQ(PickId(s, w), -1);
  EXPECT_EQ(s.queued(), 0);
}

TEST(SchedulerTest, LowerClassWhenHigherClassIsNotRunnable) {
  Scheduler s;
  JobRecord big = MakeJob(1, "big|cuda|8", "alice", v1::PRIORITY_INTERACTIVE);
  big.tensor_parallel = 8;
  s.Enqueue(big);
  s.Enqueue(MakeJob(2, "small|cuda|1", "alice", v1::PRIORITY_BACKFILL));
  EXPECT_EQ(PickId(s, GpuWorker(1)), 2);
  EXPECT_EQ(PickId(s, GpuWorker(1)), -1);
  EXPECT_EQ(PickId(s, GpuWorker(8)), 1);
}

TEST(SchedulerTest, FifoWithinClassByJobId) {
  Scheduler s;
  for (int64_t id : {5, 3, 9, 1, 7}) s.Enqueue(MakeJob(id));
  std::vector<int64_t> order;
  for (int i = 0; i < 5; ++i) order.push_back(PickId(s, GpuWorker()));
  EXPECT_EQ(order, (std::vector<int64_t>{1, 3, 5, 7, 9}));
}

TEST(SchedulerTest, FairShareAlternatesSubmitters) {
  Scheduler s;
  for (int64_t id = 1; id <= 100; ++id) s.Enqueue(MakeJob(id, "m|cuda|1", "alice"));
  for (int64_t id = 101; id <= 110; ++id) s.Enqueue(MakeJob(id, "m|cuda|1", "bob"));
  std::vector<std::string> who;
  for (int i = 0; i < 20; ++i) {
    std::optional<JobRecord> j = s.Pick(GpuWorker(), kT0);
    ASSERT_TRUE(j.has_value());
    s.LeaseStarted(j->submitter);
    who.push_back(j->submitter);
  }
  for (int i = 0; i < 20; ++i) EXPECT_EQ(who[i], i % 2 == 0 ? "alice" : "bob") << i;
  EXPECT_EQ(s.running_leases("alice"), 10);
  EXPECT_EQ(s.running_leases("bob"), 10);
  // Bob's queue is empty now: Alice gets everything that is left.
  EXPECT_EQ(s.Pick(GpuWorker(), kT0)->submitter, "alice");
}

TEST(SchedulerTest, FairShareFavoursSubmitterWithFewerRunningLeases) {
  Scheduler s;
  s.Enqueue(MakeJob(1, "m|cuda|1", "alice"));
  s.Enqueue(MakeJob(2, "m|cuda|1", "bob"));
  for (int i = 0; i < 3; ++i) s.LeaseStarted("alice");
  s.LeaseStarted("bob");
  EXPECT_EQ(PickId(s, GpuWorker()), 2);
  // Leases ending move the balance back.
  s.Enqueue(MakeJob(3, "m|cuda|1", "bob"));
  for (int i = 0; i < 3; ++i) s.LeaseEnded("alice");
  EXPECT_EQ(PickId(s, GpuWorker()), 1);
}

TEST(SchedulerTest, LeaseEndedNeverGoesNegative) {
  Scheduler s;
  s.LeaseEnded("ghost");
  EXPECT_EQ(s.running_leases("ghost"), 0);
  s.LeaseStarted("a");
  s.LeaseEnded("a");
  s.LeaseEnded("a");
  EXPECT_EQ(s.running_leases("a"), 0);
}

TEST(SchedulerTest, ModelAffinityWithinClass) {
  Scheduler s;
  s.Enqueue(MakeJob(1, "A|cuda|1"));  // older
  s.Enqueue(MakeJob(2, "B|cuda|1"));
  EXPECT_EQ(PickId(s, GpuWorker(1, {"B|cuda|1"})), 2);
  EXPECT_EQ(PickId(s, GpuWorker(1, {"B|cuda|1"})), 1) << "falls back to other models";
}

TEST(SchedulerTest, AffinityComesBeforeFairShareButNotBeforePriority) {
  Scheduler s;
  s.Enqueue(MakeJob(1, "A|cuda|1", "alice", v1::PRIORITY_SWEEP));
  s.Enqueue(MakeJob(2, "B|cuda|1", "bob", v1::PRIORITY_SWEEP));
  s.Enqueue(MakeJob(3, "C|cuda|1", "carol", v1::PRIORITY_BACKFILL));
  for (int i = 0; i < 5; ++i) s.LeaseStarted("bob");
  // Bob has more running leases, but the worker holds B loaded.
  EXPECT_EQ(PickId(s, GpuWorker(1, {"B|cuda|1"})), 2);
  // C is loaded but backfill: sweep work comes first.
  EXPECT_EQ(PickId(s, GpuWorker(1, {"C|cuda|1"})), 1);
  EXPECT_EQ(PickId(s, GpuWorker(1, {"C|cuda|1"})), 3);
}

TEST(SchedulerTest, JudgeJobNeverGoesToWorkerWithoutSandbox) {
  Scheduler s;
  JobRecord judge = MakeJob(1, "m|cuda|1");
  judge.judge = true;
  s.Enqueue(judge);                   // head of the model's queue...
  s.Enqueue(MakeJob(2, "m|cuda|1"));  // ...with a normal job behind it
  WorkerProfile plain = GpuWorker(1, {"m|cuda|1"});
  EXPECT_EQ(PickId(s, plain), 2) << "the judge job at the head must not block";
  EXPECT_EQ(PickId(s, plain), -1);
  EXPECT_EQ(s.queued(), 1);
  WorkerProfile sandbox;
  sandbox.backend = "cpu";
  sandbox.sandbox = true;
  EXPECT_EQ(PickId(s, sandbox), 1);
}

TEST(SchedulerTest, SkipsJobsTheWorkerCannotRun) {
  Scheduler s;
  JobRecord tp4 = MakeJob(1, "big|cuda|4");
  tp4.tensor_parallel = 4;
  s.Enqueue(tp4);
  s.Enqueue(MakeJob(2, "small|cuda|1"));
  WorkerProfile cpu;
  cpu.backend = "cpu";
  EXPECT_EQ(PickId(s, cpu), -1);
  EXPECT_EQ(PickId(s, GpuWorker(2)), 2);
  EXPECT_EQ(PickId(s, GpuWorker(2)), -1);
  EXPECT_EQ(PickId(s, GpuWorker(4)), 1);
}

TEST(SchedulerTest, NotBeforeIsRespected) {
  Scheduler s;
  JobRecord later = MakeJob(1);
  later.not_before = kT0 + absl::Seconds(10);
  s.Enqueue(later);
  JobRecord sooner = MakeJob(2);
  sooner.not_before = kT0 + absl::Seconds(4);
  s.Enqueue(sooner);
  EXPECT_EQ(s.queued(), 2);
  EXPECT_EQ(s.NextReadyTime(), kT0 + absl::Seconds(4));
  EXPECT_EQ(PickId(s, GpuWorker(), kT0), -1);
  EXPECT_EQ(PickId(s, GpuWorker(), kT0 + absl::Seconds(4) - absl::Nanoseconds(1)), -1);
  EXPECT_EQ(PickId(s, GpuWorker(), kT0 + absl::Seconds(4)), 2);
  EXPECT_EQ(s.NextReadyTime(), kT0 + absl::Seconds(10));
  EXPECT_EQ(PickId(s, GpuWorker(), kT0 + absl::Seconds(9)), -1);
  // Once ready, a delayed job takes its FIFO place again (id 1 before id 3).
  s.Enqueue(MakeJob(3));
  EXPECT_EQ(PickId(s, GpuWorker(), kT0 + absl::Seconds(11)), 1);
  EXPECT_FALSE(s.NextReadyTime().has_value());
  EXPECT_EQ(PickId(s, GpuWorker(), kT0 + absl::Seconds(11)), 3);
}

TEST(SchedulerTest, ReadyJobThatTheWorkerCannotRunStaysQueued) {
  Scheduler s;
  JobRecord j = MakeJob(1);
  j.not_before = kT0 + absl::Seconds(1);
  s.Enqueue(j);
  WorkerProfile cpu;
  cpu.backend = "cpu";
  EXPECT_EQ(PickId(s, cpu, kT0 + absl::Seconds(2)), -1);
  EXPECT_FALSE(s.NextReadyTime().has_value()) << "promoted to the ready queue";
  EXPECT_EQ(s.queued(), 1);
  EXPECT_EQ(PickId(s, GpuWorker(), kT0 + absl::Seconds(2)), 1);
}

TEST(SchedulerTest, Remove) {
  Scheduler s;
  s.Enqueue(MakeJob(1));
  JobRecord delayed = MakeJob(2);
  delayed.not_before = kT0 + absl::Seconds(5);
  s.Enqueue(delayed);
  s.Enqueue(MakeJob(3, "m|cuda|1", "bob", v1::PRIORITY_SWEEP));
  EXPECT_TRUE(s.contains(2));
  EXPECT_TRUE(s.Remove(2));
  EXPECT_FALSE(s.contains(2));
  EXPECT_FALSE(s.Remove(2));
  EXPECT_FALSE(s.NextReadyTime().has_value()) << "removed delayed job no longer counts";
  EXPECT_TRUE(s.Remove(1));
  EXPECT_FALSE(s.Remove(42));
  EXPECT_EQ(s.queued(), 1);
  EXPECT_EQ(s.queued(v1::PRIORITY_INTERACTIVE), 0);
  EXPECT_EQ(PickId(s, GpuWorker(), kT0 + absl::Seconds(60)), 3);
  EXPECT_FALSE(s.Remove(3)) << "a picked job is no longer queued";
}

TEST(SchedulerTest, EnqueueSameIdReplaces) {
  Scheduler s;
  JobRecord j = MakeJob(1);
  j.not_before = kT0 + absl::Seconds(5);
  s.Enqueue(j);
  j.not_before = absl::InfinitePast();
  j.priority = v1::PRIORITY_SWEEP;
  s.Enqueue(j);
  EXPECT_EQ(s.queued(), 1);
  EXPECT_EQ(s.queued(v1::PRIORITY_SWEEP), 1);
  EXPECT_FALSE(s.NextReadyTime().has_value());
  EXPECT_EQ(PickId(s, GpuWorker(), kT0), 1);
  EXPECT_EQ(PickId(s, GpuWorker(), kT0 + absl::Seconds(10)), -1) << "no ghost copy";
}

// The specification of Pick, as a brute-force scan over every queued job.
class ReferenceScheduler {
 public:
  void Enqueue(const JobRecord& j) { jobs_[j.job_id] = j; }
  bool Remove(int64_t id) { return jobs_.erase(id) > 0; }
  std::optional<JobRecord> Pick(const WorkerProfile& w, absl::Time now,
                                const std::map<std::string, int64_t>& running) {
    std::optional<std::tuple<int, bool, int64_t, int64_t>> best;
    for (const auto& [id, j] : jobs_) {
      if (j.not_before > now || !CanRun(w, j)) continue;
      const int cls = j.priority == v1::PRIORITY_UNSPECIFIED ? 1 : j.priority;
      const bool not_affine = std::find(w.loaded_models.begin(), w.loaded_models.end(),
                                        j.model_key) == w.loaded_models.end();
      auto r = running.find(j.submitter);
      std::tuple<int, bool, int64_t, int64_t> key{cls, not_affine,
                                                  r == running.end() ? 0 : r->second, id};
      if (!best || key < *best) best = key;
    }
    if (!best) return std::nullopt;
    JobRecord j = jobs_[std::get<3>(*best)];
    jobs_.erase(j.job_id);
    return j;
  }
  size_t size() const { return jobs_.size(); }

 private:
  std::map<int64_t, JobRecord> jobs_;
};

TEST(SchedulerTest, RandomisedAgainstReference) {
  std::mt19937_64 rng(12345);
  auto uniform = [&rng](int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); };
  const std::vector<std::string> models = {"a|cuda|1", "b|cuda|2", "c|cpu|0", "d||0"};
  const std::vector<std::string> submitters = {"s0", "s1", "s2"};
  Scheduler s;
  ReferenceScheduler ref;
  std::map<std::string, int64_t> running;
  absl::Time now = kT0;
  int64_t next_id = 1;
  int picks = 0;
  for (int step = 0; step < 20000; ++step) {
    const int op = uniform(10);
    if (op < 4) {
      // Ids mostly increase, sometimes an old id comes back (a retry).
      const int64_t id =
          uniform(5) == 0 && next_id > 1 ? 1 + uniform(static_cast<int>(next_id)) : next_id++;
      JobRecord j = MakeJob(id, models[uniform(4)], submitters[uniform(3)],
                            static_cast<v1::Priority>(uniform(4)));
      j.backend = j.model_key == "c|cpu|0" ? "cpu" : j.model_key == "d||0" ? "" : "cuda";
      j.tensor_parallel = j.model_key == "b|cuda|2" ? 2 : j.model_key == "a|cuda|1" ? 1 : 0;
      j.judge = uniform(8) == 0;
      if (uniform(3) == 0) j.not_before = now + absl::Seconds(uniform(20));
      s.Enqueue(j);
      ref.Enqueue(j);
    } else if (op == 4) {
      const int64_t id = 1 + uniform(static_cast<int>(next_id));
      ASSERT_EQ(s.Remove(id), ref.Remove(id)) << "step " << step;
    } else if (op == 5) {
      now += absl::Seconds(uniform(4));
    } else if (op == 6) {
      const std::string& sub = submitters[uniform(3)];
      if (running[sub] > 0) {
        --running[sub];
        s.LeaseEnded(sub);
      }
    } else {
      WorkerProfile w;
      w.backend = uniform(3) == 0 ? "cpu" : "cuda";
      w.gpu_count = w.backend == "cpu" ? 0 : 1 + uniform(2);
      w.sandbox = uniform(3) == 0;
      if (uniform(2) == 0) w.loaded_models.push_back(models[uniform(4)]);
      std::optional<JobRecord> got = s.Pick(w, now);
      std::optional<JobRecord> want = ref.Pick(w, now, running);
      ASSERT_EQ(got.has_value(), want.has_value()) << "step " << step;
      if (got.has_value()) {
        ASSERT_EQ(got->job_id, want->job_id) << "step " << step;
        ++picks;
        ++running[got->submitter];
        s.LeaseStarted(got->submitter);
      }
    }
    ASSERT_EQ(s.queued(), static_cast<int64_t>(ref.size())) << "step " << step;
  }
  EXPECT_GT(picks, 1000);
}

}  // namespace
}  // namespace proctor::coordinator
