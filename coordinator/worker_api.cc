// Coordinator: the worker-facing half — registration, leases with fencing
// tokens, heartbeats, output ingestion and scoring, expiry. See
// docs/design/job-lifecycle.md for the rules implemented here.
#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "coordinator/coordinator.h"
#include "coordinator/proto_time.h"
#include "coordinator/scheduling/job_state.h"

namespace proctor::coordinator {
namespace {

constexpr size_t kMaxOutputsPerMessage = 100'000;

WorkerProfile ProfileOf(const std::string& worker_id, const v1::WorkerCapabilities& caps) {
  WorkerProfile p;
  p.worker_id = worker_id;
  p.backend = caps.backend();
  p.gpu_count = caps.gpu_count();
  p.gpu_memory_bytes = caps.gpu_memory_bytes();
  p.sandbox = caps.sandbox();
  p.loaded_models.assign(caps.loaded_models().begin(), caps.loaded_models().end());
  return p;
}

}  // namespace

int64_t Coordinator::NextFencingToken() {
  if (next_token_ >= token_limit_) {
    // Rare (once per block): reserve the next block durably under the lock.
    absl::StatusOr<int64_t> first = store_->ReserveFencingTokens(100'000);
    if (first.ok()) {
      next_token_ = *first;
      token_limit_ = *first + 100'000;
    } else {
      PROCTOR_LOG(ERROR) << "cannot reserve fencing tokens: " << first.status();
      return -1;
    }
  }
  return next_token_++;
}

absl::StatusOr<v1::JobState> Coordinator::ApplyJobEvent(JobRecord& job, JobEvent event,
                                                        const std::string& reason) {
  RunEntry& run = runs_.at(job.run_id);
  const v1::JobState from = job.state;
  const int32_t attempts = job.attempts + (event == JobEvent::kLease ? 1 : 0);
  PROCTOR_ASSIGN_OR_RETURN(v1::JobState next,
                           TransitionJob(from, event, attempts, run.max_attempts));
  const absl::Time now = clock_->Now();
  if (from == v1::JOB_STATE_LEASED && next != v1::JOB_STATE_LEASED) {
    leased_.erase(job.job_id);
    scheduler_.LeaseEnded(job.submitter);
    auto w = workers_.find(job.worker_id);
    if (w != workers_.end()) w->second.leased_jobs.erase(job.job_id);
    job.lease_expires_at = absl::InfinitePast();
  }
  switch (event) {
    case JobEvent::kLease:
      job.attempts = attempts;
      job.lease_expires_at = now + options_.lease_ttl;
      leased_.insert(job.job_id);
      scheduler_.LeaseStarted(job.submitter);
      break;
    case JobEvent::kRelease:
      job.attempts = std::max(0, job.attempts - 1);  // a hand-back costs no attempt
      job.not_before = absl::InfinitePast();
      break;
    case JobEvent::kFail:
    case JobEvent::kLeaseExpired:
    case JobEvent::kFailPermanent:
      job.failure_reason = reason;
      if (next == v1::JOB_STATE_QUEUED) {
        job.not_before = now + RetryBackoff(job.attempts);
        if (metrics_) metrics_->JobRetried();
      } else if (next == v1::JOB_STATE_FAILED) {
        job.failure_reason =
            absl::StrCat(reason, " (attempt ", job.attempts, " of ", run.max_attempts, ")");
        if (metrics_) metrics_->JobPoisoned();
        PROCTOR_LOG(WARNING) << "job " << job.job_id << " of " << job.run_id
                             << " failed: " << job.failure_reason;
      }
      if (event == JobEvent::kLeaseExpired && metrics_) metrics_->LeaseExpired();
      break;
    case JobEvent::kCancel:
      if (from == v1::JOB_STATE_QUEUED) scheduler_.Remove(job.job_id);
      break;
    case JobEvent::kComplete:
      break;
  }
  job.state = next;
  if (IsTerminal(next)) stored_outputs_.erase(job.job_id);
  if (next == v1::JOB_STATE_QUEUED && from != v1::JOB_STATE_QUEUED) {
    scheduler_.Enqueue(job);
    // Wake the long-polls only for a job that can be leased now. A retry in
    // backoff cannot be: Tick announces it once its not_before has passed, so
    // a failing job does not wake every idle worker's Lease for nothing.
    if (job.not_before <= now) work_available_.SignalAll();
  }
  run.job_counts[from]--;
  run.job_counts[next]++;
  if (metrics_) metrics_->JobTransition(JobEventName(event));
  BumpRun(run);
  return next;
}

absl::StatusOr<JobRecord*> Coordinator::FindLeasedJob(int64_t job_id, int64_t fencing_token) {
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) {
    return absl::FailedPreconditionError(
        absl::StrCat("stale fencing token ", fencing_token, " for job ", job_id,
                     " (no current lease: the job is unknown or its run is finished)"));
  }
  JobRecord& job = it->second;
  if (job.state != v1::JOB_STATE_LEASED || job.fencing_token != fencing_token) {
    return absl::FailedPreconditionError(
        absl::StrCat("stale fencing token ", fencing_token, " for job ", job_id, " (job is ",
                     v1::JobState_Name(job.state), ", current token ", job.fencing_token, ")"));
  }
  return &job;
}

void Coordinator::ReleaseWorkerLeases(WorkerEntry& worker, const std::string& reason,
                                      std::vector<uint64_t>& tickets) {
  std::vector<int64_t> ids(worker.leased_jobs.begin(), worker.leased_jobs.end());
  for (int64_t id : ids) {
    auto it = jobs_.find(id);
    if (it == jobs_.end() || it->second.state != v1::JOB_STATE_LEASED) continue;
    if (ApplyJobEvent(it->second, JobEvent::kLeaseExpired, reason).ok()) {
      tickets.push_back(Persist(it->second, UpdateRunState(runs_.at(it->second.run_id))));
    }
  }
  worker.leased_jobs.clear();
}

absl::StatusOr<v1::RegisterResponse> Coordinator::Register(const v1::RegisterRequest& request) {
  if (request.worker_name().empty()) {
    return absl::InvalidArgumentError("worker_name is empty");
  }
  if (request.worker_name().size() > 256) {
    return absl::InvalidArgumentError("worker_name: longer than 256 bytes");
  }
  const auto& caps = request.capabilities();
  if (caps.gpu_count() < 0 || caps.gpu_memory_bytes() < 0) {
    return absl::InvalidArgumentError("capabilities: gpu_count and gpu_memory_bytes must be >= 0");
  }
  if (caps.loaded_models_size() > 64) {
    return absl::InvalidArgumentError("capabilities.loaded_models: more than 64");
  }
  std::vector<uint64_t> tickets;
  v1::RegisterResponse out;
  {
    absl::MutexLock lock(&mu_);
    auto old = worker_by_name_.find(request.worker_name());
    if (old != worker_by_name_.end()) {
      // The same worker started again: whatever it held died with it.
      auto w = workers_.find(old->second);
      if (w != workers_.end()) {
        ReleaseWorkerLeases(w->second, "worker restarted while holding the lease", tickets);
        workers_.erase(w);
      }
    }
    const std::string id =
        absl::StrCat(request.worker_name(), "@", incarnation_, ".", ++worker_seq_);
    WorkerEntry entry;
    entry.info.set_worker_id(id);
    entry.info.set_worker_name(request.worker_name());
    *entry.info.mutable_capabilities() = caps;
    if (entry.info.capabilities().backend().empty()) {
      entry.info.mutable_capabilities()->set_backend("cpu");
    }
    entry.info.set_state(v1::WORKER_STATE_IDLE);
    entry.profile = ProfileOf(id, entry.info.capabilities());
    entry.last_seen = clock_->Now();
    workers_[id] = std::move(entry);
    worker_by_name_[request.worker_name()] = id;
    out.set_worker_id(id);
    DurationToProto(options_.heartbeat_interval, out.mutable_heartbeat_interval());
    DurationToProto(options_.lease_ttl, out.mutable_lease_ttl());
    RefreshGauges();
    PROCTOR_LOG(INFO) << "worker " << id << " registered (backend " << caps.backend() << ", gpus "
                      << caps.gpu_count() << (caps.sandbox() ? ", sandbox" : "") << ")";
  }
  for (uint64_t t : tickets) PROCTOR_RETURN_IF_ERROR(persist_.Await(t));
  return out;
}

absl::StatusOr<v1::LeaseResponse> Coordinator::Lease(const v1::LeaseRequest& request) {
  if (request.worker_id().empty()) return absl::InvalidArgumentError("worker_id is empty");
  if (request.wait().seconds() < 0 || request.wait().nanos() < 0) {
    return absl::InvalidArgumentError("wait must be >= 0");
  }
  if (request.model_identities_size() > 64) {
    return absl::InvalidArgumentError("model_identities: more than 64");
  }
  for (int i = 0; i < request.model_identities_size(); ++i) {
    PROCTOR_RETURN_IF_ERROR(ValidateModelIdentity(request.model_identities(i),
                                                  absl::StrCat("model_identities[", i, "]")));
  }
  const absl::Duration wait = std::min(DurationFromProto(request.wait()), options_.max_lease_wait);
  const absl::Time deadline = absl::Now() + wait;
  while (true) {
    PROCTOR_ASSIGN_OR_RETURN(v1::LeaseResponse out, LeaseOnce(request, deadline));
    if (!out.has_job()) return out;
    absl::StatusOr<bool> answered = AnswerFromCache(request, out.mutable_job());
    if (!answered.ok()) {
      // The worker runs whatever the cache did not answer.
      PROCTOR_LOG(WARNING) << "job " << out.job().job_id()
                           << ": result cache not used: " << answered.status();
    }
    if (!answered.ok() || !*answered) return out;
  }
}

absl::StatusOr<v1::LeaseResponse> Coordinator::LeaseOnce(const v1::LeaseRequest& request,
                                                         absl::Time deadline) {
  v1::LeaseResponse out;
  DurationToProto(options_.lease_ttl, out.mutable_lease_ttl());
  JobRecord job;
  uint64_t ticket = 0;
  absl::Time pick_start;
  absl::Time enqueued_at;
  {
    absl::MutexLock lock(&mu_);
    auto w = workers_.find(request.worker_id());
    if (w == workers_.end()) {
      return absl::NotFoundError(
          absl::StrCat("worker ", request.worker_id(), " is not registered; register again"));
    }
    WorkerEntry* worker = &w->second;
    worker->last_seen = clock_->Now();
    worker->profile.loaded_models.assign(request.loaded_models().begin(),
                                         request.loaded_models().end());
    *worker->info.mutable_capabilities()->mutable_loaded_models() = request.loaded_models();
    std::optional<JobRecord> picked;
    while (true) {
      if (shutdown_) return absl::UnavailableError("coordinator is shutting down");
      if (worker->drain_requested || worker->draining) break;
      pick_start = absl::Now();
      picked = scheduler_.Pick(worker->profile, clock_->Now());
      if (picked || absl::Now() >= deadline) break;
      work_available_.WaitWithDeadline(&mu_, deadline);
      // The worker may have been replaced while we waited.
      w = workers_.find(request.worker_id());
      if (w == workers_.end()) return absl::AbortedError("worker re-registered while waiting");
      worker = &w->second;
    }
    if (!picked) {
      DurationToProto(absl::Seconds(1), out.mutable_retry_after());
      return out;
    }
    JobRecord& j = jobs_.at(picked->job_id);
    enqueued_at = j.not_before;
    const int64_t token = NextFencingToken();
    if (token < 0) {
      scheduler_.Enqueue(j);
      return absl::UnavailableError("cannot reserve a fencing token; store unavailable");
    }
    j.fencing_token = token;
    j.worker_id = worker->info.worker_id();
    PROCTOR_RETURN_IF_ERROR(ApplyJobEvent(j, JobEvent::kLease, "").status());
    worker->leased_jobs.insert(j.job_id);
    worker->info.set_state(v1::WORKER_STATE_BUSY);
    const bool run_changed = UpdateRunState(runs_.at(j.run_id));
    ticket = Persist(j, run_changed);
    job = j;
  }
  // The payload is immutable: read it while the lease record is being
  // committed (the group commit gathers more leases meanwhile), but answer
  // only once the lease is durable.
  absl::StatusOr<JobPayload> payload = store_->LoadJobPayload(job.job_id);
  absl::Status persisted = persist_.Await(ticket);
  if (!persisted.ok()) {
    if (metrics_) metrics_->StoreError("update_jobs");
    // The lease stays in memory and expires; the job is retried then.
    return absl::UnavailableError(absl::StrCat("cannot persist lease: ", persisted.message()));
  }
  if (!payload.ok()) {
    if (metrics_) metrics_->StoreError("read");
    return payload.status();
  }
  if (job.judge) PROCTOR_RETURN_IF_ERROR(FillJudgePayload(job, *payload));
  v1::Job* out_job = out.mutable_job();
  out_job->set_job_id(job.job_id);
  out_job->set_run_id(job.run_id);
  out_job->set_fencing_token(job.fencing_token);
  out_job->set_model_key(job.model_key);
  out_job->set_judge(job.judge);
  out_job->set_attempt(job.attempts);
  {
    absl::MutexLock lock(&mu_);
    auto run = runs_.find(job.run_id);
    if (run != runs_.end()) *out_job->mutable_model() = run->second.record.spec.model();
  }
  for (std::string& p : payload->prefixes) out_job->add_prefixes(std::move(p));
  for (v1::Request& r : payload->requests) *out_job->add_requests() = std::move(r);
  if (metrics_) {
    const double wait_s = enqueued_at == absl::InfinitePast()
                              ? 0.0
                              : absl::ToDoubleSeconds(clock_->Now() - enqueued_at);
    metrics_->LeaseGranted(absl::ToDoubleSeconds(absl::Now() - pick_start), std::max(0.0, wait_s));
  }
  return out;
}

absl::StatusOr<v1::HeartbeatResponse> Coordinator::Heartbeat(const v1::HeartbeatRequest& request) {
  if (request.worker_id().empty()) return absl::InvalidArgumentError("worker_id is empty");
  v1::HeartbeatResponse out;
  DurationToProto(options_.lease_ttl, out.mutable_lease_ttl());
  absl::MutexLock lock(&mu_);
  auto w = workers_.find(request.worker_id());
  if (w == workers_.end()) {
    return absl::NotFoundError(
        absl::StrCat("worker ", request.worker_id(), " is not registered; register again"));
  }
  WorkerEntry& worker = w->second;
  const absl::Time now = clock_->Now();
  worker.last_seen = now;
  worker.draining = worker.draining || request.draining();
  for (const v1::ActiveLease& lease : request.leases()) {
    auto it = jobs_.find(lease.job_id());
    if (it == jobs_.end()) {
      out.add_lost_job_ids(lease.job_id());
      continue;
    }
    JobRecord& job = it->second;
    if (job.state == v1::JOB_STATE_CANCELLED) {
      out.add_cancelled_job_ids(lease.job_id());
    } else if (job.state == v1::JOB_STATE_LEASED && job.fencing_token == lease.fencing_token()) {
      job.lease_expires_at = now + options_.lease_ttl;
      if (job.worker_id != worker.info.worker_id()) {
        // Re-attachment after a coordinator restart or a worker re-register.
        auto old = workers_.find(job.worker_id);
        if (old != workers_.end()) old->second.leased_jobs.erase(job.job_id);
        job.worker_id = worker.info.worker_id();
      }
      worker.leased_jobs.insert(job.job_id);
    } else {
      out.add_lost_job_ids(lease.job_id());
    }
  }
  out.set_drain(worker.drain_requested);
  worker.info.set_state(worker.draining || worker.drain_requested ? v1::WORKER_STATE_DRAINING
                        : worker.leased_jobs.empty()              ? v1::WORKER_STATE_IDLE
                                                                  : v1::WORKER_STATE_BUSY);
  return out;
}

absl::StatusOr<v1::ReportOutputsResponse> Coordinator::ReportOutputs(
    const v1::ReportOutputsRequest& request) {
  if (request.job_id() <= 0) return absl::InvalidArgumentError("job_id must be > 0");
  if (static_cast<size_t>(request.outputs_size()) > kMaxOutputsPerMessage) {
    return absl::InvalidArgumentError(
        absl::StrCat("outputs: more than ", kMaxOutputsPerMessage, " in one message"));
  }
  const int ends =
      (request.complete() ? 1 : 0) + (request.has_failure() ? 1 : 0) + (request.release() ? 1 : 0);
  if (ends > 1) {
    return absl::InvalidArgumentError("set at most one of complete, failure and release");
  }
  v1::ReportOutputsResponse out;
  if (request.outputs_size() > 0) {
    PROCTOR_ASSIGN_OR_RETURN(
        out, IsJudgeJob(request.job_id()) ? StoreJudgeOutputs(request) : StoreOutputs(request));
  }
  if (ends == 1) return EndJob(request);
  if (request.outputs_size() == 0) {
    // A keep-alive or a probe: still validate the token.
    absl::MutexLock lock(&mu_);
    PROCTOR_ASSIGN_OR_RETURN(JobRecord * job,
                             FindLeasedJob(request.job_id(), request.fencing_token()));
    out.set_job_state(job->state);
  }
  return out;
}

absl::StatusOr<v1::ReportOutputsResponse> Coordinator::StoreOutputs(
    const v1::ReportOutputsRequest& request, bool from_cache) {
  struct ToScore {
    int32_t slot;
    std::string dataset;
    std::string target;
    std::vector<v1::Output> outputs;
  };
  std::vector<ToScore> to_score;
  OutputBatch batch;
  bool fill_cache = false;
  if (request.has_model_identity()) {
    PROCTOR_RETURN_IF_ERROR(ValidateModelIdentity(request.model_identity(), "model_identity"));
  }
  {
    absl::MutexLock lock(&mu_);
    PROCTOR_ASSIGN_OR_RETURN(JobRecord * job,
                             FindLeasedJob(request.job_id(), request.fencing_token()));
    RunEntry& run = runs_.at(job->run_id);
    batch.run_id = job->run_id;
    batch.job_id = job->job_id;
    fill_cache = request.has_model_identity() && !job->judge &&
                 request.model_identity().model_key() == job->model_key;
    absl::flat_hash_map<int32_t, size_t> scoring_slot;
    for (int i = 0; i < request.outputs_size(); ++i) {
      const v1::Output& o = request.outputs(i);
      const int64_t id = o.request_id();
      if (id <= 0 || static_cast<size_t>(id) >= run.request_to_sample.size() ||
          run.request_to_sample[static_cast<size_t>(id)] < 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "outputs[", i, "].request_id: ", id, " is not a request of run ", run.record.run_id));
      }
      if (o.result_case() == v1::Output::RESULT_NOT_SET) {
        return absl::InvalidArgumentError(absl::StrCat("outputs[", i, "]: no result set"));
      }
      const int32_t slot_index = run.request_to_sample[static_cast<size_t>(id)];
      SampleSlot& slot = run.samples[static_cast<size_t>(slot_index)];
      if (slot.scored || scoring_slot.contains(slot_index)) continue;
      if (slot.request_ids.size() == 1) {
        scoring_slot[slot_index] = to_score.size();
        to_score.push_back(ToScore{slot_index, slot.dataset, slot.target, {o}});
        continue;
      }
      run.pending_outputs[id] = o;
      bool all = true;
      for (int64_t rid : slot.request_ids) all = all && run.pending_outputs.contains(rid);
      if (all) {
        ToScore ts{slot_index, slot.dataset, slot.target, {}};
        for (int64_t rid : slot.request_ids) ts.outputs.push_back(run.pending_outputs.at(rid));
        scoring_slot[slot_index] = to_score.size();
        to_score.push_back(std::move(ts));
      }
    }
    for (ToScore& ts : to_score) {
      const SampleSlot& slot = run.samples[static_cast<size_t>(ts.slot)];
      batch.scores.push_back(SampleScore{slot.dataset, slot.sample_index, {}});
    }
  }
  // Score outside the lock: the catalog is immutable and thread-safe.
  for (size_t i = 0; i < to_score.size(); ++i) {
    absl::StatusOr<std::string> score =
        catalog_->ScoreSample(to_score[i].dataset, to_score[i].target, to_score[i].outputs);
    if (!score.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("output for request ", to_score[i].outputs.front().request_id(), " of set ",
                       to_score[i].dataset, " cannot be scored: ", score.status().message()));
    }
    batch.scores[i].score = *std::move(score);
  }
  // A judged sample's score is stored with its verdict (judging.h).
  for (size_t i = batch.scores.size(); i-- > 0;) {
    if (WaitsForJudge(to_score[i].target, to_score[i].outputs.size(), batch.scores[i].score)) {
      batch.scores.erase(batch.scores.begin() + static_cast<ptrdiff_t>(i));
    }
  }
  batch.outputs.assign(request.outputs().begin(), request.outputs().end());
  batch.from_cache = from_cache;
  batch.now = clock_->Now();
  if (fill_cache) {
    absl::StatusOr<std::vector<CacheEntry>> entries =
        result_cache_.EntriesFor(request.job_id(), request.model_identity(), request.outputs());
    if (entries.ok()) {
      batch.cache_entries = *std::move(entries);
    } else {  // the outputs are stored all the same; only the cache misses them
      PROCTOR_LOG(WARNING) << "job " << request.job_id()
                           << ": outputs not added to the result cache: " << entries.status();
    }
  }
  absl::StatusOr<int64_t> inserted = store_->WriteOutputs(batch);
  if (!inserted.ok()) {
    if (metrics_) metrics_->StoreError("write_outputs");
    return absl::UnavailableError(
        absl::StrCat("cannot store outputs: ", inserted.status().message()));
  }
  v1::ReportOutputsResponse out;
  absl::MutexLock lock(&mu_);
  auto run_it = runs_.find(batch.run_id);
  if (run_it != runs_.end()) {
    RunEntry& run = run_it->second;
    run.requests_done += *inserted;
    if (auto known = stored_outputs_.find(batch.job_id); known != stored_outputs_.end()) {
      known->second += *inserted;
    }
    ReleaseJudgeJobs(run, request);
    if (from_cache) run.requests_cached += *inserted;
    if (!run.samples.empty()) {
      for (const ToScore& ts : to_score) {
        SampleSlot& slot = run.samples[static_cast<size_t>(ts.slot)];
        slot.scored = true;
        if (slot.request_ids.size() > 1) {
          for (int64_t rid : slot.request_ids) run.pending_outputs.erase(rid);
        }
      }
    }
    if (*inserted > 0) BumpRun(run);
  }
  if (metrics_) {
    metrics_->OutputsIngested(*inserted);
    metrics_->SamplesScored(static_cast<int64_t>(to_score.size()));
  }
  auto job_it = jobs_.find(request.job_id());
  out.set_job_state(job_it == jobs_.end() ? v1::JOB_STATE_UNSPECIFIED : job_it->second.state);
  return out;
}

