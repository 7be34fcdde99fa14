// TLS, mTLS and bearer tokens end to end: a real proctor-coordinator with
// certificates made by `openssl` at test time and a tokens file, called by
// plaintext, wrongly trusted, expired and token-less clients — each refused,
// and nothing reaches the store — and a worker with a valid client
// certificate and worker token that completes a real run.
#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/client_unary_call.h>
#include <grpcpp/impl/rpc_method.h>
#include <unistd.h>

#include <filesystem>
#include <functional>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proctor/v1/admin.grpc.pb.h"
#include "proctor/v1/evaluation.grpc.pb.h"
#include "proctor/v1/worker.grpc.pb.h"
#include "tests/ops/ops_testing.h"
#include "tests/testing/cluster.h"

namespace proctor::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kSubmitterToken[] = "alice-3f7d0c5e9b1a42d8a6c1e0f2b4d6a8c0";
constexpr char kWorkerToken[] = "fleet-8b2e4f6a0c1d3e5f7a9b1c3d5e7f9a0b";
constexpr char kAdminToken[] = "ops-c4a2e6f8b0d1c3e5a7f9b2d4c6e8a0f1";

struct ClientTls {
  std::string ca;  // PEM file; empty = plaintext
  std::string cert;
  std::string key;
};

std::string ReadAll(const std::string& path) { return ReadFileOrEmpty(path); }

std::shared_ptr<grpc::Channel> Channel(int port, const ClientTls& tls) {
  const std::string target = absl::StrCat("127.0.0.1:", port);
  if (tls.ca.empty()) return grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ReadAll(tls.ca);
  if (!tls.cert.empty()) {
    ssl.pem_cert_chain = ReadAll(tls.cert);
    ssl.pem_private_key = ReadAll(tls.key);
  }
  grpc::ChannelArguments args;
  // Each test's channel gets its own connection (no subchannel sharing).
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(target, grpc::SslCredentials(ssl), args);
}

void Prepare(grpc::ClientContext* ctx, const std::string& token) {
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
}

grpc::Status ListRuns(const std::shared_ptr<grpc::Channel>& channel, const std::string& token,
                      v1::ListRunsResponse* response = nullptr) {
  v1::ListRunsResponse ignored;
  grpc::ClientContext ctx;
  Prepare(&ctx, token);
  return v1::EvaluationService::NewStub(channel)->ListRuns(&ctx, v1::ListRunsRequest(),
                                                           response ? response : &ignored);
}

// Calls grpc.health.v1.Health/Check for the server as a whole; returns the
// raw response. HealthCheckRequest{service: ""} is the empty message; the
// response {status: SERVING} is field 1 = 1 (bytes 08 01).
grpc::Status HealthCheck(const std::shared_ptr<grpc::Channel>& channel, std::string* bytes) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::Slice empty;
  grpc::ByteBuffer request(&empty, 1);
  grpc::ByteBuffer response;
  const grpc::internal::RpcMethod check("/grpc.health.v1.Health/Check",
                                        grpc::internal::RpcMethod::NORMAL_RPC);
  grpc::Status s = grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(
      channel.get(), check, &ctx, request, &response);
  if (!s.ok()) return s;
  std::vector<grpc::Slice> slices;
  if (!response.Dump(&slices).ok()) return grpc::Status(grpc::StatusCode::INTERNAL, "dump");
  bytes->clear();
  for (const grpc::Slice& slice : slices) {
    bytes->append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return s;
}

const std::string kServing("\x08\x01", 2);

// `flags` with the flag named like `replacement` ("--name=value") replaced,
// or appended when absent.
std::vector<std::string> WithFlag(std::vector<std::string> flags, const std::string& replacement) {
  const std::string name = replacement.substr(0, replacement.find('=') + 1);
  for (std::string& f : flags) {
    if (f.rfind(name, 0) == 0) {
      f = replacement;
      return flags;
    }
  }
  flags.push_back(replacement);
  return flags;
}

v1::RunSpec SmokeSpec() {
  v1::RunSpec spec;
  spec.mutable_model()->set_name("scripted-model");
  spec.set_suite("smoke");
  spec.set_limit(4);
  spec.set_seed(7);
  return spec;
}

class SecurityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (BuildDir().empty() || DatasetsDir().empty() || !HaveProgram("openssl")) return;
    dir_ = new std::string(absl::StrCat(::testing::TempDir(), "/security_test_", ::getpid()));
    std::filesystem::remove_all(*dir_);
    pki_ = new TestPki(*dir_ + "/pki");
    pki_ok_ = new absl::Status(pki_->MakeCa("ca"));
    for (auto step :
         {std::function<absl::Status()>([] { return pki_->MakeCa("other-ca"); }),
          std::function<absl::Status()>([] { return pki_->Issue("ca", "server"); }),
          std::function<absl::Status()>([] { return pki_->Issue("ca", "worker"); }),
          std::function<absl::Status()>([] { return pki_->Issue("ca", "expired", -1); }),
          std::function<absl::Status()>([] { return pki_->Issue("ca", "expired-server", -1); }),
          std::function<absl::Status()>([] { return pki_->Issue("other-ca", "rogue"); })}) {
      if (pki_ok_->ok()) *pki_ok_ = step();
    }
    if (pki_ok_->ok()) {
      *pki_ok_ = WriteTokensFile(*dir_ + "/tokens", {{"alice", "submitter", kSubmitterToken},
                                                     {"gpu-fleet", "worker", kWorkerToken},
                                                     {"ops", "admin", kAdminToken}});
    }
    if (pki_ok_->ok())
      *pki_ok_ = WriteFile(*dir_ + "/worker.token", std::string(kWorkerToken) + "\n");
  }

  void SetUp() override {
    if (BuildDir().empty()) GTEST_SKIP() << "PROCTOR_BUILD_DIR not set (run through ctest)";
    if (DatasetsDir().empty()) GTEST_SKIP() << "shared datasets not found (PROCTOR_SHARED_DATA)";
    if (!HaveProgram("openssl")) GTEST_SKIP() << "the openssl command is not installed";
    ASSERT_TRUE(pki_ok_->ok()) << *pki_ok_;
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    cluster_ = std::make_unique<TestCluster>(absl::StrCat(*dir_, "/", info->name()));
  }

  std::vector<std::string> SecureFlags() const {
    return {"--tls_cert_file=" + pki_->cert("server"),
            "--tls_key_file=" + pki_->key("server"),
            "--tls_client_ca_file=" + pki_->cert("ca"),
            "--tls_client_auth=optional",
            "--auth_tokens_file=" + *dir_ + "/tokens",
            "--lease_ttl=3s",
            "--heartbeat_interval=500ms"};
  }

  ClientTls ServerOnlyTls() const { return {pki_->cert("ca"), "", ""}; }
  ClientTls WorkerTls() const {
    return {pki_->cert("ca"), pki_->cert("worker"), pki_->key("worker")};
  }

  // Nothing reached the store: no run, no worker.
  void ExpectStoreUntouched(const std::shared_ptr<grpc::Channel>& admin_channel) {
    v1::ListRunsResponse runs;
    grpc::Status s = ListRuns(admin_channel, kAdminToken, &runs);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(runs.runs_size(), 0);
    grpc::ClientContext ctx;
    Prepare(&ctx, kAdminToken);
    v1::ListWorkersResponse workers;
    s = v1::AdminService::NewStub(admin_channel)
            ->ListWorkers(&ctx, v1::ListWorkersRequest(), &workers);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(workers.workers_size(), 0);
  }

  static std::string* dir_;
  static TestPki* pki_;
  static absl::Status* pki_ok_;
  std::unique_ptr<TestCluster> cluster_;
};

std::string* SecurityTest::dir_ = nullptr;
TestPki* SecurityTest::pki_ = nullptr;
absl::Status* SecurityTest::pki_ok_ = nullptr;

