#include "coordinator/auth_paths.h"

#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace proctor::coordinator {
namespace {

namespace fs = std::filesystem;

// Lexically normal, then through the symlinks of its existing prefix.
fs::path Resolve(const fs::path& p) {
  std::error_code ec;
  fs::path resolved = fs::weakly_canonical(p, ec);
  return ec ? p.lexically_normal() : resolved.lexically_normal();
}

bool IsInside(const fs::path& root, const fs::path& p) {
  auto r = root.begin();
  auto q = p.begin();
  for (; r != root.end(); ++r, ++q) {
    if (r->empty()) continue;  // trailing separator of a directory path
    if (q == p.end() || *r != *q) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::string> CheckPathUnderRoot(absl::string_view root, absl::string_view path,
                                               absl::string_view field) {
  if (root.empty()) return absl::FailedPreconditionError("no root directory configured");
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": empty path"));
  if (path.find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": NUL byte in the path"));
  }
  const fs::path root_path = Resolve(fs::absolute(fs::path(std::string(root))));
  fs::path p(std::string(path.data(), path.size()));
  if (p.is_relative()) p = root_path / p;
  const fs::path resolved = Resolve(p);
  if (!IsInside(root_path, resolved)) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": \"", path, "\" is outside ",
                                                   root_path.string(),
                                                   " (paths must lie under the configured root)"));
  }
  return resolved.string();
}

}  // namespace proctor::coordinator
