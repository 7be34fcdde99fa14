#include "worker/output_reporter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <memory>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"

namespace proctor::worker {
namespace {

// An in-memory coordinator for the reporting calls. A message written on a
// stream is stored once a later message is written on it or it finishes OK;
// when a stream "breaks", its last unstored message is lost, as a server that
// never read it would lose it.
class FakeClient final : public CoordinatorClient {
 public:
  class Stream final : public ReportStream {
   public:
    explicit Stream(FakeClient* owner) : owner_(owner) {}
    bool Write(const v1::ReportOutputsRequest& message) override {
      absl::MutexLock lock(&owner_->mu_);
      if (broken_ || cancelled_) return false;
      if (!owner_->reject.ok()) {
        broken_ = true;
        return false;
      }
      if (owner_->break_after_writes >= 0 && writes_ == owner_->break_after_writes) {
        owner_->break_after_writes = -1;  // break once
        unstored_.reset();                // lost with the stream
        broken_ = true;
        return false;
      }
      ++writes_;
      if (unstored_) owner_->StoreLocked(*unstored_);
      unstored_ = std::make_unique<v1::ReportOutputsRequest>(message);
      return true;
    }
    absl::StatusOr<v1::ReportOutputsResponse> Finish() override {
      absl::MutexLock lock(&owner_->mu_);
      ++owner_->finishes;
      if (cancelled_) return absl::CancelledError("cancelled");
      if (!owner_->reject.ok()) return owner_->reject;
      if (broken_) return absl::UnavailableError("connection reset");
      if (unstored_) owner_->StoreLocked(*unstored_);
      unstored_.reset();
      ++owner_->clean_finishes;
      v1::ReportOutputsResponse response;
      response.set_outputs_stored(static_cast<int64_t>(owner_->stored.size()));
      return response;
    }
    void Cancel() override {
      absl::MutexLock lock(&owner_->mu_);
      cancelled_ = true;
    }

   private:
    FakeClient* owner_;
    int writes_ = 0;
    bool broken_ = false;
    bool cancelled_ = false;
    std::unique_ptr<v1::ReportOutputsRequest> unstored_;
  };

  absl::StatusOr<v1::RegisterResponse> Register(const v1::RegisterRequest&,
                                                absl::Duration) override {
    return absl::UnimplementedError("not in this test");
  }
  absl::StatusOr<v1::LeaseResponse> Lease(const v1::LeaseRequest&, absl::Duration) override {
    return absl::UnimplementedError("not in this test");
  }
  absl::StatusOr<v1::HeartbeatResponse> Heartbeat(const v1::HeartbeatRequest&,
                                                  absl::Duration) override {
    return absl::UnimplementedError("not in this test");
  }
  absl::StatusOr<v1::GetReportStateResponse> GetReportState(const v1::GetReportStateRequest& r,
                                                            absl::Duration) override {
    absl::MutexLock lock(&mu_);
    ++state_calls;
    if (state_failures > 0) {
      --state_failures;
      return absl::UnavailableError("still down");
    }
    EXPECT_EQ(r.job_id(), 7);
    EXPECT_EQ(r.fencing_token(), 3);
    v1::GetReportStateResponse response;
    for (const auto& [id, count] : stored) response.add_stored_request_ids(id);
    return response;
  }
  std::unique_ptr<ReportStream> OpenReportStream(absl::Duration) override {
    absl::MutexLock lock(&mu_);
    ++streams;
    return std::make_unique<Stream>(this);
  }

  void StoreLocked(const v1::ReportOutputsRequest& m) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    EXPECT_EQ(m.job_id(), 7);
    EXPECT_EQ(m.fencing_token(), 3);
    messages.push_back(m);
    for (const auto& o : m.outputs()) ++stored[o.request_id()];
  }

  // Waits until `pred` holds (under the lock) or 5 s pass.
  bool WaitFor(const std::function<bool()>& pred) {
    const absl::Time end = absl::Now() + absl::Seconds(5);
    while (absl::Now() < end) {
      {
        absl::MutexLock lock(&mu_);
        if (pred()) return true;
      }
      absl::SleepFor(absl::Milliseconds(2));
    }
    return false;
  }