absl::StatusOr<v1::ReportOutputsResponse> Coordinator::EndJob(
    const v1::ReportOutputsRequest& request) {
  int64_t stored = -1;
  if (request.complete()) {
    std::string run_id;
    int32_t expected = 0;
    {
      absl::MutexLock lock(&mu_);
      PROCTOR_ASSIGN_OR_RETURN(JobRecord * job,
                               FindLeasedJob(request.job_id(), request.fencing_token()));
      run_id = job->run_id;
      expected = job->num_requests;
      if (auto known = stored_outputs_.find(job->job_id); known != stored_outputs_.end()) {
        stored = known->second;
      }
    }
    if (stored < 0) {  // not counted in memory (a recovered or judge job): ask the store
      PROCTOR_ASSIGN_OR_RETURN(std::vector<int64_t> ids,
                               store_->StoredRequestIds(run_id, request.job_id()));
      stored = static_cast<int64_t>(ids.size());
    }
    if (stored != expected) {
      return absl::InvalidArgumentError(absl::StrCat("complete: job ", request.job_id(), " has ",
                                                     stored, " of ", expected,
                                                     " outputs stored; send the rest first"));
    }
  }
  uint64_t ticket;
  v1::ReportOutputsResponse out;
  {
    absl::MutexLock lock(&mu_);
    PROCTOR_ASSIGN_OR_RETURN(JobRecord * job,
                             FindLeasedJob(request.job_id(), request.fencing_token()));
    JobEvent event = JobEvent::kComplete;
    std::string reason;
    if (request.has_failure()) {
      const auto& f = request.failure();
      event = JobEventForFailure(f.code());
      reason = absl::StrCat(absl::StatusCodeToString(static_cast<absl::StatusCode>(f.code())),
                            " on worker ", job->worker_id, ": ", f.message().substr(0, 2048));
    } else if (request.release()) {
      event = JobEvent::kRelease;
    }
    PROCTOR_RETURN_IF_ERROR(ApplyJobEvent(*job, event, reason).status());
    RunEntry& run = runs_.at(job->run_id);
    const bool run_changed = UpdateRunState(run);
    ticket = Persist(*job, run_changed);
    out.set_job_state(job->state);
    out.set_outputs_stored(stored);
    auto w = workers_.find(job->worker_id);
    if (w != workers_.end() && w->second.leased_jobs.empty() && !w->second.draining &&
        !w->second.drain_requested) {
      w->second.info.set_state(v1::WORKER_STATE_IDLE);
    }
    if (run_changed &&
        (run.record.state == v1::RUN_STATE_SUCCEEDED || run.record.state == v1::RUN_STATE_FAILED)) {
      ForgetRunDetail(run);
    }
  }
  PROCTOR_RETURN_IF_ERROR(persist_.Await(ticket));
  return out;
}

