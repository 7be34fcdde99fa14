// Judge jobs: planning and bookkeeping (pure), and the Coordinator's judge
// paths (payload at lease time, verdict ingestion, recovery, stranded jobs).
// The rules are in judging.h.
#include "coordinator/judging.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "coordinator/coordinator.h"
#include "eval/judge.h"

namespace proctor::coordinator {

int64_t JudgeOffset(absl::Span<const SampleRecord> samples) {
  int64_t max_id = 0;
  for (const SampleRecord& s : samples) {
    for (int64_t id : s.request_ids) max_id = std::max(max_id, id);
  }
  return max_id;
}

bool IsJudgedSample(const SampleRecord& sample) {
  return sample.request_ids.size() == 1 && eval::TargetNeedsJudge(sample.target);
}

bool WaitsForJudge(const std::string& target, size_t num_requests, const std::string& score) {
  return num_requests == 1 && eval::TargetNeedsJudge(target) && eval::JudgeTaskOf(score).ok();
}

absl::StatusOr<std::vector<std::vector<int64_t>>> PlanJudgeJobs(PlannedRun& planned) {
  std::vector<std::vector<int64_t>> inputs;
  const int64_t offset = JudgeOffset(planned.samples);
  // Generate request id -> (dataset) of judged samples.
  absl::flat_hash_map<int64_t, const SampleRecord*> judged;
  for (const SampleRecord& s : planned.samples) {
    if (IsJudgedSample(s)) judged[s.request_ids[0]] = &s;
  }
  if (judged.empty()) return inputs;
  const size_t model_jobs = planned.jobs.size();
  size_t found = 0;
  for (size_t j = 0; j < model_jobs; ++j) {
    std::vector<const v1::Request*> code;
    for (const v1::Request& r : planned.payloads[j].requests) {
      if (judged.contains(r.request_id())) code.push_back(&r);
    }
    found += code.size();
    for (size_t begin = 0; begin < code.size(); begin += kMaxProgramsPerJudgeJob) {
      const size_t end = std::min(code.size(), begin + kMaxProgramsPerJudgeJob);
      JobRecord job = planned.jobs[j];  // run, priority, submitter
      job.index_in_run = static_cast<int32_t>(planned.jobs.size());
      job.judge = true;
      job.model_key = "judge";
      job.estimated_tokens = 0;
      job.num_requests = static_cast<int32_t>(end - begin);
      job.tensor_parallel = 0;
      job.min_gpu_memory_bytes = 0;
      job.backend.clear();
      JobPayload payload;
      std::vector<int64_t> waits;
      for (size_t k = begin; k < end; ++k) {
        const int64_t g = code[k]->request_id();
        v1::Request r;
        r.set_request_id(offset + g);
        v1::ExecuteCodeRequest* c = r.mutable_execute_code();
        c->set_language("python");
        const absl::Duration t = eval::JudgeTimeout(judged.at(g)->dataset);
        c->mutable_timeout()->set_seconds(absl::ToInt64Seconds(t));
        c->mutable_timeout()->set_nanos(
            static_cast<int32_t>(absl::ToInt64Nanoseconds(t % absl::Seconds(1))));
        payload.requests.push_back(std::move(r));
        waits.push_back(g);
      }
      planned.jobs.push_back(std::move(job));
      planned.payloads.push_back(std::move(payload));
      inputs.push_back(std::move(waits));
    }
  }
  if (found != judged.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("plan: ", judged.size() - found, " judged samples have a request in no job"));
  }
  return inputs;
}

// ---- JudgeBook ----------------------------------------------------------------

bool JudgeBook::Block(const std::string& run_id, int64_t judge_job_id,
                      absl::Span<const int64_t> waiting_for) {
  if (waiting_for.empty()) return false;
  RunBook& run = runs_[run_id];
  for (int64_t id : waiting_for) run.job_of_request[id] = judge_job_id;
  run.jobs.insert(judge_job_id);
  waiting_[judge_job_id] = {run_id, static_cast<int64_t>(waiting_for.size())};
  return true;
}