  absl::Mutex mu_;
  std::vector<v1::ReportOutputsRequest> messages;  // stored, in order
  std::map<int64_t, int> stored;                   // request id -> times stored
  int break_after_writes = -1;
  int state_failures = 0;
  int state_calls = 0;
  int streams = 0;
  int finishes = 0;
  int clean_finishes = 0;
  absl::Status reject;
};

v1::Output MakeOutput(int64_t id) {
  v1::Output o;
  o.set_request_id(id);
  o.mutable_loglikelihood_rolling()->set_logprob(-1.5);
  o.mutable_loglikelihood_rolling()->set_num_tokens(3);
  return o;
}

ReporterOptions FastOptions() {
  ReporterOptions options;
  options.flush_interval = absl::Seconds(30);  // only size and Finish flush
  options.backoff.initial = absl::Milliseconds(5);
  options.backoff.max = absl::Milliseconds(20);
  return options;
}

TEST(OutputReporterTest, BatchesBySizeAndEndsWithComplete) {
  FakeClient client;
  WorkerMetrics metrics;
  std::atomic<int> done_calls{0};
  OutputReporter reporter(&client, 7, 3, FastOptions(), &metrics, [&] { ++done_calls; });
  reporter.Start();
  for (int i = 0; i < 130; ++i) reporter.Add(MakeOutput(i));
  reporter.Finish(OutputReporter::Final::kComplete);
  ASSERT_TRUE(reporter.Wait().ok());
  EXPECT_TRUE(reporter.done());
  EXPECT_EQ(done_calls.load(), 1);
  EXPECT_EQ(reporter.outputs_added(), 130);
  ASSERT_EQ(client.messages.size(), 3u);
  EXPECT_EQ(client.messages[0].outputs_size(), 64);
  EXPECT_EQ(client.messages[1].outputs_size(), 64);
  EXPECT_EQ(client.messages[2].outputs_size(), 2);
  EXPECT_FALSE(client.messages[0].complete());
  EXPECT_TRUE(client.messages[2].complete());
  EXPECT_EQ(client.stored.size(), 130u);
  EXPECT_EQ(client.streams, 1);
  EXPECT_NE(metrics.RenderText().find("proctor_worker_outputs_reported_total 130"),
            std::string::npos);
}

TEST(OutputReporterTest, BatchesByBytes) {
  FakeClient client;
  ReporterOptions options = FastOptions();
  options.max_batch_bytes = 3 * MakeOutput(10).ByteSizeLong();
  OutputReporter reporter(&client, 7, 3, options, nullptr, nullptr);
  reporter.Start();
  for (int i = 10; i < 20; ++i) reporter.Add(MakeOutput(i));
  reporter.Finish(OutputReporter::Final::kComplete);
  ASSERT_TRUE(reporter.Wait().ok());
  ASSERT_EQ(client.messages.size(), 4u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(client.messages[i].outputs_size(), 3);
  EXPECT_EQ(client.messages[3].outputs_size(), 1);
}

TEST(OutputReporterTest, FlushesAfterTheIntervalWithoutWaitingForABatch) {
  FakeClient client;
  ReporterOptions options = FastOptions();
  options.flush_interval = absl::Milliseconds(30);
  OutputReporter reporter(&client, 7, 3, options, nullptr, nullptr);
  reporter.Start();
  reporter.Add(MakeOutput(1));
  reporter.Add(MakeOutput(2));
  // The message is written after ~30 ms and stored once the next one follows.
  reporter.Add(MakeOutput(3));
  absl::SleepFor(absl::Milliseconds(100));
  reporter.Add(MakeOutput(4));
  ASSERT_TRUE(client.WaitFor([&] { return client.messages.size() == 1; }));
  EXPECT_EQ(client.messages[0].outputs_size(), 3);
  EXPECT_FALSE(client.messages[0].complete());
  // Output 4 went out on its own after the interval too (that is what stored
  // the first message), so the final message carries no outputs.
  reporter.Finish(OutputReporter::Final::kComplete);
  ASSERT_TRUE(reporter.Wait().ok());
  ASSERT_EQ(client.messages.size(), 3u);
  EXPECT_EQ(client.messages[1].outputs_size(), 1);
  EXPECT_FALSE(client.messages[1].complete());
  EXPECT_EQ(client.messages[2].outputs_size(), 0);
  EXPECT_TRUE(client.messages[2].complete());
}

TEST(OutputReporterTest, ResumesAfterABrokenStreamWithoutLossOrDuplicates) {
  FakeClient client;
  client.break_after_writes = 3;  // the 3rd message is lost with the stream
  client.state_failures = 2;      // and the coordinator needs a moment
  ReporterOptions options = FastOptions();
  options.max_batch_outputs = 4;
  OutputReporter reporter(&client, 7, 3, options, nullptr, nullptr);
  reporter.Start();
  for (int i = 0; i < 40; ++i) reporter.Add(MakeOutput(i));
  reporter.Finish(OutputReporter::Final::kComplete);
  ASSERT_TRUE(reporter.Wait().ok());
  EXPECT_EQ(client.streams, 2);
  EXPECT_EQ(client.state_calls, 3);
  ASSERT_EQ(client.stored.size(), 40u);
  for (const auto& [id, times] : client.stored) EXPECT_EQ(times, 1) << "request " << id;
  EXPECT_TRUE(client.messages.back().complete());
}

TEST(OutputReporterTest, ResendsTheFinalMessageWhenItsStreamBreaks) {
  FakeClient client;
  client.break_after_writes = 0;  // even the first write fails
  OutputReporter reporter(&client, 7, 3, FastOptions(), nullptr, nullptr);
  reporter.Start();
  reporter.Add(MakeOutput(1));
  reporter.Finish(OutputReporter::Final::kComplete);
  ASSERT_TRUE(reporter.Wait().ok());
  ASSERT_EQ(client.messages.size(), 1u);
  EXPECT_TRUE(client.messages[0].complete());
  EXPECT_EQ(client.stored.at(1), 1);
}

TEST(OutputReporterTest, StaleTokenEndsTheReporter) {
  FakeClient client;
  client.reject = absl::FailedPreconditionError("fencing token 3 is stale (current 4)");
  std::atomic<int> done_calls{0};
  OutputReporter reporter(&client, 7, 3, FastOptions(), nullptr, [&] { ++done_calls; });
  reporter.Start();
  reporter.Add(MakeOutput(1));
  reporter.Finish(OutputReporter::Final::kComplete);
  const absl::Status outcome = reporter.Wait();
  EXPECT_EQ(outcome.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(done_calls.load(), 1);
  EXPECT_EQ(client.state_calls, 0);  // not retried
  EXPECT_TRUE(client.messages.empty());
}

TEST(OutputReporterTest, FailureAndReleaseAreFinalMessages) {
  for (auto kind : {OutputReporter::Final::kFailure, OutputReporter::Final::kRelease}) {
    FakeClient client;
    OutputReporter reporter(&client, 7, 3, FastOptions(), nullptr, nullptr);
    reporter.Start();
    reporter.Add(MakeOutput(1));
    reporter.Finish(kind, absl::ResourceExhaustedError("KV cache: out of memory"));
    reporter.Finish(OutputReporter::Final::kComplete);  // ignored: first call wins
    ASSERT_TRUE(reporter.Wait().ok());
    ASSERT_EQ(client.messages.size(), 1u);
    const auto& last = client.messages[0];
    EXPECT_EQ(last.outputs_size(), 1);
    EXPECT_FALSE(last.complete());
    if (kind == OutputReporter::Final::kFailure) {
      EXPECT_EQ(last.failure().code(), static_cast<int>(absl::StatusCode::kResourceExhausted));
      EXPECT_EQ(last.failure().message(), "KV cache: out of memory");
      EXPECT_FALSE(last.release());
    } else {
      EXPECT_TRUE(last.release());
      EXPECT_FALSE(last.has_failure());
    }
  }
}

TEST(OutputReporterTest, AbortSendsNothingMore) {
  FakeClient client;
  OutputReporter reporter(&client, 7, 3, FastOptions(), nullptr, nullptr);
  reporter.Start();
  for (int i = 0; i < 10; ++i) reporter.Add(MakeOutput(i));
  reporter.Abort();
  reporter.Finish(OutputReporter::Final::kComplete);
  EXPECT_EQ(reporter.Wait().code(), absl::StatusCode::kCancelled);
  for (const auto& m : client.messages) EXPECT_FALSE(m.complete());
}

TEST(OutputReporterTest, OldStreamsAreClosedCleanlyWhenQuiet) {
  FakeClient client;
  ReporterOptions options = FastOptions();
  options.flush_interval = absl::Milliseconds(5);
  options.stream_rotate_after = absl::Milliseconds(40);
  OutputReporter reporter(&client, 7, 3, options, nullptr, nullptr);
  reporter.Start();
  reporter.Add(MakeOutput(1));
  // Closing the idle stream is what stores its last message.
  ASSERT_TRUE(client.WaitFor([&] { return client.clean_finishes == 1; }));
  EXPECT_EQ(client.stored.size(), 1u);
  reporter.Add(MakeOutput(2));
  reporter.Finish(OutputReporter::Final::kComplete);
  ASSERT_TRUE(reporter.Wait().ok());
  EXPECT_EQ(client.streams, 2);
  EXPECT_EQ(client.stored.size(), 2u);
}

TEST(OutputReporterTest, DestructorAbortsARunningSender) {
  FakeClient client;
  {
    OutputReporter reporter(&client, 7, 3, FastOptions(), nullptr, nullptr);
    reporter.Start();
    reporter.Add(MakeOutput(1));
  }
  EXPECT_TRUE(client.messages.empty());
}

}  // namespace
}  // namespace proctor::worker
