// HTTP(S) download of one URL into a local file with libcurl: streaming
// SHA-256, a hard size limit, connect and stall timeouts, and retries with
// exponential backoff for transient failures (connection refused or reset,
// timeouts, truncated bodies, HTTP 408/429/5xx). Only http:// and https://
// are allowed, for the URL and for redirects (at most 5).
//
// Thread-safety: DownloadToFile may be called from several threads; each
// call uses its own curl handle.
#ifndef PROCTOR_EVAL_ACQUIRE_HTTP_DOWNLOAD_H_
#define PROCTOR_EVAL_ACQUIRE_HTTP_DOWNLOAD_H_

#include <cstdint>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "eval/acquire/sha256.h"

namespace proctor::eval::acquire {

struct DownloadOptions {
  // The body may not exceed this many bytes (RESOURCE_EXHAUSTED past it).
  uint64_t max_bytes = uint64_t{8} << 30;
  absl::Duration connect_timeout = absl::Seconds(30);
  // Abort an attempt that moves fewer than 1 KiB/s for this long.
  absl::Duration stall_timeout = absl::Seconds(60);
  // Attempts in all (>= 1); the delay before attempt k+1 is backoff * 2^(k-1).
  int attempts = 4;
  absl::Duration backoff = absl::Seconds(1);
  // Progress lines (bytes so far, total when known, rate) at most every
  // 2 s, and one line per retry; nullptr = silent.
  std::ostream* progress = nullptr;
  std::string label;  // names the transfer in progress lines
};

// Downloads `url` into `path` (created or truncated; rewritten from the
// start on every attempt) and returns the digest of what was written.
// Errors (the last attempt's, naming the URL): NOT_FOUND for HTTP 404/410;
// PERMISSION_DENIED for 401/403; FAILED_PRECONDITION for other 4xx or a
// scheme other than http(s); RESOURCE_EXHAUSTED past max_bytes; UNAVAILABLE
// for transient failures that outlasted the retries; INTERNAL for local I/O.
// On error `path` may hold a partial body: the caller deletes it.
absl::StatusOr<FileDigest> DownloadToFile(const std::string& url, const std::string& path,
                                          const DownloadOptions& options);

// `url` with its scheme and host replaced by the mirror `base`:
// https://host/a/b -> BASE/host/a/b. INVALID_ARGUMENT when `base` is not an
// http(s) URL or `url` has no host.
absl::StatusOr<std::string> RewriteForMirror(const std::string& url, const std::string& base);

}  // namespace proctor::eval::acquire

#endif  // PROCTOR_EVAL_ACQUIRE_HTTP_DOWNLOAD_H_
