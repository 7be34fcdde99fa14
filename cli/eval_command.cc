// `proctor eval`: one process runs a real coordinator (SQLite store in a local
// directory, gRPC on loopback) and N worker pull loops with the chosen engine,
// submits one run, shows its progress and prints its results. The very same
// components as a cluster, so a run here scores exactly as it would on
// proctor-coordinator + proctor-worker processes.
#include "cli/eval_command.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "cli/exit_codes.h"
#include "cli/flag_parser.h"
#include "cli/output_format.h"
#include "cli/progress.h"
#include "cli/results_format.h"
#include "cli/run_spec_flags.h"
#include "common/logging.h"
#include "coordinator/server.h"
#include "eval/registry.h"
#include "worker/engine_registry.h"
#include "worker/grpc_coordinator_client.h"
#include "worker/judge_execution.h"
#include "worker/metrics.h"
#include "worker/model_cache.h"
#include "worker/pull_loop.h"
#include "worker/sandbox/sandbox.h"

namespace proctor::cli {
namespace {

constexpr char kUsage[] = "proctor eval --model PATH (--suite S | --dataset D[:N]...) [flags]";
constexpr char kDescription[] =
    "Evaluates a model in this process: an embedded coordinator (store under --store-dir) and "
    "--workers local workers running the --engine backend. Progress goes to stderr, the "
    "results table (sets, groups, dimensions, Overall, with standard errors and prompt hashes) "
    "to stdout.";

// The first dataset root that exists: --data-dir, $PROCTOR_DATA_DIR,
// $PROCTOR_SHARED_DATA/datasets, ../shared/data/datasets.
std::string FindDataDir(const ParsedFlags& flags) {
  if (auto d = flags.Get("data-dir")) return *d;
  std::vector<std::string> candidates;
  if (const char* e = std::getenv("PROCTOR_DATA_DIR")) candidates.push_back(e);
  if (const char* e = std::getenv("PROCTOR_SHARED_DATA")) {
    candidates.push_back(absl::StrCat(e, "/datasets"));
  }
  candidates.push_back("../shared/data/datasets");
  for (const std::string& c : candidates) {
    if (std::filesystem::is_directory(c)) return c;
  }
  return "";
}

int Fail(int code, const std::string& message) {
  std::fprintf(stderr, "proctor eval: %s\n", message.c_str());
  return code;
}

int CodeFor(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
      return kExitInvalidArgument;
    case absl::StatusCode::kNotFound:
      return kExitNotFound;
    case absl::StatusCode::kUnavailable:
      return kExitUnavailable;
    default:
      return kExitFailed;
  }
}

}  // namespace

