#include "eval/acquire/manifest.h"

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "eval/acquire/paths.h"
#include "eval/acquire/sha256.h"

// Defined in the generated datasets_manifest_data.cc (see CMakeLists.txt).
extern const unsigned char kProctorDatasetsManifest[];
extern const unsigned long kProctorDatasetsManifestSize;  // NOLINT(runtime/int)

namespace proctor::eval::acquire {
namespace {

bool IsHttpUrl(absl::string_view url) {
  absl::string_view rest = url;
  if (!absl::ConsumePrefix(&rest, "https://") && !absl::ConsumePrefix(&rest, "http://")) {
    return false;
  }
  if (rest.empty() || rest.front() == '/') return false;
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return false;
  }
  return true;
}

absl::StatusOr<ArchiveFormat> ParseFormat(absl::string_view s) {
  if (s == "zip") return ArchiveFormat::kZip;
  if (s == "tar") return ArchiveFormat::kTar;
  if (s == "tar.gz") return ArchiveFormat::kTarGz;
  return absl::InvalidArgumentError(
      absl::StrCat("archive format '", s, "' (expected zip, tar or tar.gz)"));
}

}  // namespace

std::string Origin::ToString() const {
  if (!url.empty()) return url;
  return absl::StrCat("archive:", archive_id, ":", member);
}

absl::string_view ArchiveExtension(ArchiveFormat format) {
  switch (format) {
    case ArchiveFormat::kZip:
      return "zip";
    case ArchiveFormat::kTar:
      return "tar";
    case ArchiveFormat::kTarGz:
      return "tar.gz";
  }
  return "bin";
}

absl::StatusOr<Manifest> Manifest::Parse(absl::string_view text, absl::string_view name) {
  Manifest m;
  struct PendingOrigin {
    int line;
    std::string archive_id;
  };
  std::vector<PendingOrigin> pending;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    auto bad = [&](absl::string_view what) {
      return absl::InvalidArgumentError(absl::StrCat(name, ":", line_no, ": ", what));
    };
    if (line.size() > 8192) return bad("line longer than 8192 bytes");
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (f[0] == "archive") {
      if (f.size() < 4) return bad("archive needs ID FORMAT URL...");
      if (f[1].empty() || f[1].find(':') != absl::string_view::npos) {
        return bad(absl::StrCat("archive id '", f[1], "' must be non-empty without ':'"));
      }
      absl::StatusOr<ArchiveFormat> format = ParseFormat(f[2]);
      if (!format.ok()) return bad(format.status().message());
      ArchiveSource a{std::string(f[1]), *format, {}};
      for (size_t i = 3; i < f.size(); ++i) {
        if (!IsHttpUrl(f[i])) return bad(absl::StrCat("archive URL '", f[i], "' is not http(s)"));
        a.urls.emplace_back(f[i]);
      }
      if (!m.archives_.emplace(a.id, std::move(a)).second) {
        return bad(absl::StrCat("duplicate archive id '", f[1], "'"));
      }
    } else if (f[0] == "file") {
      if (f.size() < 6) return bad("file needs PATH SHA256 SIZE LICENSE ORIGIN...");
      FileSource fs;
      fs.path = std::string(f[1]);
      if (absl::Status s = ValidateRelativePath(fs.path, "path"); !s.ok()) {
        return bad(s.message());
      }
      if (f[2] != "unknown") {
        if (!IsSha256Hex(f[2])) {
          return bad(absl::StrCat("sha256 of ", fs.path, " '", f[2],
                                  "' is not 64 lowercase hex digits or 'unknown'"));
        }
        fs.sha256 = std::string(f[2]);
      }
      if (f[3] != "unknown") {
        uint64_t size = 0;
        if (!absl::SimpleAtoi(f[3], &size)) {
          return bad(absl::StrCat("size of ", fs.path, " '", f[3], "' is not a number"));
        }
        fs.size = size;
      }
      fs.license = std::string(f[4]);
      for (size_t i = 5; i < f.size(); ++i) {
        absl::string_view o = f[i];
        Origin origin;
        if (absl::ConsumePrefix(&o, "archive:")) {
          size_t colon = o.find(':');
          if (colon == absl::string_view::npos) {
            return bad(absl::StrCat("origin '", f[i], "' must be archive:ID:MEMBER"));
          }
          origin.archive_id = std::string(o.substr(0, colon));
          origin.member = std::string(o.substr(colon + 1));
          if (absl::Status s = ValidateRelativePath(origin.member, "archive member"); !s.ok()) {
            return bad(s.message());
          }
          pending.push_back({line_no, origin.archive_id});
        } else if (IsHttpUrl(o)) {
          origin.url = std::string(o);
        } else {
          return bad(absl::StrCat("origin '", f[i], "' is neither http(s) nor archive:ID:MEMBER"));
        }
        fs.origins.push_back(std::move(origin));
      }
      if (!m.index_.emplace(fs.path, m.files_.size()).second) {
        return bad(absl::StrCat("duplicate path ", fs.path));
      }
      m.files_.push_back(std::move(fs));
    } else {
      return bad(absl::StrCat("unknown directive '", f[0], "' (expected archive or file)"));
    }
  }
  for (const PendingOrigin& p : pending) {
    if (m.archives_.find(p.archive_id) == m.archives_.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ":", p.line, ": unknown archive id '", p.archive_id, "'"));
    }
  }
  return m;
}

const FileSource* Manifest::FindFile(absl::string_view path) const {
  auto it = index_.find(path);
  return it == index_.end() ? nullptr : &files_[it->second];
}

const ArchiveSource* Manifest::FindArchive(absl::string_view id) const {
  auto it = archives_.find(id);
  return it == archives_.end() ? nullptr : &it->second;
}

absl::string_view BuiltinManifestText() {
  return absl::string_view(reinterpret_cast<const char*>(kProctorDatasetsManifest),
                           kProctorDatasetsManifestSize);
}

absl::StatusOr<const Manifest*> Manifest::Builtin() {
  static const absl::StatusOr<Manifest>* parsed =
      new absl::StatusOr<Manifest>(Parse(BuiltinManifestText(), "datasets.manifest"));
  if (!parsed->ok()) {
    return absl::InternalError(absl::StrCat("built-in manifest: ", parsed->status().message()));
  }
  return &**parsed;
}

}  // namespace proctor::eval::acquire
