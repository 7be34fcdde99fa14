#include "eval/acquire/acquire.h"

#include <unistd.h>

#include <filesystem>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "eval/acquire/sha256.h"
#include "eval/acquire/test_archives.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace proctor::eval::acquire {
namespace {
namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::ReadFile;
using testing::WriteFile;

std::string HashOf(const std::string& s) {
  Sha256 h;
  h.Update(s);
  return h.HexDigest();
}

const std::string kGood = "{\"question\": \"2+2\", \"answer\": \"4\"}\n";
const std::string kBad = "{\"question\": \"2+2\", \"answer\": \"5\"}\n";

class AcquireTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = fs::path(::testing::TempDir()) / absl::StrCat("acquire-test-", getpid());
    fs::remove_all(base_);
    root_ = base_ / "root";
    src_ = base_ / "src";
    fs::create_directories(src_);
    std::string text = absl::StrCat(
        "archive bundle zip https://example.org/dl/bundle.zip\n"
        "file known/a.jsonl ",
        HashOf(kGood), " ", kGood.size(),
        " MIT https://127.0.0.1:1/known/a.jsonl\n"
        "file tofu/b.jsonl unknown unknown see-upstream https://example.org/tofu/b.jsonl\n"
        "file zipped/c.jsonl ",
        HashOf(kGood), " ", kGood.size(),
        " MIT archive:bundle:inner/c.jsonl\n"
        "file link/d.jsonl ",
        HashOf(kGood), " ", kGood.size(), " MIT https://example.org/d\n");
    absl::StatusOr<Manifest> m = Manifest::Parse(text, "test");
    ASSERT_TRUE(m.ok()) << m.status();
    manifest_ = *std::move(m);
  }
  Acquirer Make(bool require_checksums = false) {
    AcquireOptions o;
    o.data_root = root_.string();
    o.manifest = &manifest_;
    o.require_checksums = require_checksums;
    o.download.attempts = 2;
    o.download.backoff = absl::Milliseconds(1);
    o.download.connect_timeout = absl::Seconds(5);
    o.log = &log_;
    return Acquirer(std::move(o));
  }
  void Src(const std::string& rel, const std::string& data) {
    fs::create_directories((src_ / rel).parent_path());
    WriteFile((src_ / rel).string(), data);
  }
  // Nothing but the lock (if any) may be left in the root's scratch space.
  void ExpectNoTemporaries() {
    if (!fs::exists(root_ / ".proctor/tmp")) return;
    EXPECT_TRUE(fs::is_empty(root_ / ".proctor/tmp"));
  }
  FileReport One(absl::StatusOr<std::vector<FileReport>> r) {
    EXPECT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->size(), 1u);
    return r->at(0);
  }

  fs::path base_, root_, src_;
  Manifest manifest_;
  std::ostringstream log_;
};

TEST_F(AcquireTest, ImportVerifiesAndInstalls) {
  Src("known/a.jsonl", kGood);
  FileReport r = One(Make().Import(src_.string(), {"known/a.jsonl"}));
  EXPECT_EQ(r.state, FileState::kOk) << r.detail;
  EXPECT_EQ(ReadFile((root_ / "known/a.jsonl").string()), kGood);
  ExpectNoTemporaries();
  // Present and valid: a second import does nothing.
  r = One(Make().Import(src_.string(), {"known/a.jsonl"}));
  EXPECT_EQ(r.state, FileState::kOk);
  EXPECT_THAT(r.detail, HasSubstr("present"));
  EXPECT_EQ(One(Make().Verify({"known/a.jsonl"})).state, FileState::kOk);
}

