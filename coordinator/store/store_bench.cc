// Throughput and start-up figures for SqliteStore. Reported, never asserted.
//
//   build*/bin/proctor_store_bench [--dir=DIR] [--throughput_outputs=500000]
//       [--update_calls=20000] [--jobs=100000] [--requests_per_job=10]
//
// Part 1 (throughput.db): one run whose jobs have 1000 requests each;
//   * WriteOutputs outputs/s for batches of 100 and 1000 outputs per call,
//     from 1, 8 and 32 threads (each phase writes throughput_outputs/5 new
//     outputs);
//   * UpdateJobs calls/s (one job per call) from 1 thread (at most 2000 calls:
//     each is one fsync) and 64 threads.
// Part 2 (recovery.db): `jobs` jobs (runs of 10,000) with `requests_per_job`
//   outputs each (default 100k jobs, 1M outputs), 90% of the jobs finished;
//   prints the Open time (with and without quick_check) and the time to load
//   runs + active jobs, i.e. what a coordinator restart costs.
// DIR defaults to a fresh directory under $TMPDIR (or /tmp), removed at exit.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "coordinator/store/sqlite_store.h"

namespace proctor::coordinator {
namespace {

struct Flags {
  std::string dir;
  int64_t jobs = 100'000;
  int64_t requests_per_job = 10;
  int64_t update_calls = 20'000;
  int64_t throughput_outputs = 500'000;
};

bool ParseFlags(int argc, char** argv, Flags& flags) {
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    auto value = [&](absl::string_view name, int64_t& out) {
      if (!absl::ConsumePrefix(&arg, name)) return false;
      if (!absl::SimpleAtoi(arg, &out) || out < 1) {
        std::fprintf(stderr, "bad value for %s\n", std::string(name).c_str());
        std::exit(2);
      }
      return true;
    };
    if (absl::ConsumePrefix(&arg, "--dir=")) {
      flags.dir = std::string(arg);
    } else if (!value("--jobs=", flags.jobs) &&
               !value("--requests_per_job=", flags.requests_per_job) &&
               !value("--update_calls=", flags.update_calls) &&
               !value("--throughput_outputs=", flags.throughput_outputs)) {
      std::fprintf(stderr, "unknown flag %s\n", argv[i]);
      return false;
    }
  }
  return true;
}

void Check(const absl::Status& status, const char* what) {
  if (!status.ok()) {
    std::fprintf(stderr, "%s failed: %s\n", what, status.ToString().c_str());
    std::exit(1);
  }
}

// A loglikelihood output as a 4-choice multiple-choice sample produces.
v1::Output MakeOutput(int64_t request_id) {
  v1::Output out;
  out.set_request_id(request_id);
  for (int c = 0; c < 4; ++c) {
    auto* cont = out.mutable_loglikelihood()->add_continuations();
    cont->set_logprob(-1.5 - 0.1 * static_cast<double>(c + request_id % 7));
    cont->set_num_tokens(1 + c);
    cont->set_is_greedy(c == 0);
  }
  return out;
}

struct RunPlan {
  std::string run_id;
  std::vector<JobRecord> jobs;
};

// Creates runs of up to `jobs_per_run` jobs each until `total_jobs` exist.
std::vector<RunPlan> CreateRuns(SqliteStore& store, int64_t total_jobs, int64_t jobs_per_run,
                                int64_t requests_per_job) {
  std::vector<RunPlan> plans;
  int64_t request_id = 1;
  for (int64_t made = 0; made < total_jobs;) {
    const int64_t n = std::min<int64_t>(jobs_per_run, total_jobs - made);
    RunRecord run;
    run.run_id = absl::StrCat("bench-run-", plans.size());
    run.spec.mutable_model()->set_name("llama-3-8b");
    run.spec.set_suite("base");
    run.created_at = absl::Now();
    run.datasets = {{"mmlu", 14042}};
    RunPlan plan;
    plan.run_id = run.run_id;
    std::vector<JobPayload> payloads(n);
    std::vector<SampleRecord> samples;
    for (int64_t j = 0; j < n; ++j) {
      JobRecord job;
      job.index_in_run = static_cast<int32_t>(j);
      job.model_key = "llama-3-8b@cuda";
      job.submitter = "bench";
      job.estimated_tokens = 4000;
      job.num_requests = static_cast<int32_t>(requests_per_job);
      plan.jobs.push_back(job);
      payloads[j].prefixes = {"The following are multiple choice questions (with answers)."};
      SampleRecord sample;
      sample.dataset = "mmlu";
      sample.sample_index = j;
      sample.target = "B";
      for (int64_t r = 0; r < requests_per_job; ++r) {
        v1::Request& req = payloads[j].requests.emplace_back();
        req.set_request_id(request_id);
        req.set_prefix_index(1);
        req.mutable_loglikelihood()->set_context("Question: what is 2+2?\nAnswer:");
        for (const char* c : {" A", " B", " C", " D"})
          req.mutable_loglikelihood()->add_continuations(c);
        sample.request_ids.push_back(request_id++);
      }
      samples.push_back(std::move(sample));
    }
    Check(store.CreateRun(run, plan.jobs, payloads, samples), "CreateRun");
    made += n;
    plans.push_back(std::move(plan));
  }
  return plans;
}

// Writes every job's outputs in batches of `batch_size` from `threads` threads
// (jobs are dealt round-robin). Returns outputs/s.
double WriteAllOutputs(SqliteStore& store, const std::vector<RunPlan>& plans, size_t first_job,
                       size_t num_jobs, int64_t requests_per_job, int batch_size, int threads) {
  std::vector<std::pair<const RunPlan*, const JobRecord*>> jobs;
  for (const RunPlan& plan : plans) {
    for (const JobRecord& job : plan.jobs) jobs.emplace_back(&plan, &job);
  }
  num_jobs = std::min(num_jobs, jobs.size() - first_job);
  std::atomic<int64_t> written{0};
  const absl::Time start = absl::Now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      OutputBatch batch;
      for (size_t i = first_job + t; i < first_job + num_jobs; i += threads) {
        const JobRecord& job = *jobs[i].second;
        // Request ids of job j are j*requests_per_job+1 ... (+requests_per_job).
        const int64_t base = (job.job_id - 1) * requests_per_job + 1;
        batch.run_id = jobs[i].first->run_id;
        batch.job_id = job.job_id;
        batch.outputs.clear();
        for (int64_t r = 0; r < requests_per_job; ++r) {
          batch.outputs.push_back(MakeOutput(base + r));
          if (static_cast<int>(batch.outputs.size()) == batch_size || r + 1 == requests_per_job) {
            absl::StatusOr<int64_t> n = store.WriteOutputs(batch);
            Check(n.status(), "WriteOutputs");
            written += *n;
            batch.outputs.clear();
          }
        }
      }
    });
  }
  for (auto& th : pool) th.join();
  const double secs = absl::ToDoubleSeconds(absl::Now() - start);
  return static_cast<double>(written.load()) / secs;
}