absl::StatusOr<v1::GetReportStateResponse> Coordinator::GetReportState(
    const v1::GetReportStateRequest& request) {
  std::string run_id;
  {
    absl::MutexLock lock(&mu_);
    PROCTOR_ASSIGN_OR_RETURN(JobRecord * job,
                             FindLeasedJob(request.job_id(), request.fencing_token()));
    run_id = job->run_id;
  }
  PROCTOR_ASSIGN_OR_RETURN(std::vector<int64_t> ids,
                           store_->StoredRequestIds(run_id, request.job_id()));
  v1::GetReportStateResponse out;
  out.mutable_stored_request_ids()->Add(ids.begin(), ids.end());
  return out;
}

absl::StatusOr<v1::ListWorkersResponse> Coordinator::ListWorkers() {
  absl::MutexLock lock(&mu_);
  v1::ListWorkersResponse out;
  for (const auto& [id, w] : workers_) {
    v1::WorkerInfo* info = out.add_workers();
    *info = w.info;
    std::vector<int64_t> jobs(w.leased_jobs.begin(), w.leased_jobs.end());
    std::sort(jobs.begin(), jobs.end());
    info->mutable_leased_job_ids()->Add(jobs.begin(), jobs.end());
    *info->mutable_last_seen() = TimeToProto(w.last_seen);
  }
  return out;
}

