#include "worker/pull_loop.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/logging.h"
#include "common/status_macros.h"

namespace proctor::worker {
namespace {

absl::Duration FromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

void ToProto(absl::Duration d, google::protobuf::Duration* out) {
  const int64_t seconds = absl::IDivDuration(d, absl::Seconds(1), &d);
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(d)));
}

// Answers to Register that retrying will not change: a misconfigured worker
// (bad name, wrong credentials, not a Proctor coordinator) must say so and
// stop rather than spin.
bool IsFatalRegisterError(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kUnimplemented:
    case absl::StatusCode::kFailedPrecondition:
      return true;
    default:
      return false;
  }
}

// The coordinator accepts at most this many loaded model keys; the most
// recently used ones matter most for affinity.
constexpr size_t kMaxAdvertisedModels = 64;

template <typename Repeated>
void AddLoadedModels(const ModelCache& models, Repeated* out) {
  std::vector<std::string> keys = models.LoadedKeys();
  if (keys.size() > kMaxAdvertisedModels) keys.resize(kMaxAdvertisedModels);
  for (std::string& key : keys) out->Add(std::move(key));
}

}  // namespace

PullLoop::PullLoop(const PullLoopOptions& options, CoordinatorClient* client, ModelCache* models,
                   WorkerMetrics* metrics, std::shared_ptr<engine::LoadedModel> judge_runner)
    : options_(options),
      client_(client),
      models_(models),
      metrics_(metrics),
      judge_runner_(std::move(judge_runner)),
      reports_client_(client, models),
      backoff_(options.backoff),
      heartbeat_interval_(options.default_heartbeat_interval) {}

std::string PullLoop::worker_id() const {
  absl::MutexLock lock(&mu_);
  return worker_id_;
}

int64_t PullLoop::jobs_finished() const {
  absl::MutexLock lock(&mu_);
  return jobs_finished_;
}

bool PullLoop::draining() const {
  absl::MutexLock lock(&mu_);
  return draining_;
}

void PullLoop::RequestDrain(bool immediately) {
  {
    absl::MutexLock lock(&mu_);
    if (!draining_) drain_started_ = absl::Now();
    draining_ = true;
    drain_immediately_ = drain_immediately_ || immediately;
    wake_ = true;
  }
}

void PullLoop::Wake() {
  absl::MutexLock lock(&mu_);
  wake_ = true;
}

void PullLoop::WaitUntil(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithDeadline(absl::Condition(&wake_), deadline);
  wake_ = false;
}

absl::Status PullLoop::RegisterOnce() {
  v1::RegisterRequest request;
  request.set_worker_name(options_.name);
  v1::WorkerCapabilities* caps = request.mutable_capabilities();
  caps->set_backend(options_.backend);
  caps->set_gpu_count(options_.gpu_count);
  caps->set_gpu_memory_bytes(options_.gpu_memory_bytes);
  caps->set_sandbox(options_.sandbox);
  AddLoadedModels(*models_, caps->mutable_loaded_models());
  caps->set_hostname(options_.hostname);
  caps->set_version(options_.version);
  PROCTOR_ASSIGN_OR_RETURN(v1::RegisterResponse response,
                           client_->Register(request, options_.rpc_timeout));
  if (response.worker_id().empty()) {
    return absl::UnavailableError("Register: the coordinator returned an empty worker_id");
  }
  const absl::Duration interval = FromProto(response.heartbeat_interval());
  heartbeat_interval_ =
      interval > absl::ZeroDuration() ? interval : options_.default_heartbeat_interval;
  next_heartbeat_ = absl::Now() + heartbeat_interval_;
  need_register_ = false;
  {
    absl::MutexLock lock(&mu_);
    worker_id_ = response.worker_id();
  }
  worker_id_copy_ = response.worker_id();
  PROCTOR_LOG(INFO) << "registered as " << response.worker_id() << " (name " << options_.name
                    << ", heartbeat every " << heartbeat_interval_ << ", lease ttl "
                    << FromProto(response.lease_ttl()) << ")";
  if (options_.on_registered) options_.on_registered(response.worker_id());
  return absl::OkStatus();
}

