#include "cli/model_command.h"

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace proctor::cli {
namespace {

int RunCmd(std::vector<std::string> args) {
  args.insert(args.begin(), "model");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  return RunModelCommand(static_cast<int>(argv.size()), argv.data());
}

std::string Stories() {
  const char* root = std::getenv("PROCTOR_SHARED_DATA");
  if (root == nullptr) return "";
  const std::string p = std::string(root) + "/models/stories260K/stories260K.gguf";
  return std::filesystem::exists(p) ? p : "";
}

TEST(ModelCommandTest, UsageErrors) {
  EXPECT_EQ(RunCmd({}), 2);
  EXPECT_EQ(RunCmd({"frobnicate", "x"}), 2);
  EXPECT_EQ(RunCmd({"info"}), 2);
  EXPECT_EQ(RunCmd({"generate", "m", "--max-tokens", "zero"}), 2);
  EXPECT_EQ(RunCmd({"info", "/nonexistent/model.gguf"}), 1);
}

TEST(ModelCommandTest, RunsEveryActionOnStories260K) {
  const std::string m = Stories();
  if (m.empty()) GTEST_SKIP() << "stories260K not found (set PROCTOR_SHARED_DATA)";
  ::testing::internal::CaptureStdout();
  EXPECT_EQ(RunCmd({"info", m}), 0);
  EXPECT_EQ(RunCmd({"tokenize", m, "Once upon a time"}), 0);
  EXPECT_EQ(RunCmd({"generate", m, "Once upon a time", "--max-tokens", "8", "--stop", "."}), 0);
  EXPECT_EQ(RunCmd({"score", m, "Once upon a", " time", " dog"}), 0);
  const std::string out = ::testing::internal::GetCapturedStdout();
  EXPECT_NE(out.find("dim=64"), std::string::npos) << out;
  EXPECT_NE(out.find("403\t"), std::string::npos) << out;
  EXPECT_NE(out.find("Once upon a time,"), std::string::npos) << out;
  EXPECT_NE(out.find("greedy\t time"), std::string::npos) << out;
  EXPECT_EQ(RunCmd({"tokenize", m}), 2);
}

}  // namespace
}  // namespace proctor::cli
