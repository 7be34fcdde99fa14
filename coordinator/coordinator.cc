// Coordinator: construction, recovery, runs and the evaluation API.
// The worker-facing half lives in worker_api.cc.
#include "coordinator/coordinator.h"

#include <algorithm>
#include <thread>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/logging.h"
#include "common/periodic_thread.h"
#include "common/status_macros.h"
#include "coordinator/auth_paths.h"
#include "coordinator/proto_time.h"
#include "google/protobuf/util/time_util.h"

namespace proctor::coordinator {
namespace {

constexpr int64_t kFencingTokenBlock = 100'000;
constexpr size_t kMaxLabels = 64;
constexpr size_t kMaxLabelBytes = 256;
constexpr size_t kMaxNameBytes = 4096;

bool IsTerminalRun(v1::RunState s) {
  return s == v1::RUN_STATE_SUCCEEDED || s == v1::RUN_STATE_FAILED || s == v1::RUN_STATE_CANCELLED;
}

std::string NewRunId(absl::Time now) {
  static absl::Mutex mu(absl::kConstInit);
  static absl::BitGen* gen = new absl::BitGen();
  uint32_t r;
  {
    absl::MutexLock lock(&mu);
    r = absl::Uniform<uint32_t>(*gen);
  }
  return absl::StrCat("run-", absl::FormatTime("%Y%m%d-%H%M%S", now, absl::UTCTimeZone()), "-",
                      absl::StrFormat("%08x", r));
}

// Validation that needs no catalog: every message names the field.
absl::Status ValidateSpec(const v1::RunSpec& spec) {
  const auto& m = spec.model();
  if (m.name().empty() && m.path().empty()) {
    return absl::InvalidArgumentError("spec.model: empty model reference (set name or path)");
  }
  if (m.name().size() > kMaxNameBytes || m.path().size() > kMaxNameBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("spec.model: name/path longer than ", kMaxNameBytes, " bytes"));
  }
  if (m.tensor_parallel() < 0 || m.tensor_parallel() > 64) {
    return absl::InvalidArgumentError("spec.model.tensor_parallel must be in [0, 64]");
  }
  if (m.min_gpu_memory_bytes() < 0) {
    return absl::InvalidArgumentError("spec.model.min_gpu_memory_bytes must be >= 0");
  }
  if (!m.backend().empty() && m.backend() != "cpu" && m.backend() != "cuda" &&
      m.backend() != "scripted") {
    return absl::InvalidArgumentError(absl::StrCat("spec.model.backend: unknown backend \"",
                                                   m.backend(), "\" (cpu, cuda or empty)"));
  }
  if (spec.limit() < 0) return absl::InvalidArgumentError("spec.limit must be >= 0");
  if (spec.job_token_budget() < 0) {
    return absl::InvalidArgumentError("spec.job_token_budget must be >= 0");
  }
  if (spec.max_attempts() < 0 || spec.max_attempts() > 100) {
    return absl::InvalidArgumentError("spec.max_attempts must be in [0, 100]");
  }
  if (!v1::Priority_IsValid(spec.priority())) {
    return absl::InvalidArgumentError(
        absl::StrCat("spec.priority: unknown value ", static_cast<int>(spec.priority())));
  }
  if (spec.suite().size() > kMaxLabelBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("spec.suite: longer than ", kMaxLabelBytes, " bytes"));
  }
  if (spec.datasets_size() > 10'000) {
    return absl::InvalidArgumentError("spec.datasets: more than 10000 selections");
  }
  if (spec.suite().empty() && spec.datasets().empty()) {
    return absl::InvalidArgumentError("spec.suite: set a suite or at least one dataset");
  }
  for (int i = 0; i < spec.datasets_size(); ++i) {
    const auto& d = spec.datasets(i);
    if (d.name().empty()) {
      return absl::InvalidArgumentError(absl::StrCat("spec.datasets[", i, "].name is empty"));
    }
    if (d.name().size() > kMaxLabelBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("spec.datasets[", i, "].name: longer than ", kMaxLabelBytes, " bytes"));
    }
    if (d.limit() < 0) {
      return absl::InvalidArgumentError(absl::StrCat("spec.datasets[", i, "].limit must be >= 0"));
    }
  }
  if (spec.labels_size() > static_cast<int>(kMaxLabels)) {
    return absl::InvalidArgumentError(absl::StrCat("spec.labels: more than ", kMaxLabels));
  }
  for (const auto& [k, v] : spec.labels()) {
    if (k.empty() || k.size() > kMaxLabelBytes || v.size() > kMaxLabelBytes) {
      return absl::InvalidArgumentError(absl::StrCat("spec.labels: keys must be 1-", kMaxLabelBytes,
                                                     " bytes and values at most ", kMaxLabelBytes,
                                                     " bytes"));
    }
  }
  if (spec.submitter().size() > kMaxLabelBytes) {
    return absl::InvalidArgumentError("spec.submitter: too long");
  }
  return absl::OkStatus();
}

}  // namespace

