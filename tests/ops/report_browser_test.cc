// Reports in a real browser (docs/report.md): a real proctor-coordinator with
// the report endpoint on, a scripted proctor-worker, two small runs of the
// smoke suite by two "models"; the report rendered by `proctor report` (CLI)
// and served by the endpoint is loaded by headless Chromium (Debian package
// `chromium`), and the dumped DOM must hold the radar polygons, the bars, the
// tables and exactly the numbers the API returns. The screenshot is kept as
// <build>/Testing/artifacts/report.png.
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "tests/ops/ops_testing.h"
#include "tests/testing/cluster.h"

namespace proctor::testing {
namespace {

constexpr char kChromium[] = "/usr/bin/chromium";

std::string Fixed2(double v) { return absl::StrFormat("%.2f", v); }

std::string SignedFixed2(double v) {
  const double rounded = std::round(v * 100) / 100;
  return absl::StrFormat("%+.2f", rounded == 0 ? 0.0 : rounded);
}

// Loads `url` in headless Chromium: the serialised DOM with --dump-dom, or a
// screenshot. Returns the DOM (or "" for a screenshot).
absl::StatusOr<std::string> Chromium(const std::string& dir, const std::string& url,
                                     const std::string& screenshot = "") {
  const std::string out = dir + (screenshot.empty() ? "/dom.html" : "/screenshot.out");
  std::string command =
      absl::StrCat(kChromium,
                   " --headless --no-sandbox --disable-gpu --disable-dev-shm-usage "
                   "--no-first-run --disable-extensions --user-data-dir=",
                   dir, "/chromium-profile ");
  if (screenshot.empty()) {
    absl::StrAppend(&command, "--dump-dom '", url, "'");
  } else {
    absl::StrAppend(&command, "--screenshot=", screenshot, " --window-size=1280,2000 '", url, "'");
  }
  absl::StrAppend(&command, " > ", out, " 2> ", dir, "/chromium.log");
  absl::Status s = RunCommand({"/bin/sh", "-c", command}, dir + "/sh.log", absl::Seconds(120));
  if (!s.ok()) {
    return absl::InternalError(
        absl::StrCat(s.message(), "\n", ReadFileOrEmpty(dir + "/chromium.log")));
  }
  return screenshot.empty() ? ReadFileOrEmpty(out) : std::string();
}

int Count(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) {
    ++n;
  }
  return n;
}

// The text of the value span of score cell (run, key) in the DOM, or
// "<absent>".
std::string CellValue(const std::string& dom, const std::string& run, const std::string& key) {
  const size_t cell = dom.find(absl::StrCat("data-run=\"", run, "\" data-key=\"", key, "\""));
  if (cell == std::string::npos) return "<absent>";
  const std::string open = "<span class=\"v\">";
  const size_t v = dom.find(open, cell);
  const size_t end = dom.find("</td>", cell);
  if (v == std::string::npos || v > end) return "<absent>";
  const size_t start = v + open.size();
  return dom.substr(start, dom.find('<', start) - start);
}

// Checks one rendered report against the API's results and comparison.
void CheckDom(const std::string& what, const std::string& dom, const std::vector<v1::Results>& runs,
              const v1::Comparison& comparison) {
  SCOPED_TRACE(what);
  ASSERT_NE(dom.find("</html>"), std::string::npos) << dom.substr(0, 500);
  for (const char* id : {"id=\"summary-table\"", "id=\"sets-table\"", "<svg class=\"radar\"",
                         "<svg class=\"bars\"", "class=\"compare-sets\""}) {
    EXPECT_NE(dom.find(id), std::string::npos) << id;
  }
  // Radar: one outline per run (3+ dimensions with a score each: polygon).
  EXPECT_EQ(Count(dom, "<polygon class=\"radar-series\""), 2);
  int expected_bars = 0;
  int expected_points = 0;
  int expected_whiskers = 0;  // a zero standard error draws no whisker
  for (const v1::Results& r : runs) {
    for (const v1::SetResult& s : r.sets()) {
      ASSERT_FALSE(s.metrics().empty()) << s.dataset();
      double value = s.metrics(0).value();
      for (const v1::MetricValue& m : s.metrics()) {
        if (m.name() == s.primary_metric()) value = m.value();
      }
      double stderr_ = 0;
      for (const v1::MetricValue& m : s.metrics()) {
        if (m.name() == s.primary_metric() && m.has_stderr()) stderr_ = m.stderr();
      }
      if (s.num_samples() > 0) ++expected_bars;
      if (s.num_samples() > 0 && stderr_ > 0) ++expected_whiskers;
      EXPECT_EQ(CellValue(dom, r.run_id(), "set:" + s.dataset()), Fixed2(value))
          << r.run_id() << " " << s.dataset();
    }
    for (const v1::GroupResult& d : r.dimensions()) {
      const bool scored = d.complete() || d.has_stderr();
      EXPECT_EQ(CellValue(dom, r.run_id(), "dim:" + d.name()), scored ? Fixed2(d.score()) : "–")
          << r.run_id() << " " << d.name();
      if (scored && d.name() != "Safety") ++expected_points;
    }
    EXPECT_EQ(
        CellValue(dom, r.run_id(), "overall"),
        r.overall().complete() || r.overall().has_stderr() ? Fixed2(r.overall().score()) : "–");
  }
  EXPECT_EQ(Count(dom, "<rect class=\"bar "), expected_bars);
  EXPECT_EQ(Count(dom, "class=\"errorbar\""), expected_whiskers);
  EXPECT_GT(expected_whiskers, 0);
  EXPECT_EQ(Count(dom, "<circle class=\"radar-point "), expected_points);
  EXPECT_GE(expected_points, 6);
  // Comparison: every set's delta as the API computed it.
  for (const v1::SetComparison& s : comparison.sets()) {
    const size_t block = dom.find("class=\"compare-sets\"");
    ASSERT_NE(block, std::string::npos);
    const size_t row = dom.find(absl::StrCat("<tr data-set=\"", s.dataset(), "\">"), block);
    ASSERT_NE(row, std::string::npos) << s.dataset();
    const size_t row_end = dom.find("</tr>", row);
    const std::string open = "<td class=\"num delta\">";
    const size_t cell = dom.find(open, row);
    ASSERT_LT(cell, row_end) << s.dataset();
    const size_t start = cell + open.size();
    const std::string delta = dom.substr(start, dom.find('<', start) - start);
    EXPECT_EQ(delta, s.outcome() == "none" ? "–" : SignedFixed2(s.delta())) << s.dataset();
  }
  EXPECT_NE(dom.find(absl::StrCat(comparison.wins(), " win</span>, ", comparison.ties(),
                                  " tie, <span class=\"loss\">", comparison.losses(), " loss")),
            std::string::npos);
}

TEST(ReportBrowserTest, CliAndEndpointReportsMatchTheApiInChromium) {
  if (BuildDir().empty()) GTEST_SKIP() << "PROCTOR_BUILD_DIR not set (run through ctest)";
  if (DatasetsDir().empty()) GTEST_SKIP() << "shared datasets not found (PROCTOR_SHARED_DATA)";
  if (::access(kChromium, X_OK) != 0) {
    GTEST_SKIP() << "SKIPPED: needs " << kChromium
                 << " (Debian package chromium; scripts/install-deps)";
  }
  // Declared before the cluster, so it runs after the processes are gone:
  // the directory (store, logs, reports) stays only when the test failed.
  struct RemoveOnSuccess {
    std::string dir;
    ~RemoveOnSuccess() {
      if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir);
    }
  } cleanup{absl::StrCat(::testing::TempDir(), "/report_browser_test_", ::getpid())};
  TestCluster cluster(cleanup.dir);
  const std::string report_port_file = cluster.dir() + "/coordinator.report_port";
  ASSERT_TRUE(cluster
                  .StartCoordinator({"--report_address=127.0.0.1:0",
                                     "--report_port_file=" + report_port_file,
                                     "--heartbeat_interval=300ms", "--job_token_budget=1500"})
                  .ok())
      << cluster.CoordinatorLog();
  int report_port = 0;
  ASSERT_TRUE(ReadPortFile(report_port_file, absl::Seconds(10), &report_port).ok());
  ASSERT_GT(report_port, 0);
  ASSERT_TRUE(cluster.StartWorker("w1").ok());