std::vector<int64_t> JudgeBook::OutputsStored(const std::string& run_id,
                                              absl::Span<const int64_t> request_ids) {
  std::vector<int64_t> ready;
  auto run = runs_.find(run_id);
  if (run == runs_.end()) return ready;
  for (int64_t id : request_ids) {
    auto it = run->second.job_of_request.find(id);
    if (it == run->second.job_of_request.end()) continue;
    const int64_t job = it->second;
    run->second.job_of_request.erase(it);
    auto w = waiting_.find(job);
    if (w == waiting_.end()) continue;
    if (--w->second.second == 0) {
      waiting_.erase(w);
      run->second.jobs.erase(job);
      ready.push_back(job);
    }
  }
  if (run->second.jobs.empty()) runs_.erase(run);
  return ready;
}

std::vector<int64_t> JudgeBook::BlockedJobs(const std::string& run_id) const {
  std::vector<int64_t> out;
  auto run = runs_.find(run_id);
  if (run == runs_.end()) return out;
  out.assign(run->second.jobs.begin(), run->second.jobs.end());
  std::sort(out.begin(), out.end());
  return out;
}

void JudgeBook::Unblock(int64_t judge_job_id) {
  auto w = waiting_.find(judge_job_id);
  if (w == waiting_.end()) return;
  auto run = runs_.find(w->second.first);
  waiting_.erase(w);
  if (run == runs_.end()) return;
  run->second.jobs.erase(judge_job_id);
  for (auto it = run->second.job_of_request.begin(); it != run->second.job_of_request.end();) {
    auto here = it++;
    if (here->second == judge_job_id) run->second.job_of_request.erase(here);
  }
  if (run->second.jobs.empty()) runs_.erase(run);
}

void JudgeBook::ForgetRun(const std::string& run_id) {
  auto run = runs_.find(run_id);
  if (run == runs_.end()) return;
  for (int64_t job : run->second.jobs) waiting_.erase(job);
  runs_.erase(run);
}

// ---- Coordinator: the judge paths ---------------------------------------------

bool Coordinator::IsJudgeJob(int64_t job_id) {
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(job_id);
  return it != jobs_.end() && it->second.judge;
}

absl::Status Coordinator::RecoverJudgeJob(RunEntry& run, const JobRecord& job) {
  PROCTOR_ASSIGN_OR_RETURN(JobPayload payload, store_->LoadJobPayload(job.job_id));
  const int64_t offset = static_cast<int64_t>(run.request_to_sample.size()) - 1;
  std::vector<int64_t> inputs;
  for (const v1::Request& r : payload.requests) inputs.push_back(r.request_id() - offset);
  PROCTOR_ASSIGN_OR_RETURN(std::vector<v1::Output> stored,
                           store_->LoadOutputs(run.record.run_id, inputs));
  absl::flat_hash_set<int64_t> have;
  for (const v1::Output& o : stored) have.insert(o.request_id());
  std::vector<int64_t> missing;
  for (int64_t id : inputs) {
    if (!have.contains(id)) missing.push_back(id);
  }
  if (!judges_.Block(run.record.run_id, job.job_id, missing)) scheduler_.Enqueue(job);
  return absl::OkStatus();
}

void Coordinator::ReleaseJudgeJobs(RunEntry& run, const v1::ReportOutputsRequest& request) {
  std::vector<int64_t> ids;
  ids.reserve(static_cast<size_t>(request.outputs_size()));
  for (const v1::Output& o : request.outputs()) ids.push_back(o.request_id());
  for (int64_t id : judges_.OutputsStored(run.record.run_id, ids)) {
    auto it = jobs_.find(id);
    if (it == jobs_.end() || it->second.state != v1::JOB_STATE_QUEUED) continue;
    scheduler_.Enqueue(it->second);
    work_available_.SignalAll();
  }
}

