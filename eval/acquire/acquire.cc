#include "eval/acquire/acquire.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"
#include "eval/acquire/archive.h"
#include "eval/acquire/paths.h"
#include "eval/acquire/sha256.h"

namespace proctor::eval::acquire {
namespace fs = std::filesystem;
namespace {

constexpr absl::string_view kTmpDir = ".proctor/tmp";

// Writes into a file while hashing, up to a limit.
class FileSink : public ByteSink {
 public:
  FileSink(FILE* f, uint64_t limit) : f_(f), limit_(limit) {}
  absl::Status Write(const char* data, size_t n) override {
    if (size_ + n > limit_) {
      return absl::ResourceExhaustedError(absl::StrCat("more than ", limit_, " bytes"));
    }
    if (std::fwrite(data, 1, n, f_) != n) {
      return absl::InternalError(absl::StrCat("write failed: ", std::strerror(errno)));
    }
    sha_.Update(data, n);
    size_ += n;
    return absl::OkStatus();
  }
  FileDigest Finish() { return {sha_.HexDigest(), size_}; }

 private:
  FILE* f_;
  uint64_t limit_;
  uint64_t size_ = 0;
  Sha256 sha_;
};

// Streams `fn(sink)` into `path` and returns the digest.
template <typename Fn>
absl::StatusOr<FileDigest> WriteThroughSink(const std::string& path, uint64_t limit, Fn fn) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return absl::InternalError(absl::StrCat(path, ": ", std::strerror(errno)));
  FileSink sink(f, limit);
  absl::Status s = fn(&sink);
  if (std::fclose(f) != 0 && s.ok()) s = absl::InternalError(absl::StrCat(path, ": close"));
  if (!s.ok()) return s;
  return sink.Finish();
}

absl::Status CopyFile(const std::string& from, ByteSink* sink) {
  FILE* f = std::fopen(from.c_str(), "rb");
  if (f == nullptr) return absl::NotFoundError(absl::StrCat(from, ": ", std::strerror(errno)));
  char buf[1 << 16];
  size_t n;
  absl::Status s;
  while (s.ok() && (n = std::fread(buf, 1, sizeof buf, f)) > 0) s = sink->Write(buf, n);
  if (s.ok() && std::ferror(f)) s = absl::InternalError(absl::StrCat(from, ": read error"));
  std::fclose(f);
  return s;
}

absl::Status FsyncPath(const std::string& path, int flags) {
  int fd = open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return absl::InternalError(absl::StrCat(path, ": ", std::strerror(errno)));
  int rc = fsync(fd);
  close(fd);
  if (rc != 0) return absl::InternalError(absl::StrCat("fsync ", path, ": ", std::strerror(errno)));
  return absl::OkStatus();
}

bool IsRegularFile(const std::string& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

// "https://host/a/b?x" -> "host/a/b"; "" when not http(s).
std::string HostPath(absl::string_view url) {
  if (!absl::ConsumePrefix(&url, "https://") && !absl::ConsumePrefix(&url, "http://")) return "";
  url = url.substr(0, url.find_first_of("?#"));
  return std::string(url);
}

std::string BaseName(absl::string_view url) {
  std::string p = HostPath(url);
  size_t slash = p.rfind('/');
  return slash == std::string::npos ? "" : p.substr(slash + 1);
}

}  // namespace

absl::string_view FileStateName(FileState state) {
  switch (state) {
    case FileState::kOk:
      return "ok";
    case FileState::kUnverified:
      return "unverified";
    case FileState::kMissing:
      return "missing";
    case FileState::kMismatch:
      return "mismatch";
  }
  return "?";
}

struct Acquirer::Session {
  const std::string* source_dir = nullptr;  // Import; nullptr = Fetch
  std::string tmp_dir;
  LockFile lock;
  // Downloaded archives (path), or why they could not be obtained.
  std::map<std::string, absl::StatusOr<std::string>> archives;
  std::vector<std::string> cleanup;

  ~Session() {
    for (const std::string& p : cleanup) std::remove(p.c_str());
  }

