#include "worker/engine/cuda/page_table.h"

#include <vector>

#include "gtest/gtest.h"

namespace proctor::engine::cuda {
namespace {

std::vector<int32_t> Pages(const PagedSequence& s) {
  return std::vector<int32_t>(s.pages().begin(), s.pages().end());
}

// Reserves and appends n positions, expecting no copy-on-write.
void Grow(PagedSequence* s, int64_t n, PagePool* pool) {
  auto copy = s->Reserve(n, pool);
  ASSERT_TRUE(copy.ok()) << copy.status();
  EXPECT_EQ(copy->rows, 0);
  s->Append(n);
}

TEST(PagePoolTest, TakesLowestIdsFirstAndCountsHolders) {
  PagePool pool(4, 16);
  EXPECT_EQ(pool.free_pages(), 4);
  EXPECT_EQ(pool.Take(), 0);
  EXPECT_EQ(pool.Take(), 1);
  pool.Share(1);
  EXPECT_EQ(pool.refs(1), 2);
  pool.Release(1);
  EXPECT_EQ(pool.free_pages(), 2);
  pool.Release(1);
  EXPECT_EQ(pool.refs(1), 0);
  EXPECT_EQ(pool.free_pages(), 3);
  EXPECT_EQ(pool.Take(), 1);  // the page just freed comes back first
}

TEST(PagedSequenceTest, GrowsAndTruncatesByWholePages) {
  PagePool pool(8, 16);
  PagedSequence s;
  EXPECT_EQ(s.PagesToReserve(40, pool), 3);
  Grow(&s, 40, &pool);
  EXPECT_EQ(Pages(s), (std::vector<int32_t>{0, 1, 2}));
  EXPECT_EQ(s.length(), 40);
  EXPECT_EQ(s.own_pages(), 3);
  EXPECT_EQ(s.PagesToReserve(8, pool), 0);  // 48 positions fit three pages
  s.Truncate(17, &pool);
  EXPECT_EQ(Pages(s), (std::vector<int32_t>{0, 1}));
  EXPECT_EQ(pool.free_pages(), 6);
  s.Truncate(100, &pool);  // no-op
  EXPECT_EQ(s.length(), 17);
  s.Truncate(16, &pool);
  EXPECT_EQ(Pages(s), (std::vector<int32_t>{0}));
  s.Clear(&pool);
  EXPECT_EQ(pool.free_pages(), 8);
  EXPECT_EQ(s.length(), 0);
}

TEST(PagedSequenceTest, ReserveFailsWithoutChangingAnything) {
  PagePool pool(2, 16);
  PagedSequence s;
  Grow(&s, 20, &pool);
  auto r = s.Reserve(20, &pool);  // 40 positions need 3 pages
  ASSERT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << r.status();
  EXPECT_NE(r.status().message().find("1 more pages"), std::string::npos) << r.status();
  EXPECT_EQ(Pages(s), (std::vector<int32_t>{0, 1}));
  EXPECT_EQ(s.length(), 20);
  EXPECT_EQ(pool.free_pages(), 0);
  s.Clear(&pool);
}

TEST(PagedSequenceTest, ForkOfFullPagesSharesThemAndCopiesNothing) {
  PagePool pool(8, 16);
  PagedSequence parent, fork;
  Grow(&parent, 40, &pool);  // pages 0, 1, 2
  ASSERT_TRUE(fork.ForkFrom(parent, 32, &pool).ok());
  EXPECT_EQ(Pages(fork), (std::vector<int32_t>{0, 1}));
  EXPECT_EQ(fork.length(), 32);
  EXPECT_EQ(fork.own_pages(), 0);
  EXPECT_EQ(pool.refs(0), 2);
  EXPECT_EQ(pool.refs(1), 2);
  EXPECT_EQ(pool.refs(2), 1);
  // The fork's next position opens a page of its own: no copy.
  Grow(&fork, 3, &pool);
  EXPECT_EQ(Pages(fork), (std::vector<int32_t>{0, 1, 3}));
  EXPECT_EQ(fork.own_pages(), 1);
  // Releasing the parent keeps the shared pages alive for the fork.
  parent.Clear(&pool);
  EXPECT_EQ(pool.refs(0), 1);
  EXPECT_EQ(pool.refs(2), 0);
  EXPECT_EQ(pool.free_pages(), 5);
  fork.Clear(&pool);
  EXPECT_EQ(pool.free_pages(), 8);
}

TEST(PagedSequenceTest, ForkOfAPartialPageCopiesItBeforeTheFirstWrite) {
  PagePool pool(8, 16);
  PagedSequence parent, a, b;
  Grow(&parent, 37, &pool);  // pages 0, 1, 2 (2 holds positions 32..36)
  ASSERT_TRUE(a.ForkFrom(parent, 37, &pool).ok());
  ASSERT_TRUE(b.ForkFrom(parent, 20, &pool).ok());
  EXPECT_EQ(Pages(a), (std::vector<int32_t>{0, 1, 2}));
  EXPECT_EQ(Pages(b), (std::vector<int32_t>{0, 1}));
  EXPECT_EQ(pool.refs(0), 3);
  EXPECT_EQ(pool.refs(1), 3);
  EXPECT_EQ(pool.refs(2), 2);
  // a writes position 37, inside shared page 2: rows 0..4 move to a fresh page.
  EXPECT_EQ(a.PagesToReserve(1, pool), 1);
  auto copy = a.Reserve(1, &pool);
  ASSERT_TRUE(copy.ok()) << copy.status();
  EXPECT_EQ(copy->src, 2);
  EXPECT_EQ(copy->dst, 3);
  EXPECT_EQ(copy->rows, 5);
  a.Append(1);
  EXPECT_EQ(Pages(a), (std::vector<int32_t>{0, 1, 3}));
  EXPECT_EQ(a.own_pages(), 1);
  EXPECT_EQ(pool.refs(2), 1);  // the parent's again alone
  // b writes positions 20..49: page 1 (rows 0..3) is copied, two more added.
  EXPECT_EQ(b.PagesToReserve(30, pool), 3);
  copy = b.Reserve(30, &pool);
  ASSERT_TRUE(copy.ok()) << copy.status();
  EXPECT_EQ(copy->src, 1);
  EXPECT_EQ(copy->rows, 4);
  b.Append(30);
  EXPECT_EQ(Pages(b), (std::vector<int32_t>{0, copy->dst, 5, 6}));
  EXPECT_EQ(pool.refs(1), 2);  // parent and a
  // The parent now writes its own partial page in place.
  Grow(&parent, 3, &pool);
  EXPECT_EQ(Pages(parent), (std::vector<int32_t>{0, 1, 2}));
  for (PagedSequence* s : {&parent, &a, &b}) s->Clear(&pool);
  EXPECT_EQ(pool.free_pages(), 8);
  for (int32_t p = 0; p < 8; ++p) EXPECT_EQ(pool.refs(p), 0) << p;
}

TEST(PagedSequenceTest, TruncatingAForkIntoASharedPageCopiesOnTheNextWrite) {
  PagePool pool(8, 16);
  PagedSequence parent, fork;
  Grow(&parent, 48, &pool);
  ASSERT_TRUE(fork.ForkFrom(parent, 48, &pool).ok());
  fork.Truncate(10, &pool);
  EXPECT_EQ(Pages(fork), (std::vector<int32_t>{0}));
  EXPECT_EQ(pool.refs(1), 1);
  EXPECT_EQ(pool.refs(2), 1);
  auto copy = fork.Reserve(2, &pool);
  ASSERT_TRUE(copy.ok());
  EXPECT_EQ(copy->src, 0);
  EXPECT_EQ(copy->rows, 10);
  EXPECT_EQ(Pages(fork), (std::vector<int32_t>{copy->dst}));
  EXPECT_EQ(pool.refs(0), 1);
  fork.Clear(&pool);
  parent.Clear(&pool);
  EXPECT_EQ(pool.free_pages(), 8);
}

TEST(PagedSequenceTest, ForkChecksItsArguments) {
  PagePool pool(4, 16);
  PagedSequence parent, fork;
  Grow(&parent, 5, &pool);
  EXPECT_EQ(fork.ForkFrom(parent, 6, &pool).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(fork.ForkFrom(parent, -1, &pool).code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(fork.ForkFrom(parent, 0, &pool).ok());
  EXPECT_TRUE(fork.pages().empty());
  Grow(&fork, 1, &pool);
  EXPECT_EQ(fork.ForkFrom(parent, 1, &pool).code(), absl::StatusCode::kInvalidArgument);
  fork.Clear(&pool);
  parent.Clear(&pool);
  EXPECT_EQ(pool.free_pages(), 4);
}

}  // namespace
}  // namespace proctor::engine::cuda