Coordinator::Coordinator(Store* store, const eval::Catalog* catalog, const Clock* clock,
                         CoordinatorMetrics* metrics, CoordinatorOptions options)
    : store_(store),
      catalog_(catalog),
      clock_(clock),
      metrics_(metrics),
      options_(std::move(options)),
      persist_(store),
      result_cache_(store, metrics) {
  absl::BitGen gen;
  incarnation_ = absl::StrFormat("%06x", absl::Uniform<uint32_t>(gen) & 0xffffff);
}

Coordinator::~Coordinator() { Shutdown(); }

absl::StatusOr<std::unique_ptr<Coordinator>> Coordinator::Create(Store* store,
                                                                 const eval::Catalog* catalog,
                                                                 const Clock* clock,
                                                                 CoordinatorMetrics* metrics,
                                                                 CoordinatorOptions options) {
  std::unique_ptr<Coordinator> c(new Coordinator(store, catalog, clock, metrics, options));
  PROCTOR_RETURN_IF_ERROR(c->Recover());
  return c;
}

void Coordinator::StartBackground(absl::Duration period) {
  absl::MutexLock lock(&background_mu_);
  if (!background_) background_ = std::make_unique<PeriodicThread>(period, [this] { Tick(); });
}

void Coordinator::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    shutdown_ = true;
    work_available_.SignalAll();
    run_changed_.SignalAll();
  }
  absl::MutexLock lock(&background_mu_);
  background_.reset();
}

// ---- Recovery -----------------------------------------------------------------

absl::Status Coordinator::Recover() {
  const absl::Time start = absl::Now();
  PROCTOR_ASSIGN_OR_RETURN(std::vector<RunRecord> runs, store_->LoadRuns());
  PROCTOR_ASSIGN_OR_RETURN(int64_t first_token, store_->ReserveFencingTokens(kFencingTokenBlock));
  absl::MutexLock lock(&mu_);
  next_token_ = first_token;
  token_limit_ = first_token + kFencingTokenBlock;
  std::sort(runs.begin(), runs.end(),
            [](const RunRecord& a, const RunRecord& b) { return a.seq < b.seq; });
  int64_t active = 0;
  for (RunRecord& r : runs) {
    if (!IsTerminalRun(r.state)) ++active;
    PROCTOR_RETURN_IF_ERROR(RecoverRun(std::move(r)));
  }
  RefreshGauges();
  if (!runs.empty()) {
    PROCTOR_LOG(INFO) << "recovered " << runs.size() << " runs (" << active << " active), "
                      << jobs_.size() << " active jobs, " << leased_.size() << " leases in "
                      << absl::FormatDuration(absl::Now() - start);
  }
  return absl::OkStatus();
}

