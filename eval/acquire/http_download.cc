#include "eval/acquire/http_download.h"

#include <curl/curl.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"

namespace proctor::eval::acquire {
namespace {

struct Transfer {
  FILE* file = nullptr;
  Sha256* sha = nullptr;
  uint64_t written = 0;
  uint64_t max_bytes = 0;
  bool over_limit = false;
  bool write_failed = false;
  const DownloadOptions* options = nullptr;
  std::chrono::steady_clock::time_point start, last_report;
};

size_t OnData(char* data, size_t size, size_t nmemb, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * nmemb;
  if (t->written + n > t->max_bytes) {
    t->over_limit = true;
    return 0;  // makes curl fail with CURLE_WRITE_ERROR
  }
  if (std::fwrite(data, 1, n, t->file) != n) {
    t->write_failed = true;
    return 0;
  }
  t->sha->Update(data, n);
  t->written += n;
  return n;
}

std::string Mib(double bytes) { return absl::StrFormat("%.1f MiB", bytes / (1 << 20)); }

int OnProgress(void* user, curl_off_t total, curl_off_t now, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  if (t->options->progress == nullptr) return 0;
  auto clock = std::chrono::steady_clock::now();
  if (clock - t->last_report < std::chrono::seconds(2)) return 0;
  t->last_report = clock;
  double secs = std::chrono::duration<double>(clock - t->start).count();
  *t->options->progress << "  " << t->options->label << ": " << Mib(static_cast<double>(now))
                        << (total > 0 ? absl::StrCat(" of ", Mib(static_cast<double>(total))) : "")
                        << " (" << Mib(secs > 0 ? static_cast<double>(now) / secs : 0) << "/s)\n"
                        << std::flush;
  return 0;
}

bool Transient(CURLcode rc, long http) {  // NOLINT(runtime/int)
  switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
      return true;
    case CURLE_HTTP_RETURNED_ERROR:
      return http == 408 || http == 429 || http >= 500;
    default:
      return false;
  }
}

absl::Status Attempt(const std::string& url, const std::string& path,
                     const DownloadOptions& options, FileDigest* out, bool* transient) {
  *transient = false;
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return absl::InternalError(absl::StrCat(path, ": ", std::strerror(errno)));
  Sha256 sha;
  Transfer t;
  t.file = f;
  t.sha = &sha;
  t.max_bytes = options.max_bytes;
  t.options = &options;
  t.start = t.last_report = std::chrono::steady_clock::now();
  char error[CURL_ERROR_SIZE] = {0};
  CURL* curl = curl_easy_init();
  if (curl == nullptr) {
    std::fclose(f);
    return absl::InternalError("curl_easy_init failed");
  }
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "proctor-datasets/1");
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(options.connect_timeout)));
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1024L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME,
                   static_cast<long>(absl::ToInt64Seconds(options.stall_timeout)));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &OnData);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, &OnProgress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &t);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  if (options.max_bytes < (uint64_t{1} << 62)) {
    curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(options.max_bytes));
  }
  CURLcode rc = curl_easy_perform(curl);
  long http = 0;  // NOLINT(runtime/int)
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &http);
  curl_easy_cleanup(curl);
  bool close_failed = std::fclose(f) != 0;
  if (t.over_limit || rc == CURLE_FILESIZE_EXCEEDED) {
    return absl::ResourceExhaustedError(
        absl::StrCat(url, ": response exceeds the limit of ", options.max_bytes, " bytes"));
  }
  if (t.write_failed || close_failed) {
    return absl::InternalError(absl::StrCat(path, ": write failed: ", std::strerror(errno)));
  }
  if (rc != CURLE_OK) {
    *transient = Transient(rc, http);
    std::string why = error[0] != '\0' ? error : curl_easy_strerror(rc);
    std::string message = absl::StrCat(url, ": ", why);
    if (rc == CURLE_HTTP_RETURNED_ERROR) {
      if (http == 404 || http == 410) return absl::NotFoundError(message);
      if (http == 401 || http == 403) return absl::PermissionDeniedError(message);
      if (!*transient) return absl::FailedPreconditionError(message);
    }
    if (rc == CURLE_UNSUPPORTED_PROTOCOL) return absl::FailedPreconditionError(message);
    return *transient ? absl::UnavailableError(message) : absl::UnknownError(message);
  }
  out->sha256 = sha.HexDigest();
  out->size = t.written;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<FileDigest> DownloadToFile(const std::string& url, const std::string& path,
                                          const DownloadOptions& options) {
  static const bool initialised = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  if (!initialised) return absl::InternalError("curl_global_init failed");
  absl::Duration delay = options.backoff;
  absl::Status last;
  const int attempts = options.attempts < 1 ? 1 : options.attempts;
  for (int attempt = 1; attempt <= attempts; ++attempt) {
    FileDigest digest;
    bool transient = false;
    last = Attempt(url, path, options, &digest, &transient);
    if (last.ok()) return digest;
    if (!transient || attempt == attempts) break;
    if (options.progress != nullptr) {
      *options.progress << "  " << options.label << ": attempt " << attempt << " of " << attempts
                        << " failed (" << last.message() << "); retrying in "
                        << absl::FormatDuration(delay) << "\n"
                        << std::flush;
    }
    std::this_thread::sleep_for(absl::ToChronoMilliseconds(delay));
    delay *= 2;
  }
  return last;
}

absl::StatusOr<std::string> RewriteForMirror(const std::string& url, const std::string& base) {
  absl::string_view b = base;
  if (!absl::StartsWith(b, "http://") && !absl::StartsWith(b, "https://")) {
    return absl::InvalidArgumentError(absl::StrCat("mirror '", base, "' is not an http(s) URL"));
  }
  while (absl::ConsumeSuffix(&b, "/")) {
  }
  absl::string_view rest = url;
  if (!absl::ConsumePrefix(&rest, "https://") && !absl::ConsumePrefix(&rest, "http://")) {
    return absl::InvalidArgumentError(absl::StrCat("'", url, "' is not an http(s) URL"));
  }
  if (rest.empty() || rest.front() == '/') {
    return absl::InvalidArgumentError(absl::StrCat("'", url, "' has no host"));
  }
  return absl::StrCat(b, "/", rest);
}

}  // namespace proctor::eval::acquire