double UpdateJobsRate(SqliteStore& store, const std::vector<RunPlan>& plans, int threads,
                      int64_t calls) {
  const std::vector<JobRecord>& jobs = plans[0].jobs;
  std::atomic<int64_t> next{0};
  const absl::Time start = absl::Now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      while (true) {
        const int64_t i = next++;
        if (i >= calls) break;
        JobRecord job = jobs[static_cast<size_t>(i) % jobs.size()];
        job.state = v1::JOB_STATE_LEASED;
        job.attempts = 1;
        job.fencing_token = i + 1;
        job.worker_id = "bench-worker";
        job.lease_expires_at = absl::Now() + absl::Seconds(30);
        Check(store.UpdateJobs({job}), "UpdateJobs");
      }
    });
  }
  for (auto& th : pool) th.join();
  return static_cast<double>(calls) / absl::ToDoubleSeconds(absl::Now() - start);
}

std::unique_ptr<SqliteStore> OpenStore(const std::string& path,
                                       const SqliteStoreOptions& options = {}) {
  absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(path, options);
  Check(store.status(), "Open");
  return std::move(*store);
}

void ThroughputPart(const std::string& path, const Flags& flags) {
  constexpr int64_t kRequestsPerJob = 1000;
  constexpr int kPhases = 5;
  const int64_t jobs_per_phase =
      std::max<int64_t>(1, flags.throughput_outputs / kPhases / kRequestsPerJob);
  std::unique_ptr<SqliteStore> store = OpenStore(path);
  std::vector<RunPlan> plans =
      CreateRuns(*store, kPhases * jobs_per_phase, kPhases * jobs_per_phase, kRequestsPerJob);
  struct Phase {
    int batch;
    int threads;
  };
  const Phase phases[] = {{100, 1}, {1000, 1}, {100, 8}, {1000, 8}, {100, 32}};
  for (int p = 0; p < kPhases; ++p) {
    const int64_t batches_before = store->write_batches();
    const double rate = WriteAllOutputs(*store, plans, static_cast<size_t>(p * jobs_per_phase),
                                        static_cast<size_t>(jobs_per_phase), kRequestsPerJob,
                                        phases[p].batch, phases[p].threads);
    std::printf("WriteOutputs: %4d outputs/call, %d thread(s): %9.0f outputs/s (%lld commits)\n",
                phases[p].batch, phases[p].threads, rate,
                static_cast<long long>(store->write_batches() - batches_before));
  }
  for (int threads : {1, 64}) {
    const int64_t batches_before = store->write_batches();
    const double rate = UpdateJobsRate(
        *store, plans, threads,
        threads == 1 ? std::min<int64_t>(flags.update_calls, 2000) : flags.update_calls);
    std::printf("UpdateJobs: 1 job/call, %2d thread(s): %9.0f calls/s (%lld commits)\n", threads,
                rate, static_cast<long long>(store->write_batches() - batches_before));
  }
}

