// Getting dataset files into a data root and checking what is there:
// fetch (from the manifest's origins, optionally through a mirror), import
// (from a local directory: an air-gapped copy) and verify.
//
// Every file is obtained into a temporary file under <root>/.proctor/tmp,
// hashed while it streams, and renamed into place only after its SHA-256
// matches the manifest (or, where the upstream checksum is unknown, the
// lock file; with neither, the hash is recorded in the lock — trust on first
// use — unless require_checksums is set). A mismatch deletes the temporary
// file and leaves any existing file untouched. All paths are confined to
// the root (eval/acquire/paths.h).
//
// Thread-safety: an Acquirer is used by one thread at a time. Two processes
// fetching into one root do not corrupt files (each rename is atomic) but
// may lose each other's lock entries.
#ifndef PROCTOR_EVAL_ACQUIRE_ACQUIRE_H_
#define PROCTOR_EVAL_ACQUIRE_ACQUIRE_H_

#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "eval/acquire/http_download.h"
#include "eval/acquire/lock_file.h"
#include "eval/acquire/manifest.h"

namespace proctor::eval::acquire {

// Ordered from best to worst: a set's state is the worst of its files.
enum class FileState {
  kOk,          // matches the manifest's SHA-256
  kUnverified,  // no upstream checksum: matches the lock, or was never locked
  kMissing,     // not present (verify) / could not be obtained (fetch, import)
  kMismatch,    // present or obtained, but the hash is wrong
};

// "ok", "unverified", "missing", "mismatch".
absl::string_view FileStateName(FileState state);

struct FileReport {
  std::string path;
  FileState state = FileState::kMissing;
  std::string detail;  // what happened, with hashes and origins where relevant
};

struct AcquireOptions {
  std::string data_root;               // created by Fetch/Import when absent
  const Manifest* manifest = nullptr;  // not owned; must outlive the Acquirer
  // "" = canonical hosts; else every URL is rewritten with RewriteForMirror.
  std::string mirror;
  bool require_checksums = false;  // refuse files without an upstream checksum
  DownloadOptions download;        // limits, timeouts, retries, progress stream
  std::ostream* log = nullptr;     // one line per file and warnings; nullptr = silent
};

class Acquirer {
 public:
  explicit Acquirer(AcquireOptions options) : options_(std::move(options)) {}

  // Obtains each of `paths` (manifest paths) that is not already present and
  // valid. Never stops at the first failure: one report per path. A non-OK
  // status only for problems that concern every file (the root cannot be
  // created, the lock file is malformed or cannot be written).
  absl::StatusOr<std::vector<FileReport>> Fetch(const std::vector<std::string>& paths);

  // Like Fetch, but from `source_dir`: for each file the first of
  // SOURCE/PATH (a copy of a data root), SOURCE/HOST/URL-PATH (a mirror tree,
  // as served for --base-url) or an archive named like its URL's last
  // component or ID.EXT (e.g. ceval-exam.zip) that holds the member.
  absl::StatusOr<std::vector<FileReport>> Import(const std::string& source_dir,
                                                 const std::vector<std::string>& paths);

  // Hashes each file present and reports its state. Never writes.
  absl::StatusOr<std::vector<FileReport>> Verify(const std::vector<std::string>& paths) const;

 private:
  struct Session;
  absl::StatusOr<std::vector<FileReport>> Obtain(const std::string* source_dir,
                                                 const std::vector<std::string>& paths);
  FileReport ObtainOne(Session* session, const FileSource& file);
  FileReport VerifyOne(const LockFile& lock, const std::string& path) const;
  // A local copy of archive `a` (downloaded once per session, or found in
  // the import source).
  absl::StatusOr<std::string> ObtainArchive(Session* session, const ArchiveSource& a);

  AcquireOptions options_;
};

}  // namespace proctor::eval::acquire

#endif  // PROCTOR_EVAL_ACQUIRE_ACQUIRE_H_