absl::Status Coordinator::RecoverRun(RunRecord record) {
  const std::string run_id = record.run_id;
  RunEntry entry;
  entry.record = std::move(record);
  entry.max_attempts = entry.record.spec.max_attempts() > 0 ? entry.record.spec.max_attempts()
                                                            : options_.planner.default_max_attempts;
  PROCTOR_ASSIGN_OR_RETURN(std::vector<JobRecord> jobs, store_->LoadJobsOfRun(run_id));
  PROCTOR_ASSIGN_OR_RETURN(entry.requests_done, store_->CountOutputs(run_id));
  PROCTOR_ASSIGN_OR_RETURN(entry.requests_cached, store_->CountCachedOutputs(run_id));
  for (const JobRecord& j : jobs) {
    entry.requests_total += j.num_requests;
    entry.job_counts[j.state]++;
  }
  const bool terminal = IsTerminalRun(entry.record.state);
  if (!terminal) {
    PROCTOR_ASSIGN_OR_RETURN(std::vector<SampleRecord> samples, store_->LoadSamples(run_id));
    IndexSamples(entry, samples);
    PROCTOR_ASSIGN_OR_RETURN(std::vector<SampleScore> scores, store_->LoadScores(run_id));
    absl::flat_hash_map<std::pair<std::string, int64_t>, size_t> slot_of;
    for (size_t i = 0; i < entry.samples.size(); ++i) {
      slot_of[{entry.samples[i].dataset, entry.samples[i].sample_index}] = i;
    }
    for (const SampleScore& s : scores) {
      auto it = slot_of.find(std::make_pair(s.dataset, s.sample_index));
      if (it != slot_of.end()) entry.samples[it->second].scored = true;
    }
    // Outputs of partly answered multi-request samples wait in memory.
    std::vector<int64_t> want;
    for (const SampleSlot& slot : entry.samples) {
      if (!slot.scored && slot.request_ids.size() > 1) {
        want.insert(want.end(), slot.request_ids.begin(), slot.request_ids.end());
      }
    }
    if (!want.empty()) {
      PROCTOR_ASSIGN_OR_RETURN(std::vector<v1::Output> outs, store_->LoadOutputs(run_id, want));
      for (v1::Output& o : outs) entry.pending_outputs[o.request_id()] = std::move(o);
    }
    const absl::Time now = clock_->Now();
    for (JobRecord& j : jobs) {
      entry.job_ids.push_back(j.job_id);
      if (j.state == v1::JOB_STATE_QUEUED) {
        if (j.judge) {
          PROCTOR_RETURN_IF_ERROR(RecoverJudgeJob(entry, j));
        } else {
          scheduler_.Enqueue(j);
        }
      } else if (j.state == v1::JOB_STATE_LEASED) {
        // Give the holder one TTL to re-attach through Heartbeat.
        j.lease_expires_at = now + options_.lease_ttl;
        leased_.insert(j.job_id);
        scheduler_.LeaseStarted(j.submitter);
      }
      jobs_[j.job_id] = std::move(j);
    }
  }
  run_order_.push_back(run_id);
  auto [it, inserted] = runs_.emplace(run_id, std::move(entry));
  if (!inserted) return absl::DataLossError(absl::StrCat("duplicate run id in store: ", run_id));
  if (!terminal && UpdateRunState(it->second)) {
    const uint64_t ticket = PersistRun(it->second);
    mu_.Unlock();
    absl::Status s = persist_.Await(ticket);
    mu_.Lock();
    PROCTOR_RETURN_IF_ERROR(s);
  }
  return absl::OkStatus();
}

void Coordinator::IndexSamples(RunEntry& run, const std::vector<SampleRecord>& samples) {
  run.samples.clear();
  run.samples.reserve(samples.size());
  int64_t max_id = 0;
  for (const SampleRecord& s : samples) {
    for (int64_t id : s.request_ids) max_id = std::max(max_id, id);
  }
  run.request_to_sample.assign(static_cast<size_t>(max_id) + 1, -1);
  for (const SampleRecord& s : samples) {
    const int32_t index = static_cast<int32_t>(run.samples.size());
    for (int64_t id : s.request_ids) run.request_to_sample[static_cast<size_t>(id)] = index;
    run.samples.push_back(SampleSlot{s.dataset, s.sample_index, s.target, s.request_ids, false});
  }
}

