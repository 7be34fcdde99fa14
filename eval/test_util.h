// Test helpers: the shared data root and small temporary files.
#ifndef PROCTOR_EVAL_TEST_UTIL_H_
#define PROCTOR_EVAL_TEST_UTIL_H_

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace proctor::eval {

// $PROCTOR_SHARED_DATA/datasets, or "" when the variable is unset or the
// folder is absent.
inline std::string SharedDatasets() {
  const char* root = std::getenv("PROCTOR_SHARED_DATA");
  if (root == nullptr) return "";
  std::string dir = std::string(root) + "/datasets";
  std::error_code ec;
  return std::filesystem::is_directory(dir, ec) ? dir : "";
}

#define PROCTOR_REQUIRE_SHARED_DATA(var)                                           \
  std::string var = ::proctor::eval::SharedDatasets();                             \
  if (var.empty()) {                                                               \
    GTEST_SKIP() << "PROCTOR_SHARED_DATA/datasets absent: real-data test skipped"; \
  }

// A fresh directory under the test temp dir, removed by the destructor.
class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            ("proctor_eval_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string path() const { return path_.string(); }
  // Writes `contents` to path()/rel, creating folders.
  void Write(const std::string& rel, const std::string& contents) const {
    std::filesystem::path p = path_ / rel;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << contents;
  }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

}  // namespace proctor::eval

#endif  // PROCTOR_EVAL_TEST_UTIL_H_
