// Runs the requests of one job on a Model: the evaluation-shaped execution of
// docs/design/engine.md.
//
//  * Log-likelihood requests follow SUITE.md rules 1-3: context and
//    continuation are tokenised together and the continuation is whatever
//    follows the longest common token prefix with the context alone (trailing
//    context whitespace moved to the continuation first); an empty context
//    scores after BOS (EOS when the model has none); sequences longer than the
//    context window are truncated from the left, never dropping scored tokens.
//  * Rolling log-likelihood uses disjoint prediction windows of up to the
//    context length, each conditioned on as much preceding text as fits.
//  * Every scored sequence of the job is visited in lexicographic token order,
//    i.e. a depth-first walk of the token-level prefix tree of the job: the KV
//    cache is rewound only to the longest prefix shared with the previous
//    sequence, so a shared few-shot prefix and question are computed once and
//    every continuation branches from them. Only the scored positions are
//    scored, by the transformer's vocabulary-parallel LogProbs (log-softmax +
//    gather + argmax; logits are never gathered across ranks).
//  * Branch batching (options.batching, with prefix_sharing): consecutive
//    sequences of that order that branch from one prefix-tree node (typically
//    the continuations of one multiple-choice question) form a group: the
//    cache is brought to the group's common prefix P of fed tokens, each
//    distinct member past P extends a fork of it (the last one the cache
//    itself), all in one ExtendBatch, and all their scored rows go through one
//    LogProbs pass. Rule: a member joins while the group recomputes at most 2
//    positions that the one-by-one walk would reuse (sum over members of their
//    common prefix with the previous member, or the cache, minus P), the
//    group's rows fit Transformer::max_step_rows() and it has at most
//    options.max_group members. So an MMLU question's letters form one group
//    forked after the question, never many questions forked after the shared
//    few-shot block; results equal the walk's up to float summation order.
//  * Generation is greedy (or seeded temperature/top-p sampling), stopping at
//    EOS, max_new_tokens, the context limit, or the first stop string in the
//    detokenised text (which is cut off). With options.batching the job's
//    generate requests run together (continuous batching): up to
//    options.max_batch sequences decode one token each per ExtendBatch step and
//    a finished one is emitted at once and its slot given to the next waiting
//    request, whose prompt forks from the prefix it shares with its neighbours
//    (e.g. a few-shot block). Each request keeps its own seeded sampler.
// Not thread-safe: one Run at a time.
#ifndef PROCTOR_WORKER_ENGINE_JOB_RUNNER_H_
#define PROCTOR_WORKER_ENGINE_JOB_RUNNER_H_

#include <atomic>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proctor/v1/requests.pb.h"
#include "proctor/v1/worker.pb.h"
#include "worker/engine/engine.h"
#include "worker/engine/model.h"
#include "worker/engine/transformer.h"

namespace proctor::engine {

struct JobRunnerOptions {
  // Reuse the KV cache across sequences sharing a token prefix. Off = every
  // sequence is computed from scratch (for tests and benchmarks).
  bool prefix_sharing = true;
  // Maximum context window; 0 = the model's context length.
  int64_t max_context = 0;
  // Batched steps: branch groups for scoring (needs prefix_sharing) and
  // continuous batching for generation. Off = the one-by-one path (one
  // sequence per forward step), kept as the reference for tests and benchmarks.
  bool batching = true;
  // Generate requests decoded together (>= 1).
  int max_batch = 16;
  // Members of one scoring branch group (>= 1).
  int max_group = 64;
};

struct JobStats {
  int64_t sequences = 0;        // scored sequences + generate prompts
  int64_t tokens_computed = 0;  // positions run through the transformer
  int64_t tokens_reused = 0;    // positions taken from the cache instead
  int64_t tokens_scored = 0;    // positions whose logits were computed
  int64_t extend_calls = 0;     // Extend / ExtendBatch calls (batches of steps)
};

// A sequence to score: tokens[score_from..] are predicted from what precedes.
struct ScoredSequence {
  std::vector<int32_t> tokens;
  int64_t score_from = 1;
};

class JobRunner {
 public:
  // `model` and `transformer` must outlive the runner.
  JobRunner(const Model* model, const Transformer* transformer, JobRunnerOptions options);

  // See LoadedModel::RunJob. Validates every request first (INVALID_ARGUMENT
  // naming the request id), then runs them.
  absl::Status Run(const v1::Job& job, const std::vector<int64_t>& skip_request_ids,
                   const OutputSink& sink, const std::atomic<bool>& cancelled);

  // Tokenises a log-likelihood pair per SUITE.md rules 1-3 (exposed for tests).
  absl::StatusOr<ScoredSequence> LoglikelihoodSequence(const std::string& context,
                                                       const std::string& continuation) const;

  // Rolling windows of `text` (exposed for tests).
  std::vector<ScoredSequence> RollingSequences(const std::string& text) const;

  // Sum of log p and whether every token was the argmax, for one sequence,
  // reusing the cache (exposed for tests and the benchmark).
  absl::Status Score(const ScoredSequence& seq, double* logprob, bool* greedy);

  const JobStats& stats() const { return stats_; }
  void ResetStats() { stats_ = JobStats(); }
  int64_t CacheBytes() const { return cache_.Bytes(); }

 private:
  int64_t MaxContext() const;
  int32_t StartToken() const;  // BOS, else EOS
  // Brings the cache to exactly `feed` (reusing the shared prefix).
  absl::Status Prefill(std::span<const int32_t> feed);
  // Scores `members` (each with something to score) as one branch group: the
  // cache is brought to the first `fork_at` fed tokens (shared by every
  // member), each longer member extends a fork of it, one ExtendBatch, one
  // LogProbs pass. Results in logprob[i], greedy[i].
  absl::Status ScoreGroup(std::span<const ScoredSequence* const> members, int64_t fork_at,
                          double* logprob, bool* greedy);
  // The prompt of a generate request, left-truncated for max_new tokens.
  std::vector<int32_t> GeneratePrompt(const std::string& context, int64_t max_new) const;
  // One request, one sequence per step (the reference path).
  absl::StatusOr<v1::GenerateOutput> Generate(const std::string& context,
                                              const v1::GenerateRequest& req);
  // All of `requests` (context, request) with continuous batching; each
  // output goes to sink as soon as its request finishes.
  absl::Status GenerateBatched(
      const std::vector<std::pair<std::string, const v1::Request*>>& requests,
      const OutputSink& sink, const std::atomic<bool>& cancelled);

  const Model* model_;
  const Transformer* tf_;
  JobRunnerOptions options_;
  KvCache cache_;
  JobStats stats_;
};

}  // namespace proctor::engine

#endif  // PROCTOR_WORKER_ENGINE_JOB_RUNNER_H_
