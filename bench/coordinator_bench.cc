// Coordinator load benchmark (reported, never asserted). One coordinator
// (real SQLite store on disk, real gRPC server on loopback) against simulated
// workers, each a thread with its own stub that leases a job, reports one
// output per request in a ReportOutputs stream, and completes it.
//
// Figures (targets in shared/design/PERFORMANCE.md):
//   plan_seconds        a 45-set run of ~300k requests planned, sharded, stored
//   leases_per_second   with --workers concurrent workers (default 500)
//   lease_p50/p99_ms    client-side latency of Lease calls that returned a job
//   outputs_per_second  outputs ingested and scored during the lease phase
//   restart_seconds     Coordinator::Create on a store with --restart_outputs
//   rss_mib_100k_jobs   resident memory with 100k queued jobs
//
// Usage: proctor_coordinator_bench [--workers=500] [--seconds=10] [--dir=/tmp/x]
#include <grpcpp/grpcpp.h>
#include <prometheus/registry.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "coordinator/coordinator.h"
#include "coordinator/services.h"
#include "coordinator/store/sqlite_store.h"

ABSL_FLAG(int, workers, 500, "Concurrent simulated workers");
ABSL_FLAG(int, seconds, 10, "Duration of the lease phase");
ABSL_FLAG(int64_t, lease_jobs, 100'000, "Queued one-request jobs for the lease phase");
ABSL_FLAG(int64_t, plan_requests, 300'000, "Requests of the planning run (45 sets)");
ABSL_FLAG(int64_t, restart_outputs, 1'000'000, "Stored outputs for the restart measurement");
ABSL_FLAG(std::string, dir, "", "Scratch directory (default: a temp dir, removed after)");

namespace proctor::bench {
namespace {

using coordinator::Coordinator;
using coordinator::CoordinatorOptions;

// A synthetic catalog: `sets` sets of `per_set` samples, one loglikelihood
// request with 4 continuations each (MMLU-shaped); scores 1 when option 0 wins.
class SyntheticCatalog final : public eval::Catalog {
 public:
  SyntheticCatalog(int sets, int64_t per_set) : sets_(sets), per_set_(per_set) {}
  std::vector<v1::DatasetInfo> ListDatasets() const override { return {}; }
  std::vector<v1::SuiteInfo> ListSuites() const override { return {}; }
  absl::StatusOr<eval::RunPlan> Plan(const v1::RunSpec&) const override {
    eval::RunPlan plan;
    const std::string prefix(2000, 'x');  // a 5-shot block
    for (int s = 0; s < sets_; ++s) {
      v1::DatasetInfo info;
      info.set_name(absl::StrCat("set", s));
      plan.datasets.push_back(info);
      plan.dataset_sample_counts.push_back(per_set_);
      for (int64_t i = 0; i < per_set_; ++i) {
        eval::PlannedSample sample;
        sample.dataset = info.name();
        sample.sample_index = i;
        sample.target = "0";
        v1::Request r;
        auto* ll = r.mutable_loglikelihood();
        ll->set_context(absl::StrCat("Question ", i, ": which option is right?\nAnswer:"));
        for (const char* c : {" A", " B", " C", " D"}) ll->add_continuations(c);
        sample.requests.push_back(std::move(r));
        sample.prefix = prefix;
        sample.estimated_prompt_tokens = 520;
        sample.max_new_tokens = 0;
        plan.samples.push_back(std::move(sample));
      }
    }
    return plan;
  }
  absl::StatusOr<std::string> ScoreSample(std::string_view, std::string_view,
                                          absl::Span<const v1::Output> outputs) const override {
    const auto& c = outputs[0].loglikelihood().continuations();
    int best = 0;
    for (int i = 1; i < c.size(); ++i) {
      if (c[i].logprob() > c[best].logprob()) best = i;
    }
    return std::string(best == 0 ? "1" : "0");
  }
  absl::StatusOr<v1::Results> Aggregate(const v1::RunSpec&,
                                        const std::vector<eval::SetScores>&) const override {
    return v1::Results();
  }

 private:
  int sets_;
  int64_t per_set_;
};

v1::Output AnswerFor(const v1::Request& r) {
  v1::Output o;
  o.set_request_id(r.request_id());
  for (int i = 0; i < r.loglikelihood().continuations_size(); ++i) {
    auto* c = o.mutable_loglikelihood()->add_continuations();
    c->set_logprob(-1.0 - i);
    c->set_num_tokens(1);
  }
  return o;
}

double RssMib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0;
}

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown";
}

struct Opened {
  std::unique_ptr<coordinator::SqliteStore> store;
  std::unique_ptr<Coordinator> coordinator;
};

Opened Open(const std::string& path, const eval::Catalog* catalog, CoordinatorOptions options,
            double* seconds = nullptr) {
  Opened o;
  const absl::Time start = absl::Now();
  auto store = coordinator::SqliteStore::Open(path);
  if (!store.ok()) {
    std::fprintf(stderr, "store: %s\n", store.status().ToString().c_str());
    std::exit(1);
  }
  o.store = *std::move(store);
  auto c = Coordinator::Create(o.store.get(), catalog, RealClock::Get(), nullptr, options);
  if (!c.ok()) {
    std::fprintf(stderr, "coordinator: %s\n", c.status().ToString().c_str());
    std::exit(1);
  }
  o.coordinator = *std::move(c);
  if (seconds) *seconds = absl::ToDoubleSeconds(absl::Now() - start);
  return o;
}

v1::RunSpec Spec(int64_t budget) {
  v1::RunSpec spec;
  spec.mutable_model()->set_name("bench-model");
  spec.set_suite("synthetic");
  spec.set_job_token_budget(budget);
  return spec;
}

int Main(const std::string& dir) {
  const int workers = absl::GetFlag(FLAGS_workers);
  std::printf("machine: %s, %u cores\n", CpuModel().c_str(), std::thread::hardware_concurrency());
  CoordinatorOptions options;
  options.max_lease_wait = absl::Seconds(1);
  options.lease_ttl = absl::Seconds(60);

  // 1. Lease phase: one-request jobs, `workers` concurrent workers over gRPC.
  const int64_t lease_jobs = absl::GetFlag(FLAGS_lease_jobs);
  SyntheticCatalog lease_catalog(1, lease_jobs);
  Opened o = Open(dir + "/lease.db", &lease_catalog, options);
  const double rss_before = RssMib();  // first phase: nothing else allocated yet
  auto run = o.coordinator->SubmitRun(Spec(1));  // budget 1 → one sample per job
  if (!run.ok()) {
    std::fprintf(stderr, "submit: %s\n", run.status().ToString().c_str());
    return 1;
  }
  const double rss_queued = RssMib();
  std::printf("queued: %lld jobs, RSS %.0f MiB (%.0f MiB before submitting)\n",
              static_cast<long long>(run->progress().jobs_total()), rss_queued, rss_before);
  auto registry = std::make_shared<prometheus::Registry>();
  coordinator::CoordinatorMetrics metrics(registry);
  coordinator::WorkerServiceImpl service(o.coordinator.get(), &metrics);
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  auto server = builder.BuildAndStart();
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < 16; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("channel_index", i);  // distinct channels → distinct connections
    channels.push_back(grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port),
                                                 grpc::InsecureChannelCredentials(), args));
  }
  std::atomic<bool> stop{false};
  std::atomic<int64_t> leases{0};
  std::atomic<int64_t> outputs{0};
  std::vector<std::vector<double>> latencies(static_cast<size_t>(workers));
  std::vector<std::thread> threads;
  const absl::Time start = absl::Now();
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      auto stub = v1::WorkerService::NewStub(channels[static_cast<size_t>(w) % channels.size()]);
      v1::RegisterRequest reg;
      reg.set_worker_name(absl::StrCat("sim-", w));
      reg.mutable_capabilities()->set_backend("cpu");
      v1::RegisterResponse registered;
      {
        grpc::ClientContext ctx;
        if (!stub->Register(&ctx, reg, &registered).ok()) return;
      }
      while (!stop.load()) {
        v1::LeaseRequest req;
        req.set_worker_id(registered.worker_id());
        req.mutable_wait()->set_seconds(1);
        v1::LeaseResponse resp;
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
        const absl::Time t0 = absl::Now();
        if (!stub->Lease(&ctx, req, &resp).ok()) continue;
        if (!resp.has_job()) continue;
        latencies[static_cast<size_t>(w)].push_back(absl::ToDoubleMilliseconds(absl::Now() - t0));
        leases.fetch_add(1);
        grpc::ClientContext rctx;
        v1::ReportOutputsResponse ack;
        auto writer = stub->ReportOutputs(&rctx, &ack);
        v1::ReportOutputsRequest msg;
        msg.set_job_id(resp.job().job_id());
        msg.set_fencing_token(resp.job().fencing_token());
        for (const auto& r : resp.job().requests()) *msg.add_outputs() = AnswerFor(r);
        msg.set_complete(true);
        writer->Write(msg);
        writer->WritesDone();
        if (writer->Finish().ok()) outputs.fetch_add(resp.job().requests_size());
      }
    });
  }
  absl::SleepFor(absl::Seconds(absl::GetFlag(FLAGS_seconds)));
  stop.store(true);
  const double elapsed = absl::ToDoubleSeconds(absl::Now() - start);
  for (auto& t : threads) t.join();
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  auto pct = [&all](double p) {
    return all.empty() ? 0.0 : all[std::min(all.size() - 1, static_cast<size_t>(p * all.size()))];
  };
  const double lease_rate = static_cast<double>(leases.load()) / elapsed;
  const double output_rate = static_cast<double>(outputs.load()) / elapsed;
  std::printf("lease: %d workers, %lld leases in %.1f s = %.0f leases/s, p50 %.2f ms, p99 %.2f ms\n",
              workers, static_cast<long long>(leases.load()), elapsed, lease_rate, pct(0.5),
              pct(0.99));
  server->Shutdown();
  o.coordinator.reset();
  o.store.reset();

  // 3. Planning a 45-set run: the catalog's part (eval) and the coordinator's
  // part (planner + store) timed apart.
  const int64_t plan_requests = absl::GetFlag(FLAGS_plan_requests);
  SyntheticCatalog plan_catalog(45, plan_requests / 45);
  double plan_seconds = 0;
  {
    Opened planning = Open(dir + "/plan.db", &plan_catalog, options);
    absl::Time t0 = absl::Now();
    auto eval_plan = plan_catalog.Plan(Spec(0));
    const double catalog_seconds = absl::ToDoubleSeconds(absl::Now() - t0);
    eval_plan = eval::RunPlan();  // free it before the measured submit
    t0 = absl::Now();
    auto planned = planning.coordinator->SubmitRun(Spec(0));
    plan_seconds = absl::ToDoubleSeconds(absl::Now() - t0) - catalog_seconds;
    std::printf("plan: catalog (synthetic eval plan) %.2f s\n", catalog_seconds);
    if (!planned.ok()) {
      std::fprintf(stderr, "plan: %s\n", planned.status().ToString().c_str());
      return 1;
    }
    std::printf(
        "plan: %lld requests in %lld jobs, sharded and stored by the coordinator in %.2f s\n",
                static_cast<long long>(planned->progress().requests_total()),
                static_cast<long long>(planned->progress().jobs_total()), plan_seconds);
  }

  // 4. Outputs ingested and scored, in batches of 1000 through the core.
  double ingest_rate = 0;
  {
    SyntheticCatalog cat(1, 200'000);
    Opened ing = Open(dir + "/ingest.db", &cat, options);
    auto r = ing.coordinator->SubmitRun(Spec(1'000'000));
    v1::RegisterRequest reg;
    reg.set_worker_name("ingest");
    auto w = ing.coordinator->Register(reg);
    int64_t n = 0;
    const absl::Time t0 = absl::Now();
    while (true) {
      v1::LeaseRequest lr;
      lr.set_worker_id(w->worker_id());
      auto job = ing.coordinator->Lease(lr);
      if (!job.ok() || !job->has_job()) break;
      for (int i = 0; i < job->job().requests_size(); i += 1000) {
        v1::ReportOutputsRequest msg;
        msg.set_job_id(job->job().job_id());
        msg.set_fencing_token(job->job().fencing_token());
        for (int k = i; k < std::min(i + 1000, job->job().requests_size()); ++k) {
          *msg.add_outputs() = AnswerFor(job->job().requests(k));
        }
        if (ing.coordinator->ReportOutputs(msg).ok()) n += msg.outputs_size();
      }
    }
    ingest_rate = static_cast<double>(n) / absl::ToDoubleSeconds(absl::Now() - t0);
    std::printf("ingest: %lld outputs stored and scored at %.0f outputs/s (batches of 1000)\n",
                static_cast<long long>(n), ingest_rate);
    (void)r;
  }

  // 5. Restart with many stored outputs (an active run: the worst case).
  double restart_seconds = 0;
  {
    const int64_t n_out = absl::GetFlag(FLAGS_restart_outputs);
    SyntheticCatalog cat(1, n_out);
    {
      Opened fill = Open(dir + "/restart.db", &cat, options);
      auto r = fill.coordinator->SubmitRun(Spec(2'000'000));
      v1::RegisterRequest reg;
      reg.set_worker_name("filler");
      auto w = fill.coordinator->Register(reg);
      int64_t written = 0;
      while (written < n_out) {
        v1::LeaseRequest lr;
        lr.set_worker_id(w->worker_id());
        auto job = fill.coordinator->Lease(lr);
        if (!job.ok() || !job->has_job()) break;
        coordinator::OutputBatch batch;
        batch.run_id = r->run_id();
        batch.job_id = job->job().job_id();
        for (const auto& req : job->job().requests()) {
          batch.outputs.push_back(AnswerFor(req));
          if (batch.outputs.size() == 5000) {
            written += *fill.store->WriteOutputs(batch);
            batch.outputs.clear();
          }
        }
        written += *fill.store->WriteOutputs(batch);
      }
      std::printf("restart: store holds %lld outputs\n", static_cast<long long>(written));
    }
    Opened again = Open(dir + "/restart.db", &cat, options, &restart_seconds);
    std::printf("restart: recovered and serving in %.2f s\n", restart_seconds);
  }

  std::printf(
      "{\"bench\":\"coordinator\",\"workers\":%d,\"leases_per_second\":%.0f,"
      "\"lease_p50_ms\":%.2f,\"lease_p99_ms\":%.2f,\"outputs_per_second_lease_phase\":%.0f,"
      "\"ingest_outputs_per_second\":%.0f,\"plan_seconds\":%.2f,\"restart_seconds\":%.2f,"
      "\"rss_mib_100k_jobs\":%.0f}\n",
      workers, lease_rate, pct(0.5), pct(0.99), output_rate, ingest_rate, plan_seconds,
      restart_seconds, rss_queued);
  return 0;
}

}  // namespace
}  // namespace proctor::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  std::string dir = absl::GetFlag(FLAGS_dir);
  const bool temp = dir.empty();
  if (temp) dir = absl::StrCat(std::filesystem::temp_directory_path().string(),
                               "/proctor_coordinator_bench_", ::getpid());
  std::filesystem::create_directories(dir);
  const int rc = proctor::bench::Main(dir);
  if (temp) std::filesystem::remove_all(dir);
  return rc;
}