  std::vector<std::string> ids;
  for (const char* model : {"scripted-alpha", "scripted-beta"}) {
    v1::RunSpec spec;
    spec.mutable_model()->set_name(model);
    spec.set_suite("smoke");
    spec.set_limit(12);
    spec.set_seed(7);
    absl::StatusOr<v1::Run> run = cluster.Submit(spec);
    ASSERT_TRUE(run.ok()) << run.status();
    ids.push_back(run->run_id());
  }
  std::vector<v1::Results> results;
  for (const std::string& id : ids) {
    absl::StatusOr<v1::Run> done = cluster.WaitForRun(id, absl::Seconds(90));
    ASSERT_TRUE(done.ok()) << done.status();
    ASSERT_EQ(done->state(), v1::RUN_STATE_SUCCEEDED) << cluster.WorkerLog("w1");
    absl::StatusOr<v1::Results> r = cluster.Results(id);
    ASSERT_TRUE(r.ok()) << r.status();
    results.push_back(*r);
  }
  v1::Comparison comparison;
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::CompareRunsRequest request;
    request.set_run_a(ids[0]);
    request.set_run_b(ids[1]);
    grpc::Status s = cluster.evaluation()->CompareRuns(&context, request, &comparison);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  ASSERT_GT(comparison.sets_size(), 0);

