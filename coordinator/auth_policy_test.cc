#include "coordinator/auth_policy.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace proctor::coordinator {
namespace {

using auth::Identity;
using auth::Role;
using auth::RoleBit;
using ::testing::HasSubstr;

const Identity kSubmitter{"alice", RoleBit(Role::kSubmitter)};
const Identity kWorker{"fleet", RoleBit(Role::kWorker)};
const Identity kAdmin{"ops", RoleBit(Role::kAdmin)};

absl::StatusCode Code(absl::string_view method, const Identity* who, bool cert = false,
                      bool worker_needs_cert = false) {
  return Authorize(method, {who, cert}, {worker_needs_cert}).code();
}

TEST(AuthPolicyTest, RolesPerMethod) {
  using C = absl::StatusCode;
  const char* submit = "/proctor.v1.EvaluationService/SubmitRun";
  const char* cancel = "/proctor.v1.EvaluationService/CancelRun";
  const char* lease = "/proctor.v1.WorkerService/Lease";
  const char* report = "/proctor.v1.WorkerService/ReportOutputs";
  const char* drain = "/proctor.v1.AdminService/DrainWorker";
  const char* workers = "/proctor.v1.AdminService/ListWorkers";

  EXPECT_EQ(Code(submit, &kSubmitter), C::kOk);
  EXPECT_EQ(Code(cancel, &kSubmitter), C::kOk);
  EXPECT_EQ(Code(submit, &kAdmin), C::kOk);
  EXPECT_EQ(Code(submit, &kWorker), C::kPermissionDenied);  // a worker cannot submit
  EXPECT_EQ(Code(cancel, &kWorker), C::kPermissionDenied);  // ... or cancel

  EXPECT_EQ(Code(lease, &kWorker), C::kOk);
  EXPECT_EQ(Code(report, &kWorker), C::kOk);
  EXPECT_EQ(Code(lease, &kSubmitter), C::kPermissionDenied);  // a submitter cannot lease
  EXPECT_EQ(Code(lease, &kAdmin), C::kPermissionDenied);

  EXPECT_EQ(Code(drain, &kAdmin), C::kOk);
  EXPECT_EQ(Code(workers, &kAdmin), C::kOk);
  EXPECT_EQ(Code(drain, &kSubmitter), C::kPermissionDenied);  // only admin drains
  EXPECT_EQ(Code(workers, &kWorker), C::kPermissionDenied);

  const char* create_sweep = "/proctor.v1.SweepService/CreateSweep";
  const char* delete_sweep = "/proctor.v1.SweepService/DeleteSweep";
  EXPECT_EQ(Code(create_sweep, &kSubmitter), C::kOk);
  EXPECT_EQ(Code(create_sweep, &kWorker), C::kPermissionDenied);
  EXPECT_EQ(Code("/proctor.v1.SweepService/TriggerSweep", &kSubmitter), C::kOk);
  EXPECT_EQ(Code(delete_sweep, &kSubmitter), C::kPermissionDenied);  // only admin deletes
  EXPECT_EQ(Code(delete_sweep, &kAdmin), C::kOk);
}

TEST(AuthPolicyTest, MissingTokenIsUnauthenticatedExceptForHealth) {
  EXPECT_EQ(Code("/proctor.v1.EvaluationService/ListRuns", nullptr),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(Code("/proctor.v1.WorkerService/Lease", nullptr), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(Code("/grpc.health.v1.Health/Check", nullptr), absl::StatusCode::kOk);
  EXPECT_EQ(Code("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", nullptr),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(Code("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &kWorker),
            absl::StatusCode::kOk);
}

TEST(AuthPolicyTest, UnknownMethodsAreDeniedToEveryone) {
  const Identity everything{
      "root", RoleBit(Role::kSubmitter) | RoleBit(Role::kWorker) | RoleBit(Role::kAdmin)};
  for (const char* m :
       {"/proctor.v1.AdminService/DeleteEverything", "/proctor.v1.EvaluationService/",
        "/proctor.v1.EvaluationServiceX/SubmitRun", "/other.Service/SubmitRun", "", "SubmitRun"}) {
    absl::Status s = Authorize(m, {&everything, true}, {});
    EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << m;
  }
  EXPECT_EQ(AllowedRoles("/proctor.v1.AdminService/DeleteEverything"), 0);
}

TEST(AuthPolicyTest, DenialsNameCallerRolesAndMethod) {
  absl::Status s = Authorize("/proctor.v1.WorkerService/Lease", {&kSubmitter, false}, {});
  EXPECT_THAT(s.message(), HasSubstr("\"alice\""));
  EXPECT_THAT(s.message(), HasSubstr("roles submitter"));
  EXPECT_THAT(s.message(), HasSubstr("/proctor.v1.WorkerService/Lease"));
  EXPECT_THAT(s.message(), HasSubstr("needs worker"));
}

TEST(AuthPolicyTest, WorkerCallsCanRequireMutualTls) {
  const char* lease = "/proctor.v1.WorkerService/Lease";
  EXPECT_EQ(Code(lease, &kWorker, /*cert=*/false, /*worker_needs_cert=*/true),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(Code(lease, &kWorker, /*cert=*/true, /*worker_needs_cert=*/true),
            absl::StatusCode::kOk);
  // Submitters do not need a client certificate.
  EXPECT_EQ(Code("/proctor.v1.EvaluationService/SubmitRun", &kSubmitter, false, true),
            absl::StatusCode::kOk);
}

}  // namespace
}  // namespace proctor::coordinator
