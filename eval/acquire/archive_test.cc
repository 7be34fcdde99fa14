#include "eval/acquire/archive.h"

#include <unistd.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "eval/acquire/test_archives.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace proctor::eval::acquire {
namespace {
namespace fs = std::filesystem;
using testing::Entry;
using ::testing::HasSubstr;

class StringSink : public ByteSink {
 public:
  absl::Status Write(const char* data, size_t n) override {
    out.append(data, n);
    return absl::OkStatus();
  }
  std::string out;
};

class ArchiveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / absl::StrCat("archive-test-", getpid());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "work");
  }
  std::string Write(const std::string& name, const std::string& data) {
    std::string p = (dir_ / name).string();
    testing::WriteFile(p, data);
    return p;
  }
  absl::Status Extract(const std::string& path, ArchiveFormat f, const std::string& member,
                       std::string* out) {
    StringSink sink;
    absl::Status s = ExtractMember(path, f, member, &sink);
    *out = sink.out;
    return s;
  }
  fs::path dir_;
};

const std::string kBig(70000, 'x');  // spans several 512-byte blocks and 64 KiB chunks

std::vector<Entry> Entries() {
  return {{"../../evil.txt", "pwned"},
          {"data/dir", "", '5'},
          {"data/link.csv", "", '2'},
          {"./data/a.csv", "alpha\n"},
          {"data/big.txt", kBig},
          {std::string("data/") + std::string(120, 'n') + ".txt", "long name\n"}};
}

TEST_F(ArchiveTest, TarExtractsOnlyTheNamedRegularMember) {
  for (bool gz : {false, true}) {
    std::string tar = testing::MakeTar(Entries());
    std::string path = Write(gz ? "a.tar.gz" : "a.tar", gz ? testing::Gzip(tar) : tar);
    ArchiveFormat f = gz ? ArchiveFormat::kTarGz : ArchiveFormat::kTar;
    std::string out;
    ASSERT_TRUE(Extract(path, f, "data/a.csv", &out).ok());
    EXPECT_EQ(out, "alpha\n");
    ASSERT_TRUE(Extract(path, f, "data/big.txt", &out).ok());
    EXPECT_EQ(out, kBig);
    ASSERT_TRUE(Extract(path, f, "data/" + std::string(120, 'n') + ".txt", &out).ok());
    EXPECT_EQ(out, "long name\n");

    absl::Status s = Extract(path, f, "data/link.csv", &out);
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(std::string(s.message()), HasSubstr("not a regular file"));
    EXPECT_EQ(Extract(path, f, "data/dir", &out).code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(Extract(path, f, "data/none.csv", &out).code(), absl::StatusCode::kNotFound);
    // Traversal names are refused before the archive is read.
    EXPECT_EQ(Extract(path, f, "../../evil.txt", &out).code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(Extract(path, f, "/etc/passwd", &out).code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_FALSE(fs::exists(dir_.parent_path().parent_path() / "evil.txt"));
}

TEST_F(ArchiveTest, TarCorruptionIsDataLoss) {
  std::string tar = testing::MakeTar(Entries());
  std::string out;
  std::string truncated = Write("t.tar", tar.substr(0, 512 * 9 + 100));
  absl::Status s = Extract(truncated, ArchiveFormat::kTar, "data/big.txt", &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("t.tar"));
  std::string bad = tar;
  bad[512 * 6] ^= 0x55;  // the header of data/big.txt: checksum fails
  EXPECT_EQ(Extract(Write("c.tar", bad), ArchiveFormat::kTar, "data/big.txt", &out).code(),
            absl::StatusCode::kDataLoss);
  std::string gz = testing::Gzip(tar);
  EXPECT_EQ(Extract(Write("t.tar.gz", gz.substr(0, gz.size() / 2)), ArchiveFormat::kTarGz,
                    "data/big.txt", &out)
                .code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(
      Extract(Write("junk.tar.gz", "not gzip at all"), ArchiveFormat::kTarGz, "x", &out).code(),
      absl::StatusCode::kDataLoss);
}

TEST_F(ArchiveTest, ZipStoredDeflatedSymlinkAndCorruption) {
  std::vector<Entry> entries = {{"../../evil.txt", "pwned"},
                                {"data/stored.csv", "stored\n", '0', false},
                                {"data/deflated.txt", kBig},
                                {"data/link.csv", "/etc/passwd", '0', false, true},
                                {"data/dir/", "", '0', false}};
  std::string zip = testing::MakeZip(entries);
  std::string path = Write("a.zip", zip);
  std::string out;
  ASSERT_TRUE(Extract(path, ArchiveFormat::kZip, "data/stored.csv", &out).ok());
  EXPECT_EQ(out, "stored\n");
  ASSERT_TRUE(Extract(path, ArchiveFormat::kZip, "data/deflated.txt", &out).ok());
  EXPECT_EQ(out, kBig);
  absl::Status s = Extract(path, ArchiveFormat::kZip, "data/link.csv", &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("symlink"));
  EXPECT_EQ(Extract(path, ArchiveFormat::kZip, "data/dir", &out).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Extract(path, ArchiveFormat::kZip, "data/nope", &out).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(Extract(path, ArchiveFormat::kZip, "../../evil.txt", &out).code(),
            absl::StatusCode::kInvalidArgument);

  std::string flipped = zip;
  flipped[zip.find("stored\n")] = 'S';  // CRC no longer matches
  s = Extract(Write("crc.zip", flipped), ArchiveFormat::kZip, "data/stored.csv", &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("CRC mismatch"));
  EXPECT_EQ(Extract(Write("cut.zip", zip.substr(0, zip.size() / 2)), ArchiveFormat::kZip,
                    "data/stored.csv", &out)
                .code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(Extract(Write("tiny.zip", "PK"), ArchiveFormat::kZip, "x", &out).code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(Extract((dir_ / "absent.zip").string(), ArchiveFormat::kZip, "x", &out).code(),
            absl::StatusCode::kNotFound);
}

TEST_F(ArchiveTest, SinkErrorsStopExtraction) {
  class Limited : public ByteSink {
   public:
    absl::Status Write(const char*, size_t n) override {
      total += n;
      return total > 1000 ? absl::ResourceExhaustedError("limit") : absl::OkStatus();
    }
    size_t total = 0;
  } sink;
  std::string path = Write("l.tar", testing::MakeTar(Entries()));
  EXPECT_EQ(ExtractMember(path, ArchiveFormat::kTar, "data/big.txt", &sink).code(),
            absl::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace proctor::eval::acquire
