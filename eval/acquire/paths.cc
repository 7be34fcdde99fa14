#include "eval/acquire/paths.h"

#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace proctor::eval::acquire {
namespace fs = std::filesystem;

absl::Status ValidateRelativePath(absl::string_view rel, absl::string_view what) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(what, " '", rel, "': ", why));
  };
  if (rel.empty()) return bad("empty path");
  if (rel.size() > 1024) return bad("longer than 1024 bytes");
  if (rel.front() == '/') return bad("absolute path (must be relative to the data root)");
  for (char c : rel) {
    if (c == '\0') return bad("contains a NUL byte");
    if (c == '\\') return bad("contains a backslash");
    if (static_cast<unsigned char>(c) < 0x20) return bad("contains a control character");
  }
  for (absl::string_view part : absl::StrSplit(rel, '/')) {
    if (part.empty()) return bad("empty path component");
    if (part == ".") return bad("'.' component");
    if (part == "..") return bad("'..' component (escapes the data root)");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ResolveUnderRoot(const std::string& root, absl::string_view rel) {
  if (absl::Status s = ValidateRelativePath(rel, "path"); !s.ok()) return s;
  std::error_code ec;
  fs::path canonical_root = fs::canonical(root, ec);
  if (ec) return absl::NotFoundError(absl::StrCat("data root ", root, ": ", ec.message()));
  fs::path resolved = fs::weakly_canonical(canonical_root / fs::path(std::string(rel)), ec);
  if (ec) return absl::InternalError(absl::StrCat("resolving ", rel, ": ", ec.message()));
  // `resolved` must be canonical_root itself or lie below it.
  auto root_it = canonical_root.begin();
  auto it = resolved.begin();
  for (; root_it != canonical_root.end(); ++root_it, ++it) {
    if (it == resolved.end() || *it != *root_it) {
      return absl::FailedPreconditionError(
          absl::StrCat("path ", rel, " resolves to ", resolved.string(), ", outside the data root ",
                       canonical_root.string(), " (a symlink leads out)"));
    }
  }
  if (it == resolved.end()) {
    return absl::FailedPreconditionError(absl::StrCat("path ", rel, " is the data root itself"));
  }
  return resolved.string();
}

absl::StatusOr<std::string> PrepareUnderRoot(const std::string& root, absl::string_view rel) {
  if (absl::Status s = ValidateRelativePath(rel, "path"); !s.ok()) return s;
  std::string prefix;
  std::vector<absl::string_view> parts = absl::StrSplit(rel, '/');
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    prefix = prefix.empty() ? std::string(parts[i]) : absl::StrCat(prefix, "/", parts[i]);
    absl::StatusOr<std::string> dir = ResolveUnderRoot(root, prefix);
    if (!dir.ok()) return dir.status();
    std::error_code ec;
    fs::create_directory(*dir, ec);
    if (ec || !fs::is_directory(*dir, ec)) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot create directory ", *dir, ": ", ec ? ec.message() : "not a dir"));
    }
  }
  return ResolveUnderRoot(root, rel);
}

}  // namespace proctor::eval::acquire
