// The sandbox against real hostile programs. Every test leaves no process
// behind (checked by scanning /proc for the sandbox's python command line).
#include "worker/sandbox/sandbox.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace proctor::sandbox {
namespace {

using ::testing::HasSubstr;

// The parent of this test process's private sandbox directories: unique per
// process, so that sandboxes run at the same time by other tests (judge jobs
// in tests/judge_test, a fork bomb included) are not counted here.
const std::string& TestTempRoot() {
  static const std::string* root = [] {
    auto* r = new std::string(absl::StrCat(std::filesystem::temp_directory_path().string(),
                                           "/proctor-sandbox-test-", getpid()));
    std::filesystem::create_directories(*r);
    std::filesystem::permissions(*r, std::filesystem::perms(0755));
    return r;
  }();
  return *root;
}

// Live processes started by this test's sandboxes: the sandbox's python
// invocation (and any child it forked), recognised by HOME under
// TestTempRoot() in their environment.
int CountSandboxProcesses() {
  int n = 0;
  const std::string home = "HOME=" + TestTempRoot() + "/";
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(e.path() / "environ", std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    const std::string env = std::string(1, '\0') + s.str();
    if (env.find(std::string(1, '\0') + home) != std::string::npos) ++n;
  }
  return n;
}

class SandboxTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    SandboxOptions options;
    options.temp_root = TestTempRoot();
    absl::StatusOr<std::unique_ptr<Sandbox>> s = Sandbox::Create(options);
    ASSERT_TRUE(s.ok()) << s.status();
    sandbox_ = s->release();
  }
  static void TearDownTestSuite() {
    delete sandbox_;
    sandbox_ = nullptr;
    std::error_code ec;
    std::filesystem::remove(TestTempRoot(), ec);  // empty by now: each run removes its dir
  }
  void TearDown() override {
    EXPECT_EQ(CountSandboxProcesses(), 0) << "a sandboxed process survived its run";
  }
  static SandboxResult MustRun(const std::string& program, SandboxLimits limits = {}) {
    absl::StatusOr<SandboxResult> r = sandbox_->Run(program, limits);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : SandboxResult{};
  }
  static Sandbox* sandbox_;
};
Sandbox* SandboxTest::sandbox_ = nullptr;

TEST_F(SandboxTest, ReportsIsolationHonestly) {
  // This project's machines permit user namespaces; elsewhere the sandbox
  // must say it runs without them rather than pretend.
  SandboxResult r = MustRun("print('hi')\n");
  EXPECT_EQ(r.network_isolated, sandbox_->network_isolated());
  if (!sandbox_->network_isolated()) GTEST_SKIP() << "user namespaces not permitted here";
  EXPECT_TRUE(r.filesystem_readonly);
}

TEST_F(SandboxTest, PassingProgram) {
  SandboxResult r =
      MustRun("def add(a, b):\n    return a + b\nassert add(2, 3) == 5\nprint('ok')\n");
  EXPECT_EQ(r.outcome, Outcome::kPassed) << r.stderr_tail;
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.stdout_head, "ok\n");
  EXPECT_GT(r.wall_time, absl::ZeroDuration());
}

TEST_F(SandboxTest, FailingProgram) {
  SandboxResult r = MustRun("def add(a, b):\n    return a - b\nassert add(2, 3) == 5\n");
  EXPECT_EQ(r.outcome, Outcome::kFailed);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.stderr_tail, HasSubstr("AssertionError"));
  EXPECT_EQ(MustRun("this is not python\n").outcome, Outcome::kFailed);
  EXPECT_EQ(MustRun("import os\nos.kill(os.getpid(), 6)\n").outcome, Outcome::kSignal);
}

TEST_F(SandboxTest, InfiniteLoopTimesOut) {
  SandboxLimits limits;
  limits.timeout = absl::Milliseconds(800);
  SandboxResult r = MustRun("while True:\n    pass\n", limits);
  EXPECT_EQ(r.outcome, Outcome::kTimeout);
  EXPECT_GE(r.wall_time, absl::Milliseconds(800));
  EXPECT_LT(r.wall_time, absl::Seconds(6));
}

