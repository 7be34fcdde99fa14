// Test helpers shared by the store's tests: a scratch directory per test and
// byte/mtime snapshots of files that must not change. Test-only.
#ifndef PROCTOR_COORDINATOR_STORE_STORE_TEST_UTIL_H_
#define PROCTOR_COORDINATOR_STORE_STORE_TEST_UTIL_H_

#include <sys/stat.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"

namespace proctor::coordinator {

// A fresh directory under ::testing::TempDir(), removed with its contents.
class ScratchDir {
 public:
  ScratchDir() {
    std::string base = ::testing::TempDir();
    if (!base.empty() && base.back() == '/') base.pop_back();
    std::string templ = base + "/proctor_store_XXXXXX";
    char* made = ::mkdtemp(templ.data());
    EXPECT_NE(made, nullptr) << "mkdtemp failed for " << templ;
    path_ = templ;
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  std::string File(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline std::string ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

inline void WriteFileBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Contents plus modification time, to prove a refused file was not touched.
struct FileSnapshot {
  std::string bytes;
  int64_t mtime_ns = 0;
  bool operator==(const FileSnapshot& o) const {
    return bytes == o.bytes && mtime_ns == o.mtime_ns;
  }
};

inline FileSnapshot Snapshot(const std::string& path) {
  FileSnapshot snap;
  snap.bytes = ReadFileBytes(path);
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    snap.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  }
  return snap;
}

}  // namespace proctor::coordinator

#endif  // PROCTOR_COORDINATOR_STORE_STORE_TEST_UTIL_H_
