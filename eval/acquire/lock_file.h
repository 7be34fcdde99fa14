// The data root's lock file, <root>/.proctor/datasets.lock: the SHA-256,
// size and origin that `proctor datasets fetch`/`import` saw for every file
// whose upstream checksum the manifest does not know (trust on first use).
// Later fetches and `verify` hold those files to the recorded hash.
//
// Format (docs/design/dataset-sources.md), one file per line:
//   # comment
//   PATH SHA256 SIZE ORIGIN
//
// Thread-safety: a LockFile object is used by one thread at a time; Save
// replaces the file atomically (write to a temporary file, fsync, rename).
#ifndef PROCTOR_EVAL_ACQUIRE_LOCK_FILE_H_
#define PROCTOR_EVAL_ACQUIRE_LOCK_FILE_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace proctor::eval::acquire {

struct LockEntry {
  std::string sha256;
  uint64_t size = 0;
  std::string origin;
};

class LockFile {
 public:
  // The lock's path relative to the data root.
  static constexpr absl::string_view kRelativePath = ".proctor/datasets.lock";

  // Reads <root>/.proctor/datasets.lock; an absent file is an empty lock.
  // INVALID_ARGUMENT names the line of a malformed or hostile entry.
  static absl::StatusOr<LockFile> Load(const std::string& root);
  // Parses lock text (`name` names it in errors).
  static absl::StatusOr<LockFile> Parse(absl::string_view text, absl::string_view name);

  // nullptr when `path` has no entry.
  const LockEntry* Find(absl::string_view path) const;
  void Set(const std::string& path, LockEntry entry) { entries_[path] = std::move(entry); }
  const std::map<std::string, LockEntry, std::less<>>& entries() const { return entries_; }

  std::string Serialize() const;
  // Writes the lock under `root` atomically.
  absl::Status Save(const std::string& root) const;

 private:
  std::map<std::string, LockEntry, std::less<>> entries_;
};

// Writes `data` to <root>/<rel> through a temporary file in the same
// directory, fsync and rename: readers see the old or the new file, never a
// mix. The path is confined to the root.
absl::Status WriteFileAtomically(const std::string& root, absl::string_view rel,
                                 absl::string_view data);

}  // namespace proctor::eval::acquire

#endif  // PROCTOR_EVAL_ACQUIRE_LOCK_FILE_H_
