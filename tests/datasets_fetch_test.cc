// `proctor datasets fetch` and `verify` end to end: the real binary against
// a real HTTP server on loopback (tests/datasets_fetch_test.py) serving real
// files copied from the shared data — plus a corrupted copy, a truncated
// response, a transient 503, a zip archive and a set without an upstream
// checksum. Skips when the shared data is absent.
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "eval/acquire/test_archives.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/subprocess.h"

namespace proctor {
namespace {
namespace fs = std::filesystem;
using eval::acquire::testing::MakeZip;
using eval::acquire::testing::ReadFile;
using eval::acquire::testing::WriteFile;
using ::testing::HasSubstr;
using ::testing::Not;

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

struct Result {
  int code = -1;
  std::string out, err;
};

class DatasetsFetchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    shared_ = Env("PROCTOR_SHARED_DATA") + "/datasets";
    if (Env("PROCTOR_SHARED_DATA").empty() || !fs::is_directory(shared_)) {
      GTEST_SKIP() << "PROCTOR_SHARED_DATA/datasets not found; loopback fetch test skipped";
    }
    proctor_ = Env("PROCTOR_BUILD_DIR") + "/bin/proctor";
    ASSERT_TRUE(fs::exists(proctor_)) << proctor_;
    dir_ = fs::path(::testing::TempDir()) / absl::StrCat("datasets-fetch-", getpid());
    fs::remove_all(dir_);
    root_ = dir_ / "root";
    mirror_ = dir_ / "mirror";
    fs::create_directories(mirror_);

    Copy("gsm8k/test.jsonl",
         "raw.githubusercontent.com/openai/grade-school-math/master/grade_school_math/data/"
         "test.jsonl");
    Copy("piqa/dev-labels.lst", "yonatanbisk.com/piqa/data/valid-labels.lst");
    std::string piqa = ReadFile(shared_ + "/piqa/dev.jsonl");
    piqa[piqa.size() / 2] ^= 1;  // one flipped bit
    Put("yonatanbisk.com/piqa/data/valid.jsonl", piqa);
    Copy("humaneval/HumanEval.jsonl.gz",
         "raw.githubusercontent.com/openai/human-eval/master/data/HumanEval.jsonl.gz");
    Put("storage.googleapis.com/ai2-mosaic/public/socialiqa/socialiqa-train-dev.zip",
        MakeZip({{"socialiqa-train-dev/dev.jsonl", ReadFile(shared_ + "/siqa/dev.jsonl")},
                 {"socialiqa-train-dev/dev-labels.lst", ReadFile(shared_ + "/siqa/dev-labels.lst"),
                  '0', false}}));
    // A download-only set (no upstream checksum): a small file in its schema.
    Put("raw.githubusercontent.com/rowanz/hellaswag/master/data/hellaswag_val.jsonl",
        "{\"ctx\": \"A man sits down.\", \"endings\": [\"a\", \"b\", \"c\", \"d\"], "
        "\"label\": 1}\n");

    std::string port_file = (dir_ / "port").string();
    ASSERT_TRUE(
        server_
            .Start({"/usr/bin/python3", Env("PROCTOR_SOURCE_DIR") + "/tests/datasets_fetch_test.py",
                    "--root", mirror_.string(), "--port-file", port_file, "--truncate",
                    "raw.githubusercontent.com/openai/human-eval/master/data/"
                    "HumanEval.jsonl.gz",
                    "--flaky",
                    "raw.githubusercontent.com/openai/grade-school-math/master/"
                    "grade_school_math/data/test.jsonl"},
                   (dir_ / "server.log").string())
            .ok());
    int port = 0;
    ASSERT_TRUE(testing::ReadPortFile(port_file, absl::Seconds(20), &port, &server_).ok())
        << testing::ReadFileOrEmpty((dir_ / "server.log").string());
    base_url_ = absl::StrCat("http://127.0.0.1:", port);
  }

  void Copy(const std::string& from, const std::string& to) {
    Put(to, ReadFile(shared_ + "/" + from));
  }
  void Put(const std::string& rel, const std::string& data) {
    fs::create_directories((mirror_ / rel).parent_path());
    WriteFile((mirror_ / rel).string(), data);
  }
  Result Proctor(const std::string& args) {
    Result r;
    std::string out = (dir_ / "out").string(), err = (dir_ / "err").string();
    std::string cmd = absl::StrCat("env -u PROCTOR_DATASETS_MIRROR -u PROCTOR_DATA_DIR '", proctor_,
                                   "' datasets ", args, " --data-dir '", root_.string(), "' >'",
                                   out, "' 2>'", err, "'");
    int status = std::system(cmd.c_str());
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = ReadFile(out);
    r.err = ReadFile(err);
    return r;
  }

  std::string shared_, proctor_, base_url_;
  fs::path dir_, root_, mirror_;
  testing::Subprocess server_;
};