TEST_F(AcquireTest, MismatchLeavesNothingBehindAndKeepsExistingFile) {
  Src("known/a.jsonl", kBad);
  FileReport r = One(Make().Import(src_.string(), {"known/a.jsonl"}));
  EXPECT_EQ(r.state, FileState::kMismatch);
  EXPECT_THAT(r.detail, HasSubstr("expected sha256 " + HashOf(kGood)));
  EXPECT_THAT(r.detail, HasSubstr("got " + HashOf(kBad)));
  EXPECT_THAT(r.detail, HasSubstr("known/a.jsonl"));
  EXPECT_FALSE(fs::exists(root_ / "known/a.jsonl"));
  ExpectNoTemporaries();

  // A damaged file in place stays as it was when the new copy is bad too.
  fs::create_directories(root_ / "known");
  WriteFile((root_ / "known/a.jsonl").string(), "damaged");
  r = One(Make().Import(src_.string(), {"known/a.jsonl"}));
  EXPECT_EQ(r.state, FileState::kMismatch);
  EXPECT_EQ(ReadFile((root_ / "known/a.jsonl").string()), "damaged");
  EXPECT_EQ(One(Make().Verify({"known/a.jsonl"})).state, FileState::kMismatch);

  // A good file in place is never replaced by a bad source.
  WriteFile((root_ / "known/a.jsonl").string(), kGood);
  r = One(Make().Import(src_.string(), {"known/a.jsonl"}));
  EXPECT_EQ(r.state, FileState::kOk);
  EXPECT_EQ(ReadFile((root_ / "known/a.jsonl").string()), kGood);
  ExpectNoTemporaries();
}

TEST_F(AcquireTest, UnknownChecksumIsTrustedOnFirstUseAndLocked) {
  // The mirror-tree layout (HOST/PATH) is found too.
  Src("example.org/tofu/b.jsonl", kGood);
  FileReport r = One(Make().Import(src_.string(), {"tofu/b.jsonl"}));
  EXPECT_EQ(r.state, FileState::kUnverified) << r.detail;
  EXPECT_THAT(log_.str(), HasSubstr("warning: tofu/b.jsonl has no upstream checksum"));
  absl::StatusOr<LockFile> lock = LockFile::Load(root_.string());
  ASSERT_TRUE(lock.ok());
  ASSERT_NE(lock->Find("tofu/b.jsonl"), nullptr);
  EXPECT_EQ(lock->Find("tofu/b.jsonl")->sha256, HashOf(kGood));
  EXPECT_EQ(One(Make().Verify({"tofu/b.jsonl"})).state, FileState::kUnverified);

  // Changed on disk: verify names the lock's hash.
  WriteFile((root_ / "tofu/b.jsonl").string(), kBad);
  r = One(Make().Verify({"tofu/b.jsonl"}));
  EXPECT_EQ(r.state, FileState::kMismatch);
  EXPECT_THAT(r.detail, HasSubstr("changed since it was locked"));

  // A different upstream copy no longer matches the lock.
  fs::remove(root_ / "tofu/b.jsonl");
  Src("example.org/tofu/b.jsonl", kBad);
  r = One(Make().Import(src_.string(), {"tofu/b.jsonl"}));
  EXPECT_EQ(r.state, FileState::kMismatch);
  EXPECT_THAT(r.detail, HasSubstr("(from the lock file)"));
  EXPECT_FALSE(fs::exists(root_ / "tofu/b.jsonl"));
  ExpectNoTemporaries();
}

TEST_F(AcquireTest, RequireChecksumsRefusesUnknownHashes) {
  Src("tofu/b.jsonl", kGood);
  FileReport r = One(Make(/*require_checksums=*/true).Import(src_.string(), {"tofu/b.jsonl"}));
  EXPECT_EQ(r.state, FileState::kMissing);
  EXPECT_THAT(r.detail, HasSubstr("--require-checksums"));
  EXPECT_FALSE(fs::exists(root_ / "tofu/b.jsonl"));
  EXPECT_FALSE(fs::exists(root_ / ".proctor/datasets.lock"));
  ExpectNoTemporaries();
}

