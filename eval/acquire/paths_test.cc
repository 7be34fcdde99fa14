#include "eval/acquire/paths.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace proctor::eval::acquire {
namespace {
namespace fs = std::filesystem;
using ::testing::HasSubstr;

fs::path TempRoot(const char* name) {
  fs::path p = fs::path(::testing::TempDir()) / absl::StrCat(name, "-", getpid());
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

TEST(ValidateRelativePath, AcceptsOrdinaryPaths) {
  EXPECT_TRUE(ValidateRelativePath("mmlu/data/dev/anatomy_dev.csv", "p").ok());
  EXPECT_TRUE(ValidateRelativePath(".proctor/datasets.lock", "p").ok());
  EXPECT_TRUE(ValidateRelativePath("a..b/c", "p").ok());
}

TEST(ValidateRelativePath, RefusesHostilePaths) {
  for (const char* bad :
       {"", "/etc/passwd", "../x", "a/../../x", "a/./b", "a//b", "a/", "a\\b", "..", "a/.."}) {
    absl::Status s = ValidateRelativePath(bad, "manifest path");
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(s.message()), HasSubstr("manifest path")) << bad;
  }
  EXPECT_FALSE(ValidateRelativePath(std::string("a\0b", 3), "p").ok());
  EXPECT_FALSE(ValidateRelativePath(std::string(2000, 'a'), "p").ok());
}

TEST(ResolveUnderRoot, StaysInsideAndRefusesSymlinkEscape) {
  fs::path root = TempRoot("paths-root");
  fs::path outside = TempRoot("paths-outside");
  fs::create_directories(root / "in");
  fs::create_directory_symlink(outside, root / "link");
  fs::create_directory_symlink(root / "in", root / "inner-link");

  absl::StatusOr<std::string> ok = ResolveUnderRoot(root.string(), "in/file.csv");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(*ok, (fs::canonical(root) / "in/file.csv").string());
  // A symlink that stays inside the root is fine.
  EXPECT_TRUE(ResolveUnderRoot(root.string(), "inner-link/x").ok());

  absl::StatusOr<std::string> escaped = ResolveUnderRoot(root.string(), "link/file.csv");
  EXPECT_EQ(escaped.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(escaped.status().message()), HasSubstr("outside the data root"));
  EXPECT_EQ(PrepareUnderRoot(root.string(), "link/sub/file.csv").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(fs::exists(outside / "sub"));  // nothing created through the link

  EXPECT_EQ(ResolveUnderRoot((root / "absent").string(), "x").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(PrepareUnderRoot, CreatesParents) {
  fs::path root = TempRoot("paths-prepare");
  absl::StatusOr<std::string> p = PrepareUnderRoot(root.string(), "a/b/c.txt");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(fs::is_directory(root / "a/b"));
  EXPECT_FALSE(fs::exists(root / "a/b/c.txt"));
}

}  // namespace
}  // namespace proctor::eval::acquire