  // The CLI writes the three files.
  const std::string out = cluster.dir() + "/cli-report";
  ASSERT_TRUE(RunCommand({BuildDir() + "/bin/proctor",
                          absl::StrCat("--coordinator=127.0.0.1:", cluster.port()), "report",
                          ids[0], ids[1], "--out", out},
                         cluster.dir() + "/cli.log")
                  .ok())
      << ReadFileOrEmpty(cluster.dir() + "/cli.log");
  for (const char* name : {"report.html", "report.md", "report.csv"}) {
    EXPECT_TRUE(std::filesystem::exists(out + "/" + name)) << name;
  }
  EXPECT_NE(ReadFileOrEmpty(cluster.dir() + "/cli.log").find(out + "/report.html"),
            std::string::npos);

  absl::StatusOr<std::string> cli_dom = Chromium(cluster.dir(), "file://" + out + "/report.html");
  ASSERT_TRUE(cli_dom.ok()) << cli_dom.status();
  CheckDom("CLI report", *cli_dom, results, comparison);

  const std::string url = absl::StrCat("http://127.0.0.1:", report_port, "/runs/", ids[0],
                                       "/report.html?compare=", ids[1]);
  absl::StatusOr<std::string> http_dom = Chromium(cluster.dir(), url);
  ASSERT_TRUE(http_dom.ok()) << http_dom.status();
  CheckDom("HTTP report", *http_dom, results, comparison);

  absl::StatusOr<std::string> index =
      Chromium(cluster.dir(), absl::StrCat("http://127.0.0.1:", report_port, "/"));
  ASSERT_TRUE(index.ok()) << index.status();
  for (const std::string& id : ids) {
    EXPECT_NE(index->find(absl::StrCat("href=\"runs/", id, "/report.html\"")), std::string::npos);
  }

  // The screenshot is the artifact people look at.
  const std::string artifacts = BuildDir() + "/Testing/artifacts";
  std::filesystem::create_directories(artifacts);
  const std::string png = artifacts + "/report.png";
  std::filesystem::remove(png);
  ASSERT_TRUE(Chromium(cluster.dir(), url, png).ok());
  ASSERT_TRUE(std::filesystem::exists(png));
  EXPECT_GT(std::filesystem::file_size(png), 10'000u);
  std::printf("screenshot: %s\n", png.c_str());
}

}  // namespace
}  // namespace proctor::testing
