#include "kernels/cpu/thread_pool.h"

#include <time.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace proctor::kernels {
namespace {

TEST(ThreadPoolTest, ManyCallsCoverEveryIndexOnce) {
  // Thousands of back-to-back calls (the decode pattern), varied sizes.
  for (int threads : {1, 2, 4}) {
    ThreadPool pool(threads);
    for (int call = 0; call < 3000; ++call) {
      const int64_t n = 1 + (call * 37) % 300;
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      pool.ParallelFor(
          n,
          [&](int64_t b, int64_t e) {
            for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)]++;
          },
          1 + call % 5);
      for (int64_t i = 0; i < n; ++i) {
        ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1)
            << "threads=" << threads << " call=" << call << " i=" << i;
      }
    }
  }
}

TEST(ThreadPoolTest, ChunksRespectMinimumAndAlignment) {
  ThreadPool pool(3);
  std::mutex mu;
  std::set<std::pair<int64_t, int64_t>> chunks;
  pool.ParallelFor(
      1000,
      [&](int64_t b, int64_t e) {
        std::lock_guard<std::mutex> lock(mu);
        chunks.insert({b, e});
      },
      64);
  int64_t covered = 0;
  for (const auto& [b, e] : chunks) {
    EXPECT_EQ(b, covered) << "chunks must tile the range in order";
    if (e != 1000) {
      EXPECT_GE(e - b, 64);
    }
    covered = e;
  }
  EXPECT_EQ(covered, 1000);
}

TEST(ThreadPoolTest, SlowChunkDoesNotLoseWork) {
  // One chunk sleeps: the other threads take the rest and the call still
  // returns only after the slow chunk is done.
  ThreadPool pool(2);
  std::atomic<int64_t> sum{0};
  pool.ParallelFor(
      64,
      [&](int64_t b, int64_t e) {
        if (b == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
        for (int64_t i = b; i < e; ++i) sum += i;
      },
      1);
  EXPECT_EQ(sum.load(), 63 * 64 / 2);
}

TEST(ThreadPoolTest, IdlePoolSleeps) {
  // After the spin window the workers block: an idle pool uses ~no CPU.
  ThreadPool pool(3);
  pool.ParallelFor(100, [](int64_t, int64_t) {});
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  timespec a, b;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
  const double cpu = static_cast<double>(b.tv_sec - a.tv_sec) + 1e-9 * (b.tv_nsec - a.tv_nsec);
  EXPECT_LT(cpu, 0.05) << "idle workers kept spinning";
}

}  // namespace
}  // namespace proctor::kernels
