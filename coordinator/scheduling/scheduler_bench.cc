// Micro-benchmark of the scheduler and planner (pure logic, no gRPC/store).
//
//   build*/bin/proctor_scheduler_bench [--quick]
//
// 1. Pick rate with 100k queued jobs (50 runs, 10 submitters, 20 models, 3
//    priority classes, 2% judge jobs) and 500 worker profiles, in steady state:
//    each pick starts a lease, and the oldest running lease (500 in flight)
//    ends and its job is re-enqueued, so the queue stays at 100k. Baseline in
//    the same invocation: a brute-force pick that scans every queued job.
// 2. PlanRun on a synthetic 300k-request plan over 45 datasets (few-shot
//    prefixes, multiple-choice and generation sets). Baseline: a plain deep
//    copy of the plan's requests (what any planner materialising payloads pays).
// Prints a human-readable report and one JSON line per figure.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "coordinator/scheduling/planner.h"
#include "coordinator/scheduling/scheduler.h"

namespace proctor::coordinator {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

std::string CpuModel() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown";
}

struct ModelSpec {
  std::string key;
  int32_t tp;
  int64_t memory;
};

std::vector<ModelSpec> Models() {
  std::vector<ModelSpec> m;
  const int32_t tps[] = {1, 1, 1, 2, 4, 8};
  for (int i = 0; i < 20; ++i) {
    const int32_t tp = tps[i % 6];
    m.push_back({absl::StrCat("/models/m", i, "|cuda|", tp), tp, int64_t{tp} * (60LL << 30)});
  }
  return m;
}

std::vector<JobRecord> Jobs(const std::vector<ModelSpec>& models, int64_t n) {
  std::vector<JobRecord> jobs;
  jobs.reserve(n);
  const int64_t per_run = n / 50;
  std::mt19937_64 rng(7);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t run = i / per_run;
    const ModelSpec& m = models[run % 20];
    JobRecord j;
    j.job_id = i + 1;
    j.run_id = absl::StrCat("run-", run);
    j.index_in_run = static_cast<int32_t>(i % per_run);
    j.model_key = m.key;
    j.backend = "cuda";
    j.tensor_parallel = m.tp;
    j.min_gpu_memory_bytes = m.memory;
    j.submitter = absl::StrCat("user", run % 10);
    j.priority = run % 5 == 0   ? v1::PRIORITY_INTERACTIVE
                 : run % 5 == 4 ? v1::PRIORITY_BACKFILL
                                : v1::PRIORITY_SWEEP;
    j.judge = rng() % 50 == 0;
    jobs.push_back(std::move(j));
  }
  return jobs;
}

std::vector<WorkerProfile> Workers(const std::vector<ModelSpec>& models) {
  std::vector<WorkerProfile> w;
  std::mt19937_64 rng(11);
  const int32_t gpus[] = {1, 2, 4, 8};
  for (int i = 0; i < 500; ++i) {
    WorkerProfile p;
    p.worker_id = absl::StrCat("w", i);
    p.backend = i % 25 == 0 ? "cpu" : "cuda";
    p.gpu_count = p.backend == "cpu" ? 0 : gpus[rng() % 4];
    p.gpu_memory_bytes = p.backend == "cpu" ? 0 : 80LL << 30;
    p.sandbox = i % 10 == 0;
    const int loaded = static_cast<int>(rng() % 3);
    for (int k = 0; k < loaded; ++k) p.loaded_models.push_back(models[rng() % 20].key);
    w.push_back(std::move(p));
  }
  return w;
}

// Brute-force reference pick: one scan over every queued job.
std::optional<size_t> ScanPick(const std::vector<JobRecord>& q, const WorkerProfile& w) {
  std::optional<std::tuple<int, bool, int64_t>> best;
  std::optional<size_t> at;
  for (size_t i = 0; i < q.size(); ++i) {
    const JobRecord& j = q[i];
    if (!CanRun(w, j)) continue;
    bool affine = false;
    for (const std::string& m : w.loaded_models) affine |= m == j.model_key;
    std::tuple<int, bool, int64_t> key{j.priority, !affine, j.job_id};
    if (!best || key < *best) {
      best = key;
      at = i;
    }
  }
  return at;
}

