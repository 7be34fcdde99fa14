// proctor-worker: pulls jobs from a Proctor coordinator and runs them on a
// model engine. Operator guide: docs/operators/worker.md.
//
// Prints "proctor-worker registered worker_id=<id> name=<name>" on stdout
// after each registration (tests and scripts wait for it). SIGTERM or SIGINT
// drains (finish the current job, or hand it back after --drain_timeout) and
// exits 0; a second signal hands the current job back at once.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "common/logging.h"
#include "worker/engine_registry.h"
#include "worker/grpc_coordinator_client.h"
#include "worker/metrics.h"
#include "worker/model_cache.h"
#include "worker/pull_loop.h"

#ifndef PROCTOR_VERSION
#define PROCTOR_VERSION "unknown"
#endif

ABSL_FLAG(std::string, coordinator, "", "Coordinator address, host:port (required).");
ABSL_FLAG(std::string, name, "",
          "Stable worker name, e.g. host:gpu0. Re-registering a name replaces the old "
          "registration and releases its leases. Default: <hostname>-<pid>.");
ABSL_FLAG(std::string, backend, "scripted", "Model backend: one of the backends built in.");
ABSL_FLAG(int, threads, 0, "Compute threads for CPU backends (0 = backend default).");
ABSL_FLAG(std::vector<std::string>, model_roots, {},
          "Comma-separated directories model files must lie under (backends that open "
          "files); empty = any path.");
ABSL_FLAG(int, scripted_delay_ms, 0, "scripted backend: sleep before each request (ms).");
ABSL_FLAG(int, scripted_load_delay_ms, 0, "scripted backend: sleep inside each model load (ms).");
ABSL_FLAG(bool, scripted_fail_model_load, false,
          "scripted backend: every model load fails with FAILED_PRECONDITION.");
ABSL_FLAG(int, max_models, 1, "Models kept loaded at once (LRU).");
ABSL_FLAG(int64_t, max_model_bytes, 0, "Bytes of models kept loaded (LRU); 0 = no bound.");
ABSL_FLAG(bool, sandbox, false,
          "Advertise the sandbox capability and run judge (code-execution) jobs.");
ABSL_FLAG(std::string, metrics_address, "",
          "Serve Prometheus metrics on host:port (port 0 = any free port); empty = off.");
ABSL_FLAG(absl::Duration, drain_timeout, absl::Seconds(60),
          "On SIGTERM or a drain request, how long the current job may run before it is "
          "handed back.");
ABSL_FLAG(absl::Duration, lease_wait, absl::Seconds(10), "Longest Lease long-poll.");
ABSL_FLAG(absl::Duration, rpc_timeout, absl::Seconds(10), "Deadline of each coordinator call.");
ABSL_FLAG(std::string, tls_ca_file, "", "PEM CA bundle: connect with TLS and verify the server.");
ABSL_FLAG(std::string, tls_cert_file, "", "PEM client certificate (mTLS; needs --tls_key_file).");
ABSL_FLAG(std::string, tls_key_file, "", "PEM client private key (mTLS).");
ABSL_FLAG(std::string, auth_token_file, "",
          "File holding the bearer token sent on every call (role: worker).");

namespace {

using proctor::worker::PullLoop;

std::string Hostname() {
  char buffer[256] = {};
  if (gethostname(buffer, sizeof(buffer) - 1) != 0) return "unknown-host";
  return buffer;
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "proctor-worker: %s\n", message.c_str());
  return 2;
}