TEST_F(SecurityTest, TransportRefusesPlaintextWrongCaExpiredAndForeignCertificates) {
  ASSERT_TRUE(cluster_->StartCoordinator(SecureFlags()).ok()) << cluster_->CoordinatorLog();
  const int port = cluster_->port();
  struct Case {
    const char* what;
    ClientTls tls;
  };
  const Case cases[] = {
      {"plaintext client", {}},
      {"client trusting the wrong CA", {pki_->cert("other-ca"), "", ""}},
      {"expired client certificate",
       {pki_->cert("ca"), pki_->cert("expired"), pki_->key("expired")}},
      {"client certificate from a foreign CA",
       {pki_->cert("ca"), pki_->cert("rogue"), pki_->key("rogue")}},
  };
  for (const Case& c : cases) {
    grpc::Status s = ListRuns(Channel(port, c.tls), kAdminToken);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << c.what << ": " << s.error_message();
  }
  // The same token over a verified channel works.
  EXPECT_TRUE(ListRuns(Channel(port, ServerOnlyTls()), kAdminToken).ok());
  EXPECT_TRUE(ListRuns(Channel(port, WorkerTls()), kAdminToken).ok());
  ExpectStoreUntouched(Channel(port, ServerOnlyTls()));
}

TEST_F(SecurityTest, TokensAndRolesAreCheckedPerMethodAndRefusalsChangeNothing) {
  ASSERT_TRUE(cluster_->StartCoordinator(SecureFlags()).ok()) << cluster_->CoordinatorLog();
  auto tls = Channel(cluster_->port(), ServerOnlyTls());
  auto mtls = Channel(cluster_->port(), WorkerTls());
  auto evaluation = v1::EvaluationService::NewStub(tls);
  auto worker_api = v1::WorkerService::NewStub(mtls);
  auto admin = v1::AdminService::NewStub(tls);

  const auto submit = [&](const std::string& token) {
    grpc::ClientContext ctx;
    Prepare(&ctx, token);
    v1::SubmitRunRequest req;
    *req.mutable_spec() = SmokeSpec();
    v1::Run run;
    return evaluation->SubmitRun(&ctx, req, &run);
  };
  const auto cancel = [&](const std::string& token) {
    grpc::ClientContext ctx;
    Prepare(&ctx, token);
    v1::CancelRunRequest req;
    req.set_run_id("r-does-not-matter");
    v1::Run run;
    return evaluation->CancelRun(&ctx, req, &run);
  };
  const auto lease = [&](const std::string& token) {
    grpc::ClientContext ctx;
    Prepare(&ctx, token);
    v1::LeaseRequest req;
    req.set_worker_id("w-1");
    v1::LeaseResponse resp;
    return worker_api->Lease(&ctx, req, &resp);
  };
  const auto register_worker = [&](v1::WorkerService::Stub* stub, const std::string& token) {
    grpc::ClientContext ctx;
    Prepare(&ctx, token);
    v1::RegisterRequest req;
    v1::RegisterResponse resp;
    return stub->Register(&ctx, req, &resp);
  };
  const auto drain = [&](const std::string& token) {
    grpc::ClientContext ctx;
    Prepare(&ctx, token);
    v1::DrainWorkerRequest req;
    v1::DrainWorkerResponse resp;
    return admin->DrainWorker(&ctx, req, &resp);
  };
  const auto list_workers = [&](const std::string& token) {
    grpc::ClientContext ctx;
    Prepare(&ctx, token);
    v1::ListWorkersResponse resp;
    return admin->ListWorkers(&ctx, v1::ListWorkersRequest(), &resp);
  };
  using grpc::StatusCode;
  // Missing and unknown tokens.
  EXPECT_EQ(submit("").error_code(), StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(submit("not-a-valid-token-0000000000000000").error_code(), StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(submit(std::string(kSubmitterToken) + "x").error_code(), StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(lease("").error_code(), StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(ListRuns(tls, "").error_code(), StatusCode::UNAUTHENTICATED);
  {
    // A raw token without the Bearer scheme is not accepted either.
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", kSubmitterToken);
    v1::ListRunsResponse resp;
    EXPECT_EQ(evaluation->ListRuns(&ctx, v1::ListRunsRequest(), &resp).error_code(),
              StatusCode::UNAUTHENTICATED);
  }
  // Wrong roles.
  grpc::Status s = submit(kWorkerToken);
  EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("gpu-fleet"));
  EXPECT_EQ(cancel(kWorkerToken).error_code(), StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(lease(kSubmitterToken).error_code(), StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(register_worker(worker_api.get(), kSubmitterToken).error_code(),
            StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(drain(kSubmitterToken).error_code(), StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(drain(kWorkerToken).error_code(), StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(list_workers(kSubmitterToken).error_code(), StatusCode::PERMISSION_DENIED);
  // A worker token without a client certificate: mTLS is required for workers.
  auto no_cert_worker = v1::WorkerService::NewStub(tls);
  EXPECT_EQ(register_worker(no_cert_worker.get(), kWorkerToken).error_code(),
            StatusCode::UNAUTHENTICATED);

  ExpectStoreUntouched(tls);

  // Health checks need no token (load balancers, Kubernetes probes).
  std::string health;
  grpc::Status checked = HealthCheck(tls, &health);
  ASSERT_TRUE(checked.ok()) << checked.error_message();
  EXPECT_EQ(health, kServing);

  // The right roles pass.
  EXPECT_TRUE(ListRuns(tls, kSubmitterToken).ok());
  EXPECT_TRUE(list_workers(kAdminToken).ok());
  grpc::Status submitted = submit(kSubmitterToken);
  EXPECT_TRUE(submitted.ok()) << submitted.error_message();
}

TEST_F(SecurityTest, WorkerWithClientCertificateAndWorkerTokenCompletesARun) {
  ASSERT_TRUE(cluster_->StartCoordinator(SecureFlags()).ok()) << cluster_->CoordinatorLog();
  ASSERT_TRUE(cluster_
                  ->StartWorker("secure-worker", {"--tls_ca_file=" + pki_->cert("ca"),
                                                  "--tls_cert_file=" + pki_->cert("worker"),
                                                  "--tls_key_file=" + pki_->key("worker"),
                                                  "--auth_token_file=" + *dir_ + "/worker.token"})
                  .ok());
  auto channel = Channel(cluster_->port(), ServerOnlyTls());
  auto evaluation = v1::EvaluationService::NewStub(channel);
  v1::Run run;
  {
    grpc::ClientContext ctx;
    Prepare(&ctx, kSubmitterToken);
    v1::SubmitRunRequest req;
    *req.mutable_spec() = SmokeSpec();
    grpc::Status s = evaluation->SubmitRun(&ctx, req, &run);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (absl::Now() < deadline) {
    grpc::ClientContext ctx;
    Prepare(&ctx, kSubmitterToken);
    v1::GetRunRequest req;
    req.set_run_id(run.run_id());
    ASSERT_TRUE(evaluation->GetRun(&ctx, req, &run).ok());
    if (run.state() == v1::RUN_STATE_SUCCEEDED || run.state() == v1::RUN_STATE_FAILED ||
        run.state() == v1::RUN_STATE_CANCELLED) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(run.state(), v1::RUN_STATE_SUCCEEDED)
      << v1::RunState_Name(run.state()) << "\nworker log:\n"
      << cluster_->WorkerLog("secure-worker") << "\ncoordinator log:\n"
      << cluster_->CoordinatorLog();
  EXPECT_GT(run.progress().jobs_done(), 0);
}

TEST_F(SecurityTest, WorkerWithoutClientCertificateCannotRegister) {
  ASSERT_TRUE(cluster_->StartCoordinator(SecureFlags()).ok()) << cluster_->CoordinatorLog();
  ASSERT_TRUE(cluster_
                  ->StartWorker("no-cert-worker", {"--tls_ca_file=" + pki_->cert("ca"),
                                                   "--auth_token_file=" + *dir_ + "/worker.token"})
                  .ok());
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (absl::Now() < deadline &&
         cluster_->WorkerLog("no-cert-worker").find("UNAUTHENTICATED") == std::string::npos) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_THAT(cluster_->WorkerLog("no-cert-worker"),
              HasSubstr("worker calls need a verified TLS client certificate"));
  ExpectStoreUntouched(Channel(cluster_->port(), ServerOnlyTls()));
}

TEST_F(SecurityTest, RenewedServerCertificateIsServedWithoutRestart) {
  // The server's files are copies so that the test can replace them.
  const std::string live = cluster_->dir() + "/live";
  std::filesystem::create_directories(live);
  std::filesystem::copy_file(pki_->cert("server"), live + "/server.crt");
  std::filesystem::copy_file(pki_->key("server"), live + "/server.key");
  std::vector<std::string> flags = SecureFlags();
  flags[0] = "--tls_cert_file=" + live + "/server.crt";
  flags[1] = "--tls_key_file=" + live + "/server.key";
  flags.push_back("--tls_reload_interval=1s");
  ASSERT_TRUE(cluster_->StartCoordinator(flags).ok()) << cluster_->CoordinatorLog();
  const int port = cluster_->port();
  const ClientTls other_ca_client{pki_->cert("other-ca"), "", ""};
  ASSERT_TRUE(ListRuns(Channel(port, ServerOnlyTls()), kAdminToken).ok());
  EXPECT_EQ(ListRuns(Channel(port, other_ca_client), kAdminToken).error_code(),
            grpc::StatusCode::UNAVAILABLE);

  // Renew: a certificate from the other CA, moved into place atomically.
  ASSERT_TRUE(pki_->Issue("other-ca", "renewed").ok());
  std::filesystem::copy_file(pki_->key("renewed"), live + "/server.key.new");
  std::filesystem::copy_file(pki_->cert("renewed"), live + "/server.crt.new");
  std::filesystem::rename(live + "/server.key.new", live + "/server.key");
  std::filesystem::rename(live + "/server.crt.new", live + "/server.crt");

  bool renewed = false;
  const absl::Time deadline = absl::Now() + absl::Seconds(15);
  while (!renewed && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(250));
    renewed = ListRuns(Channel(port, other_ca_client), kAdminToken).ok();
  }
  EXPECT_TRUE(renewed) << "the coordinator still serves the old certificate";
  EXPECT_EQ(ListRuns(Channel(port, ServerOnlyTls()), kAdminToken).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST_F(SecurityTest, ClientsRefuseAnExpiredServerCertificate) {
  std::vector<std::string> flags =
      WithFlag(SecureFlags(), "--tls_cert_file=" + pki_->cert("expired-server"));
  flags = WithFlag(flags, "--tls_key_file=" + pki_->key("expired-server"));
  ASSERT_TRUE(cluster_->StartCoordinator(flags).ok()) << cluster_->CoordinatorLog();
  EXPECT_EQ(ListRuns(Channel(cluster_->port(), ServerOnlyTls()), kAdminToken).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(ListRuns(Channel(cluster_->port(), WorkerTls()), kAdminToken).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST_F(SecurityTest, HealthPortIsPlaintextAndServesOnlyHealth) {
  const int health_port = FreeLoopbackPort();
  ASSERT_GT(health_port, 0);
  ASSERT_TRUE(cluster_
                  ->StartCoordinator(WithFlag(
                      SecureFlags(), absl::StrCat("--health_address=127.0.0.1:", health_port)))
                  .ok())
      << cluster_->CoordinatorLog();
  auto plaintext = Channel(health_port, {});
  std::string health;
  grpc::Status s = HealthCheck(plaintext, &health);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(health, kServing);
  // No Proctor service there, with or without a token.
  EXPECT_EQ(ListRuns(plaintext, kAdminToken).error_code(), grpc::StatusCode::UNIMPLEMENTED);
  grpc::ClientContext ctx;
  Prepare(&ctx, kWorkerToken);
  v1::RegisterResponse registered;
  EXPECT_EQ(v1::WorkerService::NewStub(plaintext)
                ->Register(&ctx, v1::RegisterRequest(), &registered)
                .error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  ExpectStoreUntouched(Channel(cluster_->port(), ServerOnlyTls()));
}

TEST_F(SecurityTest, TokenChangesApplyWithoutRestartAndABrokenFileKeepsTheOldTokens) {
  const std::string tokens = cluster_->dir() + "/tokens";
  std::filesystem::create_directories(cluster_->dir());
  ASSERT_TRUE(WriteTokensFile(
                  tokens, {{"alice", "submitter", kSubmitterToken}, {"ops", "admin", kAdminToken}})
                  .ok());
  std::vector<std::string> flags = WithFlag(SecureFlags(), "--auth_tokens_file=" + tokens);
  flags = WithFlag(flags, "--auth_reload_interval=100ms");
  ASSERT_TRUE(cluster_->StartCoordinator(flags).ok()) << cluster_->CoordinatorLog();
  auto tls = Channel(cluster_->port(), ServerOnlyTls());
  const std::string bob_token = "bob-5e1f0a9c7d3b2e4f6a8c0e2d4f6b8a1c";
  ASSERT_TRUE(ListRuns(tls, kSubmitterToken).ok());
  EXPECT_EQ(ListRuns(tls, bob_token).error_code(), grpc::StatusCode::UNAUTHENTICATED);

  // Revoke alice, add bob: written aside, then renamed into place.
  ASSERT_TRUE(WriteTokensFile(tokens + ".new",
                              {{"bob", "submitter", bob_token}, {"ops", "admin", kAdminToken}})
                  .ok());
  std::filesystem::rename(tokens + ".new", tokens);
  bool applied = false;
  for (const absl::Time deadline = absl::Now() + absl::Seconds(10);
       !applied && absl::Now() < deadline;) {
    absl::SleepFor(absl::Milliseconds(150));
    applied = ListRuns(tls, bob_token).ok();
  }
  ASSERT_TRUE(applied) << "the new token was not accepted\n" << cluster_->CoordinatorLog();
  EXPECT_EQ(ListRuns(tls, kSubmitterToken).error_code(), grpc::StatusCode::UNAUTHENTICATED);

  // A file that does not parse is ignored: bob's token still works.
  ASSERT_TRUE(WriteFile(tokens, "bob submitter not-a-hash\n").ok());
  absl::SleepFor(absl::Milliseconds(500));
  EXPECT_TRUE(ListRuns(tls, bob_token).ok());
  EXPECT_THAT(cluster_->CoordinatorLog(), HasSubstr("keeping the previous tokens"));
}

TEST_F(SecurityTest, OversizedRequestsAreRefusedBeforeTheStore) {
  ASSERT_TRUE(cluster_->StartCoordinator(WithFlag(SecureFlags(), "--max_message_bytes=65536")).ok())
      << cluster_->CoordinatorLog();
  auto tls = Channel(cluster_->port(), ServerOnlyTls());
  grpc::ClientContext ctx;
  Prepare(&ctx, kSubmitterToken);
  v1::SubmitRunRequest req;
  *req.mutable_spec() = SmokeSpec();
  (*req.mutable_spec()->mutable_labels())["padding"] = std::string(100 << 10, 'x');
  v1::Run run;
  grpc::Status s = v1::EvaluationService::NewStub(tls)->SubmitRun(&ctx, req, &run);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  ExpectStoreUntouched(tls);
}

TEST_F(SecurityTest, MisconfigurationStopsStartUpWithAMessage) {
  struct Case {
    std::vector<std::string> flags;
    const char* message;
  };
  const Case cases[] = {
      {{"--auth_tokens_file=" + *dir_ + "/tokens"}, "--auth_tokens_file needs TLS"},
      {{"--tls_cert_file=" + pki_->cert("server"), "--tls_key_file=/nonexistent/server.key"},
       "/nonexistent/server.key"},
      {{"--tls_cert_file=" + pki_->cert("server"), "--tls_key_file=" + pki_->key("server"),
        "--tls_client_auth=sometimes"},
       "sometimes"},
      {{"--tls_cert_file=" + pki_->cert("server"), "--tls_key_file=" + pki_->key("server"),
        "--auth_tokens_file=" + *dir_ + "/worker.token"},
       "expected 3 fields"},
  };
  int i = 0;
  for (const Case& c : cases) {
    std::vector<std::string> argv = {BuildDir() + "/bin/proctor-coordinator", "--port=0",
                                     "--store=" + cluster_->dir() + "/store.db",
                                     "--data_dir=" + DatasetsDir()};
    argv.insert(argv.end(), c.flags.begin(), c.flags.end());
    const std::string log = absl::StrCat(cluster_->dir(), "/misconfig", i++, ".log");
    absl::Status s = RunCommand(argv, log, absl::Seconds(20));
    EXPECT_FALSE(s.ok()) << c.message;
    EXPECT_THAT(ReadFileOrEmpty(log), HasSubstr(c.message));
  }
}

}  // namespace
}  // namespace proctor::testing
