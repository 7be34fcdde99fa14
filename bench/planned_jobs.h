// The jobs a run becomes, for benchmarks that run them through an engine in
// their own process: planned exactly as the coordinator plans a submitted run
// (the catalog, then the coordinator's planner with default options), and
// each payload turned into the v1::Job a worker would lease.
#ifndef PROCTOR_BENCH_PLANNED_JOBS_H_
#define PROCTOR_BENCH_PLANNED_JOBS_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "coordinator/scheduling/planner.h"
#include "eval/catalog.h"
#include "proctor/v1/worker.pb.h"

namespace proctor::bench {

// `spec` planned by `catalog` and sharded by coordinator::PlanRun as run
// "bench". The catalog's and the planner's errors as they are.
absl::StatusOr<coordinator::PlannedRun> PlanLikeCoordinator(const eval::Catalog& catalog,
                                                            const v1::RunSpec& spec);

// The job of `payload` as leased to a worker for `model` (run "bench").
v1::Job LeasedJob(const coordinator::JobPayload& payload, int64_t job_id,
                  const v1::ModelRef& model);

}  // namespace proctor::bench

#endif  // PROCTOR_BENCH_PLANNED_JOBS_H_