// ---- Run bookkeeping ---------------------------------------------------------

absl::StatusOr<Coordinator::RunEntry*> Coordinator::FindRun(const std::string& run_id) {
  if (run_id.empty()) return absl::InvalidArgumentError("run_id is empty");
  auto it = runs_.find(run_id);
  if (it == runs_.end()) {
    if (run_id.size() > 128) return absl::InvalidArgumentError("run_id: longer than 128 bytes");
    return absl::NotFoundError(absl::StrCat("run ", run_id, " not found"));
  }
  return &it->second;
}

void Coordinator::BumpRun(RunEntry& run) {
  ++run.version;
  run_changed_.SignalAll();
}

v1::Run Coordinator::RunProto(const RunEntry& run) const {
  v1::Run out;
  out.set_run_id(run.record.run_id);
  *out.mutable_spec() = run.record.spec;
  out.set_state(run.record.state);
  *out.mutable_created_at() = TimeToProto(run.record.created_at);
  if (run.record.finished_at != absl::InfinitePast()) {
    *out.mutable_finished_at() = TimeToProto(run.record.finished_at);
  }
  out.set_failure_reason(run.record.failure_reason);
  auto count = [&run](v1::JobState s) {
    auto it = run.job_counts.find(s);
    return it == run.job_counts.end() ? int64_t{0} : it->second;
  };
  v1::RunProgress* p = out.mutable_progress();
  p->set_jobs_queued(count(v1::JOB_STATE_QUEUED));
  p->set_jobs_leased(count(v1::JOB_STATE_LEASED));
  p->set_jobs_done(count(v1::JOB_STATE_DONE));
  p->set_jobs_failed(count(v1::JOB_STATE_FAILED));
  p->set_jobs_cancelled(count(v1::JOB_STATE_CANCELLED));
  p->set_jobs_total(p->jobs_queued() + p->jobs_leased() + p->jobs_done() + p->jobs_failed() +
                    p->jobs_cancelled());
  p->set_requests_total(run.requests_total);
  p->set_requests_done(run.requests_done);
  p->set_requests_cached(run.requests_cached);
  return out;
}

bool Coordinator::UpdateRunState(RunEntry& run) {
  v1::RunState& state = run.record.state;
  if (IsTerminalRun(state)) return false;
  CancelStrandedJudgeJobs(run);
  auto count = [&run](v1::JobState s) {
    auto it = run.job_counts.find(s);
    return it == run.job_counts.end() ? int64_t{0} : it->second;
  };
  const int64_t open = count(v1::JOB_STATE_QUEUED) + count(v1::JOB_STATE_LEASED);
  v1::RunState next = state;
  if (open == 0) {
    next = count(v1::JOB_STATE_FAILED) > 0 ? v1::RUN_STATE_FAILED : v1::RUN_STATE_SUCCEEDED;
  } else if (state == v1::RUN_STATE_QUEUED &&
             (count(v1::JOB_STATE_LEASED) + count(v1::JOB_STATE_DONE) +
              count(v1::JOB_STATE_FAILED)) > 0) {
    next = v1::RUN_STATE_RUNNING;
  }
  if (next == state) return false;
  state = next;
  if (next == v1::RUN_STATE_FAILED && run.record.failure_reason.empty()) {
    for (int64_t id : run.job_ids) {
      auto it = jobs_.find(id);
      if (it != jobs_.end() && it->second.state == v1::JOB_STATE_FAILED) {
        run.record.failure_reason =
            absl::StrCat("job ", id, " failed: ", it->second.failure_reason);
        break;
      }
    }
  }
  if (IsTerminalRun(next)) {
    run.record.finished_at = clock_->Now();
    PROCTOR_LOG(INFO) << "run " << run.record.run_id << " " << v1::RunState_Name(next)
                      << (run.record.failure_reason.empty()
                              ? ""
                              : absl::StrCat(": ", run.record.failure_reason));
  }
  BumpRun(run);
  return true;
}

