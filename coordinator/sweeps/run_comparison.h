// The coordinator side of paired comparisons: per-sample results of a run
// (decoded from the stored opaque scores by eval/compare_samples.h) and the
// comparison of two runs (eval/compare.h). The gRPC handlers of
// GetSampleResults and CompareRuns are thin wrappers over these.
//
// Thread-safety: as thread-safe as Coordinator (any thread).
#ifndef PROCTOR_COORDINATOR_SWEEPS_RUN_COMPARISON_H_
#define PROCTOR_COORDINATOR_SWEEPS_RUN_COMPARISON_H_

#include "absl/status/statusor.h"
#include "coordinator/coordinator.h"
#include "proctor/v1/evaluation.pb.h"

namespace proctor::coordinator {

// Per set of the run (plan order; only `request.datasets` when given), the
// scored samples' primary-metric values and corpus statistics.
// INVALID_ARGUMENT "run_id: ..." when empty, NOT_FOUND for an unknown run,
// INVALID_ARGUMENT "datasets[i]: ..." for a set the run did not plan.
absl::StatusOr<v1::SampleResults> GetSampleResults(Coordinator& coordinator,
                                                   const v1::GetSampleResultsRequest& request);

// Compares run_b against the baseline run_a (eval::CompareRuns). Both runs
// may still be in progress: only scored samples are compared.
// INVALID_ARGUMENT names the field (run_a, run_b, alpha).
absl::StatusOr<v1::Comparison> CompareRuns(Coordinator& coordinator,
                                           const v1::CompareRunsRequest& request);

}  // namespace proctor::coordinator

#endif  // PROCTOR_COORDINATOR_SWEEPS_RUN_COMPARISON_H_
