// The CUDA backend's step arrays, built for sequences taken from a real
// PagePool (forks of full and partial pages, copy-on-write, releases), so the
// index arithmetic the kernels rely on is proven without a GPU.
#include "worker/engine/cuda/step_layout.h"

#include <vector>

#include "gtest/gtest.h"
#include "worker/engine/cuda/page_table.h"

namespace proctor::engine::cuda {
namespace {

constexpr int64_t kPage = 16;

std::vector<int32_t> Slice(const std::vector<int32_t>& a, int64_t at, int64_t n) {
  return std::vector<int32_t>(a.begin() + at, a.begin() + at + n);
}

TEST(StepLayoutTest, OffsetsDependOnTheShapeOnly) {
  const StepLayout l = ComputeStepLayout(5, 2, 3);
  EXPECT_EQ(l.ids, 0);
  EXPECT_EQ(l.positions, 5);
  EXPECT_EQ(l.slots, 10);
  EXPECT_EQ(l.cu_q, 15);
  EXPECT_EQ(l.cu_k, 18);
  EXPECT_EQ(l.key_counts, 21);
  EXPECT_EQ(l.table, 23);
  EXPECT_EQ(l.total, 29);
  // The workspace bound: 256 rows, at most 256 sequences, 256 pages each.
  EXPECT_EQ(MaxStepArrayInts(256, 256, 256), 3 * 256 + 2 * 257 + 256 + 256 * 256);
  EXPECT_EQ(MaxStepArrayInts(256, 1000, 4), ComputeStepLayout(256, 256, 4).total);
}

TEST(StepLayoutTest, MixedStepOverAForkAFreshSequenceAndALongOne) {
  PagePool pool(32, kPage);
  // A cached prefix of 20 positions (pages 0, 1) and a fork of all of it.
  PagedSequence prefix, fork, fresh, long_seq;
  ASSERT_TRUE(prefix.Reserve(20, &pool).ok());
  prefix.Append(20);
  ASSERT_TRUE(fork.ForkFrom(prefix, 20, &pool).ok());
  // The fork appends 3 tokens: its partial page 1 is copied to page 2 first.
  auto copy = fork.Reserve(3, &pool);
  ASSERT_TRUE(copy.ok());
  EXPECT_EQ(copy->src, 1);
  EXPECT_EQ(copy->dst, 2);
  EXPECT_EQ(copy->rows, 4);
  ASSERT_TRUE(fresh.Reserve(2, &pool).ok());      // page 3
  ASSERT_TRUE(long_seq.Reserve(17, &pool).ok());  // pages 4, 5

  const std::vector<int32_t> t0 = {100, 101, 102}, t1 = {7, 8}, t2(17, 50);
  const StepInput in[] = {
      {fork.pages(), fork.length(), t0.data(), 3},
      {fresh.pages(), fresh.length(), t1.data(), 2},
      {long_seq.pages(), long_seq.length(), t2.data(), 17},
  };
  std::vector<int32_t> a(1000, -7);
  auto l = BuildStepArrays(in, kPage, /*vocab_begin=*/5, /*table_stride=*/0, a);
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_EQ(l->rows, 22);
  EXPECT_EQ(l->seqs, 3);
  EXPECT_EQ(l->table_stride, 2);  // the most pages any sequence needs
  EXPECT_EQ(l->max_query_rows, 17);
  EXPECT_EQ(l->max_keys, 23);
  EXPECT_FALSE(l->decode());
  EXPECT_EQ(Slice(a, l->ids, 5), (std::vector<int32_t>{95, 96, 97, 2, 3}));
  EXPECT_EQ(Slice(a, l->positions, 6), (std::vector<int32_t>{20, 21, 22, 0, 1, 0}));
  // Fork rows land in its own copy (page 2, offsets 4..6), never in page 1.
  EXPECT_EQ(Slice(a, l->slots, 5), (std::vector<int32_t>{36, 37, 38, 48, 49}));
  EXPECT_EQ(a[static_cast<size_t>(l->slots + 5)], 64);          // long: page 4, slot 0
  EXPECT_EQ(a[static_cast<size_t>(l->slots + 21)], 5 * kPage);  // position 16 on page 5
  EXPECT_EQ(Slice(a, l->cu_q, 4), (std::vector<int32_t>{0, 3, 5, 22}));
  EXPECT_EQ(Slice(a, l->cu_k, 4), (std::vector<int32_t>{0, 23, 25, 42}));
  EXPECT_EQ(Slice(a, l->key_counts, 3), (std::vector<int32_t>{23, 2, 17}));
  EXPECT_EQ(Slice(a, l->table, 6), (std::vector<int32_t>{0, 2, 3, -1, 4, 5}));
  EXPECT_EQ(l->total, l->table + 6);
  EXPECT_EQ(a[static_cast<size_t>(l->total)], -7);  // nothing written past the end

  fork.Append(3);
  fresh.Append(2);
  long_seq.Append(17);
  for (PagedSequence* s : {&prefix, &fork, &fresh, &long_seq}) s->Clear(&pool);
  EXPECT_EQ(pool.free_pages(), 32);
}

TEST(StepLayoutTest, DecodeRowsOfForksWithAFixedStride) {
  // B = 4 continuations of one 33-position prefix, one token each: every
  // fork copies the partial third page, then the step is a pure decode step
  // with block tables padded to the context's 8 pages.
  PagePool pool(16, kPage);
  PagedSequence prefix;
  ASSERT_TRUE(prefix.Reserve(33, &pool).ok());
  prefix.Append(33);
  std::vector<PagedSequence> forks(4);
  std::vector<StepInput> in;
  const std::vector<int32_t> tokens = {11, 12, 13, 14};
  for (size_t b = 0; b < forks.size(); ++b) {
    ASSERT_TRUE(forks[b].ForkFrom(prefix, 33, &pool).ok());
    auto copy = forks[b].Reserve(1, &pool);
    ASSERT_TRUE(copy.ok());
    EXPECT_EQ(copy->src, 2);
    EXPECT_EQ(copy->dst, static_cast<int32_t>(3 + b));
    EXPECT_EQ(copy->rows, 1);
    in.push_back({forks[b].pages(), forks[b].length(), &tokens[b], 1});
  }
  EXPECT_EQ(pool.refs(0), 5);
  EXPECT_EQ(pool.refs(2), 1);
  std::vector<int32_t> a(MaxStepArrayInts(4, 4, 8));
  auto l = BuildStepArrays(in, kPage, 0, /*table_stride=*/8, a);
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_TRUE(l->decode());
  EXPECT_EQ(l->total, ComputeStepLayout(4, 4, 8).total);
  EXPECT_EQ(l->total, static_cast<int64_t>(a.size()));
  EXPECT_EQ(Slice(a, l->ids, 4), tokens);
  EXPECT_EQ(Slice(a, l->positions, 4), (std::vector<int32_t>{33, 33, 33, 33}));
  EXPECT_EQ(Slice(a, l->slots, 4), (std::vector<int32_t>{49, 65, 81, 97}));
  EXPECT_EQ(Slice(a, l->key_counts, 4), (std::vector<int32_t>{34, 34, 34, 34}));
  EXPECT_EQ(Slice(a, l->cu_q, 5), (std::vector<int32_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(Slice(a, l->cu_k, 5), (std::vector<int32_t>{0, 34, 68, 102, 136}));
  EXPECT_EQ(Slice(a, l->table + 8 * 3, 8), (std::vector<int32_t>{0, 1, 6, -1, -1, -1, -1, -1}));
  // Releasing the forks frees their copies; the prefix keeps its pages.
  for (PagedSequence& f : forks) f.Clear(&pool);
  EXPECT_EQ(pool.refs(0), 1);
  EXPECT_EQ(pool.free_pages(), 13);
  prefix.Clear(&pool);
}

// A host model of the device: a pool of one int per KV slot. Steps scatter
// their tokens to the step's slots (as ScatterRowsBf16 does with K/V rows),
// copy-on-writes copy rows (as CopyPoolRowsBf16 does), and every sequence's
// keys, read back through its row of the block table up to its key count (as
// the attention kernels do), must be exactly its own token history.
class PoolModel {
 public:
  explicit PoolModel(int64_t pages) : pool_(pages, kPage), slots_(pages * kPage, -1) {}
  PagePool* pool() { return &pool_; }

  // One step over `seqs` (sequence i appends tokens[i]); history[i] is
  // updated. decode_stride > 0 pads the tables as decode steps do.
  void Step(std::vector<PagedSequence*> seqs, const std::vector<std::vector<int32_t>>& tokens,
            std::vector<std::vector<int32_t>*> history, int64_t decode_stride = 0) {
    std::vector<StepInput> in;
    for (size_t i = 0; i < seqs.size(); ++i) {
      auto copy = seqs[i]->Reserve(static_cast<int64_t>(tokens[i].size()), &pool_);
      ASSERT_TRUE(copy.ok()) << copy.status();
      for (int64_t r = 0; r < copy->rows; ++r) {
        slots_[static_cast<size_t>(copy->dst * kPage + r)] =
            slots_[static_cast<size_t>(copy->src * kPage + r)];
      }
    }
    for (size_t i = 0; i < seqs.size(); ++i) {
      in.push_back({seqs[i]->pages(), seqs[i]->length(), tokens[i].data(),
                    static_cast<int64_t>(tokens[i].size())});
    }
    std::vector<int32_t> a(static_cast<size_t>(MaxStepArrayInts(256, 256, 64)));
    auto l = BuildStepArrays(in, kPage, 0, decode_stride, a);
    ASSERT_TRUE(l.ok()) << l.status();
    for (int64_t r = 0; r < l->rows; ++r) {
      slots_[static_cast<size_t>(a[static_cast<size_t>(l->slots + r)])] =
          a[static_cast<size_t>(l->ids + r)];
    }
    // Attention's view: every sequence reads its keys through its table.
    for (int64_t s = 0; s < l->seqs; ++s) {
      const int32_t keys = a[static_cast<size_t>(l->key_counts + s)];
      ASSERT_EQ(keys,
                a[static_cast<size_t>(l->cu_k + s + 1)] - a[static_cast<size_t>(l->cu_k + s)]);
      std::vector<int32_t> want = *history[static_cast<size_t>(s)];
      want.insert(want.end(), tokens[static_cast<size_t>(s)].begin(),
                  tokens[static_cast<size_t>(s)].end());
      ASSERT_EQ(static_cast<int64_t>(want.size()), keys);
      const int32_t* table = a.data() + l->table + s * l->table_stride;
      for (int32_t j = 0; j < keys; ++j) {
        ASSERT_EQ(slots_[static_cast<size_t>(table[j / kPage] * kPage + j % kPage)],
                  want[static_cast<size_t>(j)])
            << "sequence " << s << " key " << j;
      }
    }
    for (size_t i = 0; i < seqs.size(); ++i) {
      seqs[i]->Append(static_cast<int64_t>(tokens[i].size()));
      *history[i] = Concat(*history[i], tokens[i]);
    }
  }

  // Every cached position of `seq` holds history[position] (what Logits reads).
  void ExpectHolds(const PagedSequence& seq, const std::vector<int32_t>& history) {
    ASSERT_EQ(seq.length(), static_cast<int64_t>(history.size()));
    for (int64_t p = 0; p < seq.length(); ++p) {
      ASSERT_EQ(slots_[static_cast<size_t>(SlotOf(seq.pages(), kPage, p))],
                history[static_cast<size_t>(p)])
          << "position " << p;
    }
  }

  static std::vector<int32_t> Concat(std::vector<int32_t> a, const std::vector<int32_t>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  }

 private:
  PagePool pool_;
  std::vector<int32_t> slots_;
};

std::vector<int32_t> Tokens(int32_t first, int64_t n) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) t[static_cast<size_t>(i)] = first + static_cast<int32_t>(i);
  return t;
}

TEST(StepLayoutTest, ForksNeverSeeEachOthersWrites) {
  PoolModel m(64);
  PagedSequence prefix, a, b, c, fresh;
  std::vector<int32_t> hp, ha, hb, hc, hf;
  m.Step({&prefix}, {Tokens(1000, 37)}, {&hp});
  // Three forks of one cached prefix: at its end (partial page), inside its
  // second page, at a page boundary; they and a fresh sequence run in one
  // mixed step, then in decode steps of B = 4 with the padded stride.
  ASSERT_TRUE(a.ForkFrom(prefix, 37, m.pool()).ok());
  ASSERT_TRUE(b.ForkFrom(prefix, 20, m.pool()).ok());
  ASSERT_TRUE(c.ForkFrom(prefix, 32, m.pool()).ok());
  ha = hp;
  hb.assign(hp.begin(), hp.begin() + 20);
  hc.assign(hp.begin(), hp.begin() + 32);
  m.Step({&a, &b, &c, &fresh},
         {Tokens(2000, 3), Tokens(3000, 40), Tokens(4000, 1), Tokens(5000, 9)},
         {&ha, &hb, &hc, &hf});
  for (int t = 0; t < 5; ++t) {
    m.Step({&a, &b, &c, &fresh}, {{6000 + t}, {7000 + t}, {8000 + t}, {9000 + t}},
           {&ha, &hb, &hc, &hf}, /*decode_stride=*/16);
  }
  // The prefix still holds its own tokens, and can keep growing in place.
  m.ExpectHolds(prefix, hp);
  m.Step({&prefix}, {Tokens(1100, 20)}, {&hp});
  for (auto [seq, h] : {std::pair{&prefix, &hp}, {&a, &ha}, {&b, &hb}, {&c, &hc}, {&fresh, &hf}}) {
    m.ExpectHolds(*seq, *h);
  }
  // A fork truncated into a shared page and extended again copies it first.
  PagedSequence d;
  std::vector<int32_t> hd;
  ASSERT_TRUE(d.ForkFrom(prefix, 57, m.pool()).ok());
  hd = hp;
  d.Truncate(5, m.pool());
  hd.resize(5);
  m.Step({&d}, {Tokens(10000, 30)}, {&hd});
  m.ExpectHolds(d, hd);
  m.ExpectHolds(prefix, hp);
  for (PagedSequence* s : {&prefix, &a, &b, &c, &fresh, &d}) s->Clear(m.pool());
  EXPECT_EQ(m.pool()->free_pages(), 64);
}

TEST(StepLayoutTest, RejectsBadSteps) {
  const std::vector<int32_t> pages = {0}, tokens = {1, 2};
  std::vector<int32_t> a(100);
  EXPECT_EQ(BuildStepArrays({}, kPage, 0, 0, a).status().code(),
            absl::StatusCode::kInvalidArgument);
  StepInput uncovered[] = {{pages, 15, tokens.data(), 2}};  // 17 positions, one page
  EXPECT_EQ(BuildStepArrays(uncovered, kPage, 0, 0, a).status().code(),
            absl::StatusCode::kInvalidArgument);
  StepInput empty[] = {{pages, 0, tokens.data(), 0}};
  EXPECT_EQ(BuildStepArrays(empty, kPage, 0, 0, a).status().code(),
            absl::StatusCode::kInvalidArgument);
  const std::vector<int32_t> two = {0, 1};
  StepInput ok[] = {{two, 15, tokens.data(), 2}};
  EXPECT_EQ(BuildStepArrays(ok, kPage, 0, 1, a).status().code(),
            absl::StatusCode::kInvalidArgument);  // stride below the 2 pages needed
  std::vector<int32_t> small(10);
  EXPECT_EQ(BuildStepArrays(ok, kPage, 0, 0, small).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(BuildStepArrays(ok, kPage, 0, 0, a).ok());
}

TEST(StepLayoutTest, SlotOfACachedPosition) {
  const std::vector<int32_t> pages = {7, 3};
  EXPECT_EQ(SlotOf(pages, kPage, 0), 7 * kPage);
  EXPECT_EQ(SlotOf(pages, kPage, 17), 3 * kPage + 1);
  EXPECT_EQ(SlotOf(pages, kPage, 32), -1);
  EXPECT_EQ(SlotOf(pages, kPage, -1), -1);
}

}  // namespace
}  // namespace proctor::engine::cuda