absl::StatusOr<v1::WorkerInfo> Coordinator::DrainWorker(const std::string& worker_id) {
  absl::MutexLock lock(&mu_);
  auto w = workers_.find(worker_id);
  if (w == workers_.end()) {
    return absl::NotFoundError(absl::StrCat("worker ", worker_id, " not found"));
  }
  w->second.drain_requested = true;
  w->second.info.set_state(v1::WORKER_STATE_DRAINING);
  work_available_.SignalAll();  // a long-polling Lease returns empty at once
  PROCTOR_LOG(INFO) << "worker " << worker_id << " asked to drain";
  return w->second.info;
}

void Coordinator::Tick() {
  std::vector<uint64_t> tickets;
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = clock_->Now();
    std::vector<int64_t> expired;
    for (int64_t id : leased_) {
      const JobRecord& job = jobs_.at(id);
      if (job.lease_expires_at < now) expired.push_back(id);
    }
    std::sort(expired.begin(), expired.end());
    for (int64_t id : expired) {
      JobRecord& job = jobs_.at(id);
      const std::string reason =
          absl::StrCat("lease expired on worker ", job.worker_id, " (no heartbeat for ",
                       absl::FormatDuration(options_.lease_ttl), ")");
      PROCTOR_LOG(WARNING) << "job " << id << ": " << reason;
      if (ApplyJobEvent(job, JobEvent::kLeaseExpired, reason).ok()) {
        RunEntry& run = runs_.at(job.run_id);
        const bool changed = UpdateRunState(run);
        tickets.push_back(Persist(job, changed));
        if (changed && run.record.state == v1::RUN_STATE_FAILED) ForgetRunDetail(run);
      }
    }
    for (auto it = workers_.begin(); it != workers_.end();) {
      WorkerEntry& w = it->second;
      const absl::Duration silent = now - w.last_seen;
      if (silent > 10 * options_.worker_lost_after) {
        worker_by_name_.erase(w.info.worker_name());
        it = workers_.erase(it);
        continue;
      }
      if (silent > options_.worker_lost_after) w.info.set_state(v1::WORKER_STATE_LOST);
      ++it;
    }
    std::optional<absl::Time> ready = scheduler_.NextReadyTime();
    if (ready && *ready <= now) work_available_.SignalAll();
    RefreshGauges();
  }
  for (uint64_t t : tickets) {
    absl::Status s = persist_.Await(t);
    if (!s.ok()) {
      if (metrics_) metrics_->StoreError("update_jobs");
      PROCTOR_LOG(ERROR) << "cannot persist expired leases: " << s;
    }
  }
  result_cache_.RefreshEntriesGauge();
}

}  // namespace proctor::coordinator