TEST_F(DatasetsFetchTest, FetchesVerifiesAndRefusesBadBytes) {
  Result fetch =
      Proctor(absl::StrCat("fetch gsm8k piqa humaneval siqa --retries 3 --base-url ", base_url_));
  SCOPED_TRACE(fetch.out + fetch.err);
  EXPECT_EQ(fetch.code, 1);  // piqa's corrupted copy
  // Real files arrive byte for byte, through a 503 retry and out of a zip.
  EXPECT_EQ(ReadFile((root_ / "gsm8k/test.jsonl").string()),
            ReadFile(shared_ + "/gsm8k/test.jsonl"));
  EXPECT_EQ(ReadFile((root_ / "siqa/dev.jsonl").string()), ReadFile(shared_ + "/siqa/dev.jsonl"));
  EXPECT_EQ(ReadFile((root_ / "siqa/dev-labels.lst").string()),
            ReadFile(shared_ + "/siqa/dev-labels.lst"));
  EXPECT_THAT(fetch.err, HasSubstr("retrying"));
  // The corrupted file is named with both hashes and never installed.
  EXPECT_THAT(fetch.err, HasSubstr("checksum mismatch for piqa/dev.jsonl"));
  EXPECT_THAT(fetch.err, HasSubstr("expected sha256 a73f46cb5d72b2cc"));
  EXPECT_FALSE(fs::exists(root_ / "piqa/dev.jsonl"));
  // The truncated response is retried, then reported; nothing is installed.
  EXPECT_THAT(fetch.err, HasSubstr("HumanEval.jsonl.gz"));
  EXPECT_FALSE(fs::exists(root_ / "humaneval/HumanEval.jsonl.gz"));
  EXPECT_TRUE(fs::is_empty(root_ / ".proctor/tmp"));
  EXPECT_THAT(fetch.out, HasSubstr("gsm8k"));
  EXPECT_THAT(fetch.out, HasSubstr("mismatch"));

  Result verify = Proctor("verify gsm8k siqa");
  EXPECT_EQ(verify.code, 0) << verify.out << verify.err;
  EXPECT_THAT(verify.out, HasSubstr("ok"));
  EXPECT_EQ(Proctor("verify piqa").code, 4);  // dev.jsonl missing
  Result all = Proctor("verify");             // only sets with files present count
  EXPECT_EQ(all.code, 4) << all.out;          // piqa is partly present

  // A second fetch finds gsm8k in place and does not download it again.
  Result again = Proctor(absl::StrCat("fetch gsm8k --base-url ", base_url_));
  EXPECT_EQ(again.code, 0) << again.err;
  EXPECT_THAT(again.out, HasSubstr("present"));

  // Damage on disk is caught.
  std::ofstream(root_ / "gsm8k/test.jsonl", std::ios::app) << "x";
  Result damaged = Proctor("verify gsm8k");
  EXPECT_EQ(damaged.code, 1);
  EXPECT_THAT(damaged.out, HasSubstr("mismatch"));

  Result list = Proctor("list");
  EXPECT_EQ(list.code, 0) << list.err;
  EXPECT_THAT(list.out, HasSubstr("siqa"));
  EXPECT_THAT(list.out, HasSubstr("present"));
  EXPECT_THAT(list.out, HasSubstr("partial"));  // piqa
}

TEST_F(DatasetsFetchTest, UnknownChecksumsAreLockedOrRefused) {
  Result strict = Proctor(
      absl::StrCat("fetch hellaswag --require-checksums --retries 1 --base-url ", base_url_));
  EXPECT_NE(strict.code, 0);
  EXPECT_THAT(strict.err, HasSubstr("--require-checksums"));
  EXPECT_FALSE(fs::exists(root_ / "hellaswag/hellaswag.jsonl"));

  Result tofu = Proctor(absl::StrCat("fetch hellaswag --retries 1 --base-url ", base_url_));
  EXPECT_EQ(tofu.code, 0) << tofu.out << tofu.err;
  EXPECT_THAT(tofu.err, HasSubstr("warning: hellaswag/hellaswag.jsonl has no upstream checksum"));
  EXPECT_THAT(ReadFile((root_ / ".proctor/datasets.lock").string()),
              HasSubstr("hellaswag/hellaswag.jsonl"));
  Result verify = Proctor("verify hellaswag");
  EXPECT_EQ(verify.code, 0);
  EXPECT_THAT(verify.out, HasSubstr("unverified"));
  EXPECT_EQ(Proctor("verify hellaswag --require-checksums").code, 1);
}

TEST_F(DatasetsFetchTest, UsageErrors) {
  EXPECT_EQ(Proctor("fetch nosuchset").code, 4);
  EXPECT_EQ(Proctor("fetch gsm8k --base-url file:///etc").code, 2);
  EXPECT_EQ(Proctor("frobnicate").code, 2);
  Result help = Proctor("fetch --help");
  EXPECT_EQ(help.code, 0);
  EXPECT_THAT(help.out, HasSubstr("--require-checksums"));
  EXPECT_THAT(help.out, Not(HasSubstr("usage: proctor datasets [--format")));
}

}  // namespace
}  // namespace proctor
