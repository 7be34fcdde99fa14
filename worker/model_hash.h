// Content hashes of model files, for the result cache
// (docs/design/result-cache.md): a path is not an identity — checkpoints are
// overwritten in place — so the worker hashes what it loads.
//
// The hash of a model path is the lowercase hex SHA-256 of:
//  * a regular file: "file\0" + its bytes;
//  * a directory (Hugging Face layout): "dir\0", then for every regular file
//    directly inside it, sorted by name: the name, its size and its bytes,
//    each length-prefixed. Subdirectories and hidden files are ignored.
// Files are streamed in 1 MiB reads, never loaded whole.
//
// A hash is remembered per path together with each file's stamp (device,
// inode, size, mtime and ctime in nanoseconds): a later Hash of an unchanged
// path does not read the files again, and any write to a file (which moves
// its ctime even when mtime is forged) or a replacement (new inode) makes the
// path hash again.
//
// Thread-safe. Hashing runs outside the lock; two concurrent Hash calls for
// one path may both read it.
#ifndef PROCTOR_WORKER_MODEL_HASH_H_
#define PROCTOR_WORKER_MODEL_HASH_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace proctor::worker {

// What identifies one file's version without reading it.
struct FileStamp {
  uint64_t device = 0;
  uint64_t inode = 0;
  int64_t size = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  bool operator==(const FileStamp& other) const;
};

class ModelHasher {
 public:
  // Paths remembered (least recently hashed forgotten first).
  static constexpr size_t kMaxRemembered = 256;

  // The hex SHA-256 of the model at `path` (see above). Errors:
  // NOT_FOUND when the path does not exist; FAILED_PRECONDITION when it is
  // neither a regular file nor a directory, or a directory with no regular
  // file; ABORTED when a file changed while it was read (hash again later);
  // INTERNAL for read errors. Each message names the file.
  absl::StatusOr<std::string> Hash(const std::string& path);

  // The remembered hash of `path` when every file's stamp still matches
  // (a stat per file, no reads); nullopt when never hashed, changed or gone.
  std::optional<std::string> HashIfUnchanged(const std::string& path) const;

  // Bytes of file content read so far (tests: proves a re-hash was avoided).
  int64_t bytes_read() const;

 private:
  struct Remembered {
    std::vector<std::pair<std::string, FileStamp>> files;
    std::string hash;
    uint64_t last_use = 0;
  };

  mutable absl::Mutex mu_;
  std::map<std::string, Remembered> remembered_ ABSL_GUARDED_BY(mu_);
  uint64_t use_clock_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t bytes_read_ ABSL_GUARDED_BY(mu_) = 0;
};

// The running executable's identity for the result cache: "exe-sha256:" and
// the first 32 hex digits of the SHA-256 of /proc/self/exe, computed once per
// process. Any rebuild (a kernel, a compiler flag) changes it, so outputs of
// one build are never reused by another. "unknown-build" when the executable
// cannot be read (outputs are then not cached: see ModelCache).
const std::string& EngineBuild();

}  // namespace proctor::worker

#endif  // PROCTOR_WORKER_MODEL_HASH_H_