int RunEvalCommand(int argc, char** argv) {
  FlagParser parser(kUsage, kDescription);
  AddSubmitFlags(&parser);
  parser.AddValue("data-dir", "DIR",
                  "dataset root (default: $PROCTOR_DATA_DIR, $PROCTOR_SHARED_DATA/datasets, "
                  "../shared/data/datasets)");
  parser.AddValue("store-dir", "DIR",
                  "where the embedded coordinator keeps its store "
                  "(default ./proctor-eval)");
  parser.AddValue("engine", "BACKEND",
                  "engine of the local workers: cpu (default) or "
                  "scripted (the deterministic test double)");
  parser.AddValue("workers", "N", "local workers (default 1)");
  parser.AddValue("threads", "N", "compute threads per worker (default: all cores / workers)");
  parser.AddValue("format", "FORMAT", "results as table (default), json, csv or md");
  std::vector<std::string> args(argv + 1, argv + argc);
  absl::StatusOr<ParsedFlags> flags = parser.Parse(args);
  if (!flags.ok()) {
    return Fail(kExitUsage, absl::StrCat(flags.status().message(), "\n", parser.Help()));
  }
  if (flags->help()) {
    std::printf("%s", parser.Help().c_str());
    return kExitOk;
  }
  const char* user = std::getenv("USER");
  absl::StatusOr<v1::RunSpec> spec = BuildRunSpec(*flags, user ? user : "local");
  if (!spec.ok()) return Fail(kExitUsage, std::string(spec.status().message()));
  OutputFormat format = OutputFormat::kTable;
  if (auto f = flags->Get("format")) {
    auto parsed = ParseOutputFormat(*f);
    if (!parsed.ok()) return Fail(kExitUsage, std::string(parsed.status().message()));
    format = *parsed;
  }
  int64_t workers = 1;
  if (auto w = flags->Get("workers")) {
    auto n = ParseInt("--workers", *w, 1, 64);
    if (!n.ok()) return Fail(kExitUsage, std::string(n.status().message()));
    workers = *n;
  }
  const int64_t cores = std::max(1u, std::thread::hardware_concurrency());
  int64_t threads = std::max<int64_t>(1, cores / workers);
  if (auto t = flags->Get("threads")) {
    auto n = ParseInt("--threads", *t, 1, 1024);
    if (!n.ok()) return Fail(kExitUsage, std::string(n.status().message()));
    threads = *n;
  }
  const std::string engine_name = flags->Get("engine").value_or("cpu");
  const std::string data_dir = FindDataDir(*flags);
  if (data_dir.empty()) {
    return Fail(kExitUsage,
                "no dataset directory found: pass --data-dir DIR (the datasets in their "
                "upstream layout, e.g. shared/data/datasets; see docs/datasets.md)");
  }
  if (spec->model().path().find('/') != std::string::npos &&
      !std::filesystem::exists(spec->model().path()) && engine_name != "scripted") {
    return Fail(kExitNotFound, absl::StrCat("--model: no such file: ", spec->model().path()));
  }

  // Quiet library logs unless asked for; the progress display is the UI.
  if (std::getenv("PROCTOR_LOG_LEVEL") == nullptr) SetMinLogSeverity(LogSeverity::kWarning);

  coordinator::ServerOptions server_options;
  server_options.listen_address = "127.0.0.1:0";
  server_options.store_path = flags->Get("store-dir").value_or("proctor-eval") + "/store.db";
  server_options.data_dir = data_dir;
  server_options.coordinator.heartbeat_interval = absl::Seconds(2);
  auto server = coordinator::CoordinatorServer::Start(server_options);
  if (!server.ok()) return Fail(CodeFor(server.status()), server.status().ToString());

  worker::EngineOptions engine_options;
  engine_options.threads = static_cast<int>(threads);
  auto engine = worker::CreateEngine(engine_name, engine_options);
  if (!engine.ok()) return Fail(kExitUsage, absl::StrCat("--engine: ", engine.status().message()));

  // Code sets (HumanEval, MBPP) are scored by judge jobs that the local
  // workers run in the code sandbox (docs/design/sandbox.md).
  std::unique_ptr<sandbox::Sandbox> code_sandbox;
  std::shared_ptr<engine::LoadedModel> judge_runner;
  absl::Status sandbox_status = absl::OkStatus();
  if (auto s = sandbox::Sandbox::Create({}); s.ok()) {
    code_sandbox = *std::move(s);
    worker::JudgeRunnerOptions judge_options;
    judge_options.parallelism = static_cast<int>(std::clamp<int64_t>(cores, 1, 4));
    auto runner = worker::JudgeRunner::Create(code_sandbox.get(), judge_options);
    if (runner.ok()) {
      judge_runner = *std::move(runner);
    } else {
      sandbox_status = runner.status();
    }
  } else {
    sandbox_status = s.status();
  }

  auto run = (*server)->coordinator()->SubmitRun(*spec);
  if (!run.ok()) return Fail(CodeFor(run.status()), std::string(run.status().message()));
  if (!sandbox_status.ok()) {
    // Without a sandbox a code set would wait for its judge jobs forever.
    auto planned = (*server)->coordinator()->GetSampleScores(run->run_id());
    if (planned.ok()) {
      for (const auto& [name, count] : planned->record.datasets) {
        const eval::SetDef* def = eval::FindSet(name);
        if (def != nullptr && eval::PrimaryMetric(*def) == "pass@1") {
          (void)(*server)->coordinator()->CancelRun(run->run_id());
          (*server)->Shutdown();
          return Fail(kExitFailed, absl::StrCat("set ", name,
                                                " runs model code, but the code sandbox is "
                                                "unavailable: ",
                                                sandbox_status.message()));
        }
      }
    }
  }
  if (code_sandbox != nullptr && !code_sandbox->network_isolated()) {
    std::fprintf(stderr,
                 "warning: no user namespaces here; code sets run WITHOUT network or "
                 "filesystem isolation\n");
  }
  std::fprintf(stderr, "run %s: %lld requests in %lld jobs, %lld local worker(s), engine %s\n",
               run->run_id().c_str(), static_cast<long long>(run->progress().requests_total()),
               static_cast<long long>(run->progress().jobs_total()),
               static_cast<long long>(workers), engine_name.c_str());

  worker::WorkerMetrics metrics;
  struct Local {
    std::unique_ptr<worker::CoordinatorClient> client;
    std::unique_ptr<worker::ModelCache> models;
    std::unique_ptr<worker::PullLoop> loop;
    std::thread thread;
    absl::Status status;
  };
  std::vector<std::unique_ptr<Local>> locals;
  const std::string address = absl::StrCat("127.0.0.1:", (*server)->port());
  for (int64_t i = 0; i < workers; ++i) {
    auto local = std::make_unique<Local>();
    auto client = worker::NewGrpcCoordinatorClient(address, worker::GrpcClientOptions());
    if (!client.ok()) return Fail(kExitFailed, client.status().ToString());
    local->client = *std::move(client);
    local->models =
        std::make_unique<worker::ModelCache>(engine->get(), worker::ModelCacheOptions(), &metrics);
    worker::PullLoopOptions options;
    options.name = absl::StrCat("local-", i);
    options.backend = (*engine)->backend();
    options.sandbox = judge_runner != nullptr;
    options.lease_wait = absl::Seconds(1);
    options.drain_timeout = absl::ZeroDuration();
    local->loop = std::make_unique<worker::PullLoop>(options, local->client.get(),
                                                     local->models.get(), &metrics, judge_runner);
    Local* l = local.get();
    local->thread = std::thread([l] { l->status = l->loop->Run(); });
    locals.push_back(std::move(local));
  }

  // Progress until the run ends.
  const bool tty = ::isatty(STDERR_FILENO);
  ProgressThrottle throttle(absl::Seconds(10));
  uint64_t version = 0;
  v1::Run current = *run;
  while (!IsTerminal(current.state())) {
    auto next = (*server)->coordinator()->WaitForRunChange(run->run_id(), &version,
                                                           absl::Now() + absl::Seconds(1));
    if (!next.ok()) break;
    current = *std::move(next);
    if (tty) {
      std::fprintf(stderr, "\r%s", RenderProgressBar(current, 100).c_str());
    } else if (throttle.ShouldPrint(current, absl::Now())) {
      std::fprintf(stderr, "%s\n", RenderProgressLine(current, absl::Now()).c_str());
    }
    std::fflush(stderr);
  }
  if (tty) std::fprintf(stderr, "\n");
  std::fprintf(stderr, "%s\n", RenderFinalLine(current).c_str());
  for (auto& l : locals) l->loop->RequestDrain(/*immediately=*/true);
  for (auto& l : locals) l->thread.join();

  auto results = (*server)->coordinator()->GetResults(run->run_id());
  (*server)->Shutdown();
  if (!results.ok()) return Fail(kExitFailed, results.status().ToString());
  auto text = FormatResults(*results, format);
  if (!text.ok()) return Fail(kExitFailed, text.status().ToString());
  std::fwrite(text->data(), 1, text->size(), stdout);
  switch (current.state()) {
    case v1::RUN_STATE_SUCCEEDED:
      return kExitOk;
    case v1::RUN_STATE_CANCELLED:
      return kExitCancelled;
    default:
      if (!current.failure_reason().empty()) {
        std::fprintf(stderr, "proctor eval: %s\n", current.failure_reason().c_str());
      }
      return kExitFailed;
  }
}

}  // namespace proctor::cli