absl::StatusOr<PullLoop::RegisterResult> PullLoop::RegisterWithRetry() {
  while (true) {
    if (draining()) return RegisterResult::kDraining;
    const absl::Status status = RegisterOnce();
    if (status.ok()) {
      backoff_.Reset();
      return RegisterResult::kRegistered;
    }
    if (metrics_ != nullptr) metrics_->CountError("register");
    if (IsFatalRegisterError(status)) {
      return absl::Status(status.code(),
                          absl::StrCat("the coordinator refused registration: ", status.message()));
    }
    const absl::Duration delay = backoff_.Next();
    PROCTOR_LOG(WARNING) << "Register failed (" << status << "); retrying in " << delay;
    WaitUntil(absl::Now() + delay);
  }
}

void PullLoop::HeartbeatOnce(JobExecution* job) {
  v1::HeartbeatRequest request;
  request.set_worker_id(worker_id_copy_);
  request.set_draining(draining());
  if (job != nullptr && !job->done()) *request.add_leases() = job->active_lease();
  absl::StatusOr<v1::HeartbeatResponse> response =
      client_->Heartbeat(request, options_.rpc_timeout);
  next_heartbeat_ = absl::Now() + heartbeat_interval_;
  if (!response.ok()) {
    if (metrics_ != nullptr) metrics_->CountError("heartbeat");
    if (absl::IsNotFound(response.status())) {
      PROCTOR_LOG(WARNING) << "the coordinator does not know worker " << worker_id_copy_ << " ("
                           << response.status() << "); registering again";
      need_register_ = true;
      next_heartbeat_ = absl::Now();
    } else {
      PROCTOR_LOG(WARNING) << "Heartbeat failed: " << response.status();
    }
    return;
  }
  if (job != nullptr) {
    const int64_t id = job->job().job_id();
    for (int64_t cancelled : response->cancelled_job_ids()) {
      if (cancelled != id) continue;
      PROCTOR_LOG(INFO) << "job " << id << " was cancelled by the coordinator; stopping it";
      job->Stop(JobExecution::Result::kCancelled);
    }
    for (int64_t lost : response->lost_job_ids()) {
      if (lost != id) continue;
      PROCTOR_LOG(WARNING) << "the coordinator no longer recognises the lease on job " << id
                           << "; stopping it";
      job->Stop(JobExecution::Result::kLost);
    }
  }
  if (response->drain() && !draining()) {
    PROCTOR_LOG(INFO) << "the coordinator asked this worker to drain";
    RequestDrain(false);
  }
}

void PullLoop::RunJob(v1::Job job, bool hand_back) {
  const absl::Time leased_at = absl::Now();
  PROCTOR_LOG(INFO) << "leased job " << job.job_id() << " (run " << job.run_id() << ", model "
                    << job.model_key() << ", " << job.requests_size() << " requests, attempt "
                    << job.attempt() << ", token " << job.fencing_token() << ")";
  JobDeps deps;
  deps.client = &reports_client_;
  reports_client_.Track(job);
  const int64_t job_id = job.job_id();
  deps.models = models_;
  deps.metrics = metrics_;
  deps.judge_runner = judge_runner_;
  deps.reporter = options_.reporter;
  deps.rpc_timeout = options_.rpc_timeout;
  JobExecution execution(std::move(job), deps, [this] { Wake(); });
  bool released = false;
  absl::Time give_up = absl::InfiniteFuture();
  if (hand_back) {
    PROCTOR_LOG(INFO) << "drain: handing job " << execution.job().job_id()
                      << " back unstarted (leased while the drain began)";
    execution.Release();
    released = true;
    give_up = absl::Now() + 2 * options_.rpc_timeout;
  }
  execution.Start();

  while (!execution.done()) {
    const absl::Time now = absl::Now();
    absl::Time drain_deadline = absl::InfiniteFuture();
    {
      absl::MutexLock lock(&mu_);
      if (draining_) {
        drain_deadline =
            drain_immediately_ ? drain_started_ : drain_started_ + options_.drain_timeout;
      }
    }
    if (!released && now >= drain_deadline) {
      PROCTOR_LOG(INFO) << "drain: handing job " << execution.job().job_id() << " back";
      execution.Release();
      released = true;
      // Bound the time spent telling the coordinator, so that a drain ends
      // even when it is unreachable (the lease then simply expires).
      give_up = now + 2 * options_.rpc_timeout;
    }
    if (released && now >= give_up) {
      PROCTOR_LOG(WARNING) << "drain: could not hand job " << execution.job().job_id()
                           << " back in time; abandoning it to lease expiry";
      execution.Stop(JobExecution::Result::kAbandoned);
      give_up = absl::InfiniteFuture();  // now only wait for the job thread
    }
    if (now >= next_heartbeat_) {
      if (need_register_) {
        const absl::Status status = RegisterOnce();
        if (status.ok()) {
          // Heartbeat at once: naming the lease re-attaches it to the new
          // registration (how a job survives a coordinator restart).
          next_heartbeat_ = absl::Now();
        } else {
          if (metrics_ != nullptr) metrics_->CountError("register");
          PROCTOR_LOG(WARNING) << "Register failed: " << status;
          next_heartbeat_ = absl::Now() + heartbeat_interval_;
        }
      } else {
        HeartbeatOnce(&execution);
      }
      continue;
    }
    WaitUntil(std::min(next_heartbeat_, released ? give_up : drain_deadline));
  }
  const JobExecution::Result result = execution.Wait();
  reports_client_.Untrack(job_id);
  if (metrics_ != nullptr) {
    metrics_->CountJob(JobExecution::ResultName(result), absl::Now() - leased_at);
  }
  absl::MutexLock lock(&mu_);
  ++jobs_finished_;
}

