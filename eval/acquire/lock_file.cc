#include "eval/acquire/lock_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"
#include "eval/acquire/paths.h"
#include "eval/acquire/sha256.h"

namespace proctor::eval::acquire {

absl::StatusOr<LockFile> LockFile::Parse(absl::string_view text, absl::string_view name) {
  LockFile lock;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    auto bad = [&](absl::string_view what) {
      return absl::InvalidArgumentError(absl::StrCat(name, ":", line_no, ": ", what));
    };
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (f.size() != 4) return bad("expected PATH SHA256 SIZE ORIGIN");
    if (absl::Status s = ValidateRelativePath(f[0], "path"); !s.ok()) return bad(s.message());
    if (!IsSha256Hex(f[1])) return bad(absl::StrCat("sha256 '", f[1], "' is not 64 hex digits"));
    LockEntry e{std::string(f[1]), 0, std::string(f[3])};
    if (!absl::SimpleAtoi(f[2], &e.size)) return bad(absl::StrCat("size '", f[2], "'"));
    lock.entries_[std::string(f[0])] = std::move(e);
  }
  return lock;
}

absl::StatusOr<LockFile> LockFile::Load(const std::string& root) {
  absl::StatusOr<std::string> path = ResolveUnderRoot(root, kRelativePath);
  if (!path.ok()) return path.status();
  std::ifstream in(*path, std::ios::binary);
  if (!in) return LockFile();
  std::stringstream text;
  text << in.rdbuf();
  return Parse(text.str(), *path);
}

const LockEntry* LockFile::Find(absl::string_view path) const {
  auto it = entries_.find(path);
  return it == entries_.end() ? nullptr : &it->second;
}

std::string LockFile::Serialize() const {
  std::string out =
      "# proctor datasets lock: checksums first seen for files without an upstream checksum\n"
      "# PATH SHA256 SIZE ORIGIN (docs/design/dataset-sources.md)\n";
  for (const auto& [path, e] : entries_) {
    absl::StrAppend(&out, path, " ", e.sha256, " ", e.size, " ", e.origin, "\n");
  }
  return out;
}

absl::Status LockFile::Save(const std::string& root) const {
  return WriteFileAtomically(root, kRelativePath, Serialize());
}

absl::Status WriteFileAtomically(const std::string& root, absl::string_view rel,
                                 absl::string_view data) {
  PROCTOR_ASSIGN_OR_RETURN(std::string path, PrepareUnderRoot(root, rel));
  std::string tmp = absl::StrCat(path, ".tmp.", getpid());
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return absl::InternalError(absl::StrCat(tmp, ": ", std::strerror(errno)));
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      close(fd);
      unlink(tmp.c_str());
      return absl::InternalError(absl::StrCat(tmp, ": ", std::strerror(err)));
    }
    done += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    unlink(tmp.c_str());
    return absl::InternalError(absl::StrCat(path, ": ", std::strerror(err)));
  }
  return absl::OkStatus();
}

}  // namespace proctor::eval::acquire
