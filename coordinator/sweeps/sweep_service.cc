#include "coordinator/sweeps/sweep_service.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/grpc_status.h"
#include "common/logging.h"
#include "common/status_macros.h"

namespace proctor::coordinator {
namespace {

template <typename T>
grpc::Status Reply(absl::StatusOr<T> value, T* out) {
  if (!value.ok()) return ToGrpcStatus(value.status());
  *out = *std::move(value);
  return grpc::Status::OK;
}

}  // namespace

absl::StatusOr<std::vector<v1::Run>> CoordinatorLauncher::FindRuns(
    const std::map<std::string, std::string>& labels) {
  v1::ListRunsRequest request;
  request.set_page_size(1000);
  for (const auto& [k, v] : labels) (*request.mutable_label_selector())[k] = v;
  std::vector<v1::Run> out;
  while (true) {
    PROCTOR_ASSIGN_OR_RETURN(v1::ListRunsResponse page, c_->ListRuns(request));
    for (v1::Run& r : *page.mutable_runs()) out.push_back(std::move(r));
    if (page.next_page_token().empty()) break;
    request.set_page_token(page.next_page_token());
  }
  return out;
}

absl::StatusOr<std::string> CoordinatorLauncher::Submit(v1::RunSpec spec) {
  PROCTOR_ASSIGN_OR_RETURN(v1::Run run, c_->SubmitRun(std::move(spec)));
  return run.run_id();
}

absl::Status CoordinatorLauncher::Validate(const v1::RunSpec& spec) {
  if (!spec.suite().empty()) {
    std::vector<std::string> names;
    bool found = false;
    for (const v1::SuiteInfo& s : c_->catalog().ListSuites()) {
      found = found || s.name() == spec.suite();
      names.push_back(s.name());
    }
    if (!found) {
      return absl::InvalidArgumentError(absl::StrCat("spec.suite: unknown suite \"", spec.suite(),
                                                     "\"; known: ", absl::StrJoin(names, ", ")));
    }
  }
  std::vector<v1::DatasetInfo> known = c_->catalog().ListDatasets();
  for (int i = 0; i < spec.datasets_size(); ++i) {
    const std::string& want = spec.datasets(i).name();
    if (std::none_of(known.begin(), known.end(),
                     [&](const v1::DatasetInfo& d) { return d.name() == want; })) {
      return absl::InvalidArgumentError(
          absl::StrCat("spec.datasets[", i, "].name: unknown set \"", want, "\""));
    }
  }
  return absl::OkStatus();
}

grpc::Status SweepServiceImpl::CreateSweep(grpc::ServerContext*,
                                           const v1::CreateSweepRequest* request, v1::Sweep* out) {
  return Reply(m_->Create(request->sweep()), out);
}

grpc::Status SweepServiceImpl::GetSweep(grpc::ServerContext*, const v1::GetSweepRequest* request,
                                        v1::Sweep* out) {
  return Reply(m_->Get(request->name()), out);
}

grpc::Status SweepServiceImpl::ListSweeps(grpc::ServerContext*, const v1::ListSweepsRequest*,
                                          v1::ListSweepsResponse* out) {
  absl::StatusOr<std::vector<v1::Sweep>> all = m_->List();
  if (!all.ok()) return ToGrpcStatus(all.status());
  for (v1::Sweep& s : *all) *out->add_sweeps() = std::move(s);
  return grpc::Status::OK;
}

grpc::Status SweepServiceImpl::PauseSweep(grpc::ServerContext*,
                                          const v1::PauseSweepRequest* request, v1::Sweep* out) {
  return Reply(m_->Pause(request->name()), out);
}

grpc::Status SweepServiceImpl::ResumeSweep(grpc::ServerContext*,
                                           const v1::ResumeSweepRequest* request, v1::Sweep* out) {
  return Reply(m_->Resume(request->name()), out);
}

grpc::Status SweepServiceImpl::DeleteSweep(grpc::ServerContext*,
                                           const v1::DeleteSweepRequest* request,
                                           v1::DeleteSweepResponse*) {
  return ToGrpcStatus(m_->Delete(request->name()));
}

grpc::Status SweepServiceImpl::TriggerSweep(grpc::ServerContext*,
                                            const v1::TriggerSweepRequest* request,
                                            v1::TriggerSweepResponse* out) {
  return Reply(m_->Trigger(request->name()), out);
}

SweepsRuntime::SweepsRuntime(std::unique_ptr<SweepStore> store, Coordinator* coordinator,
                             const Clock* clock)
    : store_(std::move(store)),
      launcher_(coordinator),
      manager_(store_.get(), &launcher_, clock),
      service_(&manager_) {}

SweepsRuntime::~SweepsRuntime() { manager_.Shutdown(); }

absl::StatusOr<std::unique_ptr<SweepsRuntime>> SweepsRuntime::Start(const std::string& store_path,
                                                                    Coordinator* coordinator,
                                                                    const Clock* clock,
                                                                    absl::Duration period) {
  PROCTOR_ASSIGN_OR_RETURN(std::unique_ptr<SweepStore> store, SweepStore::Open(store_path));
  auto runtime =
      std::unique_ptr<SweepsRuntime>(new SweepsRuntime(std::move(store), coordinator, clock));
  // The timer's first Tick runs at once: firings missed while down fire now.
  runtime->manager_.StartBackground(period);
  return runtime;
}

}  // namespace proctor::coordinator
