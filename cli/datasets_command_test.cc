#include "cli/datasets_command.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "cli/exit_codes.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace proctor::cli {
namespace {
namespace fs = std::filesystem;
using ::testing::HasSubstr;

class DatasetsCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / absl::StrCat("datasets-cmd-", getpid());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "src");
    root_ = (dir_ / "root").string();
  }
  int Run(std::vector<std::string> args) {
    out_.str("");
    err_.str("");
    return RunDatasetsCommand(args, out_, err_, root_, "");
  }
  fs::path dir_;
  std::string root_;
  std::ostringstream out_, err_;
};

TEST(MaybeRunLocalDatasetsCommand, RoutesCoordinatorListingsBack) {
  std::ostringstream out, err;
  std::vector<std::string> bare;
  EXPECT_EQ(MaybeRunLocalDatasetsCommand({}, &bare, out, err, "", ""), std::nullopt);
  std::vector<std::string> flags = {"--format", "csv"};
  EXPECT_EQ(MaybeRunLocalDatasetsCommand({}, &flags, out, err, "", ""), std::nullopt);
  EXPECT_EQ(flags.size(), 2u);
  std::vector<std::string> remote = {"list", "--format=json"};
  EXPECT_EQ(MaybeRunLocalDatasetsCommand({"--coordinator=h:1"}, &remote, out, err, "", ""),
            std::nullopt);
  EXPECT_EQ(remote, std::vector<std::string>{"--format=json"});  // "list" removed
  std::vector<std::string> remote2 = {"list", "--coordinator", "h:1"};
  EXPECT_EQ(MaybeRunLocalDatasetsCommand({}, &remote2, out, err, "", ""), std::nullopt);
  // Local verbs run here: without a data root they are usage errors.
  for (const char* verb : {"list", "fetch", "verify"}) {
    std::vector<std::string> args = {verb};
    EXPECT_EQ(MaybeRunLocalDatasetsCommand({}, &args, out, err, "", ""), kExitUsage) << verb;
  }
  EXPECT_THAT(err.str(), HasSubstr("PROCTOR_DATA_DIR"));
}

TEST_F(DatasetsCommandTest, ImportThenVerifyWithExitCodes) {
  const char* shared = std::getenv("PROCTOR_SHARED_DATA");
  std::string data = shared == nullptr ? "" : absl::StrCat(shared, "/datasets");
  if (data.empty() || !fs::is_directory(data)) GTEST_SKIP() << "no PROCTOR_SHARED_DATA";
  // The shared copy is itself a data root: import from it.
  EXPECT_EQ(Run({"import", data, "gsm8k", "piqa"}), kExitOk) << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("gsm8k"));
  EXPECT_EQ(Run({"verify", "gsm8k", "piqa"}), kExitOk) << out_.str();
  EXPECT_EQ(Run({"verify", "hellaswag"}), kExitNotFound);
  EXPECT_EQ(Run({"verify"}), kExitOk) << out_.str();  // only present sets count
  EXPECT_THAT(out_.str(), HasSubstr("missing"));      // but all are listed
  std::ofstream(fs::path(root_) / "piqa/dev-labels.lst", std::ios::app) << "1\n";
  EXPECT_EQ(Run({"verify", "piqa", "--format", "csv"}), kExitFailed);
  EXPECT_THAT(out_.str(), HasSubstr("piqa,mismatch,"));
  EXPECT_EQ(Run({"list"}), kExitOk);
  EXPECT_THAT(out_.str(), HasSubstr("present"));
  // Import from a directory that lacks a set: missing, exit 4.
  EXPECT_EQ(Run({"import", (dir_ / "src").string(), "boolq"}), kExitNotFound);
  EXPECT_FALSE(fs::exists(fs::path(root_) / "boolq/val.jsonl"));
}

TEST_F(DatasetsCommandTest, UsageErrors) {
  EXPECT_EQ(Run({"fetch", "--suite", "nope"}), kExitNotFound);
  EXPECT_EQ(Run({"fetch", "gsm8k", "--retries", "0"}), kExitUsage);
  EXPECT_EQ(Run({"fetch", "gsm8k", "--base-url", "ftp://m"}), kExitUsage);
  EXPECT_EQ(Run({"import"}), kExitUsage);
  EXPECT_EQ(Run({"list", "extra"}), kExitUsage);
  EXPECT_EQ(Run({"verify", "--format", "xml"}), kExitUsage);
  EXPECT_EQ(Run({"explode"}), kExitUsage);
  EXPECT_EQ(Run({"fetch", "--help"}), kExitOk);
  EXPECT_THAT(out_.str(), HasSubstr("--base-url"));
}

}  // namespace
}  // namespace proctor::cli
