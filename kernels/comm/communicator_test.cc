#include "kernels/comm/communicator.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace proctor::kernels::comm {
namespace {

template <typename Fn>
void OnAllRanks(std::vector<std::unique_ptr<Communicator>>& group, Fn fn) {
  std::vector<std::thread> threads;
  for (auto& c : group) threads.emplace_back([&fn, &c] { fn(*c); });
  for (auto& t : threads) t.join();
}

TEST(ThreadCommunicatorTest, AllReduceAndAllGatherRepeatedly) {
  for (int size : {1, 2, 3, 4}) {
    auto group = CreateThreadGroup(size);
    std::vector<std::vector<float>> results(static_cast<size_t>(size));
    OnAllRanks(group, [&](Communicator& c) {
      EXPECT_EQ(c.size(), size);
      for (int iter = 0; iter < 50; ++iter) {
        const int64_t n = 1 + iter % 7;
        std::vector<float> v(static_cast<size_t>(n));
        for (int64_t i = 0; i < n; ++i)
          v[static_cast<size_t>(i)] = static_cast<float>(c.rank() * 100 + i + iter);
        c.AllReduceSum(v.data(), n);
        for (int64_t i = 0; i < n; ++i) {
          float want = 0;
          for (int r = 0; r < size; ++r) want += static_cast<float>(r * 100 + i + iter);
          ASSERT_EQ(v[static_cast<size_t>(i)], want);
        }
        std::vector<float> all(static_cast<size_t>(n * size));
        std::vector<float> mine(static_cast<size_t>(n), static_cast<float>(c.rank()));
        c.AllGather(mine.data(), n, all.data());
        for (int r = 0; r < size; ++r)
          ASSERT_EQ(all[static_cast<size_t>(r * n)], static_cast<float>(r));
      }
    });
  }
}

}  // namespace
}  // namespace proctor::kernels::comm
