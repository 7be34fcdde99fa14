#include "coordinator/store/group_commit.h"

#include <atomic>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace proctor::coordinator {
namespace {

// Executes each mutation and counts batch sizes; optionally slow, so that
// concurrent submitters pile up behind the leader.
struct CountingExecutor {
  std::atomic<int> in_flight{0};
  std::atomic<int> max_in_flight{0};
  std::atomic<int> max_batch_seen{0};
  absl::Duration delay = absl::ZeroDuration();

  std::vector<absl::Status> operator()(absl::Span<const GroupCommitQueue::Mutation> batch) {
    const int now = ++in_flight;
    int seen = max_in_flight.load();
    while (now > seen && !max_in_flight.compare_exchange_weak(seen, now)) {
    }
    int size = static_cast<int>(batch.size());
    int biggest = max_batch_seen.load();
    while (size > biggest && !max_batch_seen.compare_exchange_weak(biggest, size)) {
    }
    absl::SleepFor(delay);
    std::vector<absl::Status> out;
    for (const auto& m : batch) out.push_back(m());
    --in_flight;
    return out;
  }
};

TEST(GroupCommitQueueTest, SingleCallerGetsItsStatus) {
  CountingExecutor exec;
  GroupCommitQueue queue([&](auto batch) { return exec(batch); }, 8);
  EXPECT_TRUE(queue.Submit([] { return absl::OkStatus(); }).ok());
  EXPECT_EQ(queue.Submit([] { return absl::NotFoundError("x"); }).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(queue.batches(), 2);
}

TEST(GroupCommitQueueTest, ConcurrentCallersAreBatchedAndEachGetsOwnStatus) {
  CountingExecutor exec;
  exec.delay = absl::Milliseconds(2);
  constexpr int kMaxBatch = 16;
  GroupCommitQueue queue([&](auto batch) { return exec(batch); }, kMaxBatch);
  constexpr int kThreads = 32;
  constexpr int kPerThread = 20;
  std::atomic<int> executed{0};
  std::atomic<int> wrong_status{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const bool fail = (t + i) % 3 == 0;
        absl::Status s = queue.Submit([&] {
          ++executed;
          return fail ? absl::InvalidArgumentError("odd one") : absl::OkStatus();
        });
        if (s.ok() == fail) ++wrong_status;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(executed.load(), kThreads * kPerThread);
  EXPECT_EQ(wrong_status.load(), 0);
  EXPECT_EQ(exec.max_in_flight.load(), 1) << "batches must never overlap";
  EXPECT_LE(exec.max_batch_seen.load(), kMaxBatch);
  EXPECT_GT(exec.max_batch_seen.load(), 1) << "slow batches should let callers pile up";
  EXPECT_LT(queue.batches(), kThreads * kPerThread);
}

TEST(GroupCommitQueueTest, ExecutorReturningTooFewStatusesIsInternal) {
  GroupCommitQueue queue([](auto) { return std::vector<absl::Status>{}; }, 4);
  EXPECT_EQ(queue.Submit([] { return absl::OkStatus(); }).code(), absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace proctor::coordinator