TEST_F(AcquireTest, ImportExtractsFromArchiveInTheSource) {
  WriteFile((src_ / "bundle.zip").string(),
            testing::MakeZip({{"../escape", "x"}, {"inner/c.jsonl", kGood}}));
  FileReport r = One(Make().Import(src_.string(), {"zipped/c.jsonl"}));
  EXPECT_EQ(r.state, FileState::kOk) << r.detail;
  EXPECT_EQ(ReadFile((root_ / "zipped/c.jsonl").string()), kGood);
  EXPECT_FALSE(fs::exists(base_ / "escape"));
  EXPECT_FALSE(fs::exists(root_.parent_path() / "escape"));
  ExpectNoTemporaries();
}

TEST_F(AcquireTest, SymlinkInsideTheRootCannotLeadWritesOut) {
  fs::create_directories(root_);
  fs::create_directories(base_ / "outside");
  fs::create_directory_symlink(base_ / "outside", root_ / "link");
  Src("link/d.jsonl", kGood);
  FileReport r = One(Make().Import(src_.string(), {"link/d.jsonl"}));
  EXPECT_NE(r.state, FileState::kOk);
  EXPECT_THAT(r.detail, HasSubstr("outside the data root"));
  EXPECT_TRUE(fs::is_empty(base_ / "outside"));
  ExpectNoTemporaries();
}

TEST_F(AcquireTest, FetchReportsUnreachableOriginsPerFile) {
  FileReport r = One(Make().Fetch({"known/a.jsonl"}));
  EXPECT_EQ(r.state, FileState::kMissing);
  EXPECT_THAT(r.detail, HasSubstr("https://127.0.0.1:1/known/a.jsonl"));
  EXPECT_FALSE(fs::exists(root_ / "known/a.jsonl"));
  ExpectNoTemporaries();
  r = One(Make().Fetch({"not/in/manifest"}));
  EXPECT_THAT(r.detail, HasSubstr("not in the manifest"));
}

TEST_F(AcquireTest, VerifyStates) {
  absl::StatusOr<std::vector<FileReport>> none = Make().Verify({"known/a.jsonl"});
  EXPECT_EQ(none.status().code(), absl::StatusCode::kNotFound);  // no root yet
  fs::create_directories(root_ / "tofu");
  WriteFile((root_ / "tofu/b.jsonl").string(), kGood);
  absl::StatusOr<std::vector<FileReport>> r = Make().Verify({"known/a.jsonl", "tofu/b.jsonl"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].state, FileState::kMissing);
  EXPECT_EQ((*r)[1].state, FileState::kUnverified);
  EXPECT_THAT((*r)[1].detail, HasSubstr("not in the lock"));
  EXPECT_EQ(FileStateName(FileState::kMismatch), "mismatch");
}

TEST(RewriteForMirror, MapsHostsUnderTheBase) {
  EXPECT_EQ(*RewriteForMirror("https://raw.githubusercontent.com/a/b.jsonl", "http://127.0.0.1:8/"),
            "http://127.0.0.1:8/raw.githubusercontent.com/a/b.jsonl");
  EXPECT_EQ(*RewriteForMirror("http://h/x", "https://m.example/mirror"),
            "https://m.example/mirror/h/x");
  EXPECT_FALSE(RewriteForMirror("https://h/x", "file:///tmp").ok());
  EXPECT_FALSE(RewriteForMirror("ftp://h/x", "http://m").ok());
}

TEST(LockFile, RoundTripsAndRefusesHostileEntries) {
  LockFile lock;
  lock.Set("a/b.jsonl", {std::string(64, 'a'), 12, "https://e/x"});
  absl::StatusOr<LockFile> back = LockFile::Parse(lock.Serialize(), "l");
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_NE(back->Find("a/b.jsonl"), nullptr);
  EXPECT_EQ(back->Find("a/b.jsonl")->size, 12u);
  EXPECT_EQ(LockFile::Parse("../x " + std::string(64, 'a') + " 1 o", "l").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LockFile::Parse("x zz 1 o", "l").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LockFile::Parse("x", "l").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace proctor::eval::acquire
