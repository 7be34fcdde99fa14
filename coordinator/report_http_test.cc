// The report endpoint: request handling against a fake source (methods,
// paths, limits, hostile ids, tokens), then the real civetweb server on a
// loopback port spoken to over a raw socket.
#include "coordinator/report_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <map>

#include "absl/strings/str_cat.h"
#include "common/auth_tokens.h"
#include "gtest/gtest.h"

namespace proctor::coordinator {
namespace {

v1::Results MakeResults(const std::string& id, const std::string& model, double score) {
  v1::Results r;
  r.set_run_id(id);
  r.set_model(model);
  v1::SetResult* s = r.add_sets();
  s->set_dataset("arc_e");
  s->set_dimension("Exam");
  s->set_primary_metric("acc");
  s->set_num_samples(10);
  s->set_num_samples_total(10);
  s->set_complete(true);
  v1::MetricValue* m = s->add_metrics();
  m->set_name("acc");
  m->set_value(score);
  m->set_stderr(3);
  m->set_has_stderr(true);
  return r;
}

class FakeSource final : public ReportSource {
 public:
  FakeSource() {
    results_["r1"] = MakeResults("r1", "<script>alert(1)</script>", 40);
    results_["r2"] = MakeResults("r2", "m2", 60);
  }
  absl::StatusOr<v1::Results> GetResults(const std::string& run_id) override {
    auto it = results_.find(run_id);
    if (it == results_.end()) return absl::NotFoundError("no such run");
    return it->second;
  }
  absl::StatusOr<v1::Comparison> CompareRuns(const std::string& a, const std::string& b,
                                             double alpha) override {
    last_alpha = alpha;
    v1::Comparison c;
    c.set_run_a(a);
    c.set_run_b(b);
    c.set_alpha(alpha == 0 ? 0.05 : alpha);
    v1::SetComparison* s = c.add_sets();
    s->set_dataset("arc_e");
    s->set_score_a(40);
    s->set_score_b(60);
    s->set_delta(20);
    s->set_outcome("win");
    c.set_wins(1);
    return c;
  }
  absl::StatusOr<std::vector<v1::Run>> RecentRuns(int limit) override {
    std::vector<v1::Run> runs(2);
    runs[0].set_run_id("r2");
    runs[1].set_run_id("r1");
    return runs;
  }
  double last_alpha = -1;

 private:
  std::map<std::string, v1::Results> results_;
};

HttpRequest Get(const std::string& path, const std::string& query = "") {
  return HttpRequest{"GET", path, query, ""};
}

TEST(ReportHttpHandlerTest, ServesReportsInEveryFormat) {
  FakeSource source;
  ReportHttpHandler handler(&source, nullptr);
  HttpResponse r = handler.Handle(Get("/runs/r1/report.html"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  EXPECT_NE(r.body.find("id=\"radar\""), std::string::npos);
  EXPECT_EQ(r.body.find("<script>"), std::string::npos);
  r = handler.Handle(Get("/runs/r1/report.md"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/markdown; charset=utf-8");
  r = handler.Handle(Get("/runs/r1/report.csv"));
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("set,r1,"), std::string::npos);
  r = handler.Handle(Get("/"));
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("href=\"runs/r2/report.html\""), std::string::npos);
}

TEST(ReportHttpHandlerTest, CompareAndAlpha) {
  FakeSource source;
  ReportHttpHandler handler(&source, nullptr);
  HttpResponse r = handler.Handle(Get("/runs/r1/report.html", "compare=r2&alpha=0.01"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("data-run-a=\"r1\" data-run-b=\"r2\""), std::string::npos);
  EXPECT_DOUBLE_EQ(source.last_alpha, 0.01);
  r = handler.Handle(Get("/runs/r1/report.html", "compare=r2%2Cnope"));
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.find("run nope"), std::string::npos);
  EXPECT_EQ(handler.Handle(Get("/runs/r1/report.html", "compare=r2&compare=r2")).status, 400);
  EXPECT_EQ(handler.Handle(Get("/runs/r1/report.html", "alpha=2")).status, 400);
  EXPECT_EQ(handler.Handle(Get("/runs/r1/report.html", "x=%zz")).status, 400);
  EXPECT_EQ(handler.Handle(Get("/runs/r1/report.html", "compare=%2")).status, 400);
  EXPECT_EQ(handler.Handle(Get("/runs/r1/report.html", "debug=1")).status, 400);
  std::string many = "compare=";
  for (int i = 0; i < 12; ++i) absl::StrAppend(&many, i ? "," : "", "r", i);
  EXPECT_EQ(handler.Handle(Get("/runs/r1/report.html", many)).status, 400);
}

TEST(ReportHttpHandlerTest, MethodsPathsAndLimits) {
  FakeSource source;
  ReportHttpHandler handler(&source, nullptr);
  HttpResponse r = handler.Handle(HttpRequest{"POST", "/runs/r1/report.html", "", ""});
  EXPECT_EQ(r.status, 405);
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0].first, "Allow");
  EXPECT_EQ(handler.Handle(HttpRequest{"DELETE", "/", "", ""}).status, 405);
  EXPECT_EQ(handler.Handle(Get("/runs/nope/report.html")).status, 404);
  EXPECT_EQ(handler.Handle(Get("/runs/r1/report.pdf")).status, 404);
  EXPECT_EQ(handler.Handle(Get("/runs/r1")).status, 404);
  EXPECT_EQ(handler.Handle(Get("/etc/passwd")).status, 404);
  EXPECT_EQ(handler.Handle(Get("/runs/../report.html")).status, 400);
  EXPECT_EQ(handler.Handle(Get("/runs/../../etc/passwd")).status, 404);
  EXPECT_EQ(handler.Handle(Get("/runs/a b<x>/report.html")).status, 400);
  EXPECT_EQ(handler.Handle(Get("/runs/" + std::string(200, 'a') + "/report.html")).status, 400);
  EXPECT_EQ(handler.Handle(Get("/" + std::string(2000, 'a'))).status, 414);
  EXPECT_EQ(handler.Handle(Get("/runs/r1/report.html", std::string(5000, 'a'))).status, 414);
  EXPECT_EQ(handler.Handle(Get("/", "x=1")).status, 400);
}

TEST(ReportHttpHandlerTest, BearerTokensWhenConfigured) {
  const std::string path = ::testing::TempDir() + "/report_http_tokens_" + std::to_string(getpid());
  const std::string submitter = "submitter-token-0123456789abcdef";
  const std::string worker = "worker-token-0123456789abcdef00";
  std::ofstream(path) << "alice submitter sha256:" << auth::Sha256Hex(submitter) << "\n"
                      << "w1 worker sha256:" << auth::Sha256Hex(worker) << "\n";
  absl::StatusOr<ReportAuthorizer> authorize = MakeTokenReportAuthorizer(path, absl::Seconds(10));
  ASSERT_TRUE(authorize.ok()) << authorize.status();
  FakeSource source;
  ReportHttpHandler handler(&source, *authorize);
  HttpResponse r = handler.Handle(Get("/"));
  EXPECT_EQ(r.status, 401);
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0].first, "WWW-Authenticate");
  EXPECT_EQ(handler.Handle(HttpRequest{"GET", "/", "", "Bearer wrong-token-0123456789"}).status,
            401);
  EXPECT_EQ(handler.Handle(HttpRequest{"GET", "/", "", "Bearer " + worker}).status, 403);
  EXPECT_EQ(
      handler.Handle(HttpRequest{"GET", "/runs/r1/report.md", "", "Bearer " + submitter}).status,
      200);
  EXPECT_FALSE(MakeTokenReportAuthorizer(path + ".missing", absl::Seconds(1)).ok());
  std::remove(path.c_str());
}