  absl::StatusOr<std::string> NewTemp(absl::string_view hint) {
    std::string tmpl = absl::StrCat(tmp_dir, "/", hint, ".XXXXXX");
    int fd = mkstemp(tmpl.data());
    if (fd < 0) return absl::InternalError(absl::StrCat(tmpl, ": ", std::strerror(errno)));
    close(fd);
    return tmpl;
  }
};

absl::StatusOr<std::vector<FileReport>> Acquirer::Fetch(const std::vector<std::string>& paths) {
  return Obtain(nullptr, paths);
}

absl::StatusOr<std::vector<FileReport>> Acquirer::Import(const std::string& source_dir,
                                                         const std::vector<std::string>& paths) {
  std::error_code ec;
  if (!fs::is_directory(source_dir, ec)) {
    return absl::NotFoundError(absl::StrCat("import source ", source_dir, " is not a directory"));
  }
  return Obtain(&source_dir, paths);
}

absl::StatusOr<std::vector<FileReport>> Acquirer::Obtain(const std::string* source_dir,
                                                         const std::vector<std::string>& paths) {
  if (options_.manifest == nullptr) return absl::InvalidArgumentError("no manifest");
  std::error_code ec;
  fs::create_directories(options_.data_root, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create data root ", options_.data_root, ": ", ec.message()));
  }
  Session session;
  session.source_dir = source_dir;
  PROCTOR_ASSIGN_OR_RETURN(session.lock, LockFile::Load(options_.data_root));
  PROCTOR_ASSIGN_OR_RETURN(std::string probe,
                           PrepareUnderRoot(options_.data_root, absl::StrCat(kTmpDir, "/x")));
  session.tmp_dir = fs::path(probe).parent_path().string();
  fs::create_directory(session.tmp_dir, ec);
  if (ec) return absl::InternalError(absl::StrCat(session.tmp_dir, ": ", ec.message()));

  std::vector<FileReport> reports;
  for (const std::string& path : paths) {
    const FileSource* file = options_.manifest->FindFile(path);
    if (file == nullptr) {
      reports.push_back({path, FileState::kMissing, "not in the manifest"});
      continue;
    }
    reports.push_back(ObtainOne(&session, *file));
    const FileReport& r = reports.back();
    if (options_.log != nullptr && r.detail.rfind("present", 0) != 0) {
      *options_.log << FileStateName(r.state) << " " << r.path << ": " << r.detail << "\n"
                    << std::flush;
    }
  }
  return reports;
}

FileReport Acquirer::ObtainOne(Session* session, const FileSource& file) {
  FileReport present = VerifyOne(session->lock, file.path);
  if (present.state == FileState::kOk || present.state == FileState::kUnverified) {
    present.detail = absl::StrCat("present; ", present.detail);
    return present;
  }
  const std::string& root = options_.data_root;
  const LockEntry* locked = session->lock.Find(file.path);
  std::optional<std::string> expected = file.sha256;
  if (!expected && locked != nullptr) expected = locked->sha256;
  const uint64_t limit = file.size.value_or(options_.download.max_bytes);

  // Candidate sources, in order: a label and a function writing the bytes.
  using Producer = std::function<absl::StatusOr<FileDigest>(const std::string& tmp)>;
  std::vector<std::pair<std::string, Producer>> candidates;
  auto add_local = [&](const std::string& local, std::string label) {
    candidates.emplace_back(std::move(label), [local, limit](const std::string& tmp) {
      return WriteThroughSink(tmp, limit, [&](ByteSink* s) { return CopyFile(local, s); });
    });
  };
  auto add_member = [&](const Origin& o) {
    const ArchiveSource* a = options_.manifest->FindArchive(o.archive_id);
    candidates.emplace_back(
        o.ToString(),
        [this, session, a, o, limit](const std::string& tmp) -> absl::StatusOr<FileDigest> {
          auto it = session->archives.find(a->id);
          if (it == session->archives.end()) {
            it = session->archives.emplace(a->id, ObtainArchive(session, *a)).first;
          }
          if (!it->second.ok()) return it->second.status();
          std::string archive = *it->second;
          return WriteThroughSink(tmp, limit, [&](ByteSink* s) {
            return ExtractMember(archive, a->format, o.member, s);
          });
        });
  };
  if (session->source_dir != nullptr) {
    const std::string& src = *session->source_dir;
    if (IsRegularFile(absl::StrCat(src, "/", file.path))) {
      add_local(absl::StrCat(src, "/", file.path), absl::StrCat(src, "/", file.path));
    }
    for (const Origin& o : file.origins) {
      // A mirror tree: SRC/HOST/PATH, only for URLs that map to a confined path.
      const std::string host_path = HostPath(o.url);
      std::string local = absl::StrCat(src, "/", host_path);
      if (!o.url.empty() && ValidateRelativePath(host_path, "url").ok() && IsRegularFile(local)) {
        add_local(local, local);
      }
      if (!o.archive_id.empty()) add_member(o);
    }
  } else {
    for (const Origin& o : file.origins) {
      if (!o.archive_id.empty()) {
        add_member(o);
        continue;
      }
      std::string url = o.url;
      if (!options_.mirror.empty()) {
        absl::StatusOr<std::string> m = RewriteForMirror(url, options_.mirror);
        if (!m.ok()) return {file.path, FileState::kMissing, std::string(m.status().message())};
        url = *m;
      }
      candidates.emplace_back(url, [this, url, limit, &file](const std::string& tmp) {
        DownloadOptions d = options_.download;
        d.max_bytes = limit;
        d.label = file.path;
        return DownloadToFile(url, tmp, d);
      });
    }
  }

  std::vector<std::string> errors;
  if (present.state == FileState::kMismatch) errors.push_back(present.detail);
  bool mismatch = false;
  for (auto& [label, produce] : candidates) {
    absl::StatusOr<std::string> tmp = session->NewTemp(fs::path(file.path).filename().string());
    if (!tmp.ok()) return {file.path, FileState::kMissing, std::string(tmp.status().message())};
    absl::StatusOr<FileDigest> got = produce(*tmp);
    absl::Status accepted = got.status();
    if (got.ok()) {
      if (expected && got->sha256 != *expected) {
        accepted = absl::DataLossError(
            absl::StrCat("checksum mismatch for ", file.path, " from ", label, ": expected sha256 ",
                         *expected, file.sha256 ? "" : " (from the lock file)", ", got ",
                         got->sha256, " (", got->size, " bytes)"));
      } else if (file.size && got->size != *file.size) {
        accepted =
            absl::DataLossError(absl::StrCat("size mismatch for ", file.path, " from ", label,
                                             ": expected ", *file.size, " bytes, got ", got->size));
      } else if (!expected && options_.require_checksums) {
        accepted = absl::FailedPreconditionError(
            absl::StrCat(file.path, " has no upstream checksum and --require-checksums is set (",
                         label, " gave sha256 ", got->sha256, ")"));
      }
    } else if (got.status().code() == absl::StatusCode::kResourceExhausted && file.size) {
      accepted =
          absl::DataLossError(absl::StrCat("size mismatch for ", file.path, " from ", label,
                                           ": more than the expected ", *file.size, " bytes"));
    }
    if (accepted.ok()) {
      absl::StatusOr<std::string> dest = PrepareUnderRoot(root, file.path);
      accepted = dest.status();
      if (dest.ok()) accepted = FsyncPath(*tmp, O_RDONLY);
      if (accepted.ok() && std::rename(tmp->c_str(), dest->c_str()) != 0) {
        accepted =
            absl::InternalError(absl::StrCat("rename into ", *dest, ": ", std::strerror(errno)));
      }
      if (accepted.ok()) {
        (void)FsyncPath(fs::path(*dest).parent_path().string(), O_RDONLY | O_DIRECTORY);
        if (file.sha256) {
          return {file.path, FileState::kOk,
                  absl::StrCat("from ", label, " (", got->size, " bytes, sha256 verified)")};
        }
        std::string detail =
            absl::StrCat("from ", label, " (", got->size, " bytes, sha256 ", got->sha256, ")");
        if (locked != nullptr) {
          return {file.path, FileState::kUnverified, absl::StrCat(detail, " matches the lock")};
        }
        session->lock.Set(file.path, {got->sha256, got->size, label});
        if (absl::Status s = session->lock.Save(root); !s.ok()) {
          return {file.path, FileState::kUnverified,
                  absl::StrCat(detail, "; could not record it in the lock: ", s.message())};
        }
        if (options_.log != nullptr) {
          *options_.log << "warning: " << file.path
                        << " has no upstream checksum; trusting this first copy and recording "
                           "its sha256 in "
                        << LockFile::kRelativePath << "\n";
        }
        return {file.path, FileState::kUnverified, absl::StrCat(detail, " recorded in the lock")};
      }
    }
    std::remove(tmp->c_str());
    if (accepted.code() == absl::StatusCode::kDataLoss && got.ok()) mismatch = true;
    errors.push_back(absl::StrContains(accepted.message(), label)
                         ? std::string(accepted.message())
                         : absl::StrCat(label, ": ", accepted.message()));
  }
  if (candidates.empty()) errors.push_back("no origin available");
  return {file.path, mismatch ? FileState::kMismatch : FileState::kMissing,
          absl::StrJoin(errors, "; ")};
}

absl::StatusOr<std::string> Acquirer::ObtainArchive(Session* session, const ArchiveSource& a) {
  const std::string ext(ArchiveExtension(a.format));
  std::vector<std::string> errors;
  if (session->source_dir != nullptr) {
    const std::string& src = *session->source_dir;
    std::vector<std::string> names = {absl::StrCat(a.id, ".", ext)};
    for (const std::string& url : a.urls) {
      names.push_back(BaseName(url));
      names.push_back(HostPath(url));
    }
    for (const std::string& n : names) {
      if (!ValidateRelativePath(n, "archive name").ok()) continue;
      std::string local = absl::StrCat(src, "/", n);
      if (IsRegularFile(local)) return local;
    }
    return absl::NotFoundError(
        absl::StrCat("archive ", a.id, " (", BaseName(a.urls.front()), ") not found in ", src));
  }
  for (const std::string& canonical : a.urls) {
    std::string url = canonical;
    if (!options_.mirror.empty()) {
      PROCTOR_ASSIGN_OR_RETURN(url, RewriteForMirror(canonical, options_.mirror));
    }
    PROCTOR_ASSIGN_OR_RETURN(std::string tmp, session->NewTemp(absl::StrCat("archive-", a.id)));
    session->cleanup.push_back(tmp);
    DownloadOptions d = options_.download;
    d.label = absl::StrCat("archive ", a.id);
    absl::StatusOr<FileDigest> got = DownloadToFile(url, tmp, d);
    if (got.ok()) {
      if (options_.log != nullptr) {
        *options_.log << "downloaded archive " << a.id << " from " << url << " (" << got->size
                      << " bytes)\n";
      }
      return tmp;
    }
    errors.push_back(std::string(got.status().message()));
  }
  return absl::UnavailableError(
      absl::StrCat("archive ", a.id, " unavailable: ", absl::StrJoin(errors, "; ")));
}

absl::StatusOr<std::vector<FileReport>> Acquirer::Verify(
    const std::vector<std::string>& paths) const {
  std::error_code ec;
  if (!fs::is_directory(options_.data_root, ec)) {
    return absl::NotFoundError(absl::StrCat("data root ", options_.data_root, " does not exist"));
  }
  PROCTOR_ASSIGN_OR_RETURN(LockFile lock, LockFile::Load(options_.data_root));
  std::vector<FileReport> reports;
  for (const std::string& p : paths) reports.push_back(VerifyOne(lock, p));
  return reports;
}

FileReport Acquirer::VerifyOne(const LockFile& lock, const std::string& path) const {
  const FileSource* file = options_.manifest->FindFile(path);
  if (file == nullptr) return {path, FileState::kMissing, "not in the manifest"};
  absl::StatusOr<std::string> dest = ResolveUnderRoot(options_.data_root, path);
  if (!dest.ok()) return {path, FileState::kMismatch, std::string(dest.status().message())};
  absl::StatusOr<FileDigest> got = HashFile(*dest);
  if (!got.ok()) {
    if (got.status().code() == absl::StatusCode::kNotFound) {
      return {path, FileState::kMissing, "missing"};
    }
    return {path, FileState::kMismatch, std::string(got.status().message())};
  }
  if (file->sha256) {
    if (got->sha256 == *file->sha256) return {path, FileState::kOk, "sha256 matches the manifest"};
    return {path, FileState::kMismatch,
            absl::StrCat("expected sha256 ", *file->sha256, ", found ", got->sha256, " (",
                         got->size, " bytes)")};
  }
  if (const LockEntry* e = lock.Find(path)) {
    if (got->sha256 == e->sha256) {
      return {
          path, FileState::kUnverified,
          absl::StrCat("no upstream checksum; matches the lock (first seen from ", e->origin, ")")};
    }
    return {path, FileState::kMismatch,
            absl::StrCat("changed since it was locked: lock sha256 ", e->sha256, ", found ",
                         got->sha256)};
  }
  return {path, FileState::kUnverified, "no upstream checksum and not in the lock"};
}

}  // namespace proctor::eval::acquire
