#include "cli/progress.h"

#include "gtest/gtest.h"

namespace proctor::cli {
namespace {

namespace pb = ::proctor::v1;

pb::Run MakeRun(pb::RunState state, int64_t jobs_done, int64_t jobs_total, int64_t req_done,
                int64_t req_total) {
  pb::Run run;
  run.set_run_id("r-1");
  run.set_state(state);
  run.mutable_progress()->set_jobs_done(jobs_done);
  run.mutable_progress()->set_jobs_total(jobs_total);
  run.mutable_progress()->set_requests_done(req_done);
  run.mutable_progress()->set_requests_total(req_total);
  return run;
}

TEST(RunFractionTest, PrefersRequestsThenJobs) {
  EXPECT_DOUBLE_EQ(RunFraction(MakeRun(pb::RUN_STATE_RUNNING, 1, 4, 450, 1000)), 0.45);
  EXPECT_DOUBLE_EQ(RunFraction(MakeRun(pb::RUN_STATE_RUNNING, 1, 4, 0, 0)), 0.25);
  pb::Run failed_jobs = MakeRun(pb::RUN_STATE_RUNNING, 1, 4, 0, 0);
  failed_jobs.mutable_progress()->set_jobs_failed(1);
  EXPECT_DOUBLE_EQ(RunFraction(failed_jobs), 0.5);
  EXPECT_DOUBLE_EQ(RunFraction(MakeRun(pb::RUN_STATE_QUEUED, 0, 0, 0, 0)), 0);
  EXPECT_DOUBLE_EQ(RunFraction(MakeRun(pb::RUN_STATE_SUCCEEDED, 0, 0, 0, 0)), 1);
  // Inconsistent counts from a server are clamped, not trusted.
  EXPECT_DOUBLE_EQ(RunFraction(MakeRun(pb::RUN_STATE_RUNNING, 0, 0, 5, 3)), 1);
  EXPECT_DOUBLE_EQ(RunFraction(MakeRun(pb::RUN_STATE_RUNNING, 0, 0, -5, 3)), 0);
}

TEST(FormatPercentTest, NeverRoundsUpTo100) {
  EXPECT_EQ(FormatPercent(0), "0.0%");
  EXPECT_EQ(FormatPercent(0.45), "45.0%");
  EXPECT_EQ(FormatPercent(0.9999), "99.9%");
  EXPECT_EQ(FormatPercent(1), "100%");
}

TEST(RenderProgressBarTest, FitsTheWidth) {
  const pb::Run run = MakeRun(pb::RUN_STATE_RUNNING, 9, 20, 4500, 10000);
  EXPECT_EQ(RenderProgressBar(run, 80),
            "running    [############................]  45.0%  jobs 9/20  requests 4500/10000");
  EXPECT_EQ(RenderProgressBar(run, 80).size(), 80u);
  EXPECT_EQ(RenderProgressBar(run, 200),
            "running    [##################......................]  45.0%  jobs 9/20  "
            "requests 4500/10000");
  // Too narrow for a bar: the text alone, cut at the width.
  EXPECT_EQ(RenderProgressBar(run, 60), "running    45.0%  jobs 9/20  requests 4500/10000");
  EXPECT_EQ(RenderProgressBar(run, 20), "running    45.0%  jo");
}

TEST(RenderProgressBarTest, ShowsFailedJobsAndCompletion) {
  pb::Run run = MakeRun(pb::RUN_STATE_FAILED, 3, 4, 0, 0);
  run.mutable_progress()->set_jobs_failed(1);
  EXPECT_EQ(RenderProgressBar(run, 70),
            "failed     [##############################]  100%  jobs 3/4 (1 failed)");
}

TEST(RenderProgressLineTest, PlainLine) {
  const pb::Run run = MakeRun(pb::RUN_STATE_RUNNING, 9, 20, 4500, 10000);
  EXPECT_EQ(RenderProgressLine(run, absl::FromUnixSeconds(1'800'000'000)),
            "2027-01-15T08:00:00Z run r-1 running 45.0% jobs 9/20  requests 4500/10000");
}

TEST(RenderProgressLineTest, ShowsCachedRequests) {
  pb::Run run = MakeRun(pb::RUN_STATE_SUCCEEDED, 4, 4, 40, 40);
  run.mutable_progress()->set_requests_cached(30);
  EXPECT_EQ(RenderProgressLine(run, absl::FromUnixSeconds(1'800'000'000)),
            "2027-01-15T08:00:00Z run r-1 succeeded 100% jobs 4/4  requests 40/40 (30 cached)");
  EXPECT_NE(RenderProgressBar(run, 200).find("(30 cached)"), std::string::npos);
}

TEST(RenderFinalLineTest, DurationAndReason) {
  pb::Run run = MakeRun(pb::RUN_STATE_SUCCEEDED, 2, 2, 10, 10);
  EXPECT_EQ(RenderFinalLine(run), "run r-1 succeeded");
  run.mutable_created_at()->set_seconds(1000);
  run.mutable_finished_at()->set_seconds(1000);
  run.mutable_finished_at()->set_nanos(300'000'000);
  EXPECT_EQ(RenderFinalLine(run), "run r-1 succeeded in <1s");
  run.mutable_finished_at()->set_seconds(1192);
  run.mutable_finished_at()->set_nanos(500'000'000);
  EXPECT_EQ(RenderFinalLine(run), "run r-1 succeeded in 3m12s");
  run.set_state(pb::RUN_STATE_FAILED);
  run.set_failure_reason("job 7: model file not found");
  EXPECT_EQ(RenderFinalLine(run), "run r-1 failed in 3m12s: job 7: model file not found");
}

TEST(ProgressThrottleTest, FirstStateChangesTerminalAndInterval) {
  ProgressThrottle throttle(absl::Seconds(10));
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  const pb::Run queued = MakeRun(pb::RUN_STATE_QUEUED, 0, 2, 0, 10);
  const pb::Run running = MakeRun(pb::RUN_STATE_RUNNING, 0, 2, 1, 10);
  EXPECT_TRUE(throttle.ShouldPrint(queued, t0));
  EXPECT_FALSE(throttle.ShouldPrint(queued, t0 + absl::Seconds(1)));
  EXPECT_TRUE(throttle.ShouldPrint(running, t0 + absl::Seconds(2)));  // state change
  EXPECT_FALSE(throttle.ShouldPrint(running, t0 + absl::Seconds(11)));
  EXPECT_TRUE(throttle.ShouldPrint(running, t0 + absl::Seconds(12)));  // interval
  EXPECT_TRUE(
      throttle.ShouldPrint(MakeRun(pb::RUN_STATE_SUCCEEDED, 2, 2, 10, 10), t0 + absl::Seconds(13)));
  EXPECT_TRUE(IsTerminal(pb::RUN_STATE_CANCELLED));
  EXPECT_FALSE(IsTerminal(pb::RUN_STATE_QUEUED));
}

}  // namespace
}  // namespace proctor::cli
