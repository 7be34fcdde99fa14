#include "worker/engine/cuda/page_table.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace proctor::engine::cuda {

PagePool::PagePool(int64_t num_pages, int64_t page_tokens)
    : page_tokens_(page_tokens), refs_(static_cast<size_t>(std::max<int64_t>(num_pages, 0)), 0) {
  free_.reserve(refs_.size());
  for (int64_t p = num_pages - 1; p >= 0; --p) free_.push_back(static_cast<int32_t>(p));
}

int32_t PagePool::Take() {
  const int32_t p = free_.back();
  free_.pop_back();
  refs_[static_cast<size_t>(p)] = 1;
  return p;
}

void PagePool::Share(int32_t page) { ++refs_[static_cast<size_t>(page)]; }

void PagePool::Release(int32_t page) {
  if (--refs_[static_cast<size_t>(page)] == 0) free_.push_back(page);
}

absl::Status PagedSequence::ForkFrom(const PagedSequence& parent, int64_t n, PagePool* pool) {
  if (!pages_.empty() || length_ != 0) {
    return absl::InvalidArgumentError("fork into a sequence that is not empty");
  }
  if (n < 0 || n > parent.length_) {
    return absl::InvalidArgumentError(
        absl::StrCat("fork of ", n, " positions from a sequence of ", parent.length_));
  }
  const int64_t p = pool->page_tokens();
  const int64_t shared = (n + p - 1) / p;
  pages_.assign(parent.pages_.begin(), parent.pages_.begin() + shared);
  for (int32_t page : pages_) pool->Share(page);
  length_ = n;
  borrowed_ = shared;
  return absl::OkStatus();
}

int64_t PagedSequence::SharedTailPage(const PagePool& pool) const {
  const int64_t p = pool.page_tokens();
  if (length_ % p == 0) return -1;  // the next write opens a page of its own
  const int64_t index = length_ / p;
  return pool.refs(pages_[static_cast<size_t>(index)]) > 1 ? index : -1;
}

int64_t PagedSequence::PagesToReserve(int64_t extra, const PagePool& pool) const {
  const int64_t p = pool.page_tokens();
  const int64_t need = (length_ + extra + p - 1) / p;
  const int64_t grow = std::max<int64_t>(0, need - static_cast<int64_t>(pages_.size()));
  return grow + (extra > 0 && SharedTailPage(pool) >= 0 ? 1 : 0);
}

absl::StatusOr<PageCopy> PagedSequence::Reserve(int64_t extra, PagePool* pool) {
  const int64_t want = PagesToReserve(extra, *pool);
  if (want > pool->free_pages()) {
    return absl::ResourceExhaustedError(
        absl::StrCat("KV cache full: ", want, " more pages of ", pool->page_tokens(),
                     " tokens needed, ", pool->free_pages(), " of ", pool->num_pages(), " free"));
  }
  PageCopy copy;
  if (extra <= 0) return copy;
  if (const int64_t index = SharedTailPage(*pool); index >= 0) {
    int32_t& slot = pages_[static_cast<size_t>(index)];
    copy.src = slot;
    copy.dst = pool->Take();
    copy.rows = length_ % pool->page_tokens();
    pool->Release(slot);
    slot = copy.dst;
    borrowed_ = std::min(borrowed_, index);
  }
  const int64_t p = pool->page_tokens();
  const size_t need = static_cast<size_t>((length_ + extra + p - 1) / p);
  while (pages_.size() < need) pages_.push_back(pool->Take());
  return copy;
}

void PagedSequence::Append(int64_t n) { length_ += n; }

void PagedSequence::Truncate(int64_t n, PagePool* pool) {
  if (n >= length_) return;
  n = std::max<int64_t>(n, 0);
  length_ = n;
  const int64_t p = pool->page_tokens();
  const size_t keep = static_cast<size_t>((n + p - 1) / p);
  while (pages_.size() > keep) {
    pool->Release(pages_.back());
    pages_.pop_back();
  }
  borrowed_ = std::min(borrowed_, static_cast<int64_t>(pages_.size()));
}

void PagedSequence::Clear(PagePool* pool) {
  for (int32_t page : pages_) pool->Release(page);
  pages_.clear();
  length_ = 0;
  borrowed_ = 0;
}

}  // namespace proctor::engine::cuda
