#include "coordinator/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <prometheus/exposer.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "coordinator/auth_processor.h"
#include "coordinator/report_http.h"
#include "coordinator/services.h"
#include "coordinator/store/sqlite_store.h"
#include "coordinator/sweeps/sweep_service.h"

namespace proctor::coordinator {

struct CoordinatorServer::State {
  std::unique_ptr<SqliteStore> store;
  std::unique_ptr<eval::Catalog> catalog;
  std::shared_ptr<prometheus::Registry> registry;
  std::unique_ptr<CoordinatorMetrics> metrics;
  std::unique_ptr<prometheus::Exposer> exposer;
  std::unique_ptr<Coordinator> coordinator;
  std::unique_ptr<EvaluationServiceImpl> evaluation;
  std::unique_ptr<WorkerServiceImpl> worker;
  std::unique_ptr<AdminServiceImpl> admin;
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<grpc::Server> health_server;  // plaintext, health only
  int port = 0;
  int health_port = 0;
  int metrics_port = 0;
  absl::Mutex mu;
  bool shut_down ABSL_GUARDED_BY(mu) = false;
  // The HTTP report endpoint (when report_address is set); the server is
  // declared after what it uses, so it stops before them.
  std::unique_ptr<ReportSource> report_source;
  std::unique_ptr<ReportHttpHandler> report_handler;
  std::unique_ptr<ReportHttpServer> report_server;
  int report_port = 0;
  std::unique_ptr<SweepsRuntime> sweeps;  // declared last: its timer stops first
};

namespace {

// The read-only HTTP report endpoint over the coordinator (docs/report.md).
template <typename State>
absl::Status StartReportEndpoint(const ServerOptions& options, State* s) {
  ReportAuthorizer authorize;
  if (!options.auth_tokens_file.empty()) {
    PROCTOR_ASSIGN_OR_RETURN(authorize, MakeTokenReportAuthorizer(options.auth_tokens_file,
                                                                  options.auth_reload_interval));
  }
  s->report_source = MakeCoordinatorReportSource(s->coordinator.get());
  s->report_handler =
      std::make_unique<ReportHttpHandler>(s->report_source.get(), std::move(authorize));
  ReportHttpOptions http;
  http.address = options.report_address;
  http.require_loopback = !options.auth_tokens_file.empty();
  PROCTOR_ASSIGN_OR_RETURN(s->report_server,
                           ReportHttpServer::Start(http, s->report_handler.get()));
  s->report_port = s->report_server->port();
  PROCTOR_LOG(INFO) << "reports on http://"
                    << options.report_address.substr(0, options.report_address.rfind(':')) << ":"
                    << s->report_port << "/";
  return absl::OkStatus();
}

}  // namespace

void ConfigureRpcThreads(grpc::ServerBuilder& builder, int max_idle_threads) {
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS,
                              std::max(2, max_idle_threads));
}

