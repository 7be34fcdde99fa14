// proctor-coordinator: serves the Evaluation, Worker and Admin APIs over gRPC
// with a durable SQLite store. Flags are documented in docs/operators.md.
#include <csignal>
#include <cstdio>
#include <fstream>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/logging.h"
#include "coordinator/server.h"

ABSL_FLAG(std::string, host, "127.0.0.1", "Address to listen on (0.0.0.0 for all interfaces)");
ABSL_FLAG(int, port, 50051, "gRPC port; 0 picks a free one (see --port_file)");
ABSL_FLAG(std::string, port_file, "", "Write the bound gRPC port to this file once serving");
ABSL_FLAG(std::string, store, "proctor-store/store.db", "SQLite store file");
ABSL_FLAG(int64_t, result_cache_max_entries, 1'000'000,
          "Result-cache entries kept in the store; least recently used beyond this are evicted (0 "
          "= no bound)");
ABSL_FLAG(std::string, data_dir, "", "Dataset root directory (see docs/datasets.md)");
ABSL_FLAG(std::string, metrics_address, "",
          "host:port for the Prometheus /metrics endpoint (empty = disabled)");
ABSL_FLAG(std::string, metrics_port_file, "",
          "Write the bound metrics port to this file once serving (with --metrics_address)");
ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM server certificate chain: serve gRPC over TLS (re-read when it changes)");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key of --tls_cert_file");
ABSL_FLAG(std::string, tls_client_ca_file, "", "PEM CA bundle verifying client certificates");
ABSL_FLAG(std::string, tls_client_auth, "none",
          "Client certificates: none, optional (verified when presented; worker calls need "
          "one) or require (every client)");
ABSL_FLAG(absl::Duration, tls_reload_interval, absl::Minutes(1),
          "How often the TLS files are re-read for renewed certificates");
ABSL_FLAG(std::string, auth_tokens_file, "",
          "Bearer tokens file (hashed tokens with roles; needs TLS). Empty = no authentication");
ABSL_FLAG(absl::Duration, auth_reload_interval, absl::Seconds(10),
          "How often --auth_tokens_file is checked for changes (tokens added or revoked)");
ABSL_FLAG(int, max_message_bytes, 16 << 20,
          "Largest gRPC request or response, in bytes; larger requests are refused with "
          "RESOURCE_EXHAUSTED");
ABSL_FLAG(std::string, health_address, "",
          "host:port of a plaintext port serving only gRPC health checks (for probes that "
          "cannot speak TLS); empty = none");
ABSL_FLAG(std::string, report_address, "",
          "host:port of the read-only HTTP report endpoint (/runs/<id>/report.html, .md, .csv; "
          "docs/report.md); plaintext: bind to loopback or a trusted network. Empty = off");
ABSL_FLAG(std::string, report_port_file, "",
          "Write the bound report port to this file once serving (with --report_address)");
ABSL_FLAG(absl::Duration, lease_ttl, absl::Seconds(30), "Lease time-to-live");
ABSL_FLAG(absl::Duration, heartbeat_interval, absl::Seconds(5), "Worker heartbeat interval");
ABSL_FLAG(int64_t, job_token_budget, 32768, "Default estimated tokens per job");
ABSL_FLAG(std::string, model_root, "",
          "When set, every run's model path must lie under this directory");
ABSL_FLAG(int, max_attempts, 3, "Default attempts per job before it is failed as poison");

namespace {
volatile std::sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }
}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("proctor-coordinator: the Proctor evaluation coordinator");
  absl::ParseCommandLine(argc, argv);
  // Debian's Abseil is built without NDEBUG, so absl::Mutex runs its
  // debug-only deadlock detector on every lock: a graph update under one
  // process-wide lock, measured at 5x the cost of an uncontended lock and a
  // serialisation point for the hundreds of RPC threads of a loaded
  // coordinator. Release builds of Abseil ship with it off; so do we. (Tests
  // keep it on.)
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  proctor::coordinator::ServerOptions options;
  options.listen_address = absl::StrCat(absl::GetFlag(FLAGS_host), ":", absl::GetFlag(FLAGS_port));
  options.store_path = absl::GetFlag(FLAGS_store);
  options.result_cache_max_entries = absl::GetFlag(FLAGS_result_cache_max_entries);
  options.data_dir = absl::GetFlag(FLAGS_data_dir);
  options.metrics_address = absl::GetFlag(FLAGS_metrics_address);
  options.tls_cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  options.tls_key_file = absl::GetFlag(FLAGS_tls_key_file);
  options.tls_client_ca_file = absl::GetFlag(FLAGS_tls_client_ca_file);
  options.tls_client_auth = absl::GetFlag(FLAGS_tls_client_auth);
  options.tls_reload_interval = absl::GetFlag(FLAGS_tls_reload_interval);
  options.auth_tokens_file = absl::GetFlag(FLAGS_auth_tokens_file);
  options.health_address = absl::GetFlag(FLAGS_health_address);
  options.report_address = absl::GetFlag(FLAGS_report_address);
  options.auth_reload_interval = absl::GetFlag(FLAGS_auth_reload_interval);
  options.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  options.coordinator.lease_ttl = absl::GetFlag(FLAGS_lease_ttl);
  options.coordinator.heartbeat_interval = absl::GetFlag(FLAGS_heartbeat_interval);
  options.coordinator.planner.job_token_budget = absl::GetFlag(FLAGS_job_token_budget);
  options.coordinator.planner.default_max_attempts = absl::GetFlag(FLAGS_max_attempts);
  options.coordinator.model_root = absl::GetFlag(FLAGS_model_root);

  auto server = proctor::coordinator::CoordinatorServer::Start(options);
  if (!server.ok()) {
    std::fprintf(stderr, "proctor-coordinator: %s\n", server.status().ToString().c_str());
    return 1;
  }
  if (const std::string file = absl::GetFlag(FLAGS_port_file); !file.empty()) {
    const std::string tmp = file + ".tmp";
    std::ofstream(tmp) << (*server)->port() << "\n";
    std::rename(tmp.c_str(), file.c_str());  // readers never see a partial file
  }
  if (const std::string file = absl::GetFlag(FLAGS_metrics_port_file); !file.empty()) {
    const std::string tmp = file + ".tmp";
    std::ofstream(tmp) << (*server)->metrics_port() << "\n";
    std::rename(tmp.c_str(), file.c_str());
  }
  if (const std::string file = absl::GetFlag(FLAGS_report_port_file); !file.empty()) {
    const std::string tmp = file + ".tmp";
    std::ofstream(tmp) << (*server)->report_port() << "\n";
    std::rename(tmp.c_str(), file.c_str());
  }
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  PROCTOR_LOG(INFO) << "shutting down";
  (*server)->Shutdown();
  return 0;
}
