// The coordinator's read-only HTTP endpoint for reports (docs/report.md):
//
//   GET /                                 recent runs, newest first, with links
//   GET /runs/<id>/report.html            the report (eval/report/report.h)
//   GET /runs/<id>/report.md | .csv       the same as Markdown or CSV
//   ...?compare=<id2>,<id3>[&alpha=P]     more runs, compared against <id>
//
// Anything else: 405 for a method other than GET (with "Allow: GET"), 404
// for an unknown path or run, 400 for a malformed run id, query or alpha,
// 414 for an oversized path or query, 401/403 when bearer tokens are
// configured and the request lacks a token of a role that may read results
// (submitter or admin: the roles of EvaluationService, coordinator/
// auth_policy.h). Nothing is ever read from or written to the filesystem
// (no document root), so there is no path to traverse; run ids are checked
// against the charset the coordinator issues before any lookup.
//
// The endpoint is plaintext HTTP: bind it to loopback or a trusted network,
// or put a TLS-terminating proxy in front (docs/operators/security.md).
//
// Split in two: ReportHttpHandler maps a request to a response (pure apart
// from its ReportSource; unit-tested without sockets), ReportHttpServer
// serves it with civetweb. Thread-safety: Handle() may be called
// concurrently when the source allows it (the coordinator does).
#ifndef PROCTOR_COORDINATOR_REPORT_HTTP_H_
#define PROCTOR_COORDINATOR_REPORT_HTTP_H_

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proctor/v1/common.pb.h"
#include "proctor/v1/evaluation.pb.h"

struct mg_context;  // civetweb

namespace proctor::coordinator {

class Coordinator;

// Where reports' data come from. Implementations must be thread-safe.
class ReportSource {
 public:
  virtual ~ReportSource() = default;
  virtual absl::StatusOr<v1::Results> GetResults(const std::string& run_id) = 0;
  // run_b against the baseline run_a; alpha 0 = default.
  virtual absl::StatusOr<v1::Comparison> CompareRuns(const std::string& run_a,
                                                     const std::string& run_b, double alpha) = 0;
  // At most `limit` runs, newest first.
  virtual absl::StatusOr<std::vector<v1::Run>> RecentRuns(int limit) = 0;
};

// The coordinator as a ReportSource (GetResults, coordinator::CompareRuns,
// ListRuns). `coordinator` must outlive the returned object.
std::unique_ptr<ReportSource> MakeCoordinatorReportSource(Coordinator* coordinator);

struct HttpRequest {
  std::string method;         // "GET", ...
  std::string path;           // URL-decoded path, e.g. "/runs/r1/report.html"
  std::string query;          // raw query string after '?', not decoded
  std::string authorization;  // the Authorization header, "" when absent
};

struct HttpResponse {
  int status = 200;
  std::string content_type;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
};

// Limits on a request (beyond them: 414).
inline constexpr size_t kMaxReportPathBytes = 1024;
inline constexpr size_t kMaxReportQueryBytes = 4096;
inline constexpr size_t kMaxRunIdBytes = 128;
inline constexpr int kReportIndexRuns = 100;

// Decides whether a request's Authorization header may read reports:
// OK, UNAUTHENTICATED (→ 401) or PERMISSION_DENIED (→ 403).
using ReportAuthorizer = std::function<absl::Status(const std::string& authorization)>;

// Checks "Bearer <token>" against a tokens file (common/auth_tokens.h),
// re-read when its modification time or size changes (checked at most every
// `reload_interval`; a file that no longer parses keeps the previous
// tokens). The token's roles must include one allowed for
// EvaluationService.GetResults. FAILED_PRECONDITION / INVALID_ARGUMENT when
// the file cannot be loaded at start.
absl::StatusOr<ReportAuthorizer> MakeTokenReportAuthorizer(const std::string& tokens_file,
                                                           absl::Duration reload_interval);

class ReportHttpHandler {
 public:
  // `source` must outlive the handler; `authorize` may be empty (no auth).
  ReportHttpHandler(ReportSource* source, ReportAuthorizer authorize);
  HttpResponse Handle(const HttpRequest& request) const;

 private:
  HttpResponse Report(const std::string& run_id, const std::string& extension,
                      const std::string& query) const;
  ReportSource* const source_;
  const ReportAuthorizer authorize_;
};

struct ReportHttpOptions {
  std::string address;  // host:port; port 0 picks a free port
  int num_threads = 4;  // concurrent requests
  absl::Duration request_timeout = absl::Seconds(30);
  // Refuse an address other than loopback (127.0.0.0/8, ::1, localhost):
  // set when bearer tokens are configured, since tokens must not cross a
  // network in clear (a TLS-terminating proxy on the host serves remote
  // readers).
  bool require_loopback = false;
};

class ReportHttpServer {
 public:
  // Starts serving `handler` (which must outlive the server).
  // FAILED_PRECONDITION naming the address when it cannot listen;
  // INVALID_ARGUMENT for a malformed address or, with require_loopback, one
  // that is not loopback.
  static absl::StatusOr<std::unique_ptr<ReportHttpServer>> Start(const ReportHttpOptions& options,
                                                                 const ReportHttpHandler* handler);
  ~ReportHttpServer();  // Stop()
  ReportHttpServer(const ReportHttpServer&) = delete;
  ReportHttpServer& operator=(const ReportHttpServer&) = delete;

  int port() const { return port_; }
  // Stops accepting requests and waits for those in flight. Idempotent.
  void Stop();

 private:
  ReportHttpServer() = default;
  ::mg_context* context_ = nullptr;
  int port_ = 0;
};

}  // namespace proctor::coordinator

#endif  // PROCTOR_COORDINATOR_REPORT_HTTP_H_
