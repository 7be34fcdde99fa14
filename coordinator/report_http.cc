#include "coordinator/report_http.h"

#include <civetweb.h>
#include <sys/stat.h>

#include <cstring>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/auth_tokens.h"
#include "common/logging.h"
#include "coordinator/auth_policy.h"
#include "coordinator/coordinator.h"
#include "coordinator/sweeps/run_comparison.h"
#include "eval/report/escape.h"
#include "eval/report/report.h"
#include "eval/report/run_index.h"

namespace proctor::coordinator {
namespace {

namespace rep = ::proctor::eval::report;

// ---- The coordinator as a source --------------------------------------------

class CoordinatorReportSource final : public ReportSource {
 public:
  explicit CoordinatorReportSource(Coordinator* c) : c_(c) {}
  absl::StatusOr<v1::Results> GetResults(const std::string& run_id) override {
    return c_->GetResults(run_id);
  }
  absl::StatusOr<v1::Comparison> CompareRuns(const std::string& run_a, const std::string& run_b,
                                             double alpha) override {
    v1::CompareRunsRequest request;
    request.set_run_a(run_a);
    request.set_run_b(run_b);
    request.set_alpha(alpha);
    return coordinator::CompareRuns(*c_, request);
  }
  absl::StatusOr<std::vector<v1::Run>> RecentRuns(int limit) override {
    v1::ListRunsRequest request;
    request.set_page_size(limit);
    absl::StatusOr<v1::ListRunsResponse> response = c_->ListRuns(request);
    if (!response.ok()) return response.status();
    return std::vector<v1::Run>(response->runs().begin(), response->runs().end());
  }

 private:
  Coordinator* const c_;
};

// ---- Bearer tokens ----------------------------------------------------------

class TokenFile {
 public:
  TokenFile(std::string path, absl::Duration reload_interval)
      : path_(std::move(path)), reload_interval_(reload_interval) {}

  absl::Status Load() {
    absl::MutexLock lock(&mu_);
    return Reload();
  }

  absl::Status Authorize(const std::string& authorization) {
    static const auth::RoleSet kAllowed = AllowedRoles("/proctor.v1.EvaluationService/GetResults");
    absl::string_view header = authorization;
    constexpr absl::string_view kBearer = "Bearer ";
    if (!absl::StartsWithIgnoreCase(header, kBearer)) {
      return absl::UnauthenticatedError(
          "this endpoint needs \"Authorization: Bearer <token>\" (a submitter or admin token)");
    }
    const absl::string_view token = absl::StripAsciiWhitespace(header.substr(kBearer.size()));
    std::shared_ptr<const auth::TokenStore> store = Tokens();
    const auth::Identity* who = store->Find(token);
    if (who == nullptr) return absl::UnauthenticatedError("unknown bearer token");
    if ((who->roles & kAllowed) == 0) {
      return absl::PermissionDeniedError(
          absl::StrCat("caller \"", who->name, "\" has roles ", auth::RoleSetToString(who->roles),
                       "; reading reports needs ", auth::RoleSetToString(kAllowed)));
    }
    return absl::OkStatus();
  }

 private:
  absl::Status Reload() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    struct stat st {};
    if (::stat(path_.c_str(), &st) != 0) {
      return absl::FailedPreconditionError(absl::StrCat("cannot stat tokens file ", path_));
    }
    const int64_t mtime =
        static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
    if (store_ != nullptr && mtime == mtime_ns_ && st.st_size == size_) return absl::OkStatus();
    absl::StatusOr<auth::TokenStore> loaded = auth::TokenStore::Load(path_);
    if (!loaded.ok()) return loaded.status();
    store_ = std::make_shared<const auth::TokenStore>(*std::move(loaded));
    mtime_ns_ = mtime;
    size_ = st.st_size;
    return absl::OkStatus();
  }