void Coordinator::ForgetRunDetail(RunEntry& run) {
  for (int64_t id : run.job_ids) {
    leased_.erase(id);
    jobs_.erase(id);
    stored_outputs_.erase(id);
  }
  run.job_ids.clear();
  run.job_ids.shrink_to_fit();
  run.samples.clear();
  run.samples.shrink_to_fit();
  run.request_to_sample.clear();
  run.request_to_sample.shrink_to_fit();
  run.pending_outputs.clear();
  judges_.ForgetRun(run.record.run_id);
}

uint64_t Coordinator::PersistRun(const RunEntry& run) { return persist_.Enqueue({}, run.record); }

uint64_t Coordinator::Persist(const JobRecord& job, bool with_run) {
  std::optional<RunRecord> run;
  if (with_run) {
    auto it = runs_.find(job.run_id);
    if (it != runs_.end()) run = it->second.record;
  }
  return persist_.Enqueue({job}, std::move(run));
}

void Coordinator::RefreshGauges() {
  if (metrics_ == nullptr) return;
  std::array<int64_t, 6> jobs{};
  std::array<int64_t, 6> runs{};
  for (const auto& [id, run] : runs_) {
    runs[static_cast<size_t>(run.record.state)]++;
    if (IsTerminalRun(run.record.state)) continue;
    for (const auto& [state, n] : run.job_counts) jobs[static_cast<size_t>(state)] += n;
  }
  metrics_->SetJobs(jobs);
  metrics_->SetRuns(runs);
  metrics_->SetQueuedJobs("interactive", scheduler_.queued(v1::PRIORITY_INTERACTIVE));
  metrics_->SetQueuedJobs("sweep", scheduler_.queued(v1::PRIORITY_SWEEP));
  metrics_->SetQueuedJobs("backfill", scheduler_.queued(v1::PRIORITY_BACKFILL));
  std::array<int64_t, 5> workers{};
  for (const auto& [id, w] : workers_) workers[static_cast<size_t>(w.info.state())]++;
  metrics_->SetWorkers(workers);
}

// ---- EvaluationService ---------------------------------------------------------

absl::StatusOr<v1::Run> Coordinator::SubmitRun(v1::RunSpec spec) {
  PROCTOR_RETURN_IF_ERROR(ValidateSpec(spec));
  if (spec.priority() == v1::PRIORITY_UNSPECIFIED) spec.set_priority(v1::PRIORITY_INTERACTIVE);
  v1::ModelRef* model = spec.mutable_model();
  if (model->path().empty()) model->set_path(model->name());
  if (model->name().empty()) {
    const std::string& path = model->path();
    const size_t slash = path.find_last_of('/', path.size() > 1 ? path.size() - 2 : 0);
    model->set_name(slash == std::string::npos ? path : path.substr(slash + 1));
  }
  if (spec.submitter().empty()) spec.set_submitter("anonymous");
  if (!options_.model_root.empty()) {
    PROCTOR_ASSIGN_OR_RETURN(
        std::string confined,
        CheckPathUnderRoot(options_.model_root, model->path(), "spec.model.path"));
    model->set_path(std::move(confined));
  }
  PROCTOR_ASSIGN_OR_RETURN(eval::RunPlan plan, catalog_->Plan(spec));
  if (plan.samples.empty()) {
    return absl::InvalidArgumentError("spec: the selection has no samples (check limits)");
  }
  const absl::Time now = clock_->Now();
  PlannedRun planned;
  std::vector<std::vector<int64_t>> judge_inputs;  // per judge job: generate ids it waits for
  for (int attempt = 0;; ++attempt) {
    PROCTOR_ASSIGN_OR_RETURN(planned, PlanRun(NewRunId(now), spec, plan, options_.planner, now));
    PROCTOR_ASSIGN_OR_RETURN(judge_inputs, PlanJudgeJobs(planned));
    absl::Status s =
        store_->CreateRun(planned.run, planned.jobs, planned.payloads, planned.samples);
    if (s.ok()) break;
    if (metrics_) metrics_->StoreError("create_run");
    if (!absl::IsAlreadyExists(s) || attempt >= 3) return s;
  }
  if (metrics_) metrics_->RunSubmitted();

  absl::MutexLock lock(&mu_);
  const std::string run_id = planned.run.run_id;
  RunEntry entry;
  entry.record = std::move(planned.run);
  entry.max_attempts =
      spec.max_attempts() > 0 ? spec.max_attempts() : options_.planner.default_max_attempts;
  IndexSamples(entry, planned.samples);
  size_t judge_index = 0;
  for (JobRecord& j : planned.jobs) {
    entry.requests_total += j.num_requests;
    entry.job_counts[j.state]++;
    entry.job_ids.push_back(j.job_id);
    if (!j.judge) stored_outputs_[j.job_id] = 0;  // a new job has no outputs yet
    if (!j.judge || !judges_.Block(run_id, j.job_id, judge_inputs.at(judge_index++))) {
      scheduler_.Enqueue(j);
    }
    jobs_[j.job_id] = std::move(j);
  }
  run_order_.push_back(run_id);
  RunEntry& run = runs_.emplace(run_id, std::move(entry)).first->second;
  work_available_.SignalAll();
  RefreshGauges();
  PROCTOR_LOG(INFO) << "run " << run_id << " submitted by " << spec.submitter() << ": "
                    << run.requests_total << " requests in " << run.job_ids.size() << " jobs over "
                    << run.record.datasets.size() << " sets";
  return RunProto(run);
}

