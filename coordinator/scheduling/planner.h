// The planner: a RunSpec and its evaluation plan (eval::RunPlan, built by the
// catalog) become one run record, its jobs (shards) with their payloads, and
// the per-sample records the scorer needs. Pure and deterministic: no store,
// no clock (time is passed in), no randomness. Safe to call from any thread.
//
// Sharding (like OpenCompass's SizePartitioner, but over samples of a whole
// run so every shard of the run carries the same model key):
//  * Samples are taken in plan order and never split across jobs.
//  * A sample costs estimated_prompt_tokens + ceil(max_new_tokens x
//    generation_factor) tokens; a job's estimated_tokens is the sum.
//  * The next sample starts a new job when adding it would make the job's
//    cost exceed the token budget (spec.job_token_budget if > 0, else
//    options.job_token_budget) or its payload exceed max_job_payload_bytes. A
//    sample costlier than the whole budget gets a job of its own.
//  * Payload bytes are the serialised size of the job's `prefixes` and
//    `requests` fields of v1::Job (request ids and prefix indexes included).
//  * Prefixes: identical sample prefixes are stored once per job in
//    JobPayload::prefixes, in order of first use, and each request points at
//    its sample's with a 1-based prefix_index (0 = no prefix). Samples of one
//    set share a prefix and plan order keeps a set's samples together, so a
//    job mixes sets (and prefixes) only where a set ends inside it.
//  * Request ids are 1..N over the whole run, in plan order (sample order,
//    then the sample's request order).
#ifndef PROCTOR_COORDINATOR_SCHEDULING_PLANNER_H_
#define PROCTOR_COORDINATOR_SCHEDULING_PLANNER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "coordinator/store/store.h"
#include "eval/catalog.h"
#include "proctor/v1/common.pb.h"

namespace proctor::coordinator {

struct PlannerOptions {
  // Target estimated tokens per job when the spec does not set one (> 0).
  int64_t job_token_budget = 32768;
  // Weight of a generated token relative to a prompt token (decode is
  // sequential, so it costs more wall time than prefill); finite, >= 0.
  double generation_factor = 2.0;
  // Cap on a job's serialised prefixes + requests (> 0). The default leaves
  // room under gRPC's 4 MiB message limit for the lease fields.
  int64_t max_job_payload_bytes = 1 << 20;
  // Max attempts per job when the spec does not set one (>= 1).
  int32_t default_max_attempts = 3;
};

struct PlannedRun {
  RunRecord run;                      // state QUEUED, created_at = now, datasets filled
  std::vector<JobRecord> jobs;        // job_id 0 (the store assigns ids), state QUEUED
  std::vector<JobPayload> payloads;   // payloads[i] belongs to jobs[i]
  std::vector<SampleRecord> samples;  // plan order
};

// Plans `plan` (made by the catalog from `spec`) as run `run_id`.
//
// The run gets spec, created_at = now and datasets = (name, planned sample
// count) from the plan. Jobs get run_id, index_in_run 0.., model_key =
// ModelKey(spec.model), priority (UNSPECIFIED becomes INTERACTIVE),
// submitter, tensor_parallel, min_gpu_memory_bytes and backend from the spec,
// num_requests and estimated_tokens; judge is false (judge jobs are created
// from generated outputs later, not planned).
//
// Errors (INVALID_ARGUMENT, message naming the culprit):
//  * empty run_id; spec.job_token_budget < 0; spec.max_attempts < 0;
//  * an option out of range ("options.job_token_budget must be > 0, got 0");
//  * a plan with no samples, a datasets/dataset_sample_counts size mismatch;
//  * a sample with no requests, or a request with no kind set
//    ("dataset arc_e sample 17 request 2 has no kind");
//  * a sample whose requests and prefix alone exceed max_job_payload_bytes
//    ("dataset humaneval sample 3 needs 2100000 payload bytes, more than
//    options.max_job_payload_bytes 1048576").
absl::StatusOr<PlannedRun> PlanRun(const std::string& run_id, const v1::RunSpec& spec,
                                   const eval::RunPlan& plan, const PlannerOptions& options,
                                   absl::Time now);

// Stable cache key of a model reference: "<path or name>|<backend>|<tp>",
// e.g. "/models/llama-70b|cuda|8" or "smollm2-135m||0". '|' and '\' in the
// path are escaped with '\' so distinct references never share a key. Workers
// echo these keys back as loaded_models (model affinity).
std::string ModelKey(const v1::ModelRef& model);

// Max attempts for jobs of a run: spec.max_attempts if > 0, else
// options.default_max_attempts.
int32_t MaxAttempts(const v1::RunSpec& spec, const PlannerOptions& options);

}  // namespace proctor::coordinator

#endif  // PROCTOR_COORDINATOR_SCHEDULING_PLANNER_H_
