// Test-only: an in-process WorkerService (a real gRPC server on 127.0.0.1:0)
// that hands out queued jobs, records every call and can inject faults:
// refused registrations, forgotten workers, stale-token reports, broken
// report streams, cancellations and drain requests. Used by the worker's
// protocol tests (pull_loop_test.cc, main_test.cc); end-to-end tests with the
// real coordinator live in tests/.
#ifndef PROCTOR_WORKER_FAKE_WORKER_SERVICE_H_
#define PROCTOR_WORKER_FAKE_WORKER_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "proctor/v1/worker.grpc.pb.h"

namespace proctor::worker {

inline void SetDuration(absl::Duration d, google::protobuf::Duration* out) {
  out->set_seconds(absl::ToInt64Seconds(d));
  out->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(d - absl::Seconds(out->seconds()))));
}

inline absl::Duration GetDuration(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

// Thread-safe: every member is guarded by `mu`; tests read and configure them
// under the lock.
class FakeWorkerService final : public v1::WorkerService::Service {
 public:
  grpc::Status Register(grpc::ServerContext*, const v1::RegisterRequest* request,
                        v1::RegisterResponse* response) override {
    absl::MutexLock lock(&mu);
    registers.push_back(*request);
    if (register_failures > 0) {
      --register_failures;
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "coordinator starting");
    }
    const std::string id = absl::StrCat("w-", ++next_worker);
    known_workers.insert(id);
    response->set_worker_id(id);
    SetDuration(heartbeat_interval, response->mutable_heartbeat_interval());
    SetDuration(absl::Seconds(30), response->mutable_lease_ttl());
    return grpc::Status::OK;
  }

  grpc::Status Lease(grpc::ServerContext* ctx, const v1::LeaseRequest* request,
                     v1::LeaseResponse* response) override {
    absl::MutexLock lock(&mu);
    leases.push_back(*request);
    if (!known_workers.contains(request->worker_id())) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          "worker_id " + request->worker_id() + " is not registered");
    }
    const absl::Time deadline = absl::Now() + GetDuration(request->wait());
    auto has_job = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return !jobs.empty(); };
    mu.AwaitWithDeadline(absl::Condition(&has_job),
                         std::min(deadline, absl::Now() + absl::Seconds(2)));
    if (jobs.empty() || ctx->IsCancelled()) {
      SetDuration(absl::Milliseconds(10), response->mutable_retry_after());
      return grpc::Status::OK;
    }
    *response->mutable_job() = jobs.front();
    jobs.pop_front();
    leased_job_ids.push_back(response->job().job_id());
    auto released_gate = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return !hold_leased_jobs; };
    mu.Await(absl::Condition(&released_gate));
    return grpc::Status::OK;
  }

  grpc::Status Heartbeat(grpc::ServerContext*, const v1::HeartbeatRequest* request,
                         v1::HeartbeatResponse* response) override {
    absl::MutexLock lock(&mu);
    heartbeats.push_back(*request);
    if (!known_workers.contains(request->worker_id())) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown worker");
    }
    for (int64_t id : cancel_jobs) response->add_cancelled_job_ids(id);
    response->set_drain(drain);
    return grpc::Status::OK;
  }

  grpc::Status ReportOutputs(grpc::ServerContext*,
                             grpc::ServerReader<v1::ReportOutputsRequest>* reader,
                             v1::ReportOutputsResponse* response) override {
    v1::ReportOutputsRequest message;
    int messages = 0;
    int64_t job_id = 0;
    while (reader->Read(&message)) {
      absl::MutexLock lock(&mu);
      job_id = message.job_id();
      if (reject_reports) {
        return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                            absl::StrCat("fencing token ", message.fencing_token(), " is stale"));
      }
      if (break_stream_after > 0 && messages == break_stream_after) {
        break_stream_after = 0;  // once
        ++broken_streams;
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "coordinator restarting");
      }
      ++messages;
      report_messages.push_back(message);
      for (const v1::Output& o : message.outputs()) {
        ++received[{message.job_id(), o.request_id()}];
        outputs[o.request_id()] = o;
      }
      if (message.complete()) completed.insert(message.job_id());
      if (message.has_failure()) failures[message.job_id()] = message.failure();
      if (message.release()) released.insert(message.job_id());
    }
    absl::MutexLock lock(&mu);
    int64_t stored = 0;
    for (const auto& [key, count] : received) stored += key.first == job_id;
    response->set_outputs_stored(stored);
    response->set_job_state(completed.contains(job_id) ? v1::JOB_STATE_DONE : v1::JOB_STATE_LEASED);
    return grpc::Status::OK;
  }

  grpc::Status GetReportState(grpc::ServerContext*, const v1::GetReportStateRequest* request,
                              v1::GetReportStateResponse* response) override {
    absl::MutexLock lock(&mu);
    ++report_state_calls;
    for (const auto& [key, count] : received) {
      if (key.first == request->job_id()) response->add_stored_request_ids(key.second);
    }
    return grpc::Status::OK;
  }

  absl::Mutex mu;
  // Configuration.
  absl::Duration heartbeat_interval = absl::Milliseconds(50);
  std::deque<v1::Job> jobs ABSL_GUARDED_BY(mu);
  std::set<int64_t> cancel_jobs ABSL_GUARDED_BY(mu);
  bool drain ABSL_GUARDED_BY(mu) = false;
  bool reject_reports ABSL_GUARDED_BY(mu) = false;
  // While set, a Lease that picked a job holds its answer.
  bool hold_leased_jobs ABSL_GUARDED_BY(mu) = false;
  int break_stream_after ABSL_GUARDED_BY(mu) = 0;
  int register_failures ABSL_GUARDED_BY(mu) = 0;
  std::set<std::string> known_workers ABSL_GUARDED_BY(mu);
  // Records.
  int next_worker ABSL_GUARDED_BY(mu) = 0;
  std::vector<v1::RegisterRequest> registers ABSL_GUARDED_BY(mu);
  std::vector<v1::LeaseRequest> leases ABSL_GUARDED_BY(mu);
  std::vector<v1::HeartbeatRequest> heartbeats ABSL_GUARDED_BY(mu);
  std::vector<v1::ReportOutputsRequest> report_messages ABSL_GUARDED_BY(mu);
  std::vector<int64_t> leased_job_ids ABSL_GUARDED_BY(mu);
  std::map<std::pair<int64_t, int64_t>, int> received ABSL_GUARDED_BY(mu);
  std::map<int64_t, v1::Output> outputs ABSL_GUARDED_BY(mu);
  std::set<int64_t> completed ABSL_GUARDED_BY(mu);
  std::set<int64_t> released ABSL_GUARDED_BY(mu);
  std::map<int64_t, v1::JobFailure> failures ABSL_GUARDED_BY(mu);
  int broken_streams ABSL_GUARDED_BY(mu) = 0;
  int report_state_calls ABSL_GUARDED_BY(mu) = 0;
};