  std::shared_ptr<const auth::TokenStore> Tokens() {
    absl::MutexLock lock(&mu_);
    const absl::Time now = absl::Now();
    if (now >= next_check_) {
      next_check_ = now + reload_interval_;
      if (absl::Status s = Reload(); !s.ok()) {
        PROCTOR_LOG(WARNING) << "report endpoint keeps the previous tokens: " << s.ToString();
      }
    }
    return store_;
  }

  const std::string path_;
  const absl::Duration reload_interval_;
  absl::Mutex mu_;
  std::shared_ptr<const auth::TokenStore> store_ ABSL_GUARDED_BY(mu_);
  int64_t mtime_ns_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t size_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time next_check_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

// ---- Requests ---------------------------------------------------------------

HttpResponse Text(int status, absl::string_view message) {
  HttpResponse r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  r.body = absl::StrCat(message, "\n");
  return r;
}

int HttpStatusFor(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

HttpResponse Error(const absl::Status& s) {
  HttpResponse r = Text(HttpStatusFor(s), s.message());
  if (r.status == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
}

// Run ids as the coordinator issues them ("run-20261127-090615-73a70004"),
// with room for other id schemes; never "." or "..", never a '/'.
bool ValidRunId(absl::string_view id) {
  if (id.empty() || id.size() > kMaxRunIdBytes || id == "." || id == "..") return false;
  for (char c : id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.' &&
        c != ':' && c != '~') {
      return false;
    }
  }
  return true;
}

// Decodes %XX and '+' of one query component; false for a malformed escape.
bool DecodeQueryComponent(absl::string_view in, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') {
      out->push_back(' ');
    } else if (in[i] == '%') {
      if (i + 2 >= in.size()) return false;
      int value = 0;
      for (size_t k = 1; k <= 2; ++k) {
        const char c = in[i + k];
        value <<= 4;
        if (c >= '0' && c <= '9') {
          value |= c - '0';
        } else if (c >= 'a' && c <= 'f') {
          value |= c - 'a' + 10;
        } else if (c >= 'A' && c <= 'F') {
          value |= c - 'A' + 10;
        } else {
          return false;
        }
      }
      out->push_back(static_cast<char>(value));
      i += 2;
    } else {
      out->push_back(in[i]);
    }
  }
  return true;
}

}  // namespace

std::unique_ptr<ReportSource> MakeCoordinatorReportSource(Coordinator* coordinator) {
  return std::make_unique<CoordinatorReportSource>(coordinator);
}

absl::StatusOr<ReportAuthorizer> MakeTokenReportAuthorizer(const std::string& tokens_file,
                                                           absl::Duration reload_interval) {
  auto file = std::make_shared<TokenFile>(tokens_file, reload_interval);
  if (absl::Status s = file->Load(); !s.ok()) return s;
  return ReportAuthorizer(
      [file](const std::string& authorization) { return file->Authorize(authorization); });
}

ReportHttpHandler::ReportHttpHandler(ReportSource* source, ReportAuthorizer authorize)
    : source_(source), authorize_(std::move(authorize)) {}

