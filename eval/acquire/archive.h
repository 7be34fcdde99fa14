// Extraction of one named member from an upstream archive (zip with stored
// or deflated entries, including ZIP64; ustar/GNU/pax tar, plain or gzip).
// Only the member asked for is read out, and only into the caller's sink:
// nothing is ever written under a name taken from the archive, so a member
// called "../../etc/x" cannot land anywhere. The member name asked for must
// itself be a safe relative path, and the member must be a regular file —
// symlinks, hard links, devices and directories are refused.
//
// Thread-safety: pure functions over a file the caller does not modify.
#ifndef PROCTOR_EVAL_ACQUIRE_ARCHIVE_H_
#define PROCTOR_EVAL_ACQUIRE_ARCHIVE_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "eval/acquire/manifest.h"

namespace proctor::eval::acquire {

// Receives the bytes of an extracted member or a download, in order.
class ByteSink {
 public:
  virtual ~ByteSink() = default;
  // A non-OK status (e.g. RESOURCE_EXHAUSTED past a size limit) stops the
  // extraction and is returned by it unchanged.
  virtual absl::Status Write(const char* data, size_t n) = 0;
};

// Streams `member` of the archive at `archive_path` into `sink`.
// INVALID_ARGUMENT: `member` is not a safe relative path.
// NOT_FOUND: no such member. FAILED_PRECONDITION: the member is not a regular
// file, is encrypted or uses an unsupported compression method.
// DATA_LOSS: the archive is truncated or corrupt (bad header checksum, CRC or
// size mismatch, offsets outside the file) — the message names the archive,
// the member and the offset.
absl::Status ExtractMember(const std::string& archive_path, ArchiveFormat format,
                           absl::string_view member, ByteSink* sink);

}  // namespace proctor::eval::acquire

#endif  // PROCTOR_EVAL_ACQUIRE_ARCHIVE_H_