void RecoveryPart(const std::string& path, const Flags& flags) {
  {
    std::unique_ptr<SqliteStore> store = OpenStore(path);
    const absl::Time t0 = absl::Now();
    std::vector<RunPlan> plans = CreateRuns(*store, flags.jobs, 10'000, flags.requests_per_job);
    std::printf("CreateRun: %lld jobs (runs of 10000) with payloads and samples in %.2f s\n",
                static_cast<long long>(flags.jobs), absl::ToDoubleSeconds(absl::Now() - t0));
    const double rate =
        WriteAllOutputs(*store, plans, 0, static_cast<size_t>(flags.jobs), flags.requests_per_job,
                        static_cast<int>(flags.requests_per_job), 64);
    std::printf("WriteOutputs: %lld outputs/call (one job), 64 threads: %9.0f outputs/s\n",
                static_cast<long long>(flags.requests_per_job), rate);
    // Finish 90% of the jobs so recovery loads a realistic active set.
    for (RunPlan& plan : plans) {
      std::vector<JobRecord> done;
      for (size_t i = 0; i < plan.jobs.size(); ++i) {
        if (i % 10 == 0) continue;
        JobRecord job = plan.jobs[i];
        job.state = v1::JOB_STATE_DONE;
        done.push_back(job);
      }
      Check(store->UpdateJobs(done), "UpdateJobs (finish)");
    }
  }
  std::printf("recovery store: %.1f MiB, %lld outputs, %lld jobs\n",
              static_cast<double>(std::filesystem::file_size(path)) / (1 << 20),
              static_cast<long long>(flags.jobs * flags.requests_per_job),
              static_cast<long long>(flags.jobs));
  for (bool quick_check : {true, false}) {
    SqliteStoreOptions options;
    options.quick_check_on_open = quick_check;
    const absl::Time t0 = absl::Now();
    std::unique_ptr<SqliteStore> store = OpenStore(path, options);
    const absl::Time t1 = absl::Now();
    absl::StatusOr<std::vector<RunRecord>> runs = store->LoadRuns();
    Check(runs.status(), "LoadRuns");
    absl::StatusOr<std::vector<JobRecord>> active = store->LoadActiveJobs();
    Check(active.status(), "LoadActiveJobs");
    const absl::Time t2 = absl::Now();
    std::printf(
        "restart, quick_check %s: Open %.3f s + LoadRuns (%zu) and LoadActiveJobs (%zu) %.3f s "
        "= %.3f s\n",
        quick_check ? "on " : "off", absl::ToDoubleSeconds(t1 - t0), runs->size(), active->size(),
        absl::ToDoubleSeconds(t2 - t1), absl::ToDoubleSeconds(t2 - t0));
    if (quick_check) continue;
    // What a coordinator that rebuilds every run's job table does instead.
    size_t jobs_loaded = 0;
    const absl::Time t3 = absl::Now();
    for (const RunRecord& run : *runs) {
      absl::StatusOr<std::vector<JobRecord>> jobs = store->LoadJobsOfRun(run.run_id);
      Check(jobs.status(), "LoadJobsOfRun");
      jobs_loaded += jobs->size();
    }
    std::printf("LoadJobsOfRun over every run: %zu jobs in %.3f s\n", jobs_loaded,
                absl::ToDoubleSeconds(absl::Now() - t3));
  }
}

int Main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress lines even when piped
  Flags flags;
  if (!ParseFlags(argc, argv, flags)) return 2;
  bool own_dir = false;
  if (flags.dir.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/proctor_store_bench_XXXXXX");
    if (::mkdtemp(templ.data()) == nullptr) {
      std::perror("mkdtemp");
      return 1;
    }
    flags.dir = templ;
    own_dir = true;
  }
  std::printf("stores under %s, SQLite %s, %u hardware threads\n", flags.dir.c_str(),
              sqlite3_libversion(), std::thread::hardware_concurrency());
  for (const char* name : {"throughput.db", "recovery.db"}) {
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::filesystem::remove(absl::StrCat(flags.dir, "/", name, suffix));
    }
  }
  ThroughputPart(flags.dir + "/throughput.db", flags);
  RecoveryPart(flags.dir + "/recovery.db", flags);
  if (own_dir) std::filesystem::remove_all(flags.dir);
  return 0;
}

}  // namespace
}  // namespace proctor::coordinator

int main(int argc, char** argv) { return proctor::coordinator::Main(argc, argv); }