absl::StatusOr<v1::Run> Coordinator::GetRun(const std::string& run_id) {
  absl::MutexLock lock(&mu_);
  PROCTOR_ASSIGN_OR_RETURN(RunEntry * run, FindRun(run_id));
  return RunProto(*run);
}

absl::StatusOr<v1::ListRunsResponse> Coordinator::ListRuns(const v1::ListRunsRequest& request) {
  int page_size = request.page_size();
  if (page_size < 0) return absl::InvalidArgumentError("page_size must be >= 0");
  if (page_size == 0) page_size = 100;
  page_size = std::min(page_size, 1000);
  size_t start = run_order_.size();  // exclusive upper bound, walking backwards
  absl::MutexLock lock(&mu_);
  start = run_order_.size();
  if (!request.page_token().empty()) {
    uint64_t token;
    if (!absl::SimpleAtoi(request.page_token(), &token) || token > run_order_.size()) {
      return absl::InvalidArgumentError("page_token: not a token from ListRuns");
    }
    start = static_cast<size_t>(token);
  }
  for (int s : request.states()) {
    if (!v1::RunState_IsValid(s)) {
      return absl::InvalidArgumentError(absl::StrCat("states: unknown value ", s));
    }
  }
  v1::ListRunsResponse out;
  size_t i = start;
  while (i > 0 && out.runs_size() < page_size) {
    --i;
    const RunEntry& run = runs_.at(run_order_[i]);
    if (request.states_size() > 0 && std::find(request.states().begin(), request.states().end(),
                                               run.record.state) == request.states().end()) {
      continue;
    }
    bool labels_match = true;
    for (const auto& [k, v] : request.label_selector()) {
      auto it = run.record.spec.labels().find(k);
      if (it == run.record.spec.labels().end() || it->second != v) {
        labels_match = false;
        break;
      }
    }
    if (!labels_match) continue;
    *out.add_runs() = RunProto(run);
  }
  if (i > 0) out.set_next_page_token(absl::StrCat(i));
  return out;
}

