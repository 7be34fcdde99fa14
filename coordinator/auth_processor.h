// Bearer-token authentication and per-method authorization for the
// coordinator's gRPC server, as a grpc::AuthMetadataProcessor on its TLS
// credentials (gRPC runs processors only on secure credentials).
//
// Every call's "authorization: Bearer <token>" is looked up in a tokens file
// (common/auth_tokens.h) and checked against coordinator/auth_policy.h; a
// refused call never reaches a service, so it changes nothing. The tokens
// file is re-read when its modification time or size changes (checked at most
// every `reload_interval`); a file that no longer parses is logged and the
// previous tokens stay in force.
//
// Accepted calls carry the caller in their AuthContext: property
// kCallerNameProperty (the token's name, also the peer identity) and
// kCallerRolesProperty (comma-separated roles); see CallerName().
//
// Thread-safety: Process() may be called concurrently.
#ifndef PROCTOR_COORDINATOR_AUTH_PROCESSOR_H_
#define PROCTOR_COORDINATOR_AUTH_PROCESSOR_H_

#include <grpcpp/security/auth_metadata_processor.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_context.h>

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/auth_tokens.h"
#include "coordinator/auth_policy.h"

namespace proctor::coordinator {

inline constexpr char kCallerNameProperty[] = "proctor.caller";
inline constexpr char kCallerRolesProperty[] = "proctor.roles";

struct TokenAuthOptions {
  std::string tokens_file;
  AuthPolicyOptions policy;
  absl::Duration reload_interval = absl::Seconds(10);
};

class TokenAuthProcessor final : public grpc::AuthMetadataProcessor {
 public:
  // Loads options.tokens_file; its errors (unreadable, malformed) are returned.
  static absl::StatusOr<std::shared_ptr<TokenAuthProcessor>> Create(
      const TokenAuthOptions& options);

  grpc::Status Process(const InputMetadata& auth_metadata, grpc::AuthContext* context,
                       OutputMetadata* consumed_auth_metadata,
                       OutputMetadata* response_metadata) override;

 private:
  TokenAuthProcessor(TokenAuthOptions options, std::shared_ptr<const auth::TokenStore> store,
                     int64_t mtime_ns, int64_t size);
  // The current tokens, re-reading the file when it changed.
  std::shared_ptr<const auth::TokenStore> Tokens();

  const TokenAuthOptions options_;
  absl::Mutex mu_;
  std::shared_ptr<const auth::TokenStore> store_ ABSL_GUARDED_BY(mu_);
  int64_t mtime_ns_ ABSL_GUARDED_BY(mu_);
  int64_t size_ ABSL_GUARDED_BY(mu_);
  absl::Time next_check_ ABSL_GUARDED_BY(mu_);
};

// Security settings of the coordinator's listening port (ServerOptions).
struct ServerSecurityOptions {
  std::string tls_cert_file;  // empty = plaintext
  std::string tls_key_file;
  std::string tls_client_ca_file;
  std::string tls_client_auth;  // "none" | "optional" | "require"
  absl::Duration tls_reload_interval = absl::Minutes(1);
  std::string auth_tokens_file;  // empty = no tokens
  absl::Duration auth_reload_interval = absl::Seconds(10);
};

// The credentials for grpc::ServerBuilder::AddListeningPort: insecure when no
// TLS file is set; otherwise TLS (common/tls.h) with a TokenAuthProcessor when
// a tokens file is set. With tls_client_auth other than "none", WorkerService
// calls need a verified client certificate. INVALID_ARGUMENT for a tokens file
// without TLS (tokens would travel in clear), TLS file options without
// tls_cert_file, or an unknown tls_client_auth; the errors of
// tls::MakeServerCredentials and TokenAuthProcessor::Create otherwise.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerSecurityOptions& options);

// The authenticated caller's name, or "" when authentication is off.
// For the services: SubmitRun should set RunSpec.submitter from this.
std::string CallerName(const grpc::ServerContext& context);

}  // namespace proctor::coordinator

#endif  // PROCTOR_COORDINATOR_AUTH_PROCESSOR_H_