void BenchPick(bool quick) {
  const std::vector<ModelSpec> models = Models();
  const std::vector<JobRecord> jobs = Jobs(models, 100'000);
  const std::vector<WorkerProfile> workers = Workers(models);

  Scheduler s;
  auto t0 = Clock::now();
  for (const JobRecord& j : jobs) s.Enqueue(j);
  auto t1 = Clock::now();
  const double enqueue_s = Seconds(t0, t1);

  const int64_t picks = quick ? 100'000 : 1'000'000;
  std::deque<JobRecord> running;
  int64_t granted = 0, empty = 0;
  const absl::Time now = absl::FromUnixSeconds(1'700'000'000);
  t0 = Clock::now();
  for (int64_t i = 0; i < picks; ++i) {
    std::optional<JobRecord> j = s.Pick(workers[i % workers.size()], now);
    if (!j.has_value()) {
      ++empty;
      continue;
    }
    ++granted;
    s.LeaseStarted(j->submitter);
    running.push_back(std::move(*j));
    if (running.size() > workers.size()) {
      s.LeaseEnded(running.front().submitter);
      s.Enqueue(running.front());
      running.pop_front();
    }
  }
  t1 = Clock::now();
  const double pick_s = Seconds(t0, t1);
  const double rate = static_cast<double>(picks) / pick_s;

  // Drain the whole queue with the same workers (every job eventually leased
  // by a capable worker).
  t0 = Clock::now();
  int64_t drained = 0, misses = 0;
  while (s.queued() > 0 && misses < 100'000) {
    if (s.Pick(workers[(drained + misses) % workers.size()], now).has_value()) {
      ++drained;
    } else {
      ++misses;
    }
  }
  t1 = Clock::now();
  const double drain_s = Seconds(t0, t1);

  // Baseline: brute-force scan over the same 100k jobs.
  std::vector<JobRecord> q = jobs;
  const int64_t scan_picks = quick ? 50 : 200;
  t0 = Clock::now();
  for (int64_t i = 0; i < scan_picks; ++i) {
    std::optional<size_t> at = ScanPick(q, workers[i % workers.size()]);
    if (at.has_value()) {
      q[*at] = q.back();  // order is irrelevant to the scan
      q.pop_back();
    }
  }
  t1 = Clock::now();
  const double scan_rate = static_cast<double>(scan_picks) / Seconds(t0, t1);

  std::printf("scheduler: 100000 queued jobs, 50 runs, 10 submitters, 20 models, 500 workers\n");
  std::printf("  enqueue 100k:          %.3f s (%.0f jobs/s)\n", enqueue_s, 100'000 / enqueue_s);
  std::printf(
      "  steady-state Pick:     %lld picks in %.3f s = %.0f picks/s (%lld granted, %lld "
      "found nothing runnable)\n",
      static_cast<long long>(picks), pick_s, rate, static_cast<long long>(granted),
      static_cast<long long>(empty));
  std::printf("  drain:                 %lld jobs in %.3f s = %.0f picks/s\n",
              static_cast<long long>(drained), drain_s,
              static_cast<double>(drained + misses) / drain_s);
  std::printf("  baseline (full scan):  %.0f picks/s -> ratio %.0fx\n", scan_rate,
              rate / scan_rate);
  std::printf(
      "{\"bench\":\"scheduler_pick\",\"queued\":100000,\"workers\":500,\"picks_per_s\":%.0f,"
      "\"baseline_scan_picks_per_s\":%.0f,\"ratio\":%.1f,\"drain_picks_per_s\":%.0f}\n",
      rate, scan_rate, rate / scan_rate, static_cast<double>(drained + misses) / drain_s);
}

eval::RunPlan SyntheticPlan(int64_t total_requests, int datasets) {
  eval::RunPlan plan;
  const int64_t per_set = total_requests / datasets;
  for (int d = 0; d < datasets; ++d) {
    const std::string name = absl::StrCat("set", d);
    const bool generate = d % 5 == 4;
    // A 5-shot block of ~2.5 KB, shared by the set's samples.
    std::string prefix;
    for (int shot = 0; shot < 5; ++shot) {
      absl::StrAppend(&prefix, "Question: ", std::string(400, 'a' + (d + shot) % 26),
                      "\nAnswer: B\n\n");
    }
    v1::DatasetInfo info;
    info.set_name(name);
    plan.datasets.push_back(info);
    plan.dataset_sample_counts.push_back(per_set);
    for (int64_t i = 0; i < per_set; ++i) {
      eval::PlannedSample s;
      s.dataset = name;
      s.sample_index = i;
      s.target = generate ? "42" : "1";
      s.prefix = prefix;
      v1::Request r;
      const std::string question =
          absl::StrCat("Question: item ", i, " of ", name, " ", std::string(150, 'q'), "\nAnswer:");
      if (generate) {
        r.mutable_generate()->set_context(question);
        r.mutable_generate()->add_stop("\n\n");
        r.mutable_generate()->set_max_new_tokens(256);
        s.max_new_tokens = 256;
      } else {
        r.mutable_loglikelihood()->set_context(question);
        for (const char* c : {" A", " B", " C", " D"})
          r.mutable_loglikelihood()->add_continuations(c);
        s.max_new_tokens = 0;
      }
      s.requests.push_back(std::move(r));
      s.estimated_prompt_tokens = static_cast<int64_t>(prefix.size() + question.size()) / 4;
      plan.samples.push_back(std::move(s));
    }
  }
  return plan;
}

void BenchPlan() {
  const eval::RunPlan plan = SyntheticPlan(300'000, 45);
  v1::RunSpec spec;
  spec.mutable_model()->set_path("/models/llama-70b");
  spec.mutable_model()->set_backend("cuda");
  spec.mutable_model()->set_tensor_parallel(8);
  spec.set_submitter("bench");

  // Baseline: a deep copy of every request (the least a planner must do).
  auto t0 = Clock::now();
  std::vector<v1::Request> copy;
  copy.reserve(plan.samples.size());
  for (const eval::PlannedSample& s : plan.samples) {
    for (const v1::Request& r : s.requests) copy.push_back(r);
  }
  auto t1 = Clock::now();
  const double copy_s = Seconds(t0, t1);
  copy.clear();
  copy.shrink_to_fit();

  t0 = Clock::now();
  absl::StatusOr<PlannedRun> run =
      PlanRun("bench-run", spec, plan, PlannerOptions(), absl::FromUnixSeconds(0));
  t1 = Clock::now();
  const double plan_s = Seconds(t0, t1);
  if (!run.ok()) {
    std::fprintf(stderr, "PlanRun failed: %s\n", run.status().ToString().c_str());
    return;
  }
  size_t prefixes = 0, requests = 0;
  for (const JobPayload& p : run->payloads) {
    prefixes += p.prefixes.size();
    requests += p.requests.size();
  }
  std::printf("planner: 300000 requests, 45 datasets, default options\n");
  std::printf("  PlanRun:               %.3f s -> %zu jobs, %zu requests, %zu prefixes stored\n",
              plan_s, run->jobs.size(), requests, prefixes);
  std::printf("  baseline (deep copy):  %.3f s -> ratio %.2fx\n", copy_s, plan_s / copy_s);
  std::printf(
      "{\"bench\":\"planner\",\"requests\":%zu,\"datasets\":45,\"plan_s\":%.3f,"
      "\"baseline_copy_s\":%.3f,\"ratio\":%.2f,\"jobs\":%zu}\n",
      requests, plan_s, copy_s, plan_s / copy_s, run->jobs.size());
}

}  // namespace
}  // namespace proctor::coordinator

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  std::printf("machine: %s, %u hardware threads\n", proctor::coordinator::CpuModel().c_str(),
              std::thread::hardware_concurrency());
  proctor::coordinator::BenchPick(quick);
  proctor::coordinator::BenchPlan();
  return 0;
}