TEST_F(SandboxTest, SleepingChildrenDoNotOutliveTheRun) {
  // The program exits at once but leaves a detached child that holds
  // stdout; the run must still end promptly and kill it. Only the pid
  // namespace can promise that (a setsid() child leaves the process group).
  if (!sandbox_->network_isolated()) GTEST_SKIP() << "no pid namespace on this host";
  SandboxLimits limits;
  limits.timeout = absl::Seconds(20);
  SandboxResult r = MustRun(
      "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(60)\n"
      "print('parent done')\n",
      limits);
  EXPECT_EQ(r.outcome, Outcome::kPassed);
  EXPECT_LT(r.wall_time, absl::Seconds(10)) << "the run waited for the orphan";
}

TEST_F(SandboxTest, ProcessCountIsCapped) {
  SandboxLimits limits;
  limits.max_processes = 8;
  SandboxResult r = MustRun(
      "import os, time\nn = 0\ntry:\n    while n < 10000:\n        if os.fork() == 0:\n"
      "            time.sleep(60)\n            os._exit(0)\n        n += 1\n"
      "except OSError:\n    print(n)\n    raise SystemExit(4)\n",
      limits);
  EXPECT_EQ(r.outcome, Outcome::kFailed) << r.stderr_tail;
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_LT(std::stoi(r.stdout_head.empty() ? "99999" : r.stdout_head), 8);
}

TEST_F(SandboxTest, ForkBombIsContained) {
  SandboxLimits limits;
  limits.timeout = absl::Seconds(1);
  limits.max_processes = 16;
  SandboxResult r = MustRun(
      "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
      limits);
  EXPECT_NE(r.outcome, Outcome::kPassed);
  EXPECT_LT(r.wall_time, absl::Seconds(8));
  // TearDown checks that nothing of the bomb is left.
}

TEST_F(SandboxTest, MemoryHogHitsTheLimit) {
  SandboxLimits limits;
  limits.memory_bytes = int64_t{256} << 20;
  SandboxResult r = MustRun("x = bytearray(1 << 30)\nprint(len(x))\n", limits);
  EXPECT_EQ(r.outcome, Outcome::kResourceLimit) << r.stderr_tail;
  EXPECT_THAT(r.stderr_tail, HasSubstr("MemoryError"));
}

TEST_F(SandboxTest, CpuLimitStopsABusyLoop) {
  SandboxLimits limits;
  limits.timeout = absl::Seconds(30);  // far above 1 s of CPU even on a loaded machine
  limits.cpu_seconds = 1;
  SandboxResult r = MustRun("while True:\n    pass\n", limits);
  EXPECT_EQ(r.outcome, Outcome::kResourceLimit);
}

TEST_F(SandboxTest, FileSizeIsCapped) {
  SandboxLimits limits;
  limits.file_size_bytes = 1 << 20;
  SandboxResult r =
      MustRun("with open('big', 'wb') as f:\n    f.write(b'x' * (4 << 20))\n", limits);
  EXPECT_EQ(r.outcome, Outcome::kResourceLimit) << r.stderr_tail;
}

TEST_F(SandboxTest, WritesOutsideThePrivateDirectoryDoNotLand) {
  const std::string outside = absl::StrCat("/tmp/proctor-sandbox-escape-", getpid());
  std::filesystem::remove(outside);
  const std::string program = absl::StrCat(
      "import os, sys\n"
      "home = os.path.expanduser('~')\n"
      "assert home == os.getcwd(), (home, os.getcwd())\n"
      "assert os.environ['TMPDIR'] == os.getcwd()\n"
      "open(os.path.join(home, 'in-home'), 'w').write('fine')\n"
      "try:\n"
      "    open('",
      outside,
      "', 'w').write('escaped')\n"
      "except OSError as e:\n"
      "    print('blocked', e.errno)\n"
      "    sys.exit(0)\n"
      "print('written')\n");
  SandboxResult r = MustRun(program);
  EXPECT_EQ(r.outcome, Outcome::kPassed) << r.stderr_tail;
  if (sandbox_->network_isolated()) {
    EXPECT_THAT(r.stdout_head, HasSubstr("blocked"));
    EXPECT_FALSE(std::filesystem::exists(outside)) << "the program wrote " << outside;
  }
  std::filesystem::remove(outside);
}

TEST_F(SandboxTest, PrivateDirectoryIsGoneAfterwards) {
  SandboxResult r = MustRun(
      "import os\nos.makedirs('a/b')\nopen('a/b/f', 'w').write('x')\nos.chmod('a', 0)\n"
      "print(os.getcwd())\n");
  ASSERT_EQ(r.outcome, Outcome::kPassed) << r.stderr_tail;
  std::string dir = r.stdout_head;
  while (!dir.empty() && dir.back() == '\n') dir.pop_back();
  EXPECT_THAT(dir, HasSubstr("proctor-sandbox-"));
  EXPECT_FALSE(std::filesystem::exists(dir)) << dir;
}

