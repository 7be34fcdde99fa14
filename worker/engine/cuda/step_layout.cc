#include "worker/engine/cuda/step_layout.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"

namespace proctor::engine::cuda {

StepLayout ComputeStepLayout(int64_t rows, int64_t seqs, int64_t table_stride) {
  StepLayout l;
  l.rows = rows;
  l.seqs = seqs;
  l.table_stride = table_stride;
  l.ids = 0;
  l.positions = rows;
  l.slots = 2 * rows;
  l.cu_q = 3 * rows;
  l.cu_k = l.cu_q + seqs + 1;
  l.key_counts = l.cu_k + seqs + 1;
  l.table = l.key_counts + seqs;
  l.total = l.table + seqs * table_stride;
  return l;
}

int64_t MaxStepArrayInts(int64_t max_rows, int64_t max_seqs, int64_t max_pages_per_seq) {
  // A step never has more sequences than rows.
  return ComputeStepLayout(max_rows, std::min(max_seqs, max_rows), max_pages_per_seq).total;
}

int64_t SlotOf(std::span<const int32_t> pages, int64_t page_tokens, int64_t position) {
  if (position < 0 || page_tokens <= 0) return -1;
  const int64_t index = position / page_tokens;
  if (index >= static_cast<int64_t>(pages.size())) return -1;
  return static_cast<int64_t>(pages[static_cast<size_t>(index)]) * page_tokens +
         position % page_tokens;
}

absl::StatusOr<StepLayout> BuildStepArrays(std::span<const StepInput> seqs, int64_t page_tokens,
                                           int64_t vocab_begin, int64_t table_stride,
                                           std::span<int32_t> out) {
  if (seqs.empty()) return absl::InvalidArgumentError("a step needs at least one sequence");
  if (page_tokens <= 0) return absl::InvalidArgumentError("page_tokens must be positive");
  int64_t rows = 0, max_n = 0, max_keys = 0, need_stride = 0, keys_total = 0;
  for (size_t s = 0; s < seqs.size(); ++s) {
    const StepInput& q = seqs[s];
    const int64_t keys = q.start + q.n;
    const int64_t pages = (keys + page_tokens - 1) / page_tokens;
    if (q.n < 1 || q.start < 0 || q.tokens == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("step sequence ", s, ": ", q.n, " tokens at ", q.start));
    }
    if (static_cast<int64_t>(q.pages.size()) < pages) {
      return absl::InvalidArgumentError(absl::StrCat("step sequence ", s, ": ", q.pages.size(),
                                                     " pages do not cover ", keys, " positions"));
    }
    rows += q.n;
    keys_total += keys;
    max_n = std::max(max_n, q.n);
    max_keys = std::max(max_keys, keys);
    need_stride = std::max(need_stride, pages);
  }
  if (keys_total > std::numeric_limits<int32_t>::max()) {
    return absl::InvalidArgumentError(absl::StrCat("a step over ", keys_total, " keys"));
  }
  if (table_stride == 0) table_stride = need_stride;
  if (table_stride < need_stride) {
    return absl::InvalidArgumentError(
        absl::StrCat("block tables of ", table_stride, " pages; a sequence needs ", need_stride));
  }
  StepLayout l = ComputeStepLayout(rows, static_cast<int64_t>(seqs.size()), table_stride);
  l.max_query_rows = max_n;
  l.max_keys = max_keys;
  if (static_cast<int64_t>(out.size()) < l.total) {
    return absl::InvalidArgumentError(
        absl::StrCat("step array of ", out.size(), " ints; the step needs ", l.total));
  }
  int32_t* a = out.data();
  int64_t row = 0, cu_k = 0;
  for (size_t s = 0; s < seqs.size(); ++s) {
    const StepInput& q = seqs[s];
    const int64_t keys = q.start + q.n;
    a[l.cu_q + static_cast<int64_t>(s)] = static_cast<int32_t>(row);
    a[l.cu_k + static_cast<int64_t>(s)] = static_cast<int32_t>(cu_k);
    a[l.key_counts + static_cast<int64_t>(s)] = static_cast<int32_t>(keys);
    for (int64_t j = 0; j < q.n; ++j, ++row) {
      const int64_t p = q.start + j;
      a[l.ids + row] = static_cast<int32_t>(q.tokens[j] - vocab_begin);
      a[l.positions + row] = static_cast<int32_t>(p);
      a[l.slots + row] = static_cast<int32_t>(SlotOf(q.pages, page_tokens, p));
    }
    cu_k += keys;
    const int64_t used = (keys + page_tokens - 1) / page_tokens;
    int32_t* table = a + l.table + static_cast<int64_t>(s) * table_stride;
    for (int64_t i = 0; i < table_stride; ++i) {
      table[i] = i < used ? q.pages[static_cast<size_t>(i)] : -1;
    }
  }
  a[l.cu_q + l.seqs] = static_cast<int32_t>(row);
  a[l.cu_k + l.seqs] = static_cast<int32_t>(cu_k);
  return l;
}

}  // namespace proctor::engine::cuda
