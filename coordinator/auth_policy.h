// Which role may call which coordinator method. Deny by default: a method not
// in the table is refused for everyone. The table (docs/operators/security.md):
//
//   EvaluationService/*          submitter, admin
//   WorkerService/*              worker (and, when required, a verified client
//                                certificate: mTLS)
//   AdminService/*               admin
//   SweepService/*               submitter, admin (DeleteSweep: admin)
//   grpc.health.v1.Health/*      anyone, no token (load-balancer and k8s probes)
//   grpc.reflection.*            any valid token
//
// Thread-safety: stateless; every function may be called concurrently.
#ifndef PROCTOR_COORDINATOR_AUTH_POLICY_H_
#define PROCTOR_COORDINATOR_AUTH_POLICY_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/auth_tokens.h"

namespace proctor::coordinator {

struct CallerCredentials {
  // The token's identity, or nullptr when the call carried no token or an
  // unknown one.
  const auth::Identity* identity = nullptr;
  // The peer presented a client certificate that the TLS layer verified.
  bool verified_client_cert = false;
};

struct AuthPolicyOptions {
  // WorkerService calls must come over mTLS (a verified client certificate).
  bool worker_needs_client_cert = false;
};

// Decides one call to `method` ("/package.Service/Method"). Returns OK to let
// it through; UNAUTHENTICATED when a token is needed and missing or unknown,
// or when a worker call lacks the required client certificate;
// PERMISSION_DENIED (naming the caller, its roles and the method) when the
// caller's roles do not allow the method or the method is unknown.
absl::Status Authorize(absl::string_view method, const CallerCredentials& caller,
                       const AuthPolicyOptions& options);

// The roles allowed to call `method`; 0 for an unknown method.
auth::RoleSet AllowedRoles(absl::string_view method);

// True for methods anyone may call without a token (health checks).
bool IsOpenMethod(absl::string_view method);

}  // namespace proctor::coordinator

#endif  // PROCTOR_COORDINATOR_AUTH_POLICY_H_
