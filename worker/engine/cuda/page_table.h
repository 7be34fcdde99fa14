// Host-side bookkeeping of the CUDA backend's paged KV cache: a pool of
// fixed-size pages with a reference count per page, and the block table of
// one sequence (KvStore) over that pool, with forks that share whole pages
// and copy-on-write of a shared page before it is appended to. Pure C++ (no
// CUDA): the device work a sequence needs is returned as a PageCopy for the
// backend to run, so this arithmetic is tested on any machine
// (docs/design/cuda-backend.md, "Forks and page reference counts").
//
// Invariants:
//   - refs(p) == the number of PagedSequences whose pages() contain p;
//     p is on the free list exactly when refs(p) == 0.
//   - A sequence's pages() cover positions [0, length()) (position i is slot
//     i % page_tokens of pages()[i / page_tokens]); it may hold further,
//     reserved pages that no other sequence shares.
//   - Positions < length() of a page shared by several sequences are the
//     same data for all of them: a shared page is never written (Reserve
//     replaces it first), so a step writes only pages with refs == 1.
//
// Not thread-safe: the backend's one thread owns the pool and its sequences.
#ifndef PROCTOR_WORKER_ENGINE_CUDA_PAGE_TABLE_H_
#define PROCTOR_WORKER_ENGINE_CUDA_PAGE_TABLE_H_

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace proctor::engine::cuda {

class PagePool {
 public:
  // Pages 0 .. num_pages-1, all free, of page_tokens positions each
  // (both > 0).
  PagePool(int64_t num_pages, int64_t page_tokens);
  PagePool(const PagePool&) = delete;
  PagePool& operator=(const PagePool&) = delete;

  int64_t num_pages() const { return static_cast<int64_t>(refs_.size()); }
  int64_t page_tokens() const { return page_tokens_; }
  int64_t free_pages() const { return static_cast<int64_t>(free_.size()); }
  // Holders of `page` (0 when free).
  int32_t refs(int32_t page) const { return refs_[static_cast<size_t>(page)]; }

  // A free page with refs 1. Requires free_pages() > 0.
  int32_t Take();
  // One more holder of a page in use.
  void Share(int32_t page);
  // One holder fewer; the page returns to the free list at 0.
  void Release(int32_t page);

 private:
  const int64_t page_tokens_;
  std::vector<int32_t> refs_;
  std::vector<int32_t> free_;  // taken from the back (lowest ids first)
};

// Copy rows [0, rows) of page `src` into page `dst` (K and V of every layer
// and the hidden state): the device half of a copy-on-write.
struct PageCopy {
  int32_t src = -1;
  int32_t dst = -1;
  int64_t rows = 0;  // 0: nothing to copy
};

// The block table of one sequence. Must be Clear()ed into its pool before
// destruction when it holds pages (the owning KvStore does that).
class PagedSequence {
 public:
  PagedSequence() = default;
  PagedSequence(const PagedSequence&) = delete;
  PagedSequence& operator=(const PagedSequence&) = delete;

  int64_t length() const { return length_; }
  std::span<const int32_t> pages() const { return pages_; }
  // Pages this sequence holds that it did not get from the sequence it was
  // forked from (what KvStore::Bytes counts).
  int64_t own_pages() const { return static_cast<int64_t>(pages_.size()) - borrowed_; }

  // Makes this (empty) sequence hold positions [0, n) of `parent`
  // (0 <= n <= parent.length()) by sharing the parent's first
  // ceil(n / page_tokens) pages; no data moves. INVALID_ARGUMENT for a bad n
  // or when this sequence is not empty.
  absl::Status ForkFrom(const PagedSequence& parent, int64_t n, PagePool* pool);

  // Pages Reserve(extra) would take from the pool.
  int64_t PagesToReserve(int64_t extra, const PagePool& pool) const;
  // Makes positions [length, length + extra) writable by this sequence alone:
  // when position length() lies in a page shared with another sequence, that
  // page is replaced by a fresh one and the returned PageCopy says which rows
  // to copy into it (before anything is written there); then pages are added
  // until they cover length + extra. RESOURCE_EXHAUSTED (and nothing changes)
  // when the pool has fewer than PagesToReserve(extra) free pages.
  absl::StatusOr<PageCopy> Reserve(int64_t extra, PagePool* pool);
  // Records that positions [length, length + n) were written. Requires a
  // previous Reserve covering them.
  void Append(int64_t n);
  // Drops positions >= n (no-op when n >= length()) and releases the pages
  // past ceil(n / page_tokens).
  void Truncate(int64_t n, PagePool* pool);
  // Releases every page; length becomes 0.
  void Clear(PagePool* pool);

 private:
  // Index of the page holding position length() when it is shared, else -1.
  int64_t SharedTailPage(const PagePool& pool) const;

  std::vector<int32_t> pages_;
  int64_t length_ = 0;
  int64_t borrowed_ = 0;  // pages_[0 .. borrowed_) came from ForkFrom
};

}  // namespace proctor::engine::cuda

#endif  // PROCTOR_WORKER_ENGINE_CUDA_PAGE_TABLE_H_
