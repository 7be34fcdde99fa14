#include "worker/model_hash.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace proctor::worker {
namespace {

constexpr size_t kReadChunk = size_t{1} << 20;

FileStamp StampOf(const struct stat& st) {
  FileStamp s;
  s.device = static_cast<uint64_t>(st.st_dev);
  s.inode = static_cast<uint64_t>(st.st_ino);
  s.size = static_cast<int64_t>(st.st_size);
  s.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  s.ctime_ns = static_cast<int64_t>(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec;
  return s;
}

struct DigestDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using Digest = std::unique_ptr<EVP_MD_CTX, DigestDeleter>;

Digest NewSha256() {
  Digest ctx(EVP_MD_CTX_new());
  if (ctx == nullptr || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) return nullptr;
  return ctx;
}

void UpdateField(EVP_MD_CTX* ctx, const std::string& bytes) {
  unsigned char le[8];
  const uint64_t n = bytes.size();
  for (int i = 0; i < 8; ++i) le[i] = static_cast<unsigned char>(n >> (8 * i));
  EVP_DigestUpdate(ctx, le, sizeof(le));
  EVP_DigestUpdate(ctx, bytes.data(), bytes.size());
}

std::string FinishHex(EVP_MD_CTX* ctx) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_DigestFinal_ex(ctx, digest, &size);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), static_cast<size_t>(size)));
}

// Streams the bytes of `path` into `ctx`; checks the file is still `stamp`
// before and after. Adds the bytes read to *bytes_read.
absl::Status StreamFile(const std::string& path, const FileStamp& stamp, EVP_MD_CTX* ctx,
                        int64_t* bytes_read) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::InternalError(
        absl::StrCat("cannot open model file ", path, ": ", std::strerror(errno)));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st;
  if (::fstat(fd, &st) != 0 || !(StampOf(st) == stamp)) {
    return absl::AbortedError(absl::StrCat("model file ", path, " changed while it was hashed"));
  }
  std::string buffer(kReadChunk, '\0');
  int64_t total = 0;
  while (true) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(absl::StrCat("reading model file ", path, " at offset ", total,
                                              ": ", std::strerror(errno)));
    }
    if (n == 0) break;
    EVP_DigestUpdate(ctx, buffer.data(), static_cast<size_t>(n));
    total += n;
  }
  *bytes_read += total;
  if (::fstat(fd, &st) != 0 || !(StampOf(st) == stamp) || total != stamp.size) {
    return absl::AbortedError(absl::StrCat("model file ", path,
                                           " changed while it was hashed (read ", total, " of ",
                                           stamp.size, " bytes)"));
  }
  return absl::OkStatus();
}

// The files that make up the model at `path` with their current stamps,
// in hashing order. Error codes as ModelHasher::Hash.
absl::StatusOr<std::vector<std::pair<std::string, FileStamp>>> ListFiles(const std::string& path,
                                                                         bool* is_dir) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) {
      return absl::NotFoundError(absl::StrCat("model path ", path, " does not exist"));
    }
    return absl::InternalError(
        absl::StrCat("cannot stat model path ", path, ": ", std::strerror(errno)));
  }
  std::vector<std::pair<std::string, FileStamp>> files;
  if (S_ISREG(st.st_mode)) {
    *is_dir = false;
    files.emplace_back(path, StampOf(st));
    return files;
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("model path ", path, " is neither a regular file nor a directory"));
  }
  *is_dir = true;
  std::error_code ec;
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(path, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.front() == '.') continue;
    names.push_back(name);
  }
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot list model directory ", path, ": ", ec.message()));
  }
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    const std::string file = absl::StrCat(path, "/", name);
    struct stat fst;
    if (::stat(file.c_str(), &fst) != 0 || !S_ISREG(fst.st_mode)) continue;
    files.emplace_back(file, StampOf(fst));
  }
  if (files.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("model directory ", path, " holds no regular file"));
  }
  return files;
}

}  // namespace

bool FileStamp::operator==(const FileStamp& other) const {
  return device == other.device && inode == other.inode && size == other.size &&
         mtime_ns == other.mtime_ns && ctime_ns == other.ctime_ns;
}

absl::StatusOr<std::string> ModelHasher::Hash(const std::string& path) {
  bool is_dir = false;
  absl::StatusOr<std::vector<std::pair<std::string, FileStamp>>> files = ListFiles(path, &is_dir);
  if (!files.ok()) return files.status();
  {
    absl::MutexLock lock(&mu_);
    auto it = remembered_.find(path);
    if (it != remembered_.end() && it->second.files == *files) {
      it->second.last_use = ++use_clock_;
      return it->second.hash;
    }
  }
  Digest ctx = NewSha256();
  if (ctx == nullptr) return absl::ResourceExhaustedError("cannot initialise SHA-256");
  int64_t read = 0;
  EVP_DigestUpdate(ctx.get(), is_dir ? "dir" : "file", is_dir ? 4 : 5);  // includes the NUL
  for (const auto& [file, stamp] : *files) {
    if (is_dir) {
      UpdateField(ctx.get(), std::filesystem::path(file).filename().string());
      UpdateField(ctx.get(), std::to_string(stamp.size));
    }
    absl::Status streamed = StreamFile(file, stamp, ctx.get(), &read);
    if (!streamed.ok()) {
      absl::MutexLock lock(&mu_);
      bytes_read_ += read;
      return streamed;
    }
  }
  std::string hash = FinishHex(ctx.get());
  absl::MutexLock lock(&mu_);
  bytes_read_ += read;
  Remembered& r = remembered_[path];
  r.files = *std::move(files);
  r.hash = hash;
  r.last_use = ++use_clock_;
  while (remembered_.size() > kMaxRemembered) {
    auto oldest = std::min_element(
        remembered_.begin(), remembered_.end(),
        [](const auto& a, const auto& b) { return a.second.last_use < b.second.last_use; });
    remembered_.erase(oldest);
  }
  return hash;
}

std::optional<std::string> ModelHasher::HashIfUnchanged(const std::string& path) const {
  std::vector<std::pair<std::string, FileStamp>> files;
  std::string hash;
  {
    absl::MutexLock lock(&mu_);
    auto it = remembered_.find(path);
    if (it == remembered_.end()) return std::nullopt;
    files = it->second.files;
    hash = it->second.hash;
  }
  // The same listing (a file added to a directory changes the model) ...
  bool is_dir = false;
  absl::StatusOr<std::vector<std::pair<std::string, FileStamp>>> now = ListFiles(path, &is_dir);
  if (!now.ok() || *now != files) return std::nullopt;
  return hash;
}

int64_t ModelHasher::bytes_read() const {
  absl::MutexLock lock(&mu_);
  return bytes_read_;
}

const std::string& EngineBuild() {
  static const std::string* build = [] {
    ModelHasher hasher;
    absl::StatusOr<std::string> exe = hasher.Hash("/proc/self/exe");
    if (!exe.ok()) {
      PROCTOR_LOG(WARNING) << "cannot hash the worker executable (" << exe.status()
                           << "); outputs will not be added to the result cache";
      return new std::string("unknown-build");
    }
    return new std::string(absl::StrCat("exe-sha256:", exe->substr(0, 32)));
  }();
  return *build;
}

}  // namespace proctor::worker
