// Judge jobs: code-execution verdicts for HumanEval/MBPP samples, run by
// workers with the `sandbox` capability, never by the coordinator
// (docs/design/job-lifecycle.md, "Judge jobs").
//
// Planned with the run, so they are as durable as any job and need no new
// store schema:
//  * Every sample whose target needs a judge (eval::TargetNeedsJudge) and
//    that has exactly one (generate) request g gets one judge request with
//    id judge_offset + g, where judge_offset is the largest request id of the
//    run's samples. The mapping is a pure function of the stored samples.
//  * One judge job per generate job that has such samples (at most
//    kMaxProgramsPerJudgeJob programs each), appended after the run's other
//    jobs. Its stored payload holds ExecuteCodeRequests with the language
//    and timeout only; program and tests are filled in at lease time from
//    the stored generate outputs (they do not exist at planning time).
//  * A judge job is QUEUED but *blocked* (kept out of the scheduler) until
//    every generate output it needs is stored. Blocking is not persisted: on
//    recovery it is recomputed from the stored outputs.
//  * The pending (needs_judge) score of a judged sample is not stored when
//    its generate output arrives; the score stored is the one with the
//    verdict applied (eval::ApplyJudgeVerdict), written in the same
//    transaction as the judge output. Repeated reports store nothing twice.
//  * When a run has no open model jobs left and a judge job is still
//    blocked (a generate job failed or was cancelled), the judge job is
//    cancelled; the run's state is decided by the failed job as usual.
#ifndef PROCTOR_COORDINATOR_JUDGING_H_
#define PROCTOR_COORDINATOR_JUDGING_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "coordinator/scheduling/planner.h"
#include "coordinator/store/store.h"

namespace proctor::coordinator {

inline constexpr int kMaxProgramsPerJudgeJob = 64;

// The largest request id of `samples` (0 when none): judge request ids are
// above it.
int64_t JudgeOffset(absl::Span<const SampleRecord> samples);

// Whether `sample` gets a judge request (its one request id g maps to judge
// request JudgeOffset + g).
bool IsJudgedSample(const SampleRecord& sample);

// Whether `score` (from ScoreSample over a sample's `num_requests` outputs)
// is held back until its judge verdict: the sample is judged and the score
// still needs a judge.
bool WaitsForJudge(const std::string& target, size_t num_requests, const std::string& score);

// Appends the judge jobs of `planned` (see the file comment) to
// planned.jobs / planned.payloads, and returns, for each appended job in
// order, the generate request ids it waits for. No-op for runs without code
// samples. INVALID_ARGUMENT when a judged sample's request is in no job.
absl::StatusOr<std::vector<std::vector<int64_t>>> PlanJudgeJobs(PlannedRun& planned);

// Which judge jobs still wait for generate outputs, per run. Not
// thread-safe: the coordinator holds its lock around every call.
class JudgeBook {
 public:
  // Registers `judge_job_id` of `run_id` as blocked until every id in
  // `waiting_for` is reported stored. Returns true when it is blocked
  // (waiting_for not empty); false means it may be scheduled at once.
  bool Block(const std::string& run_id, int64_t judge_job_id,
             absl::Span<const int64_t> waiting_for);
  // Records that the outputs of `request_ids` are stored; returns the judge
  // jobs of the run that are no longer blocked (each at most once).
  std::vector<int64_t> OutputsStored(const std::string& run_id,
                                     absl::Span<const int64_t> request_ids);
  bool IsBlocked(int64_t judge_job_id) const { return waiting_.contains(judge_job_id); }
  // Blocked judge jobs of the run, ascending.
  std::vector<int64_t> BlockedJobs(const std::string& run_id) const;
  // Drops everything about the run (it reached a terminal state).
  void ForgetRun(const std::string& run_id);
  // Unblocks `judge_job_id` without its outputs (it is being cancelled).
  void Unblock(int64_t judge_job_id);

 private:
  struct RunBook {
    // generate request id -> blocked judge job waiting for it
    absl::flat_hash_map<int64_t, int64_t> job_of_request;
    absl::flat_hash_set<int64_t> jobs;
  };
  absl::flat_hash_map<std::string, RunBook> runs_;
  // blocked judge job id -> (run id, number of outputs still missing)
  absl::flat_hash_map<int64_t, std::pair<std::string, int64_t>> waiting_;
};

}  // namespace proctor::coordinator

#endif  // PROCTOR_COORDINATOR_JUDGING_H_
