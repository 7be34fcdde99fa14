#include "coordinator/auth_policy.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace proctor::coordinator {
namespace {

using auth::Role;
using auth::RoleBit;

constexpr absl::string_view kEvaluation = "/proctor.v1.EvaluationService/";
constexpr absl::string_view kWorker = "/proctor.v1.WorkerService/";
constexpr absl::string_view kAdmin = "/proctor.v1.AdminService/";
constexpr absl::string_view kSweeps = "/proctor.v1.SweepService/";
constexpr absl::string_view kHealth = "/grpc.health.v1.Health/";
constexpr absl::string_view kReflection = "/grpc.reflection.";

// Method name after the service prefix, when it is one of `known`.
bool IsOneOf(absl::string_view method, absl::string_view prefix,
             std::initializer_list<absl::string_view> known) {
  if (!absl::ConsumePrefix(&method, prefix)) return false;
  for (absl::string_view k : known) {
    if (method == k) return true;
  }
  return false;
}

bool IsWorkerMethod(absl::string_view method) {
  return IsOneOf(method, kWorker,
                 {"Register", "Lease", "Heartbeat", "ReportOutputs", "GetReportState"});
}

}  // namespace

bool IsOpenMethod(absl::string_view method) { return IsOneOf(method, kHealth, {"Check", "Watch"}); }

auth::RoleSet AllowedRoles(absl::string_view method) {
  if (IsOneOf(method, kEvaluation,
              {"SubmitRun", "GetRun", "ListRuns", "CancelRun", "WatchRun", "GetResults",
               "ListDatasets", "ListSuites"})) {
    return RoleBit(Role::kSubmitter) | RoleBit(Role::kAdmin);
  }
  if (IsOneOf(
          method, kSweeps,
          {"CreateSweep", "GetSweep", "ListSweeps", "PauseSweep", "ResumeSweep", "TriggerSweep"})) {
    return RoleBit(Role::kSubmitter) | RoleBit(Role::kAdmin);
  }
  // Deleting a definition affects every submitter sharing it.
  if (IsOneOf(method, kSweeps, {"DeleteSweep"})) return RoleBit(Role::kAdmin);
  if (IsWorkerMethod(method)) return RoleBit(Role::kWorker);
  if (IsOneOf(method, kAdmin, {"ListWorkers", "DrainWorker"})) return RoleBit(Role::kAdmin);
  if (absl::StartsWith(method, kReflection)) {
    return RoleBit(Role::kSubmitter) | RoleBit(Role::kWorker) | RoleBit(Role::kAdmin);
  }
  return 0;
}

absl::Status Authorize(absl::string_view method, const CallerCredentials& caller,
                       const AuthPolicyOptions& options) {
  if (IsOpenMethod(method)) return absl::OkStatus();
  if (caller.identity == nullptr) {
    return absl::UnauthenticatedError(absl::StrCat(
        method, ": missing or unknown bearer token (send \"authorization: Bearer <token>\")"));
  }
  const auth::RoleSet allowed = AllowedRoles(method);
  if ((caller.identity->roles & allowed) == 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("caller \"", caller.identity->name, "\" (roles ",
                     auth::RoleSetToString(caller.identity->roles), ") may not call ", method,
                     allowed == 0 ? " (unknown method)"
                                  : absl::StrCat(" (needs ", auth::RoleSetToString(allowed), ")")));
  }
  if (options.worker_needs_client_cert && IsWorkerMethod(method) && !caller.verified_client_cert) {
    return absl::UnauthenticatedError(
        absl::StrCat(method, ": worker calls need a verified TLS client certificate (mTLS)"));
  }
  return absl::OkStatus();
}

}  // namespace proctor::coordinator
