// Confining client-supplied paths (RunSpec.model.path, dataset locations) to
// configured roots, so that a submitter cannot make workers or the
// coordinator open arbitrary files ("../../etc/shadow", "/root/.ssh/id_rsa").
//
// SubmitRun calls CheckPathUnderRoot(model_root, spec.model().path(),
// "spec.model.path") when proctor-coordinator runs with --model_root.
//
// Thread-safety: stateless.
#ifndef PROCTOR_COORDINATOR_AUTH_PATHS_H_
#define PROCTOR_COORDINATOR_AUTH_PATHS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace proctor::coordinator {

// Resolves `path` (relative paths are relative to `root`) and returns it in
// normal form when it lies inside `root` (both normalised lexically, and
// through existing symlinks, so a link inside the root that points outside is
// refused). INVALID_ARGUMENT naming `field` for an empty path, a NUL byte,
// or a path outside the root; FAILED_PRECONDITION for an empty root.
absl::StatusOr<std::string> CheckPathUnderRoot(absl::string_view root, absl::string_view path,
                                               absl::string_view field);

}  // namespace proctor::coordinator

#endif  // PROCTOR_COORDINATOR_AUTH_PATHS_H_