absl::StatusOr<std::unique_ptr<CoordinatorServer>> CoordinatorServer::Start(
    const ServerOptions& options) {
  auto s = std::make_unique<State>();
  PROCTOR_ASSIGN_OR_RETURN(
      std::shared_ptr<grpc::ServerCredentials> credentials,
      MakeServerCredentials({options.tls_cert_file, options.tls_key_file,
                             options.tls_client_ca_file, options.tls_client_auth,
                             options.tls_reload_interval, options.auth_tokens_file,
                             options.auth_reload_interval}));
  const std::filesystem::path store_path(options.store_path);
  if (store_path.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(store_path.parent_path(), ec);
    if (ec) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot create store directory ", store_path.parent_path().string(), ": ", ec.message()));
    }
  }
  SqliteStoreOptions store_options;
  store_options.result_cache_max_entries = options.result_cache_max_entries;
  PROCTOR_ASSIGN_OR_RETURN(s->store, SqliteStore::Open(options.store_path, store_options));
  PROCTOR_ASSIGN_OR_RETURN(s->catalog, eval::Catalog::Create(options.data_dir));
  s->registry = std::make_shared<prometheus::Registry>();
  s->metrics = std::make_unique<CoordinatorMetrics>(s->registry);
  if (!options.metrics_address.empty()) {
    try {
      s->exposer = std::make_unique<prometheus::Exposer>(options.metrics_address);
    } catch (const std::exception& e) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot serve metrics on ", options.metrics_address, ": ", e.what()));
    }
    s->exposer->RegisterCollectable(s->registry);
    auto ports = s->exposer->GetListeningPorts();
    s->metrics_port = ports.empty() ? 0 : ports.front();
  }
  PROCTOR_ASSIGN_OR_RETURN(s->coordinator,
                           Coordinator::Create(s->store.get(), s->catalog.get(), RealClock::Get(),
                                               s->metrics.get(), options.coordinator));
  s->coordinator->StartBackground();
  PROCTOR_ASSIGN_OR_RETURN(
      s->sweeps, SweepsRuntime::Start(options.store_path, s->coordinator.get(), RealClock::Get()));

  if (!options.report_address.empty()) {
    if (absl::Status started = StartReportEndpoint(options, s.get()); !started.ok()) {
      s->coordinator->Shutdown();
      return started;
    }
  }
  s->evaluation = std::make_unique<EvaluationServiceImpl>(s->coordinator.get(), s->metrics.get());
  s->worker = std::make_unique<WorkerServiceImpl>(s->coordinator.get(), s->metrics.get());
  s->admin = std::make_unique<AdminServiceImpl>(s->coordinator.get(), s->metrics.get());
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen_address, credentials, &s->port);
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  builder.RegisterService(s->evaluation.get());
  builder.RegisterService(s->worker.get());
  builder.RegisterService(s->admin.get());
  builder.RegisterService(s->sweeps->service());
  ConfigureRpcThreads(builder);
  s->server = builder.BuildAndStart();
  if (!s->server || s->port == 0) {
    s->coordinator->Shutdown();
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.listen_address, " (address in use?)"));
  }
  if (!options.health_address.empty()) {
    grpc::ServerBuilder health_builder;
    health_builder.AddListeningPort(options.health_address, grpc::InsecureServerCredentials(),
                                    &s->health_port);
    s->health_server = health_builder.BuildAndStart();
    if (!s->health_server || s->health_port == 0) {
      s->coordinator->Shutdown();
      s->server->Shutdown();
      return absl::UnavailableError(absl::StrCat("cannot listen on ", options.health_address,
                                                 " (--health_address; address in use?)"));
    }
  }
  PROCTOR_LOG(INFO) << "coordinator serving on port " << s->port << ", store " << options.store_path
                    << (s->metrics_port ? absl::StrCat(", metrics on port ", s->metrics_port)
                                        : std::string());
  return std::unique_ptr<CoordinatorServer>(new CoordinatorServer(std::move(s)));
}

CoordinatorServer::CoordinatorServer(std::unique_ptr<State> state) : state_(std::move(state)) {}

CoordinatorServer::~CoordinatorServer() { Shutdown(); }

int CoordinatorServer::port() const { return state_->port; }
int CoordinatorServer::metrics_port() const { return state_->metrics_port; }
int CoordinatorServer::health_port() const { return state_->health_port; }
int CoordinatorServer::report_port() const { return state_->report_port; }
Coordinator* CoordinatorServer::coordinator() { return state_->coordinator.get(); }

void CoordinatorServer::Wait() {
  absl::MutexLock lock(&state_->mu);
  state_->mu.Await(absl::Condition(&state_->shut_down));
}

void CoordinatorServer::Shutdown() {
  {
    absl::MutexLock lock(&state_->mu);
    if (state_->shut_down) return;
    state_->shut_down = true;
  }
  if (state_->report_server) state_->report_server->Stop();
  // Probes fail first, so that no new traffic is sent here.
  if (state_->health_server) state_->health_server->Shutdown();
  // Wake long-polls and watchers first so in-flight calls finish quickly.
  state_->coordinator->Shutdown();
  state_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  state_->server->Wait();
}

}  // namespace proctor::coordinator