void Coordinator::CancelStrandedJudgeJobs(RunEntry& run) {
  const std::vector<int64_t> blocked = judges_.BlockedJobs(run.record.run_id);
  if (blocked.empty()) return;
  for (int64_t id : run.job_ids) {
    auto it = jobs_.find(id);
    // A model job that may still run can still produce the outputs.
    if (it != jobs_.end() && !it->second.judge && !IsTerminal(it->second.state)) return;
  }
  std::vector<JobRecord> changed;
  for (int64_t id : blocked) {
    judges_.Unblock(id);
    auto it = jobs_.find(id);
    if (it == jobs_.end() || it->second.state != v1::JOB_STATE_QUEUED) continue;
    if (ApplyJobEvent(it->second, JobEvent::kCancel, "").ok()) {
      it->second.failure_reason =
          "cancelled: the generate outputs it judges will never arrive (a model job failed)";
      changed.push_back(it->second);
    }
  }
  // Written before the caller's own record (the queue keeps mutation order).
  if (!changed.empty()) persist_.Enqueue(std::move(changed));
}

absl::Status Coordinator::FillJudgePayload(const JobRecord& job, JobPayload& payload) {
  struct Input {
    int64_t generate_id;
    std::string dataset;
    std::string target;
  };
  std::vector<Input> inputs;
  {
    absl::MutexLock lock(&mu_);
    auto run = runs_.find(job.run_id);
    if (run == runs_.end() || run->second.request_to_sample.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("judge job ", job.job_id, ": run ", job.run_id, " is finished"));
    }
    const RunEntry& r = run->second;
    const int64_t offset = static_cast<int64_t>(r.request_to_sample.size()) - 1;
    for (const v1::Request& req : payload.requests) {
      const int64_t g = req.request_id() - offset;
      if (g <= 0 || g > offset || r.request_to_sample[static_cast<size_t>(g)] < 0) {
        return absl::DataLossError(absl::StrCat("judge job ", job.job_id, ": request ",
                                                req.request_id(), " judges no sample"));
      }
      const SampleSlot& slot =
          r.samples[static_cast<size_t>(r.request_to_sample[static_cast<size_t>(g)])];
      inputs.push_back(Input{g, slot.dataset, slot.target});
    }
  }
  std::vector<int64_t> ids;
  for (const Input& in : inputs) ids.push_back(in.generate_id);
  PROCTOR_ASSIGN_OR_RETURN(std::vector<v1::Output> outputs, store_->LoadOutputs(job.run_id, ids));
  absl::flat_hash_map<int64_t, const v1::Output*> by_id;
  for (const v1::Output& o : outputs) by_id[o.request_id()] = &o;
  for (size_t i = 0; i < inputs.size(); ++i) {
    auto it = by_id.find(inputs[i].generate_id);
    if (it == by_id.end()) {
      return absl::InternalError(absl::StrCat("judge job ", job.job_id, ": generate output ",
                                              inputs[i].generate_id, " is not stored"));
    }
    absl::StatusOr<std::string> score =
        catalog_->ScoreSample(inputs[i].dataset, inputs[i].target, absl::MakeSpan(it->second, 1));
    if (!score.ok()) return score.status();
    v1::ExecuteCodeRequest* code = payload.requests[i].mutable_execute_code();
    absl::StatusOr<eval::JudgeTask> task = eval::JudgeTaskOf(*score, inputs[i].target);
    if (task.ok()) {
      code->set_program(std::move(task->program));
      code->set_tests(std::move(task->tests));
    } else if (!absl::IsFailedPrecondition(task.status())) {
      return task.status();
    }
    // A score that needs no judge runs an empty program; its verdict is
    // ignored at ingestion.
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::ReportOutputsResponse> Coordinator::StoreJudgeOutputs(
    const v1::ReportOutputsRequest& request) {
  struct Verdict {
    int64_t generate_id;
    std::string dataset;
    int64_t sample_index;
    std::string target;
    bool passed;
  };
  std::vector<Verdict> verdicts;
  OutputBatch batch;
  {
    absl::MutexLock lock(&mu_);
    PROCTOR_ASSIGN_OR_RETURN(JobRecord * job,
                             FindLeasedJob(request.job_id(), request.fencing_token()));
    const RunEntry& run = runs_.at(job->run_id);
    batch.run_id = job->run_id;
    batch.job_id = job->job_id;
    const int64_t offset = static_cast<int64_t>(run.request_to_sample.size()) - 1;
    for (int i = 0; i < request.outputs_size(); ++i) {
      const v1::Output& o = request.outputs(i);
      const int64_t g = o.request_id() - offset;
      if (offset <= 0 || g <= 0 || g > offset ||
          run.request_to_sample[static_cast<size_t>(g)] < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("outputs[", i, "].request_id: ", o.request_id(),
                         " is not a judge request of run ", run.record.run_id));
      }
      if (!o.has_execute_code()) {
        return absl::InvalidArgumentError(
            absl::StrCat("outputs[", i, "]: a judge job's outputs must be execute_code"));
      }
      if (o.execute_code().outcome() == v1::EXECUTION_OUTCOME_UNSPECIFIED ||
          !v1::ExecutionOutcome_IsValid(o.execute_code().outcome())) {
        return absl::InvalidArgumentError(
            absl::StrCat("outputs[", i, "].execute_code.outcome: ", o.execute_code().outcome(),
                         " is not a valid outcome"));
      }
      const SampleSlot& slot =
          run.samples[static_cast<size_t>(run.request_to_sample[static_cast<size_t>(g)])];
      verdicts.push_back(Verdict{g, slot.dataset, slot.sample_index, slot.target,
                                 o.execute_code().outcome() == v1::EXECUTION_OUTCOME_PASSED});
    }
  }
  // Re-score each generate output (deterministic) and apply the verdict.
  std::vector<int64_t> ids;
  for (const Verdict& v : verdicts) ids.push_back(v.generate_id);
  PROCTOR_ASSIGN_OR_RETURN(std::vector<v1::Output> generated,
                           store_->LoadOutputs(batch.run_id, ids));
  absl::flat_hash_map<int64_t, const v1::Output*> by_id;
  for (const v1::Output& o : generated) by_id[o.request_id()] = &o;
  for (const Verdict& v : verdicts) {
    auto it = by_id.find(v.generate_id);
    if (it == by_id.end()) {
      return absl::FailedPreconditionError(absl::StrCat("judge output for request ", v.generate_id,
                                                        " before its generate output was stored"));
    }
    PROCTOR_ASSIGN_OR_RETURN(
        std::string pending,
        catalog_->ScoreSample(v.dataset, v.target, absl::MakeSpan(it->second, 1)));
    absl::StatusOr<std::string> judged = eval::ApplyJudgeVerdict(pending, v.passed);
    if (judged.ok()) {
      batch.scores.push_back(SampleScore{v.dataset, v.sample_index, *std::move(judged)});
    } else if (!absl::IsFailedPrecondition(judged.status())) {
      return judged.status();
    }
  }
  batch.outputs.assign(request.outputs().begin(), request.outputs().end());
  absl::StatusOr<int64_t> inserted = store_->WriteOutputs(batch);
  if (!inserted.ok()) {
    if (metrics_) metrics_->StoreError("write_outputs");
    return absl::UnavailableError(
        absl::StrCat("cannot store judge outputs: ", inserted.status().message()));
  }
  v1::ReportOutputsResponse out;
  absl::MutexLock lock(&mu_);
  auto run_it = runs_.find(batch.run_id);
  if (run_it != runs_.end()) {
    run_it->second.requests_done += *inserted;
    if (*inserted > 0) BumpRun(run_it->second);
  }
  if (metrics_) {
    metrics_->OutputsIngested(*inserted);
    metrics_->SamplesScored(static_cast<int64_t>(batch.scores.size()));
  }
  auto job_it = jobs_.find(request.job_id());
  out.set_job_state(job_it == jobs_.end() ? v1::JOB_STATE_UNSPECIFIED : job_it->second.state);
  return out;
}

}  // namespace proctor::coordinator
