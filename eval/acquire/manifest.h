// The dataset source manifest: for every file the registry names (relative
// to the data root), its SHA-256 and size when known, its licence and the
// upstream origins it can be obtained from — a URL, or a member of an
// upstream archive. Data, not code: eval/acquire/datasets.manifest is
// compiled into the library; the format is docs/design/dataset-sources.md.
//
//   archive ID FORMAT URL...
//   file PATH SHA256|unknown SIZE|unknown LICENSE ORIGIN...
//   ORIGIN = http(s)://... | archive:ID:MEMBER
//
// Invariants after a successful parse: every PATH and MEMBER passed
// ValidateRelativePath; paths are unique; every archive ID an origin names
// is declared; every URL is http:// or https://; SHA256 is 64 lowercase hex
// digits or absent.
//
// Thread-safety: immutable after parsing.
#ifndef PROCTOR_EVAL_ACQUIRE_MANIFEST_H_
#define PROCTOR_EVAL_ACQUIRE_MANIFEST_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace proctor::eval::acquire {

enum class ArchiveFormat { kZip, kTar, kTarGz };

struct ArchiveSource {
  std::string id;
  ArchiveFormat format = ArchiveFormat::kZip;
  std::vector<std::string> urls;  // alternates, tried in order
};

struct Origin {
  std::string url;         // set for a direct download
  std::string archive_id;  // set for an archive member
  std::string member;      // path inside the archive
  // "https://..." or "archive:ID:MEMBER", as written in the manifest.
  std::string ToString() const;
};

struct FileSource {
  std::string path;                   // relative to the data root
  std::optional<std::string> sha256;  // lowercase hex; nullopt = unknown upstream
  std::optional<uint64_t> size;       // bytes; nullopt = unknown
  std::string license;                // SPDX id or "see-upstream"
  std::vector<Origin> origins;        // tried in order
};

class Manifest {
 public:
  // Parses manifest text. `name` names the source in errors
  // ("datasets.manifest:12: ..."). INVALID_ARGUMENT on any malformed or
  // hostile line (escaping path or member, unknown archive, bad hash, bad
  // scheme, duplicate path), naming the line and the field.
  static absl::StatusOr<Manifest> Parse(absl::string_view text, absl::string_view name);

  // The manifest compiled into the binary (eval/acquire/datasets.manifest).
  // Parsed once; a parse failure is a build defect and is returned as INTERNAL.
  static absl::StatusOr<const Manifest*> Builtin();

  const std::vector<FileSource>& files() const { return files_; }
  // nullptr when unknown.
  const FileSource* FindFile(absl::string_view path) const;
  const ArchiveSource* FindArchive(absl::string_view id) const;

 private:
  std::vector<FileSource> files_;
  std::map<std::string, ArchiveSource, std::less<>> archives_;
  std::map<std::string, size_t, std::less<>> index_;  // path -> files_ index
};

// The text of eval/acquire/datasets.manifest (generated at build time).
absl::string_view BuiltinManifestText();

// The extension an archive of `format` is stored with ("zip", "tar", "tar.gz").
absl::string_view ArchiveExtension(ArchiveFormat format);

}  // namespace proctor::eval::acquire

#endif  // PROCTOR_EVAL_ACQUIRE_MANIFEST_H_
