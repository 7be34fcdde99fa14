// The per-step int32 array of the CUDA backend, built on the host and copied
// to the device once per step (kernels and captured CUDA graphs read it at
// fixed addresses). Pure C++ (no CUDA), so the index arithmetic is tested on
// any machine (docs/design/cuda-backend.md, "The batched step").
//
// A step runs `seqs` sequences; sequence s appends n_s tokens to a store that
// already caches start_s positions; its rows are the step's rows
// cu_q[s] .. cu_q[s+1] (back to back, in sequence order). The array holds,
// at the offsets of StepLayout:
//   ids[rows]         token id - vocab_begin (the rank's vocabulary slice)
//   positions[rows]   start_s + j for row j of sequence s
//   slots[rows]       KV slot of that position: page * page_tokens + offset
//   cu_q[seqs + 1]    prefix sums of n_s (query rows of each sequence)
//   cu_k[seqs + 1]    prefix sums of start_s + n_s (keys of each sequence)
//   key_counts[seqs]  start_s + n_s
//   table[seqs, table_stride]  sequence s's page ids, -1 past its last page
#ifndef PROCTOR_WORKER_ENGINE_CUDA_STEP_LAYOUT_H_
#define PROCTOR_WORKER_ENGINE_CUDA_STEP_LAYOUT_H_

#include <cstdint>
#include <span>

#include "absl/status/statusor.h"

namespace proctor::engine::cuda {

// Offsets (in int32 elements) of a step's arrays; see the file comment.
struct StepLayout {
  int64_t rows = 0, seqs = 0, table_stride = 0;
  int64_t max_query_rows = 0;  // the largest n_s (1: a pure decode step)
  int64_t max_keys = 0;        // the largest start_s + n_s
  int64_t ids = 0, positions = 0, slots = 0, cu_q = 0, cu_k = 0, key_counts = 0, table = 0;
  int64_t total = 0;  // elements of the whole array
  bool decode() const { return max_query_rows == 1; }
};

// The offsets for `rows` rows over `seqs` sequences with block tables of
// `table_stride` entries; they depend on these three numbers only (so a step
// with the same shape reuses a captured graph). max_* are left 0.
StepLayout ComputeStepLayout(int64_t rows, int64_t seqs, int64_t table_stride);

// Elements of the largest array: what the workspace reserves.
int64_t MaxStepArrayInts(int64_t max_rows, int64_t max_seqs, int64_t max_pages_per_seq);

// One sequence of a step as the layout sees it.
struct StepInput {
  std::span<const int32_t> pages;  // block table, covering [0, start + n)
  int64_t start = 0;               // positions already cached
  const int32_t* tokens = nullptr;
  int64_t n = 0;
};

// Fills out[0 .. layout.total) for `seqs` with pages of `page_tokens`
// positions. table_stride 0 means "the most pages any sequence of the step
// needs" (the compact table of an eager step); a larger value (the context's
// page count, for decode steps captured in graphs) pads with -1.
// INVALID_ARGUMENT: no sequence, n < 1, pages that do not cover start + n,
// a table_stride below what a sequence needs, int32 overflow of the key
// prefix sums, or `out` too small.
absl::StatusOr<StepLayout> BuildStepArrays(std::span<const StepInput> seqs, int64_t page_tokens,
                                           int64_t vocab_begin, int64_t table_stride,
                                           std::span<int32_t> out);

// The KV slot of `position` in a block table: pages[position / page_tokens]
// * page_tokens + position % page_tokens; -1 when the table does not cover
// it.
int64_t SlotOf(std::span<const int32_t> pages, int64_t page_tokens, int64_t position);

}  // namespace proctor::engine::cuda

#endif  // PROCTOR_WORKER_ENGINE_CUDA_STEP_LAYOUT_H_