// A job of `requests` loglikelihood requests (ids job_id*1000 + 1..n) for
// model "tiny" (key "tiny-key"), sharing one prefix; fencing token 100+job_id.
inline v1::Job MakeTestJob(int64_t job_id, int requests, int attempt = 1,
                           const std::string& path = "") {
  v1::Job job;
  job.set_job_id(job_id);
  job.set_run_id("run-1");
  job.set_fencing_token(100 + job_id);
  job.mutable_model()->set_name("tiny");
  job.mutable_model()->set_path(path);
  job.set_model_key("tiny-key");
  job.set_attempt(attempt);
  job.add_prefixes("The following are questions. ");
  for (int i = 1; i <= requests; ++i) {
    v1::Request* r = job.add_requests();
    r->set_request_id(job_id * 1000 + i);
    r->set_prefix_index(1);
    r->mutable_loglikelihood()->set_context(absl::StrCat("Question ", i, "?"));
    r->mutable_loglikelihood()->add_continuations(" yes");
    r->mutable_loglikelihood()->add_continuations(" no");
  }
  return job;
}

// Owns a FakeWorkerService served on 127.0.0.1 at a free port.
class FakeCoordinator {
 public:
  FakeCoordinator() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
  }
  ~FakeCoordinator() { Shutdown(); }
  bool ok() const { return server_ != nullptr && port_ > 0; }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  FakeWorkerService& service() { return service_; }
  void Shutdown() {
    if (server_ != nullptr && !shut_down_) server_->Shutdown(std::chrono::system_clock::now());
    shut_down_ = true;
  }

 private:
  FakeWorkerService service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  bool shut_down_ = false;
};

}  // namespace proctor::worker

#endif  // PROCTOR_WORKER_FAKE_WORKER_SERVICE_H_
