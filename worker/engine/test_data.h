// Locating the shared third-party data in tests: $PROCTOR_SHARED_DATA.
#ifndef PROCTOR_WORKER_ENGINE_TEST_DATA_H_
#define PROCTOR_WORKER_ENGINE_TEST_DATA_H_

#include <cstdlib>
#include <filesystem>
#include <string>

namespace proctor::engine::testing {

// Absolute path of `rel` under the shared data directory, or "" when the
// directory or the file is absent (the caller then GTEST_SKIPs).
inline std::string SharedData(const std::string& rel) {
  const char* root = std::getenv("PROCTOR_SHARED_DATA");
  if (root == nullptr || *root == '\0') return "";
  const std::filesystem::path p = std::filesystem::path(root) / rel;
  std::error_code ec;
  return std::filesystem::exists(p, ec) ? p.string() : "";
}

#define PROCTOR_REQUIRE_DATA(var, rel)                                 \
  const std::string var = ::proctor::engine::testing::SharedData(rel); \
  if (var.empty()) GTEST_SKIP() << "shared data " << (rel) << " not found (set PROCTOR_SHARED_DATA)"

}  // namespace proctor::engine::testing

#endif  // PROCTOR_WORKER_ENGINE_TEST_DATA_H_