// Waits for SIGTERM/SIGINT (blocked in every thread) and turns them into
// drain requests; SIGUSR1 ends the waiter.
void WaitForSignals(PullLoop* loop, sigset_t signals) {
  int count = 0;
  while (true) {
    int signal = 0;
    if (sigwait(&signals, &signal) != 0) continue;
    if (signal == SIGUSR1) return;
    ++count;
    PROCTOR_LOG(INFO) << "received signal " << signal
                      << (count == 1 ? "; draining"
                                     : "; handing "
                                       "the current job back now");
    loop->RequestDrain(/*immediately=*/count > 1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  // Block the drain signals before any thread exists, so that only the
  // signal-waiting thread receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  absl::SetProgramUsageMessage(
      "Pulls evaluation jobs from a Proctor coordinator and runs them.\n"
      "  proctor-worker --coordinator=host:port [--backend=scripted] [--name=host:gpu0]");
  absl::ParseCommandLine(argc, argv);

  const std::string coordinator = absl::GetFlag(FLAGS_coordinator);
  if (coordinator.empty()) return Fail("--coordinator=host:port is required");
  if (absl::GetFlag(FLAGS_max_models) < 1) return Fail("--max_models must be at least 1");
  if (absl::GetFlag(FLAGS_max_model_bytes) < 0) return Fail("--max_model_bytes must be >= 0");
  if (absl::GetFlag(FLAGS_scripted_delay_ms) < 0 ||
      absl::GetFlag(FLAGS_scripted_load_delay_ms) < 0) {
    return Fail("--scripted_delay_ms and --scripted_load_delay_ms must be >= 0");
  }
  if (absl::GetFlag(FLAGS_drain_timeout) < absl::ZeroDuration() ||
      absl::GetFlag(FLAGS_lease_wait) < absl::ZeroDuration() ||
      absl::GetFlag(FLAGS_rpc_timeout) <= absl::ZeroDuration()) {
    return Fail("--drain_timeout and --lease_wait must be >= 0 and --rpc_timeout > 0");
  }

  proctor::worker::EngineOptions engine_options;
  engine_options.threads = absl::GetFlag(FLAGS_threads);
  engine_options.allowed_model_roots = absl::GetFlag(FLAGS_model_roots);
  engine_options.scripted.request_delay =
      absl::Milliseconds(absl::GetFlag(FLAGS_scripted_delay_ms));
  engine_options.scripted.load_delay =
      absl::Milliseconds(absl::GetFlag(FLAGS_scripted_load_delay_ms));
  engine_options.scripted.fail_model_load = absl::GetFlag(FLAGS_scripted_fail_model_load);
  auto engine = proctor::worker::CreateEngine(absl::GetFlag(FLAGS_backend), engine_options);
  if (!engine.ok()) return Fail(absl::StrCat("--backend: ", engine.status().ToString()));

  // Judge jobs need a code sandbox. Only the scripted test double simulates
  // one so far (the eval/ sandbox runner plugs in here).
  std::shared_ptr<proctor::engine::LoadedModel> judge_runner;
  if (absl::GetFlag(FLAGS_sandbox)) {
    if ((*engine)->backend() != "scripted") {
      return Fail("--sandbox: this build has no code sandbox for backend " + (*engine)->backend() +
                  " (only --backend=scripted simulates one)");
    }
    proctor::v1::ModelRef judge;
    judge.set_name("scripted-judge");
    auto runner = (*engine)->Load(judge);
    if (!runner.ok()) return Fail("--sandbox: " + runner.status().ToString());
    judge_runner = std::move(runner).value();
  }

  proctor::worker::GrpcClientOptions client_options;
  client_options.tls_ca_file = absl::GetFlag(FLAGS_tls_ca_file);
  client_options.tls_cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  client_options.tls_key_file = absl::GetFlag(FLAGS_tls_key_file);
  if (const std::string path = absl::GetFlag(FLAGS_auth_token_file); !path.empty()) {
    std::ifstream in(path);
    if (!in) return Fail("--auth_token_file: cannot read " + path);
    std::ostringstream token;
    token << in.rdbuf();
    client_options.bearer_token = std::string(absl::StripAsciiWhitespace(token.str()));
    if (client_options.bearer_token.empty())
      return Fail("--auth_token_file: " + path + " is empty");
  }
  auto client = proctor::worker::NewGrpcCoordinatorClient(coordinator, client_options);
  if (!client.ok()) return Fail(client.status().ToString());

  proctor::worker::WorkerMetrics metrics;
  if (const std::string address = absl::GetFlag(FLAGS_metrics_address); !address.empty()) {
    absl::StatusOr<int> port = metrics.StartExposer(address);
    if (!port.ok()) return Fail(port.status().ToString());
    const std::string host = address.substr(0, address.rfind(':'));
    std::printf("proctor-worker metrics on http://%s:%d/metrics\n", host.c_str(), *port);
    std::fflush(stdout);
  }

  proctor::worker::ModelCacheOptions cache_options;
  cache_options.max_models = absl::GetFlag(FLAGS_max_models);
  cache_options.max_bytes = absl::GetFlag(FLAGS_max_model_bytes);
  proctor::worker::ModelCache models(engine->get(), cache_options, &metrics);

  const std::string hostname = Hostname();
  proctor::worker::PullLoopOptions options;
  options.name = absl::GetFlag(FLAGS_name);
  if (options.name.empty()) options.name = absl::StrCat(hostname, "-", getpid());
  options.backend = (*engine)->backend();
  options.sandbox = judge_runner != nullptr;
  options.hostname = hostname;
  options.version = PROCTOR_VERSION;
  options.lease_wait = absl::GetFlag(FLAGS_lease_wait);
  options.drain_timeout = absl::GetFlag(FLAGS_drain_timeout);
  options.rpc_timeout = absl::GetFlag(FLAGS_rpc_timeout);
  options.reporter.rpc_timeout = options.rpc_timeout;
  const std::string name = options.name;
  options.on_registered = [name](const std::string& worker_id) {
    std::printf("proctor-worker registered worker_id=%s name=%s\n", worker_id.c_str(),
                name.c_str());
    std::fflush(stdout);
  };

  PullLoop loop(options, client->get(), &models, &metrics, judge_runner);
  std::thread signal_thread(WaitForSignals, &loop, signals);
  const absl::Status status = loop.Run();
  pthread_kill(signal_thread.native_handle(), SIGUSR1);
  signal_thread.join();
  if (!status.ok()) {
    std::fprintf(stderr, "proctor-worker: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
