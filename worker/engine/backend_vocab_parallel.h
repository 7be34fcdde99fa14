// Vocabulary-parallel log-softmax (Megatron's "parallel cross entropy"): each
// tensor-parallel rank holds logits for a contiguous slice of the vocabulary
// and reduces every row to five numbers; only those are exchanged, never the
// logits. Shared by the CPU and CUDA backends (the CUDA backend computes the
// per-shard numbers on the device with the same definitions).
#ifndef PROCTOR_WORKER_ENGINE_BACKEND_VOCAB_PARALLEL_H_
#define PROCTOR_WORKER_ENGINE_BACKEND_VOCAB_PARALLEL_H_

#include <cstdint>

namespace proctor::engine {

// One row's summary over one vocabulary slice [vocab_begin, vocab_begin + n).
// Stored as five floats so a collective can move it (token ids are exact in
// F32 up to 2^24, far above any vocabulary).
struct VocabShardStats {
  float max = 0.0f;           // largest logit in the slice
  float sum_exp = 0.0f;       // sum of exp(logit - max) over the slice
  float target_logit = 0.0f;  // logit of the target when the slice holds it
  float has_target = 0.0f;    // 1 when the slice holds the target, else 0
  float argmax = 0.0f;        // global id of the slice's largest logit (lowest on ties)
};
static_assert(sizeof(VocabShardStats) == 5 * sizeof(float));
inline constexpr int64_t kVocabShardStatsFloats = 5;

// Summary of logits[0..n) (vocabulary ids vocab_begin..) for `target` (a
// global id; may lie outside the slice). n > 0.
VocabShardStats ReduceVocabShard(const float* logits, int64_t n, int64_t vocab_begin,
                                 int32_t target);

// Combines the summaries of one row from every rank, given in rank order
// (slices in increasing vocabulary order). logprob = target_logit -
// logsumexp over all slices; argmax = the global argmax (lowest id on ties,
// since lower ranks hold lower ids). logprob is NaN when no slice held the
// target.
void CombineVocabShards(const VocabShardStats* per_rank, int size, float* logprob, int32_t* argmax);

}  // namespace proctor::engine

#endif  // PROCTOR_WORKER_ENGINE_BACKEND_VOCAB_PARALLEL_H_
