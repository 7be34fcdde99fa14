// Coordinator load benchmark (reported, never asserted). One coordinator
// (real SQLite store on disk, synchronous=FULL; the real WorkerService over
// gRPC loopback, same process) against --workers simulated workers. Each
// simulated worker registers, then loops: Lease (long-poll up to 1 s), one
// ReportOutputs stream carrying an output for every request of the job with
// complete = true, and Lease again — at most one call in flight per worker.
// With --client_threads=N (default 2) the workers are driven by N threads
// through the asynchronous client API; with 0, each worker is its own OS
// thread with blocking stubs (the benchmark's original shape: 500 client
// threads then compete with the server for the same cores).
//
// Figures (targets in shared/design/PERFORMANCE.md):
//   plan_seconds         a 45-set run of ~300k requests planned, sharded, stored
//   leases_per_second    leases granted during --seconds, --workers concurrent
//   lease_p50/p99_ms     client-side latency of Lease calls that returned a job
//   server_lease_p50/p99_ms  the coordinator's lease histogram (pick, fence,
//                        persist, payload; long-poll waiting excluded)
//   outputs_per_second   outputs ingested and scored during the lease phase
//   restart_seconds      Coordinator::Create on a store with --restart_outputs
//   rss_mib_100k_jobs    resident memory with 100k queued jobs
//
// Usage: proctor_coordinator_bench [--workers=500] [--seconds=10]
//        [--client_threads=2] [--phases=lease,plan,ingest,restart] [--dir=/tmp/x]
#include <grpcpp/alarm.h>
#include <grpcpp/grpcpp.h>
#include <prometheus/registry.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "coordinator/coordinator.h"
#include "coordinator/server.h"
#include "coordinator/services.h"
#include "coordinator/store/sqlite_store.h"