HttpResponse ReportHttpHandler::Handle(const HttpRequest& request) const {
  if (request.method != "GET") {
    HttpResponse r = Text(405, absl::StrCat("method ", request.method.substr(0, 16),
                                            " not allowed: this endpoint is read-only (GET)"));
    r.headers.emplace_back("Allow", "GET");
    return r;
  }
  if (request.path.size() > kMaxReportPathBytes) {
    return Text(414, absl::StrCat("path longer than ", kMaxReportPathBytes, " bytes"));
  }
  if (request.query.size() > kMaxReportQueryBytes) {
    return Text(414, absl::StrCat("query longer than ", kMaxReportQueryBytes, " bytes"));
  }
  if (authorize_) {
    if (absl::Status s = authorize_(request.authorization); !s.ok()) return Error(s);
  }
  if (request.path == "/" || request.path == "/index.html") {
    if (!request.query.empty()) return Text(400, "/ takes no query parameters");
    absl::StatusOr<std::vector<v1::Run>> runs = source_->RecentRuns(kReportIndexRuns);
    if (!runs.ok()) return Error(runs.status());
    HttpResponse r;
    r.content_type = "text/html; charset=utf-8";
    r.body = rep::RenderRunIndexHtml(*runs);
    return r;
  }
  // /runs/<id>/report.<ext>
  const std::vector<absl::string_view> parts = absl::StrSplit(request.path, '/');
  if (parts.size() != 4 || !parts[0].empty() || parts[1] != "runs" ||
      !absl::StartsWith(parts[3], "report.")) {
    return Text(404, "not found: try / or /runs/<id>/report.html");
  }
  if (!ValidRunId(parts[2])) {
    return Text(400, absl::StrCat("malformed run id (1-", kMaxRunIdBytes,
                                  " characters of A-Z a-z 0-9 - _ . : ~)"));
  }
  return Report(std::string(parts[2]), std::string(parts[3].substr(7)), request.query);
}

HttpResponse ReportHttpHandler::Report(const std::string& run_id, const std::string& extension,
                                       const std::string& query) const {
  rep::ReportFormat format;
  if (extension == "html") {
    format = rep::ReportFormat::kHtml;
  } else if (extension == "md") {
    format = rep::ReportFormat::kMarkdown;
  } else if (extension == "csv") {
    format = rep::ReportFormat::kCsv;
  } else {
    return Text(404, "not found: a report is report.html, report.md or report.csv");
  }
  std::vector<std::string> run_ids = {run_id};
  double alpha = 0;
  bool seen_compare = false, seen_alpha = false;
  for (absl::string_view item : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    const size_t eq = item.find('=');
    std::string key, value;
    if (!DecodeQueryComponent(item.substr(0, eq), &key) ||
        (eq != absl::string_view::npos && !DecodeQueryComponent(item.substr(eq + 1), &value))) {
      return Text(400, "malformed percent-escape in the query");
    }
    if (key == "compare" && !seen_compare) {
      seen_compare = true;
      for (absl::string_view id : absl::StrSplit(value, ',', absl::SkipEmpty())) {
        if (!ValidRunId(id)) return Text(400, "compare: malformed run id");
        if (run_ids.size() >= rep::kMaxRuns) {
          return Text(400,
                      absl::StrCat("compare: a report shows at most ", rep::kMaxRuns, " runs"));
        }
        run_ids.emplace_back(id);
      }
    } else if (key == "alpha" && !seen_alpha) {
      seen_alpha = true;
      if (!absl::SimpleAtod(value, &alpha) || !(alpha > 0 && alpha < 1)) {
        return Text(400, "alpha: expected a number in (0, 1)");
      }
    } else {
      return Text(400, absl::StrCat("unknown or repeated query parameter \"",
                                    rep::SanitizeUtf8(key.substr(0, 32)),
                                    "\" (compare=ID,ID... and alpha=P are accepted)"));
    }
  }
  rep::ReportInput input;
  input.generated_at = absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", absl::Now(), absl::UTCTimeZone());
  for (const std::string& id : run_ids) {
    absl::StatusOr<v1::Results> results = source_->GetResults(id);
    if (!results.ok()) {
      return Error(absl::Status(results.status().code(),
                                absl::StrCat("run ", id, ": ", results.status().message())));
    }
    input.runs.push_back(*std::move(results));
  }
  for (size_t i = 1; i < run_ids.size(); ++i) {
    absl::StatusOr<v1::Comparison> c = source_->CompareRuns(run_ids[0], run_ids[i], alpha);
    if (!c.ok()) return Error(c.status());
    input.comparisons.push_back(*std::move(c));
  }
  absl::StatusOr<std::string> body = rep::RenderReport(input, format);
  if (!body.ok()) return Error(body.status());
  HttpResponse r;
  r.content_type = rep::ReportContentType(format);
  r.body = *std::move(body);
  return r;
}

