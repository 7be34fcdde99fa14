// The proctor-worker binary as a process: flags, the "registered" line,
// signals (drain, second signal), exit codes and the metrics endpoint,
// against the in-test FakeCoordinator.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "worker/fake_worker_service.h"

namespace proctor::worker {
namespace {

std::string WorkerBinary() {
  const char* dir = std::getenv("PROCTOR_BUILD_DIR");
  return dir == nullptr ? "" : absl::StrCat(dir, "/bin/proctor-worker");
}

// A child proctor-worker with its stdout on a pipe (stderr is inherited).
class WorkerProcess {
 public:
  explicit WorkerProcess(const std::vector<std::string>& args) {
    const std::string binary = WorkerBinary();
    // Built before fork: the child may only make async-signal-safe calls.
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(binary.c_str()));
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    int fds[2];
    if (pipe(fds) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], STDOUT_FILENO);
      close(fds[0]);
      close(fds[1]);
      execv(binary.c_str(), argv.data());
      _exit(127);
    }
    close(fds[1]);
    stdout_fd_ = fds[0];
  }

  ~WorkerProcess() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (stdout_fd_ >= 0) close(stdout_fd_);
  }

  // Returns the first stdout line containing `needle`, or nullopt after `limit`.
  std::optional<std::string> WaitForLine(const std::string& needle,
                                         absl::Duration limit = absl::Seconds(5)) {
    const absl::Time end = absl::Now() + limit;
    while (true) {
      size_t newline;
      while ((newline = buffer_.find('\n')) != std::string::npos) {
        std::string line = buffer_.substr(0, newline);
        buffer_.erase(0, newline + 1);
        if (absl::StrContains(line, needle)) return line;
      }
      const absl::Duration left = end - absl::Now();
      if (left <= absl::ZeroDuration()) return std::nullopt;
      pollfd p{stdout_fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1) <= 0) continue;
      char chunk[4096];
      const ssize_t n = read(stdout_fd_, chunk, sizeof(chunk));
      if (n <= 0) return std::nullopt;
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

  void Signal(int sig) { kill(pid_, sig); }

  // The exit code, or -1 when the process has not exited within `limit`.
  int WaitExit(absl::Duration limit) {
    const absl::Time end = absl::Now() + limit;
    while (absl::Now() < end) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  bool exited_ = false;
  std::string buffer_;
};

// GET http://127.0.0.1:port/metrics; returns the body (empty on error).
std::string HttpGetMetrics(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    const std::string request = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
      char chunk[4096];
      ssize_t n;
      while ((n = read(fd, chunk, sizeof(chunk))) > 0) response.append(chunk, n);
    }
  }
  close(fd);
  return response;
}

class WorkerMainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access(WorkerBinary().c_str(), X_OK) != 0) {
      GTEST_SKIP() << "proctor-worker binary not found (PROCTOR_BUILD_DIR=" << WorkerBinary()
                   << "); run through ctest after building it";
    }
    ASSERT_TRUE(coordinator_.ok());
  }

  std::vector<std::string> Args(std::vector<std::string> extra) {
    std::vector<std::string> args = {"--coordinator=" + coordinator_.address(), "--name=test-a",
                                     "--lease_wait=200ms", "--rpc_timeout=2s"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  bool WaitFor(const std::function<bool()>& pred) {
    const absl::Time end = absl::Now() + absl::Seconds(5);
    while (absl::Now() < end) {
      {
        absl::MutexLock lock(&service_.mu);
        if (pred()) return true;
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
    return false;
  }

  void AddJob(v1::Job job) {
    absl::MutexLock lock(&service_.mu);
    service_.jobs.push_back(std::move(job));
  }

  FakeCoordinator coordinator_;
  FakeWorkerService& service_ = coordinator_.service();
};

TEST_F(WorkerMainTest, PrintsItsIdAndFinishesTheJobOnSigterm) {
  AddJob(MakeTestJob(1, 30));
  WorkerProcess worker(Args({"--scripted_delay_ms=10"}));
  const auto line = worker.WaitForLine("registered");
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ(*line, "proctor-worker registered worker_id=w-1 name=test-a");
  ASSERT_TRUE(WaitFor([&] { return !service_.report_messages.empty(); }));  // the job runs
  worker.Signal(SIGTERM);
  EXPECT_EQ(worker.WaitExit(absl::Seconds(3)), 0);
  absl::MutexLock lock(&service_.mu);
  EXPECT_TRUE(service_.completed.contains(1));
  EXPECT_EQ(service_.received.size(), 30u);
  EXPECT_EQ(service_.registers[0].capabilities().backend(), "scripted");
  EXPECT_FALSE(service_.registers[0].capabilities().version().empty());
}

TEST_F(WorkerMainTest, SecondSignalHandsTheJobBackAtOnce) {
  AddJob(MakeTestJob(2, 500));
  WorkerProcess worker(Args({"--scripted_delay_ms=10", "--drain_timeout=60s"}));
  ASSERT_TRUE(worker.WaitForLine("registered").has_value());
  ASSERT_TRUE(WaitFor([&] { return !service_.report_messages.empty(); }));
  worker.Signal(SIGINT);
  absl::SleepFor(absl::Milliseconds(50));
  worker.Signal(SIGTERM);
  EXPECT_EQ(worker.WaitExit(absl::Seconds(2)), 0);
  absl::MutexLock lock(&service_.mu);
  EXPECT_TRUE(service_.released.contains(2));
  EXPECT_FALSE(service_.completed.contains(2));
}

TEST_F(WorkerMainTest, CorruptModelIsReportedAsFailedPrecondition) {
  AddJob(MakeTestJob(3, 5));
  WorkerProcess worker(Args({"--scripted_fail_model_load"}));
  ASSERT_TRUE(WaitFor([&] { return service_.failures.contains(3); }));
  worker.Signal(SIGTERM);
  EXPECT_EQ(worker.WaitExit(absl::Seconds(3)), 0);
  absl::MutexLock lock(&service_.mu);
  EXPECT_EQ(service_.failures.at(3).code(),
            static_cast<int>(absl::StatusCode::kFailedPrecondition));
}

TEST_F(WorkerMainTest, ServesMetrics) {
  AddJob(MakeTestJob(4, 3));
  WorkerProcess worker(Args({"--metrics_address=127.0.0.1:0"}));
  const auto line = worker.WaitForLine("metrics on http://");
  ASSERT_TRUE(line.has_value());
  const size_t colon = line->rfind(':');
  int port = 0;
  ASSERT_TRUE(absl::SimpleAtoi(line->substr(colon + 1, line->find('/', colon) - colon - 1), &port))
      << *line;
  ASSERT_TRUE(WaitFor([&] { return service_.completed.contains(4); }));
  // The job's metrics are counted once the pull loop has seen the job end.
  std::string body;
  for (int i = 0; i < 100; ++i) {
    body = HttpGetMetrics(port);
    if (absl::StrContains(body, "proctor_worker_jobs_total{result=\"completed\"} 1")) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_TRUE(absl::StrContains(body, "proctor_worker_jobs_total{result=\"completed\"} 1")) << body;
  EXPECT_TRUE(absl::StrContains(body, "proctor_worker_requests_total{kind=\"loglikelihood\"} 3"));
  EXPECT_TRUE(absl::StrContains(body, "proctor_worker_models_loaded 1"));
  worker.Signal(SIGTERM);
  EXPECT_EQ(worker.WaitExit(absl::Seconds(5)), 0);
}

TEST_F(WorkerMainTest, BadFlagsExitWithAMessage) {
  {
    WorkerProcess worker({"--name=x"});
    EXPECT_EQ(worker.WaitExit(absl::Seconds(5)), 2);
  }
  {
    WorkerProcess worker(Args({"--backend=tpu"}));
    EXPECT_EQ(worker.WaitExit(absl::Seconds(5)), 2);
  }
  {
    WorkerProcess worker(Args({"--max_models=0"}));
    EXPECT_EQ(worker.WaitExit(absl::Seconds(5)), 2);
  }
}

}  // namespace
}  // namespace proctor::worker
