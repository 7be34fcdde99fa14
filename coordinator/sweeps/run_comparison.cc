#include "coordinator/sweeps/run_comparison.h"

#include <algorithm>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "eval/compare.h"
#include "eval/compare_samples.h"

namespace proctor::coordinator {

absl::StatusOr<v1::SampleResults> GetSampleResults(Coordinator& coordinator,
                                                   const v1::GetSampleResultsRequest& request) {
  if (request.run_id().empty()) return absl::InvalidArgumentError("run_id: must not be empty");
  PROCTOR_ASSIGN_OR_RETURN(Coordinator::RunSampleScores scores,
                           coordinator.GetSampleScores(request.run_id()));
  for (int i = 0; i < request.datasets_size(); ++i) {
    const std::string& want = request.datasets(i);
    if (std::none_of(
            scores.sets.begin(), scores.sets.end(),
            [&](const Coordinator::RunSampleScores::Set& s) { return s.dataset == want; })) {
      return absl::InvalidArgumentError(absl::StrCat("datasets[", i, "]: run ", request.run_id(),
                                                     " did not plan set \"", want, "\""));
    }
  }
  v1::SampleResults out;
  out.set_run_id(request.run_id());
  out.set_model(scores.record.spec.model().name());
  for (Coordinator::RunSampleScores::Set& set : scores.sets) {
    if (request.datasets_size() > 0 &&
        std::find(request.datasets().begin(), request.datasets().end(), set.dataset) ==
            request.datasets().end()) {
      continue;
    }
    absl::StatusOr<v1::SampleResultSet> decoded =
        eval::DecodeSampleResults(set.dataset, set.num_samples_planned, std::move(set.scores));
    if (!decoded.ok()) {
      // Stored data that does not decode is the store's problem, not the caller's.
      return absl::Status(decoded.status().code() == absl::StatusCode::kInvalidArgument
                              ? absl::StatusCode::kDataLoss
                              : decoded.status().code(),
                          absl::StrCat("run ", request.run_id(), ": ", decoded.status().message()));
    }
    *out.add_sets() = *std::move(decoded);
  }
  return out;
}

absl::StatusOr<v1::Comparison> CompareRuns(Coordinator& coordinator,
                                           const v1::CompareRunsRequest& request) {
  if (request.run_a().empty()) return absl::InvalidArgumentError("run_a: must not be empty");
  if (request.run_b().empty()) return absl::InvalidArgumentError("run_b: must not be empty");
  eval::CompareOptions options;
  if (request.alpha() != 0) {
    if (!(request.alpha() > 0 && request.alpha() < 1)) {
      return absl::InvalidArgumentError(
          absl::StrCat("alpha: must be in (0, 1), got ", request.alpha()));
    }
    options.alpha = request.alpha();
  }
  v1::GetSampleResultsRequest ra, rb;
  ra.set_run_id(request.run_a());
  rb.set_run_id(request.run_b());
  PROCTOR_ASSIGN_OR_RETURN(v1::SampleResults samples_a, GetSampleResults(coordinator, ra));
  PROCTOR_ASSIGN_OR_RETURN(v1::SampleResults samples_b, GetSampleResults(coordinator, rb));
  PROCTOR_ASSIGN_OR_RETURN(v1::Results results_a, coordinator.GetResults(request.run_a()));
  PROCTOR_ASSIGN_OR_RETURN(v1::Results results_b, coordinator.GetResults(request.run_b()));
  absl::StatusOr<v1::Comparison> c =
      eval::CompareRuns(samples_a, results_a, samples_b, results_b, options);
  if (!c.ok() && c.status().code() == absl::StatusCode::kInvalidArgument) {
    return absl::DataLossError(c.status().message());  // our own data is malformed
  }
  return c;
}

}  // namespace proctor::coordinator