// One HTTP/1.1 exchange over a raw socket; returns everything the server sent.
std::string Exchange(int port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return "connect failed";
  }
  size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, 0);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  std::string reply;
  char buf[4096];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof(buf), 0)) > 0;)
    reply.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return reply;
}

TEST(ReportHttpServerTest, ServesOverHttpOnLoopback) {
  FakeSource source;
  ReportHttpHandler handler(&source, nullptr);
  absl::StatusOr<std::unique_ptr<ReportHttpServer>> server =
      ReportHttpServer::Start({"127.0.0.1:0", 2, absl::Seconds(5)}, &handler);
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = (*server)->port();
  ASSERT_GT(port, 0);
  std::string reply =
      Exchange(port, "GET /runs/r1/report.html?compare=r2 HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << reply.substr(0, 200);
  EXPECT_NE(reply.find("Content-Type: text/html; charset=utf-8\r\n"), std::string::npos);
  EXPECT_NE(reply.find("X-Content-Type-Options: nosniff\r\n"), std::string::npos);
  EXPECT_NE(reply.find("data-run-b=\"r2\""), std::string::npos);
  reply =
      Exchange(port, "POST /runs/r1/report.html HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 405 ", 0), 0u) << reply.substr(0, 200);
  EXPECT_NE(reply.find("Allow: GET\r\n"), std::string::npos);
  reply = Exchange(port, "GET /runs/%2e%2e/report.html HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 400 ", 0), 0u) << reply.substr(0, 200);
  reply = Exchange(port, "GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(reply.find("root:"), std::string::npos);
  EXPECT_EQ(reply.rfind("HTTP/1.1 200", 0), std::string::npos) << reply.substr(0, 200);
  reply = Exchange(port, "GET /runs/unknown/report.csv HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 404 ", 0), 0u) << reply.substr(0, 200);
  (*server)->Stop();
  (*server)->Stop();  // idempotent
}

TEST(ReportHttpServerTest, BusyAddressIsAClearError) {
  FakeSource source;
  ReportHttpHandler handler(&source, nullptr);
  absl::StatusOr<std::unique_ptr<ReportHttpServer>> first =
      ReportHttpServer::Start({"127.0.0.1:0", 1, absl::Seconds(5)}, &handler);
  ASSERT_TRUE(first.ok());
  absl::StatusOr<std::unique_ptr<ReportHttpServer>> second = ReportHttpServer::Start(
      {absl::StrCat("127.0.0.1:", (*first)->port()), 1, absl::Seconds(5)}, &handler);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("--report_address"), std::string::npos);
  ReportHttpOptions remote{"0.0.0.0:0", 1, absl::Seconds(5), /*require_loopback=*/true};
  absl::StatusOr<std::unique_ptr<ReportHttpServer>> refused =
      ReportHttpServer::Start(remote, &handler);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(ReportHttpServer::Start({"no-port", 1, absl::Seconds(5)}, &handler).ok());
}

}  // namespace
}  // namespace proctor::coordinator
