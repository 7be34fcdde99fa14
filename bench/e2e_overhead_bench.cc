// End-to-end overhead: the same evaluation run (a) through a real
// proctor-coordinator process and one proctor-worker process on loopback,
// and (b) with the same CPU engine called in-process on the same jobs the
// coordinator's planner makes — PERFORMANCE.md's "≤ 1.05× wall time" target.
//
//   PROCTOR_SHARED_DATA=../shared/data PROCTOR_BUILD_DIR=build
//     build/bin/proctor_e2e_overhead_bench
//       --model=data-cache/models/SmolLM2-135M-Instruct.Q4_1.gguf
//       --datasets=arc_e,piqa,gsm8k --limit=20 --threads=2 --repetitions=2
//
// Each repetition runs (b) then (a) back to back; (a) gets a fresh store
// (so no result is ever reused) and its worker is registered and idle before
// the clock starts. Timed: (a) SubmitRun until GetRun reports SUCCEEDED
// (polled every 100 ms), which includes the worker's model load, leasing,
// streaming, scoring and aggregation; (b) model load + RunJob over every
// planned job. Prints both, the ratio (a)/(b) per repetition and their
// medians, and one JSON line. A benchmark, not a test: nothing is asserted
// on time.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "bench/planned_jobs.h"
#include "common/status_macros.h"
#include "eval/catalog.h"
#include "tests/testing/cluster.h"
#include "worker/engine/cpu_engine.h"

ABSL_FLAG(std::string, model, "", "GGUF (or other engine-readable) model file (required)");
ABSL_FLAG(std::string, datasets, "arc_e,piqa,gsm8k", "Comma-separated sets");
ABSL_FLAG(int64_t, limit, 20, "Samples per set");
ABSL_FLAG(int, threads, 2, "Engine compute threads (both sides)");
ABSL_FLAG(int, repetitions, 2, "Repetitions of (in-process, cluster)");
ABSL_FLAG(std::string, work_dir, "", "Scratch directory (default: a new dir under /tmp)");

