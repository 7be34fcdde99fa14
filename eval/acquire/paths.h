// Confinement of dataset paths to the data root. Every path that comes from
// a manifest, a lock file or an archive is relative and is checked here
// before anything is read or written: no absolute paths, no "..", no empty
// or "." components, no backslashes or NUL bytes; and once joined to the
// root, no symlink may lead it outside the root.
//
// Thread-safety: pure functions; ResolveUnderRoot reads the filesystem.
#ifndef PROCTOR_EVAL_ACQUIRE_PATHS_H_
#define PROCTOR_EVAL_ACQUIRE_PATHS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace proctor::eval::acquire {

// OK when `rel` is a safe relative path ("mmlu/data/dev/x.csv"). Otherwise
// INVALID_ARGUMENT naming `what` (e.g. "manifest line 12 path") and `rel`.
absl::Status ValidateRelativePath(absl::string_view rel, absl::string_view what);

// The absolute, lexically normal path of `rel` under `root` after
// ValidateRelativePath and after resolving symlinks of the parts that exist:
// FAILED_PRECONDITION when the result leaves the (canonical) root, e.g.
// through a symlinked directory; NOT_FOUND when `root` does not exist.
// Does not create anything.
absl::StatusOr<std::string> ResolveUnderRoot(const std::string& root, absl::string_view rel);

// Creates the parent directories of the confined path `rel` under `root`
// (re-checking confinement after each one) and returns ResolveUnderRoot.
absl::StatusOr<std::string> PrepareUnderRoot(const std::string& root, absl::string_view rel);

}  // namespace proctor::eval::acquire

#endif  // PROCTOR_EVAL_ACQUIRE_PATHS_H_
