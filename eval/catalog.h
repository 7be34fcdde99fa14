// The evaluation catalog: every set, group and suite of SUITE.md bound to a
// data directory. The coordinator's only entry point into evaluation
// semantics: it plans a run into requests, scores samples from outputs, and
// aggregates sample scores into set, group, dimension and overall results.
//
// Thread-safety: a Catalog is immutable after Create(); all methods are const
// and may be called concurrently.
#ifndef PROCTOR_EVAL_CATALOG_H_
#define PROCTOR_EVAL_CATALOG_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "proctor/v1/common.pb.h"
#include "proctor/v1/evaluation.pb.h"
#include "proctor/v1/requests.pb.h"

namespace proctor::eval {

// One sample of one set, turned into model-agnostic requests.
struct PlannedSample {
  std::string dataset;    // registry name, e.g. "arc_e"
  int64_t sample_index;   // position in the set's evaluation split
  // Opaque serialised scoring target (gold answer, option lengths, ...);
  // hand it back to ScoreSample unchanged.
  std::string target;
  // The sample's requests, in the order ScoreSample expects their outputs.
  // request_id and prefix_index are left 0: the planner assigns them.
  std::vector<v1::Request> requests;
  // Shared context prefix of every request of this sample (the few-shot
  // block), or empty. Request contexts do not repeat it; the full context is
  // prefix + context. Samples of a set usually share the same prefix.
  std::string prefix;
  int64_t estimated_prompt_tokens;  // rough: bytes / 4
  int64_t max_new_tokens;           // 0 for log-likelihood requests
};

struct RunPlan {
  // Deterministic: independent of sharding, repeated calls give equal plans.
  std::vector<PlannedSample> samples;
  // Each planned set with its planned sample count.
  std::vector<v1::DatasetInfo> datasets;
  std::vector<int64_t> dataset_sample_counts;  // parallel to `datasets`
};

// All per-sample scores of one set, for aggregation.
struct SetScores {
  std::string dataset;
  int64_t num_samples_planned = 0;
  std::vector<std::string> sample_scores;  // opaque, from ScoreSample, sample order
};

class Catalog {
 public:
  // `data_dir` holds the datasets in their upstream layout (e.g. the
  // ../shared/data/datasets folder). Sets whose files are missing are still
  // listed (available = false); planning them is FAILED_PRECONDITION with a
  // message naming the missing file and how to get it.
  static absl::StatusOr<std::unique_ptr<Catalog>> Create(std::string data_dir);
  virtual ~Catalog() = default;

  virtual std::vector<v1::DatasetInfo> ListDatasets() const = 0;
  virtual std::vector<v1::SuiteInfo> ListSuites() const = 0;

  // Validates and plans a run. INVALID_ARGUMENT names the field
  // ("spec.suite", "spec.datasets[2].name", "spec.limit") for unknown names
  // or bad values.
  virtual absl::StatusOr<RunPlan> Plan(const v1::RunSpec& spec) const = 0;

  // Post-processes and scores one sample. `outputs` are in the order of the
  // sample's requests. INVALID_ARGUMENT when an output does not match its
  // request (wrong kind, wrong number of continuations).
  virtual absl::StatusOr<std::string> ScoreSample(std::string_view dataset,
                                                  std::string_view target,
                                                  absl::Span<const v1::Output> outputs) const = 0;

  // Set scores (± stderr), groups, dimensions and Overall. Sets with fewer
  // scores than planned are reported incomplete, and so is every group they
  // belong to.
  virtual absl::StatusOr<v1::Results> Aggregate(const v1::RunSpec& spec,
                                                const std::vector<SetScores>& sets) const = 0;
};

}  // namespace proctor::eval

#endif  // PROCTOR_EVAL_CATALOG_H_
