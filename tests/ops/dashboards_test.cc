// Dashboards and rules against live data: a real Prometheus server (Debian
// package) on loopback scrapes a real proctor-coordinator and proctor-worker
// (scripted engine) running a real run of the smoke suite; then
// promql_check.py executes every PromQL expression of every dashboard panel
// and every rule through the query API (see that script for the criteria).
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <regex>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/ops/ops_testing.h"
#include "tests/testing/cluster.h"

namespace proctor::testing {
namespace {

constexpr char kPrometheus[] = "/usr/bin/prometheus";
constexpr char kPython[] = "/usr/bin/python3";

// The worker prints "proctor-worker metrics on http://HOST:PORT/metrics".
int WorkerMetricsPort(TestCluster& cluster, const std::string& name, absl::Duration timeout) {
  const std::regex pattern(R"(metrics on http://[^:/]+:(\d+)/metrics)");
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    std::smatch match;
    const std::string log = cluster.WorkerLog(name);
    if (std::regex_search(log, match, pattern)) return std::stoi(match[1]);
    absl::SleepFor(absl::Milliseconds(50));
  }
  return 0;
}

class DashboardsTest : public ::testing::Test {};

TEST_F(DashboardsTest, EveryDashboardAndRuleQueryRunsOnLiveData) {
  if (BuildDir().empty()) GTEST_SKIP() << "PROCTOR_BUILD_DIR not set (run through ctest)";
  if (DatasetsDir().empty()) GTEST_SKIP() << "shared datasets not found (PROCTOR_SHARED_DATA)";
  if (::access(kPrometheus, X_OK) != 0 || ::access(kPython, X_OK) != 0) {
    GTEST_SKIP() << "SKIPPED: needs " << kPrometheus << " and " << kPython
                 << " (Debian packages prometheus, python3; scripts/install-deps)";
  }
  const char* source = std::getenv("PROCTOR_SOURCE_DIR");
  const char* check = std::getenv("PROCTOR_PROMQL_CHECK");
  ASSERT_TRUE(source != nullptr && check != nullptr) << "run through ctest";
  const std::string deploy = std::string(source) + "/deploy";

  TestCluster cluster(absl::StrCat(::testing::TempDir(), "/dashboards_test_", ::getpid()));
  const std::string metrics_port_file = cluster.dir() + "/coordinator.metrics_port";
  ASSERT_TRUE(cluster
                  .StartCoordinator({"--metrics_address=127.0.0.1:0",
                                     "--metrics_port_file=" + metrics_port_file,
                                     "--heartbeat_interval=300ms", "--job_token_budget=1500"})
                  .ok())
      << cluster.CoordinatorLog();
  int coordinator_metrics = 0;
  ASSERT_TRUE(ReadPortFile(metrics_port_file, absl::Seconds(10), &coordinator_metrics).ok());
  ASSERT_TRUE(cluster.StartWorker("w1", {"--metrics_address=127.0.0.1:0"}).ok());
  const int worker_metrics = WorkerMetricsPort(cluster, "w1", absl::Seconds(20));
  ASSERT_GT(worker_metrics, 0) << cluster.WorkerLog("w1");

  // Prometheus first, so that it sees the run from its start.
  const int prometheus_port = FreeLoopbackPort();
  ASSERT_GT(prometheus_port, 0);
  const std::string rules = deploy + "/prometheus/rules";
  const std::string config = cluster.dir() + "/prometheus.yml";
  ASSERT_TRUE(WriteFile(config, absl::StrCat(R"(global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - )",
                                             rules, R"(/recording.yml
  - )",
                                             rules, R"(/alerts.yml
scrape_configs:
  - job_name: proctor-coordinator
    static_configs:
      - targets: ["127.0.0.1:)",
                                             coordinator_metrics, R"("]
  - job_name: proctor-worker
    static_configs:
      - targets: ["127.0.0.1:)",
                                             worker_metrics, R"("]
)"))
                  .ok());
  Subprocess prometheus;
  ASSERT_TRUE(prometheus
                  .Start({kPrometheus, "--config.file=" + config,
                          "--storage.tsdb.path=" + cluster.dir() + "/tsdb",
                          absl::StrCat("--web.listen-address=127.0.0.1:", prometheus_port),
                          "--log.level=warn"},
                         cluster.dir() + "/prometheus.log")
                  .ok());

  v1::RunSpec spec;
  spec.mutable_model()->set_name("scripted-model");
  spec.set_suite("smoke");
  spec.set_limit(12);
  spec.set_seed(7);
  absl::StatusOr<v1::Run> run = cluster.Submit(spec);
  ASSERT_TRUE(run.ok()) << run.status();
  absl::StatusOr<v1::Run> done = cluster.WaitForRun(run->run_id(), absl::Seconds(60));
  ASSERT_TRUE(done.ok()) << done.status();
  ASSERT_EQ(done->state(), v1::RUN_STATE_SUCCEEDED);

  const std::string output = cluster.dir() + "/promql_check.log";
  absl::Status checked =
      RunCommand({kPython, check, absl::StrCat("--prometheus=http://127.0.0.1:", prometheus_port),
                  "--dashboards=" + deploy + "/grafana/dashboards", "--rules",
                  rules + "/recording.yml", rules + "/alerts.yml", "--timeout=40"},
                 output, absl::Seconds(60));
  // Visible in the test log either way, SKIPPED lines included.
  std::printf("%s", ReadFileOrEmpty(output).c_str());
  EXPECT_TRUE(checked.ok()) << "prometheus log:\n"
                            << ReadFileOrEmpty(cluster.dir() + "/prometheus.log");
  prometheus.Signal(SIGTERM);
  int status = 0;
  prometheus.Wait(absl::Seconds(10), &status).IgnoreError();
  if (!HasFailure()) std::filesystem::remove_all(cluster.dir() + "/tsdb");
}

}  // namespace
}  // namespace proctor::testing