// ---- civetweb -----------------------------------------------------------------

namespace {

const char* Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 414:
      return "URI Too Long";
    case 503:
      return "Service Unavailable";
    default:
      return "Internal Server Error";
  }
}

int OnRequest(struct mg_connection* conn) {
  const struct mg_request_info* info = mg_get_request_info(conn);
  const auto* handler = static_cast<const ReportHttpHandler*>(info->user_data);
  HttpRequest request;
  request.method = info->request_method ? info->request_method : "";
  request.path = info->local_uri_raw ? info->local_uri_raw : "";
  request.query = info->query_string ? info->query_string : "";
  if (const char* a = mg_get_header(conn, "Authorization")) request.authorization = a;
  const HttpResponse response = handler->Handle(request);
  std::string head = absl::StrCat(
      "HTTP/1.1 ", response.status, " ", Reason(response.status),
      "\r\nContent-Type: ", response.content_type, "\r\nContent-Length: ", response.body.size(),
      "\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
      "Referrer-Policy: no-referrer\r\nContent-Security-Policy: default-src 'none'; "
      "style-src 'unsafe-inline'\r\nConnection: close\r\n");
  for (const auto& [name, value] : response.headers) {
    absl::StrAppend(&head, name, ": ", value, "\r\n");
  }
  head += "\r\n";
  mg_write(conn, head.data(), head.size());
  mg_write(conn, response.body.data(), response.body.size());
  return response.status;  // non-zero: handled, civetweb sends nothing more
}

}  // namespace

absl::StatusOr<std::unique_ptr<ReportHttpServer>> ReportHttpServer::Start(
    const ReportHttpOptions& options, const ReportHttpHandler* handler) {
  const size_t colon = options.address.rfind(':');
  if (colon == std::string::npos || colon + 1 == options.address.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--report_address: expected host:port, got \"", options.address, "\""));
  }
  std::string host = options.address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (options.require_loopback && !absl::StartsWith(host, "127.") && host != "::1" &&
      host != "localhost") {
    return absl::InvalidArgumentError(absl::StrCat(
        "--report_address: \"", options.address,
        "\" is not loopback; with bearer tokens the plaintext report endpoint only binds to "
        "loopback (serve remote readers through a TLS-terminating proxy)"));
  }
  mg_init_library(0);
  const std::string threads = absl::StrCat(options.num_threads > 0 ? options.num_threads : 1);
  const std::string timeout = absl::StrCat(absl::ToInt64Milliseconds(options.request_timeout));
  const char* mg_options[] = {
      "listening_ports",    options.address.c_str(), "num_threads", threads.c_str(),
      "request_timeout_ms", timeout.c_str(),         nullptr};
  struct mg_callbacks callbacks;
  std::memset(&callbacks, 0, sizeof(callbacks));
  callbacks.begin_request = &OnRequest;
  std::unique_ptr<ReportHttpServer> server(new ReportHttpServer());
  server->context_ = mg_start(&callbacks, const_cast<ReportHttpHandler*>(handler), mg_options);
  if (server->context_ == nullptr) {
    mg_exit_library();
    return absl::FailedPreconditionError(absl::StrCat("cannot serve reports on ", options.address,
                                                      " (--report_address; address in use?)"));
  }
  struct mg_server_port ports[4];
  std::memset(ports, 0, sizeof(ports));
  const int n = mg_get_server_ports(server->context_, 4, ports);
  server->port_ = n > 0 ? ports[0].port : 0;
  return server;
}

ReportHttpServer::~ReportHttpServer() { Stop(); }

void ReportHttpServer::Stop() {
  if (context_ == nullptr) return;
  mg_stop(context_);
  context_ = nullptr;
  mg_exit_library();
}

}  // namespace proctor::coordinator
