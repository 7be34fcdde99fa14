#include "coordinator/auth_paths.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace proctor::coordinator {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class AuthPathsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = absl::StrCat(::testing::TempDir(), "/auth_paths_test_", ::getpid());
    fs::remove_all(base_);
    fs::create_directories(base_ + "/models/llama");
    fs::create_directories(base_ + "/secret");
    std::ofstream(base_ + "/models/llama/model.gguf") << "GGUF";
    std::ofstream(base_ + "/secret/key") << "k";
    fs::create_symlink(base_ + "/secret", base_ + "/models/escape");
    fs::create_directories(base_ + "/models-evil");
  }
  void TearDown() override { fs::remove_all(base_); }
  std::string root() const { return base_ + "/models"; }
  std::string base_;
};

TEST_F(AuthPathsTest, AcceptsPathsInsideTheRoot) {
  auto p = CheckPathUnderRoot(root(), "llama/model.gguf", "spec.model.path");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(*p, fs::weakly_canonical(root() + "/llama/model.gguf").string());
  EXPECT_TRUE(CheckPathUnderRoot(root(), root() + "/llama/model.gguf", "f").ok());
  EXPECT_TRUE(CheckPathUnderRoot(root() + "/", "llama/./x/../model.gguf", "f").ok());
  // Not yet existing files inside the root are fine (the worker reports them).
  EXPECT_TRUE(CheckPathUnderRoot(root(), "new/model.gguf", "f").ok());
}

TEST_F(AuthPathsTest, RefusesTraversalAbsoluteSymlinkAndPrefixTricks) {
  const std::string bad[] = {
      "../secret/key",
      "llama/../../secret/key",
      "/etc/passwd",
      base_ + "/secret/key",
      "escape/key",              // symlink inside the root pointing outside
      base_ + "/models-evil/x",  // shares the root's name as a string prefix
      "..",
  };
  for (const std::string& path : bad) {
    auto p = CheckPathUnderRoot(root(), path, "spec.model.path");
    ASSERT_FALSE(p.ok()) << path;
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument) << path;
    EXPECT_THAT(p.status().message(), HasSubstr("spec.model.path")) << path;
  }
}

TEST_F(AuthPathsTest, EmptyAndNulPathsAndMissingRoot) {
  EXPECT_EQ(CheckPathUnderRoot(root(), "", "f").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckPathUnderRoot(root(), std::string("a\0b", 3), "f").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckPathUnderRoot("", "a", "f").status().code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace proctor::coordinator