absl::StatusOr<v1::Run> Coordinator::CancelRun(const std::string& run_id) {
  std::vector<uint64_t> tickets;
  v1::Run result;
  {
    absl::MutexLock lock(&mu_);
    PROCTOR_ASSIGN_OR_RETURN(RunEntry * run, FindRun(run_id));
    if (IsTerminalRun(run->record.state)) return RunProto(*run);
    std::vector<JobRecord> changed;
    for (int64_t id : run->job_ids) {
      JobRecord& job = jobs_.at(id);
      if (IsTerminal(job.state)) continue;
      absl::StatusOr<v1::JobState> s = ApplyJobEvent(job, JobEvent::kCancel, "run cancelled");
      if (s.ok()) changed.push_back(job);
    }
    run->record.state = v1::RUN_STATE_CANCELLED;
    run->record.finished_at = clock_->Now();
    BumpRun(*run);
    tickets.push_back(persist_.Enqueue(std::move(changed), run->record));
    // Leased jobs stay in jobs_ until their workers hear about the cancellation.
    RefreshGauges();
    result = RunProto(*run);
    PROCTOR_LOG(INFO) << "run " << run_id << " cancelled";
  }
  for (uint64_t t : tickets) PROCTOR_RETURN_IF_ERROR(persist_.Await(t));
  return result;
}

absl::StatusOr<v1::Results> Coordinator::GetResults(const std::string& run_id) {
  RunRecord record;
  {
    absl::MutexLock lock(&mu_);
    PROCTOR_ASSIGN_OR_RETURN(RunEntry * run, FindRun(run_id));
    record = run->record;
  }
  PROCTOR_ASSIGN_OR_RETURN(std::vector<SampleScore> scores, store_->LoadScores(run_id));
  std::sort(scores.begin(), scores.end(), [](const SampleScore& a, const SampleScore& b) {
    return std::tie(a.dataset, a.sample_index) < std::tie(b.dataset, b.sample_index);
  });
  std::vector<eval::SetScores> sets;
  absl::flat_hash_map<std::string, size_t> index;
  for (const auto& [name, count] : record.datasets) {
    index[name] = sets.size();
    sets.push_back(eval::SetScores{name, count, {}});
  }
  for (SampleScore& s : scores) {
    auto it = index.find(s.dataset);
    if (it == index.end()) continue;
    sets[it->second].sample_scores.push_back(std::move(s.score));
  }
  PROCTOR_ASSIGN_OR_RETURN(v1::Results results, catalog_->Aggregate(record.spec, sets));
  results.set_run_id(run_id);
  results.set_model(record.spec.model().name());
  results.set_state(record.state);
  *results.mutable_computed_at() = TimeToProto(clock_->Now());
  return results;
}

absl::StatusOr<Coordinator::RunSampleScores> Coordinator::GetSampleScores(
    const std::string& run_id) {
  RunSampleScores out;
  {
    absl::MutexLock lock(&mu_);
    PROCTOR_ASSIGN_OR_RETURN(RunEntry * run, FindRun(run_id));
    out.record = run->record;
  }
  PROCTOR_ASSIGN_OR_RETURN(std::vector<SampleScore> scores, store_->LoadScores(run_id));
  absl::flat_hash_map<std::string, size_t> index;
  for (const auto& [name, count] : out.record.datasets) {
    index[name] = out.sets.size();
    out.sets.push_back(RunSampleScores::Set{name, count, {}});
  }
  for (SampleScore& s : scores) {
    auto it = index.find(s.dataset);
    if (it == index.end()) continue;
    out.sets[it->second].scores.emplace_back(s.sample_index, std::move(s.score));
  }
  for (RunSampleScores::Set& set : out.sets) {
    std::sort(set.scores.begin(), set.scores.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
  }
  return out;
}

absl::StatusOr<v1::Run> Coordinator::WaitForRunChange(const std::string& run_id, uint64_t* version,
                                                      absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  while (true) {
    PROCTOR_ASSIGN_OR_RETURN(RunEntry * run, FindRun(run_id));
    if (run->version != *version || IsTerminalRun(run->record.state)) {
      *version = run->version;
      return RunProto(*run);
    }
    if (shutdown_) return absl::UnavailableError("coordinator is shutting down");
    if (absl::Now() >= deadline) {
      return RunProto(*run);
    }
    run_changed_.WaitWithDeadline(&mu_, deadline);
  }
}

}  // namespace proctor::coordinator