ABSL_FLAG(int, workers, 500, "Concurrent simulated workers");
ABSL_FLAG(int, seconds, 10, "Duration of the lease phase");
ABSL_FLAG(int64_t, lease_jobs, 100'000, "Queued one-request jobs for the lease phase");
ABSL_FLAG(int64_t, plan_requests, 300'000, "Requests of the planning run (45 sets)");
ABSL_FLAG(int64_t, restart_outputs, 1'000'000, "Stored outputs for the restart measurement");
ABSL_FLAG(std::string, dir, "", "Scratch directory (default: a temp dir, removed after)");
ABSL_FLAG(int, client_threads, 2,
          "Threads driving the simulated workers with the async client API (each worker keeps "
          "one call in flight); 0 = one blocking OS thread per worker");
ABSL_FLAG(int, job_ms, 0,
          "Mean time each simulated worker spends on a job between Lease and ReportOutputs "
          "(uniform in [T/2, 3T/2]; async mode only). 0 = none: a saturated closed loop, where "
          "latency = workers / rate");
ABSL_FLAG(int, warmup_seconds, 1,
          "Leases started in the first seconds of the lease phase count in the rate but not in "
          "the client-side latency percentiles (all workers start at once)");
ABSL_FLAG(std::string, phases, "lease,plan,ingest,restart",
          "Comma-separated phases to run: lease, plan, ingest, restart");

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
            coordinator::CoordinatorMetrics* metrics = nullptr, double* seconds = nullptr) {
  Opened o;
  const absl::Time start = absl::Now();
  auto store = coordinator::SqliteStore::Open(path);
  if (!store.ok()) {
    std::fprintf(stderr, "store: %s\n", store.status().ToString().c_str());
    std::exit(1);
  }
  o.store = *std::move(store);
  auto c = Coordinator::Create(o.store.get(), catalog, RealClock::Get(), metrics, options);
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

// ---- Lease phase -------------------------------------------------------------

// What the lease phase measured.
struct LeaseFigures {
  int64_t leases = 0;
  int64_t outputs = 0;
  double seconds = 0;
  std::vector<double> latencies_ms;  // client side, Lease calls that returned a job
  bool queue_ran_dry = false;
  int64_t store_commits = 0;  // SQLite write transactions (each one fsync) in the phase
};

// The simulated-worker protocol, shared by both client modes: a lease request
// that long-polls up to 1 s, and the one ReportOutputs message (every output,
// complete = true) that finishes the job.
v1::LeaseRequest LeaseRequestFor(const std::string& worker_id) {
  v1::LeaseRequest req;
  req.set_worker_id(worker_id);
  req.mutable_wait()->set_seconds(1);
  return req;
}

v1::ReportOutputsRequest ReportFor(const v1::Job& job) {
  v1::ReportOutputsRequest msg;
  msg.set_job_id(job.job_id());
  msg.set_fencing_token(job.fencing_token());
  for (const auto& r : job.requests()) *msg.add_outputs() = AnswerFor(r);
  msg.set_complete(true);
  return msg;
}

std::chrono::system_clock::time_point DeadlineIn(int seconds) {
  return std::chrono::system_clock::now() + std::chrono::seconds(seconds);
}

// --client_threads=0: one OS thread per simulated worker, blocking stubs (how
// a real worker process talks to the coordinator, but 500 of them on 2 cores).
void RunThreadPerWorker(const std::vector<std::shared_ptr<grpc::Channel>>& channels,
                        const std::vector<std::string>& worker_ids, absl::Time measure_from,
                        std::atomic<bool>& stop, LeaseFigures& figures) {
  std::atomic<int64_t> leases{0};
  std::atomic<int64_t> outputs{0};
  std::vector<std::vector<double>> latencies(worker_ids.size());
  std::vector<std::thread> threads;
  for (size_t w = 0; w < worker_ids.size(); ++w) {
    threads.emplace_back([&, w] {
      auto stub = v1::WorkerService::NewStub(channels[w % channels.size()]);
      while (!stop.load()) {
        v1::LeaseResponse resp;
        grpc::ClientContext ctx;
        ctx.set_deadline(DeadlineIn(5));
        const absl::Time t0 = absl::Now();
        if (!stub->Lease(&ctx, LeaseRequestFor(worker_ids[w]), &resp).ok()) continue;
        if (!resp.has_job()) continue;
        if (t0 >= measure_from) {
          latencies[w].push_back(absl::ToDoubleMilliseconds(absl::Now() - t0));
        }
        leases.fetch_add(1);
        grpc::ClientContext rctx;
        rctx.set_deadline(DeadlineIn(5));
        v1::ReportOutputsResponse ack;
        auto writer = stub->ReportOutputs(&rctx, &ack);
        writer->Write(ReportFor(resp.job()));
        writer->WritesDone();
        if (writer->Finish().ok()) outputs.fetch_add(resp.job().requests_size());
      }
    });
  }
  for (auto& t : threads) t.join();
  figures.leases = leases.load();
  figures.outputs = outputs.load();
  for (auto& l : latencies) {
    figures.latencies_ms.insert(figures.latencies_ms.end(), l.begin(), l.end());
  }
}

// --client_threads=N: N threads, each with its own completion queue, drive
// the simulated workers with the asynchronous client API. Every worker is
// still one independent client with at most one call in flight (Lease, then
// the ReportOutputs stream, then Lease again): 500 workers are 500 concurrent
// calls to the server, but not 500 OS threads competing with it for the cores.
class AsyncWorker {
 public:
  // `job_time`: how long the worker "runs" each job before reporting it (a
  // timer on the completion queue; no call is in flight meanwhile).
  AsyncWorker(v1::WorkerService::Stub* stub, grpc::CompletionQueue* cq, std::string worker_id,
              absl::Duration job_time, absl::Time measure_from, const std::atomic<bool>* stop)
      : stub_(stub),
        cq_(cq),
        worker_id_(std::move(worker_id)),
        job_time_(job_time),
        measure_from_(measure_from),
        stop_(stop) {}

  // Issues the first Lease. Returns false when the worker stopped at once.
  bool Start() { return StartLease(); }

  // Handles the completion of the pending operation (a failed write needs no
  // special case: Finish reports why). Returns false when the worker is done
  // (stop was requested and no call is in flight).
  bool OnEvent() {
    switch (step_) {
      case Step::kLease:
        if (!status_.ok() || !lease_.has_job()) return StartLease();
        if (lease_started_ >= measure_from_) {
          latencies_ms_.push_back(absl::ToDoubleMilliseconds(absl::Now() - lease_started_));
        }
        ++leases_;
        job_requests_ = lease_.job().requests_size();
        report_ = ReportFor(lease_.job());
        if (job_time_ > absl::ZeroDuration()) {
          step_ = Step::kRunning;
          // Uniform in [T/2, 3T/2]: workers drift apart as real ones do,
          // instead of coming back in lock-step waves of 500.
          const double scale = std::uniform_real_distribution<double>(0.5, 1.5)(random_);
          alarm_.Set(cq_, absl::ToChronoTime(absl::Now() + job_time_ * scale), this);
          return true;
        }
        StartReport();
        return true;
      case Step::kRunning:
        StartReport();
        return true;
      case Step::kReportWritten:
        step_ = Step::kReportFinished;
        writer_->Finish(&status_, this);
        return true;
      case Step::kReportFinished:
        if (status_.ok()) outputs_ += job_requests_;
        return StartLease();
    }
    return false;
  }

  int64_t leases() const { return leases_; }
  int64_t outputs() const { return outputs_; }
  std::vector<double>& latencies_ms() { return latencies_ms_; }

 private:
  enum class Step { kLease, kRunning, kReportWritten, kReportFinished };

  void StartReport() {
    NewContext();
    // Corked: the headers go out with the message, and StartCall's tag is
    // never delivered, so the write's completion is the next event.
    ctx_->set_initial_metadata_corked(true);
    writer_ = stub_->PrepareAsyncReportOutputs(ctx_.get(), &ack_, cq_);
    step_ = Step::kReportWritten;
    writer_->StartCall(this);
    writer_->WriteLast(report_, grpc::WriteOptions(), this);
  }

  // The call objects live in their call's arena, which the context owns:
  // they must go before the context does.
  void NewContext() {
    lease_rpc_.reset();
    writer_.reset();
    ctx_ = std::make_unique<grpc::ClientContext>();
    ctx_->set_deadline(DeadlineIn(5));
  }

  bool StartLease() {
    if (stop_->load()) return false;
    NewContext();
    lease_.Clear();
    step_ = Step::kLease;
    lease_started_ = absl::Now();
    lease_rpc_ = stub_->PrepareAsyncLease(ctx_.get(), LeaseRequestFor(worker_id_), cq_);
    lease_rpc_->StartCall();
    lease_rpc_->Finish(&lease_, &status_, this);
    return true;
  }

  v1::WorkerService::Stub* const stub_;
  grpc::CompletionQueue* const cq_;
  const std::string worker_id_;
  const absl::Duration job_time_;
  const absl::Time measure_from_;  // leases started earlier are warm-up
  std::minstd_rand random_{static_cast<uint32_t>(std::hash<std::string>()(worker_id_))};
  const std::atomic<bool>* const stop_;
  Step step_ = Step::kLease;
  grpc::Alarm alarm_;
  std::unique_ptr<grpc::ClientContext> ctx_;
  grpc::Status status_;
  absl::Time lease_started_;
  v1::LeaseResponse lease_;
  std::unique_ptr<grpc::ClientAsyncResponseReader<v1::LeaseResponse>> lease_rpc_;
  v1::ReportOutputsRequest report_;
  v1::ReportOutputsResponse ack_;
  std::unique_ptr<grpc::ClientAsyncWriter<v1::ReportOutputsRequest>> writer_;
  int job_requests_ = 0;
  int64_t leases_ = 0;
  int64_t outputs_ = 0;
  std::vector<double> latencies_ms_;
};

void RunAsyncWorkers(const std::vector<std::shared_ptr<grpc::Channel>>& channels,
                     const std::vector<std::string>& worker_ids, int client_threads,
                     absl::Duration job_time, absl::Time measure_from, std::atomic<bool>& stop,
                     LeaseFigures& figures) {
  std::vector<std::unique_ptr<v1::WorkerService::Stub>> stubs;
  for (const auto& c : channels) stubs.push_back(v1::WorkerService::NewStub(c));
  std::vector<std::unique_ptr<grpc::CompletionQueue>> queues;
  std::vector<std::unique_ptr<AsyncWorker>> workers;
  for (int t = 0; t < client_threads; ++t)
    queues.push_back(std::make_unique<grpc::CompletionQueue>());
  std::vector<std::vector<AsyncWorker*>> by_thread(static_cast<size_t>(client_threads));
  for (size_t w = 0; w < worker_ids.size(); ++w) {
    const size_t t = w % static_cast<size_t>(client_threads);
    workers.push_back(std::make_unique<AsyncWorker>(stubs[w % stubs.size()].get(), queues[t].get(),
                                                    worker_ids[w], job_time, measure_from, &stop));
    by_thread[t].push_back(workers.back().get());
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < client_threads; ++t) {
    threads.emplace_back([&, t] {
      grpc::CompletionQueue* cq = queues[static_cast<size_t>(t)].get();
      int64_t active = 0;
      for (AsyncWorker* w : by_thread[static_cast<size_t>(t)]) active += w->Start() ? 1 : 0;
      if (active == 0) cq->Shutdown();
      void* tag;
      bool ok;
      while (cq->Next(&tag, &ok)) {
        if (!static_cast<AsyncWorker*>(tag)->OnEvent() && --active == 0) cq->Shutdown();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (auto& w : workers) {
    figures.leases += w->leases();
    figures.outputs += w->outputs();
    figures.latencies_ms.insert(figures.latencies_ms.end(), w->latencies_ms().begin(),
                                w->latencies_ms().end());
  }
}

// The q-quantile of a Prometheus histogram, interpolated inside the bucket as
// PromQL's histogram_quantile does. 0 when the histogram is empty.
double HistogramQuantile(const prometheus::ClientMetric::Histogram& h, double q) {
  const double total = static_cast<double>(h.sample_count);
  if (total == 0) return 0;
  const double rank = q * total;
  double lower = 0;
  double below = 0;
  for (const auto& b : h.bucket) {
    const double count = static_cast<double>(b.cumulative_count);
    if (count >= rank) {
      if (std::isinf(b.upper_bound)) return lower;
      const double in_bucket = count - below;
      return in_bucket == 0 ? b.upper_bound
                            : lower + (b.upper_bound - lower) * (rank - below) / in_bucket;
    }
    lower = b.upper_bound;
    below = count;
  }
  return lower;
}

// Server-side lease latency from the coordinator's own histogram
// (proctor_coordinator_lease_grant_duration_seconds: pick + fence + persist +
// payload, long-poll waiting excluded), in milliseconds.
std::pair<double, double> ServerLeaseQuantilesMs(const prometheus::Registry& registry) {
  for (const auto& family : registry.Collect()) {
    if (family.name != "proctor_coordinator_lease_grant_duration_seconds") continue;
    if (family.metric.empty()) break;
    const auto& h = family.metric.front().histogram;
    return {1000 * HistogramQuantile(h, 0.5), 1000 * HistogramQuantile(h, 0.99)};
  }
  return {0, 0};
}

bool PhaseEnabled(const std::string& phase) {
  for (absl::string_view p : absl::StrSplit(absl::GetFlag(FLAGS_phases), ',')) {
    if (p == phase) return true;
  }
  return false;
}

int Main(const std::string& dir) {
  const int workers = absl::GetFlag(FLAGS_workers);
  const int client_threads = absl::GetFlag(FLAGS_client_threads);
  double load[3] = {0, 0, 0};
  if (::getloadavg(load, 3) < 0) load[0] = -1;
  std::printf("machine: %s, %u cores, load average %.2f at start\n", CpuModel().c_str(),
              std::thread::hardware_concurrency(), load[0]);
  CoordinatorOptions options;
  options.max_lease_wait = absl::Seconds(1);
  options.lease_ttl = absl::Seconds(60);

  // 1. Lease phase: one-request jobs, `workers` concurrent workers over gRPC.
  LeaseFigures lease;
  double rss_queued = 0;
  std::pair<double, double> server_ms{0, 0};
  if (PhaseEnabled("lease")) {
    const int64_t lease_jobs = absl::GetFlag(FLAGS_lease_jobs);
    SyntheticCatalog lease_catalog(1, lease_jobs);
    auto registry = std::make_shared<prometheus::Registry>();
    coordinator::CoordinatorMetrics metrics(registry);
    Opened o = Open(dir + "/lease.db", &lease_catalog, options, &metrics);
    const double rss_before = RssMib();            // first phase: nothing else allocated yet
    auto run = o.coordinator->SubmitRun(Spec(1));  // budget 1 → one sample per job
    if (!run.ok()) {
      std::fprintf(stderr, "submit: %s\n", run.status().ToString().c_str());
      return 1;
    }
    rss_queued = RssMib();
    std::printf("queued: %lld jobs, RSS %.0f MiB (%.0f MiB before submitting)\n",
                static_cast<long long>(run->progress().jobs_total()), rss_queued, rss_before);
    coordinator::WorkerServiceImpl service(o.coordinator.get(), &metrics);
    int port = 0;
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service);
    coordinator::ConfigureRpcThreads(builder);  // as proctor-coordinator serves
    auto server = builder.BuildAndStart();
    std::vector<std::shared_ptr<grpc::Channel>> channels;
    for (int i = 0; i < 16; ++i) {
      grpc::ChannelArguments args;
      args.SetInt("channel_index", i);  // distinct channels → distinct connections
      channels.push_back(grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port),
                                                   grpc::InsecureChannelCredentials(), args));
    }
    // Registration is not measured.
    std::vector<std::string> worker_ids;
    {
      auto stub = v1::WorkerService::NewStub(channels[0]);
      for (int w = 0; w < workers; ++w) {
        v1::RegisterRequest reg;
        reg.set_worker_name(absl::StrCat("sim-", w));
        reg.mutable_capabilities()->set_backend("cpu");
        v1::RegisterResponse registered;
        grpc::ClientContext ctx;
        ctx.set_deadline(DeadlineIn(10));
        if (grpc::Status s = stub->Register(&ctx, reg, &registered); !s.ok()) {
          std::fprintf(stderr, "register: %s\n", s.error_message().c_str());
          return 1;
        }
        worker_ids.push_back(registered.worker_id());
      }
    }
    std::atomic<bool> stop{false};
    const int64_t commits_before = o.store->write_batches();
    const absl::Time start = absl::Now();
    // The first round of leases arrives at once (every worker starts
    // together): it counts in the rate but not in the latency percentiles.
    const absl::Time measure_from = start + absl::Seconds(absl::GetFlag(FLAGS_warmup_seconds));
    std::thread timer([&] {
      absl::SleepFor(absl::Seconds(absl::GetFlag(FLAGS_seconds)));
      lease.seconds = absl::ToDoubleSeconds(absl::Now() - start);
      stop.store(true);
    });
    if (client_threads > 0) {
      RunAsyncWorkers(channels, worker_ids, client_threads,
                      absl::Milliseconds(absl::GetFlag(FLAGS_job_ms)), measure_from, stop, lease);
    } else {
      RunThreadPerWorker(channels, worker_ids, measure_from, stop, lease);
    }
    timer.join();
    auto after = o.coordinator->GetRun(run->run_id());
    lease.queue_ran_dry = after.ok() && after->progress().jobs_queued() == 0;
    server_ms = ServerLeaseQuantilesMs(*registry);
    lease.store_commits = o.store->write_batches() - commits_before;
    server->Shutdown();
  }
  std::vector<double>& all = lease.latencies_ms;
  std::sort(all.begin(), all.end());
  auto pct = [&all](double p) {
    return all.empty() ? 0.0 : all[std::min(all.size() - 1, static_cast<size_t>(p * all.size()))];
  };
  const double lease_rate =
      lease.seconds > 0 ? static_cast<double>(lease.leases) / lease.seconds : 0;
  const double output_rate =
      lease.seconds > 0 ? static_cast<double>(lease.outputs) / lease.seconds : 0;
  if (PhaseEnabled("lease")) {
    std::printf(
        "lease: %d workers (%s), %lld leases in %.1f s = %.0f leases/s; client-side p50 %.2f ms, "
        "p99 %.2f ms; server-side (histogram) p50 %.2f ms, p99 %.2f ms\n",
        workers,
        client_threads > 0 ? absl::StrCat("async, ", client_threads, " client threads").c_str()
                           : "one blocking thread each",
        static_cast<long long>(lease.leases), lease.seconds, lease_rate, pct(0.5), pct(0.99),
        server_ms.first, server_ms.second);
    std::printf(
        "lease: %lld store commits (fsyncs) = %.0f/s, %.1f leases per commit (a job is 3 durable "
        "writes: lease, outputs, completion)\n",
        static_cast<long long>(lease.store_commits),
        lease.seconds > 0 ? static_cast<double>(lease.store_commits) / lease.seconds : 0.0,
        lease.store_commits > 0
            ? static_cast<double>(lease.leases) / static_cast<double>(lease.store_commits)
            : 0.0);
    if (lease.queue_ran_dry) {
      std::printf(
          "lease: WARNING the queue ran dry; raise --lease_jobs (the rate is a lower bound)\n");
    }
  }

  // 3. Planning a 45-set run: the catalog's part (eval) and the coordinator's
  // part (planner + store) timed apart.
  const int64_t plan_requests = absl::GetFlag(FLAGS_plan_requests);
  SyntheticCatalog plan_catalog(45, plan_requests / 45);
  double plan_seconds = 0;
  if (PhaseEnabled("plan")) {
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
  if (PhaseEnabled("ingest")) {
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
  if (PhaseEnabled("restart")) {
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
    Opened again = Open(dir + "/restart.db", &cat, options, nullptr, &restart_seconds);
    std::printf("restart: recovered and serving in %.2f s\n", restart_seconds);
  }

  std::printf(
      "{\"bench\":\"coordinator\",\"workers\":%d,\"client_threads\":%d,"
      "\"leases_per_second\":%.0f,\"lease_p50_ms\":%.2f,\"lease_p99_ms\":%.2f,"
      "\"server_lease_p50_ms\":%.2f,\"server_lease_p99_ms\":%.2f,"
      "\"outputs_per_second_lease_phase\":%.0f,"
      "\"ingest_outputs_per_second\":%.0f,\"plan_seconds\":%.2f,\"restart_seconds\":%.2f,"
      "\"rss_mib_100k_jobs\":%.0f}\n",
      workers, client_threads, lease_rate, pct(0.5), pct(0.99), server_ms.first, server_ms.second,
      output_rate, ingest_rate, plan_seconds, restart_seconds, rss_queued);
  return 0;
}

}  // namespace
}  // namespace proctor::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  // As proctor-coordinator does (coordinator/main.cc): Debian's Abseil runs
  // its debug-only mutex deadlock detector otherwise.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  std::string dir = absl::GetFlag(FLAGS_dir);
  const bool temp = dir.empty();
  if (temp)
    dir = absl::StrCat(std::filesystem::temp_directory_path().string(),
                       "/proctor_coordinator_bench_", ::getpid());
  std::filesystem::create_directories(dir);
  const int rc = proctor::bench::Main(dir);
  if (temp) std::filesystem::remove_all(dir);
  return rc;
}
