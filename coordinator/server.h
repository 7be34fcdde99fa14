// A running coordinator: store + catalog + core + gRPC services (with health
// checking and reflection) + Prometheus endpoint. Used by proctor-coordinator,
// by `proctor eval` (embedded) and by tests.
#ifndef PROCTOR_COORDINATOR_SERVER_H_
#define PROCTOR_COORDINATOR_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "coordinator/coordinator.h"

namespace grpc {
class ServerBuilder;
}  // namespace grpc

namespace proctor::coordinator {

// gRPC synchronous-server thread settings for the coordinator's services.
// Every in-flight call holds one server thread (a Lease long-poll for up to
// max_lease_wait), so a cluster of N workers keeps about N threads busy. By
// default gRPC lets a thread that finishes a call exit once more than two
// threads are idle and creates a new one for the next call: with hundreds of
// workers that is a thread created and destroyed per RPC. Keeping up to
// `max_idle_threads` idle threads polling removes that churn (measured in
// docs/performance.md, "Coordinator"). CoordinatorServer::Start applies it;
// benchmarks that build their own server call it too.
void ConfigureRpcThreads(grpc::ServerBuilder& builder, int max_idle_threads = 1024);

struct ServerOptions {
  // host:port; port 0 picks a free port (see CoordinatorServer::port()).
  std::string listen_address = "127.0.0.1:50051";
  // SQLite store file; created when missing, never reset when damaged.
  std::string store_path = "proctor-store/store.db";
  // Result-cache entries kept in the store (least recently used beyond this
  // are evicted); see docs/design/result-cache.md.
  int64_t result_cache_max_entries = 1'000'000;
  // Dataset root (upstream layout); see docs/datasets.md.
  std::string data_dir;
  // host:port for /metrics; empty = no metrics endpoint.
  std::string metrics_address;
  // Largest gRPC message accepted, in bytes.
  int max_message_bytes = 16 << 20;
  // TLS and bearer tokens (docs/operators/security.md). Empty tls_cert_file =
  // plaintext. Certificates are re-read every tls_reload_interval.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;
  // "none" | "optional" | "require"; other than "none", WorkerService calls
  // must present a client certificate signed by tls_client_ca_file (mTLS).
  std::string tls_client_auth = "none";
  absl::Duration tls_reload_interval = absl::Minutes(1);
  // Tokens file (common/auth_tokens.h); needs TLS. Empty = no authentication.
  // Re-read when it changes, checked at most every auth_reload_interval.
  std::string auth_tokens_file;
  absl::Duration auth_reload_interval = absl::Seconds(10);
  // host:port of a plaintext port serving only grpc.health.v1.Health (and
  // the schema-only reflection service gRPC adds to every server), for
  // probes that cannot speak TLS (Kubernetes grpc probes). Empty = none.
  std::string health_address;
  // host:port of the read-only HTTP report endpoint (coordinator/
  // report_http.h, docs/report.md); port 0 picks a free port; empty = off.
  // With auth_tokens_file set, it asks for a submitter or admin token too.
  std::string report_address;
  CoordinatorOptions coordinator;
};

class CoordinatorServer {
 public:
  // Opens the store (recovering every run), builds the catalog, starts
  // serving. Errors name what failed (store path, data dir, address).
  static absl::StatusOr<std::unique_ptr<CoordinatorServer>> Start(const ServerOptions& options);
  ~CoordinatorServer();  // Shutdown()

  int port() const;
  // The metrics endpoint's port, or 0 when disabled.
  int metrics_port() const;
  // The plaintext health port, or 0 when disabled.
  int health_port() const;
  // The HTTP report endpoint's port, or 0 when disabled.
  int report_port() const;
  Coordinator* coordinator();
  // Blocks until Shutdown() is called from another thread.
  void Wait();
  // Stops accepting calls, waits for in-flight calls (cut off after a
  // deadline), stops the core. Idempotent.
  void Shutdown();

 private:
  struct State;
  explicit CoordinatorServer(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace proctor::coordinator

#endif  // PROCTOR_COORDINATOR_SERVER_H_
