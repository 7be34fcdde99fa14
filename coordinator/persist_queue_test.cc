#include "coordinator/persist_queue.h"

#include <atomic>
#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "coordinator/store/sqlite_store.h"
#include "gtest/gtest.h"

namespace proctor::coordinator {
namespace {

class PersistQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           absl::StrCat("persist_queue_test_", ::getpid());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    store_ = *SqliteStore::Open((dir_ / "store.db").string());
    RunRecord run;
    run.run_id = "run-1";
    run.spec.mutable_model()->set_name("m");
    jobs_.resize(8);
    for (size_t i = 0; i < jobs_.size(); ++i) {
      jobs_[i].run_id = "run-1";
      jobs_[i].index_in_run = static_cast<int32_t>(i);
      jobs_[i].num_requests = 1;
    }
    std::vector<JobPayload> payloads(jobs_.size());
    ASSERT_TRUE(store_->CreateRun(run, jobs_, payloads, {}).ok());
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::filesystem::path dir_;
  std::unique_ptr<SqliteStore> store_;
  std::vector<JobRecord> jobs_;
};

TEST_F(PersistQueueTest, LaterWritesWinAndEveryTicketIsDurable) {
  PersistQueue queue(store_.get());
  std::vector<std::thread> threads;
  absl::Mutex order_mu;  // plays the coordinator's lock: enqueue order = mutation order
  std::vector<int32_t> last_attempts(jobs_.size(), 0);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        uint64_t ticket;
        {
          absl::MutexLock lock(&order_mu);
          JobRecord j = jobs_[static_cast<size_t>((t + i) % jobs_.size())];
          j.attempts = ++last_attempts[static_cast<size_t>((t + i) % jobs_.size())];
          ticket = queue.Enqueue({j});
        }
        ASSERT_TRUE(queue.Await(ticket).ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  auto stored = store_->LoadJobsOfRun("run-1");
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ(stored->size(), jobs_.size());
  for (const JobRecord& j : *stored) {
    EXPECT_EQ(j.attempts, last_attempts[static_cast<size_t>(j.index_in_run)]) << j.job_id;
  }
}

// Many more waiters than a batch: the leader wakes only the waiters it made
// durable and the next leader, so a missed hand-off would hang here (ctest's
// timeout) instead of passing.
TEST_F(PersistQueueTest, EveryWaiterReturnsWhenWakeUpsAreTargeted) {
  PersistQueue queue(store_.get());
  std::atomic<int> done{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 48; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        const uint64_t ticket = queue.Enqueue({jobs_[static_cast<size_t>(t) % jobs_.size()]});
        ASSERT_TRUE(queue.Await(ticket).ok());
        // Some callers await a ticket that another batch already made durable.
        ASSERT_TRUE(queue.Await(ticket).ok());
        done.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(done.load(), 48 * 20);
}

// A caller that starts waiting while a batch without its ticket is being
// written must be woken to lead the next batch: nobody else will come.
TEST_F(PersistQueueTest, WaiterOutsideTheBatchLeadsTheNextOne) {
  PersistQueue queue(store_.get());
  absl::Notification writer_held, release_writer, first_done, second_done;
  // Hold the store's writer so the first leader blocks inside WriteBatch.
  std::thread holder([&] {
    ASSERT_TRUE(store_
                    ->RunInWriteBatchForTest([&](sqlite::Connection&) {
                      writer_held.Notify();
                      release_writer.WaitForNotification();
                      return absl::OkStatus();
                    })
                    .ok());
  });
  writer_held.WaitForNotification();
  std::thread first([&] {
    EXPECT_TRUE(queue.Await(queue.Enqueue({jobs_[0]})).ok());
    first_done.Notify();
  });
  // The first caller leads: its batch (ticket 1 only) waits for the writer.
  while (store_->queued_writes_for_test() < 2) absl::SleepFor(absl::Milliseconds(1));
  std::thread second([&] {
    EXPECT_TRUE(queue.Await(queue.Enqueue({jobs_[1]})).ok());
    second_done.Notify();
  });
  absl::SleepFor(absl::Milliseconds(50));  // let it block in Await
  release_writer.Notify();
  EXPECT_TRUE(first_done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_TRUE(second_done.WaitForNotificationWithTimeout(absl::Seconds(10)))
      << "the waiter outside the first batch was never woken to lead";
  holder.join();
  first.join();
  if (!second_done.HasBeenNotified()) {
    // Unstick it so the test ends (it fails above either way).
    queue.Await(queue.Enqueue({jobs_[2]})).IgnoreError();
  }
  second.join();
}

TEST_F(PersistQueueTest, UnknownJobFailsItsBatch) {
  PersistQueue queue(store_.get());
  JobRecord ghost = jobs_[0];
  ghost.job_id = 9999;
  EXPECT_FALSE(queue.Await(queue.Enqueue({ghost})).ok());
  EXPECT_TRUE(queue.Await(queue.Enqueue({jobs_[1]})).ok());
}

}  // namespace
}  // namespace proctor::coordinator
