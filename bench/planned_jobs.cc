#include "bench/planned_jobs.h"

#include "absl/time/clock.h"
#include "common/status_macros.h"

namespace proctor::bench {

absl::StatusOr<coordinator::PlannedRun> PlanLikeCoordinator(const eval::Catalog& catalog,
                                                            const v1::RunSpec& spec) {
  PROCTOR_ASSIGN_OR_RETURN(eval::RunPlan plan, catalog.Plan(spec));
  return coordinator::PlanRun("bench", spec, plan, coordinator::PlannerOptions{}, absl::Now());
}

v1::Job LeasedJob(const coordinator::JobPayload& payload, int64_t job_id,
                  const v1::ModelRef& model) {
  v1::Job job;
  job.set_job_id(job_id);
  job.set_run_id("bench");
  *job.mutable_model() = model;
  for (const std::string& p : payload.prefixes) job.add_prefixes(p);
  for (const v1::Request& r : payload.requests) *job.add_requests() = r;
  return job;
}

}  // namespace proctor::bench