namespace {

using Clock = std::chrono::steady_clock;
namespace v1 = proctor::v1;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

v1::RunSpec Spec() {
  v1::RunSpec spec;
  const std::string model = std::filesystem::absolute(absl::GetFlag(FLAGS_model)).string();
  spec.mutable_model()->set_name(std::filesystem::path(model).stem().string());
  spec.mutable_model()->set_path(model);
  spec.mutable_model()->set_backend("cpu");
  for (absl::string_view d :
       absl::StrSplit(absl::GetFlag(FLAGS_datasets), ',', absl::SkipEmpty())) {
    spec.add_datasets()->set_name(std::string(d));
  }
  spec.set_limit(absl::GetFlag(FLAGS_limit));
  spec.set_seed(1234);
  return spec;
}

// (b): plan like the coordinator (same planner, default options), run every
// job through the engine in this process. Returns seconds and output count.
absl::StatusOr<std::pair<double, int64_t>> InProcess(const v1::RunSpec& spec) {
  PROCTOR_ASSIGN_OR_RETURN(std::unique_ptr<proctor::eval::Catalog> catalog,
                           proctor::eval::Catalog::Create(proctor::testing::DatasetsDir()));
  PROCTOR_ASSIGN_OR_RETURN(proctor::coordinator::PlannedRun planned,
                           proctor::bench::PlanLikeCoordinator(*catalog, spec));
  proctor::engine::CpuEngineOptions options;
  options.threads = absl::GetFlag(FLAGS_threads);
  std::unique_ptr<proctor::engine::Engine> engine = proctor::engine::CreateCpuEngine(options);
  const std::atomic<bool> cancelled{false};
  int64_t outputs = 0;
  const Clock::time_point start = Clock::now();
  PROCTOR_ASSIGN_OR_RETURN(std::unique_ptr<proctor::engine::LoadedModel> model,
                           engine->Load(spec.model()));
  for (size_t i = 0; i < planned.payloads.size(); ++i) {
    const v1::Job job =
        proctor::bench::LeasedJob(planned.payloads[i], static_cast<int64_t>(i) + 1, spec.model());
    PROCTOR_RETURN_IF_ERROR(model->RunJob(
        job, {}, [&](v1::Output) { ++outputs; }, cancelled));
  }
  return std::make_pair(Seconds(start, Clock::now()), outputs);
}

// (a): a real coordinator + one real worker process.
absl::StatusOr<double> ThroughCluster(const v1::RunSpec& spec, const std::string& dir) {
  proctor::testing::TestCluster cluster(dir);
  PROCTOR_RETURN_IF_ERROR(cluster.StartCoordinator());
  PROCTOR_RETURN_IF_ERROR(cluster.StartWorker(
      "w0", {"--backend=cpu", absl::StrCat("--threads=", absl::GetFlag(FLAGS_threads))}));
  for (int i = 0;; ++i) {  // wait until the worker has registered
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::ListWorkersResponse resp;
    grpc::Status st = cluster.admin()->ListWorkers(&ctx, v1::ListWorkersRequest(), &resp);
    if (st.ok() && resp.workers_size() > 0) break;
    if (i > 300) return absl::DeadlineExceededError("the worker did not register in 30 s");
    absl::SleepFor(absl::Milliseconds(100));
  }
  const Clock::time_point start = Clock::now();
  PROCTOR_ASSIGN_OR_RETURN(v1::Run run, cluster.Submit(spec));
  PROCTOR_ASSIGN_OR_RETURN(v1::Run done, cluster.WaitForRun(run.run_id(), absl::Minutes(60)));
  const double secs = Seconds(start, Clock::now());
  if (done.state() != v1::RUN_STATE_SUCCEEDED) {
    return absl::InternalError(absl::StrCat("run ", run.run_id(), " ended ",
                                            v1::RunState_Name(done.state()), ": ",
                                            done.failure_reason()));
  }
  return secs;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  if (absl::GetFlag(FLAGS_model).empty()) {
    std::fprintf(stderr, "--model is required\n");
    return 2;
  }
  if (proctor::testing::BuildDir().empty() || proctor::testing::DatasetsDir().empty()) {
    std::fprintf(stderr,
                 "set PROCTOR_BUILD_DIR (holding bin/proctor-coordinator and bin/proctor-worker) "
                 "and PROCTOR_SHARED_DATA (holding datasets/)\n");
    return 2;
  }
  std::string work = absl::GetFlag(FLAGS_work_dir);
  if (work.empty()) {
    work = absl::StrCat(std::filesystem::temp_directory_path().string(), "/proctor-e2e-bench-",
                        getpid());
  }
  const v1::RunSpec spec = Spec();
  std::vector<double> inproc, cluster, ratios;
  int64_t outputs = 0;
  for (int rep = 0; rep < absl::GetFlag(FLAGS_repetitions); ++rep) {
    absl::StatusOr<std::pair<double, int64_t>> b = InProcess(spec);
    if (!b.ok()) {
      std::fprintf(stderr, "in-process run failed: %s\n", b.status().ToString().c_str());
      return 1;
    }
    absl::StatusOr<double> a = ThroughCluster(spec, absl::StrCat(work, "/rep", rep));
    if (!a.ok()) {
      std::fprintf(stderr, "cluster run failed: %s\n", a.status().ToString().c_str());
      return 1;
    }
    outputs = b->second;
    inproc.push_back(b->first);
    cluster.push_back(*a);
    ratios.push_back(*a / b->first);
    std::printf("rep %d: in-process %.2f s, coordinator+worker %.2f s, ratio %.3f (%lld outputs)\n",
                rep, b->first, *a, *a / b->first, static_cast<long long>(outputs));
    std::fflush(stdout);
  }
  std::error_code ec;
  std::filesystem::remove_all(work, ec);
  std::printf("median: in-process %.2f s, coordinator+worker %.2f s, ratio %.3f (target <= 1.05)\n",
              Median(inproc), Median(cluster), Median(ratios));
  std::printf(
      "{\"bench\":\"e2e_overhead\",\"datasets\":\"%s\",\"limit\":%lld,\"threads\":%d,"
      "\"outputs\":%lld,\"in_process_s\":%.3f,\"cluster_s\":%.3f,\"ratio\":%.4f}\n",
      absl::GetFlag(FLAGS_datasets).c_str(), static_cast<long long>(absl::GetFlag(FLAGS_limit)),
      absl::GetFlag(FLAGS_threads), static_cast<long long>(outputs), Median(inproc),
      Median(cluster), Median(ratios));
  return 0;
}