absl::Status PullLoop::Run() {
  PROCTOR_ASSIGN_OR_RETURN(RegisterResult registered, RegisterWithRetry());
  absl::Time next_lease = absl::InfinitePast();
  while (registered == RegisterResult::kRegistered && !draining()) {
    const absl::Time now = absl::Now();
    if (need_register_) {
      PROCTOR_ASSIGN_OR_RETURN(registered, RegisterWithRetry());
      continue;
    }
    if (now >= next_heartbeat_) {
      HeartbeatOnce(nullptr);
      continue;
    }
    if (now < next_lease) {
      WaitUntil(std::min(next_lease, next_heartbeat_));
      continue;
    }
    const absl::Duration wait =
        std::clamp(next_heartbeat_ - now, absl::ZeroDuration(), options_.lease_wait);
    v1::LeaseRequest request;
    request.set_worker_id(worker_id_copy_);
    AddLoadedModels(*models_, request.mutable_loaded_models());
    for (v1::ModelIdentity& id : models_->FreshIdentities()) {
      *request.add_model_identities() = std::move(id);
    }
    ToProto(wait, request.mutable_wait());
    const absl::Time sent = absl::Now();
    absl::StatusOr<v1::LeaseResponse> response =
        client_->Lease(request, wait + options_.rpc_timeout);
    if (!response.ok()) {
      if (draining()) break;
      if (metrics_ != nullptr) metrics_->CountError("lease");
      if (absl::IsNotFound(response.status())) {
        PROCTOR_LOG(WARNING) << "the coordinator does not know worker " << worker_id_copy_ << " ("
                             << response.status() << "); registering again";
        need_register_ = true;
        continue;
      }
      const absl::Duration delay = backoff_.Next();
      PROCTOR_LOG(WARNING) << "Lease failed (" << response.status() << "); retrying in " << delay;
      next_lease = absl::Now() + delay;
      continue;
    }
    backoff_.Reset();
    if (response->has_job()) {
      // A job that arrives after the drain began is not "current": hand it
      // back at once (no attempt is charged) instead of running it.
      RunJob(std::move(*response->mutable_job()), /*hand_back=*/draining());
      next_lease = absl::InfinitePast();
      continue;
    }
    absl::Duration retry_after = FromProto(response->retry_after());
    if (retry_after <= absl::ZeroDuration() && absl::Now() - sent < absl::Milliseconds(10)) {
      retry_after = options_.min_idle_poll;
    }
    next_lease = absl::Now() + retry_after;
  }
  const std::string id = worker_id();
  PROCTOR_LOG(INFO) << "worker " << (id.empty() ? "(never registered)" : id) << " drained after "
                    << jobs_finished() << " job(s); exiting";
  return absl::OkStatus();
}

}  // namespace proctor::worker
