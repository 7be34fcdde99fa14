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

#include <algorithm>
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
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/logging.h"
#include "worker/engine_registry.h"
#include "worker/grpc_coordinator_client.h"
#include "worker/judge_execution.h"
#include "worker/metrics.h"
#include "worker/model_cache.h"
#include "worker/pull_loop.h"
#include "worker/sandbox/sandbox.h"

#ifndef PROCTOR_VERSION
#define PROCTOR_VERSION "unknown"
#endif

ABSL_FLAG(std::string, coordinator, "", "Coordinator address, host:port (required).");
ABSL_FLAG(std::string, name, "",
          "Stable worker name, e.g. host:gpu0. Re-registering a name replaces the old "
          "registration and releases its leases. Default: <hostname>-<pid>.");
ABSL_FLAG(std::string, backend, "scripted", "Model backend: one of the backends built in.");
ABSL_FLAG(int, threads, 0, "Compute threads for CPU backends (0 = backend default).");
ABSL_FLAG(int, max_batch, 0,
          "Generate requests of a job decoded together (0 = backend default: 16 cpu, 64 cuda).");
ABSL_FLAG(int, tensor_parallel, 0,
          "GPU backends: tensor-parallel degree (0 = chosen from the model size and the GPUs).");
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
          "Advertise the sandbox capability and run judge (code-execution) jobs in the code "
          "sandbox (docs/design/sandbox.md).");
ABSL_FLAG(int, sandbox_parallelism, 0,
          "Programs of a judge job run at once (0 = min(4, hardware threads)).");
ABSL_FLAG(absl::Duration, sandbox_timeout, absl::Seconds(10),
          "Longest wall-clock time one program may run, whatever its request asks.");
ABSL_FLAG(int64_t, sandbox_memory_bytes, int64_t{512} << 20,
          "Address-space limit (RLIMIT_AS) of each program.");
ABSL_FLAG(int64_t, sandbox_cpu_seconds, 0,
          "CPU-time limit (RLIMIT_CPU) of each program; 0 = its timeout + 2 s.");
ABSL_FLAG(int64_t, sandbox_file_size_bytes, int64_t{16} << 20,
          "Largest file a program may write (RLIMIT_FSIZE).");
ABSL_FLAG(int64_t, sandbox_max_processes, 32, "Processes a program may have (RLIMIT_NPROC).");
ABSL_FLAG(int64_t, sandbox_workdir_bytes, int64_t{64} << 20,
          "Size of each program's private tmpfs directory.");
ABSL_FLAG(std::string, sandbox_python, "/usr/bin/python3",
          "The Python interpreter programs run in.");
ABSL_FLAG(std::string, sandbox_temp_root, "",
          "Where private directories are created (default $TMPDIR or /tmp).");
ABSL_FLAG(bool, sandbox_namespaces, true,
          "Use user/mount/network/pid namespaces when the host permits them; false = never "
          "(programs then have network access: only for hosts that forbid namespaces).");
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
  // Release Abseil's default (see coordinator/main.cc): no deadlock detector
  // on every absl::Mutex lock.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  const std::string coordinator = absl::GetFlag(FLAGS_coordinator);
  if (coordinator.empty()) return Fail("--coordinator=host:port is required");
  if (absl::GetFlag(FLAGS_max_models) < 1) return Fail("--max_models must be at least 1");
  if (absl::GetFlag(FLAGS_max_model_bytes) < 0) return Fail("--max_model_bytes must be >= 0");
  if (absl::GetFlag(FLAGS_max_batch) < 0) return Fail("--max_batch must be >= 0");
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
  engine_options.tensor_parallel = absl::GetFlag(FLAGS_tensor_parallel);
  engine_options.max_batch = absl::GetFlag(FLAGS_max_batch);
  engine_options.allowed_model_roots = absl::GetFlag(FLAGS_model_roots);
  engine_options.scripted.request_delay =
      absl::Milliseconds(absl::GetFlag(FLAGS_scripted_delay_ms));
  engine_options.scripted.load_delay =
      absl::Milliseconds(absl::GetFlag(FLAGS_scripted_load_delay_ms));
  engine_options.scripted.fail_model_load = absl::GetFlag(FLAGS_scripted_fail_model_load);
  auto engine = proctor::worker::CreateEngine(absl::GetFlag(FLAGS_backend), engine_options);
  if (!engine.ok()) return Fail(absl::StrCat("--backend: ", engine.status().ToString()));

  // Judge jobs run in the code sandbox (worker/judge_execution.h).
  std::unique_ptr<proctor::sandbox::Sandbox> sandbox;
  std::shared_ptr<proctor::engine::LoadedModel> judge_runner;
  if (absl::GetFlag(FLAGS_sandbox)) {
    proctor::sandbox::SandboxOptions sandbox_options;
    sandbox_options.python = absl::GetFlag(FLAGS_sandbox_python);
    sandbox_options.temp_root = absl::GetFlag(FLAGS_sandbox_temp_root);
    sandbox_options.use_namespaces = absl::GetFlag(FLAGS_sandbox_namespaces);
    auto created = proctor::sandbox::Sandbox::Create(sandbox_options);
    if (!created.ok()) return Fail("--sandbox: " + created.status().ToString());
    sandbox = std::move(created).value();
    proctor::worker::JudgeRunnerOptions judge_options;
    judge_options.parallelism = absl::GetFlag(FLAGS_sandbox_parallelism);
    if (judge_options.parallelism == 0) {
      judge_options.parallelism =
          static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 4u));
    }
    judge_options.max_timeout = absl::GetFlag(FLAGS_sandbox_timeout);
    judge_options.default_timeout =
        std::min(judge_options.default_timeout, judge_options.max_timeout);
    judge_options.limits.memory_bytes = absl::GetFlag(FLAGS_sandbox_memory_bytes);
    judge_options.limits.cpu_seconds = absl::GetFlag(FLAGS_sandbox_cpu_seconds);
    judge_options.limits.file_size_bytes = absl::GetFlag(FLAGS_sandbox_file_size_bytes);
    judge_options.limits.max_processes = absl::GetFlag(FLAGS_sandbox_max_processes);
    judge_options.limits.workdir_bytes = absl::GetFlag(FLAGS_sandbox_workdir_bytes);
    // Bad limits fail here, at start-up, rather than on the first job.
    proctor::sandbox::SandboxLimits check = judge_options.limits;
    check.timeout = judge_options.max_timeout;
    if (auto r = sandbox->Run("pass\n", check); !r.ok()) {
      return Fail("--sandbox_*: " + r.status().ToString());
    } else if (r->outcome != proctor::sandbox::Outcome::kPassed) {
      return Fail(absl::StrCat("--sandbox_*: a trivial program did not pass under these limits (",
                               proctor::sandbox::OutcomeName(r->outcome), "): ", r->stderr_tail));
    }
    auto runner = proctor::worker::JudgeRunner::Create(sandbox.get(), judge_options);
    if (!runner.ok()) return Fail("--sandbox_parallelism: " + runner.status().ToString());
    judge_runner = std::move(runner).value();
    PROCTOR_LOG(INFO) << "sandbox: " << judge_options.parallelism << " programs at once, "
                      << (sandbox->network_isolated()
                              ? "network and filesystem isolated (namespaces)"
                              : "WITHOUT network or filesystem isolation (no namespaces)");
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
  const proctor::worker::BackendDevices devices =
      proctor::worker::DevicesForBackend(options.backend);
  options.gpu_count = devices.gpu_count;
  options.gpu_memory_bytes = devices.gpu_memory_bytes;
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