TEST_F(SandboxTest, LoopbackConnectionFails) {
  if (!sandbox_->network_isolated()) GTEST_SKIP() << "no network namespace on this host";
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(listener, 4), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int port = ntohs(addr.sin_port);
  SandboxResult r =
      MustRun(absl::StrCat("import socket\ns = socket.socket()\ns.settimeout(1)\n"
                           "s.connect(('127.0.0.1', ",
                           port, "))\ns.sendall(b'escaped')\nprint('connected')\n"));
  EXPECT_EQ(r.outcome, Outcome::kFailed);
  EXPECT_THAT(r.stderr_tail, HasSubstr("Error"));
  EXPECT_EQ(accept(listener, nullptr, nullptr), -1) << "the sandbox reached the test's listener";
  close(listener);
}

TEST_F(SandboxTest, HugeOutputIsTruncated) {
  SandboxLimits limits;
  limits.max_output_bytes = 1000;
  SandboxResult r = MustRun(
      "import sys\nsys.stdout.write('o' * (8 << 20))\nsys.stderr.write('e' * (8 << 20) + 'END')\n",
      limits);
  EXPECT_EQ(r.outcome, Outcome::kPassed);
  EXPECT_TRUE(r.output_truncated);
  EXPECT_EQ(r.stdout_head.size(), 1000u);
  EXPECT_EQ(r.stderr_tail.size(), 1000u);
  EXPECT_THAT(r.stderr_tail, ::testing::EndsWith("END"));
}

TEST_F(SandboxTest, ParallelRunsDoNotWaitForEachOther) {
  std::vector<std::thread> threads;
  std::vector<SandboxResult> results(4);
  const absl::Time start = absl::Now();
  for (size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([i, &results] {
      SandboxLimits limits;
      limits.timeout = absl::Seconds(i == 0 ? 10 : 30);
      // One hangs until killed; the others finish at once.
      results[i] = MustRun(i == 0 ? "while True: pass\n" : "print(1)\n", limits);
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(results[0].outcome, Outcome::kTimeout);
  for (size_t i = 1; i < results.size(); ++i) {
    EXPECT_EQ(results[i].outcome, Outcome::kPassed);
    EXPECT_LT(results[i].wall_time, absl::Seconds(8)) << "run " << i << " waited for run 0";
  }
  EXPECT_LT(absl::Now() - start, absl::Seconds(14));
}

TEST_F(SandboxTest, RejectsBadInput) {
  EXPECT_EQ(sandbox_->Run(std::string("print(1)\0", 9), {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  SandboxLimits bad;
  bad.timeout = absl::ZeroDuration();
  EXPECT_EQ(sandbox_->Run("print(1)\n", bad).status().code(), absl::StatusCode::kInvalidArgument);
  bad = {};
  bad.memory_bytes = 1;
  EXPECT_EQ(sandbox_->Run("print(1)\n", bad).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(sandbox_->Run(std::string((8 << 20) + 1, '#'), {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SandboxCreateTest, FallbackWithoutNamespacesSaysSo) {
  SandboxOptions options;
  options.use_namespaces = false;
  absl::StatusOr<std::unique_ptr<Sandbox>> s = Sandbox::Create(options);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_FALSE((*s)->network_isolated());
  absl::StatusOr<SandboxResult> r = (*s)->Run("assert 1 + 1 == 2\n", {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outcome, Outcome::kPassed) << r->stderr_tail;
  EXPECT_FALSE(r->network_isolated);
  EXPECT_FALSE(r->filesystem_readonly);
  SandboxLimits limits;
  limits.timeout = absl::Milliseconds(500);
  r = (*s)->Run("while True: pass\n", limits);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outcome, Outcome::kTimeout);
}

TEST(SandboxCreateTest, MissingPythonIsAClearError) {
  SandboxOptions options;
  options.python = "/nonexistent/python3";
  EXPECT_EQ(Sandbox::Create(options).status().code(), absl::StatusCode::kFailedPrecondition);
  options.python = "python3";
  EXPECT_EQ(Sandbox::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace proctor::sandbox
