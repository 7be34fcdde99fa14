#include "coordinator/auth_processor.h"

#include <sys/stat.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/logging.h"
#include "common/tls.h"

namespace proctor::coordinator {
namespace {

// Modification time (ns) and size of `path`; false when it cannot be stat'ed.
bool StatFile(const std::string& path, int64_t* mtime_ns, int64_t* size) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return false;
  *mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  *size = static_cast<int64_t>(st.st_size);
  return true;
}

absl::string_view View(const grpc::string_ref& s) { return absl::string_view(s.data(), s.size()); }

grpc::Status ToGrpc(const absl::Status& s) {
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

}  // namespace

absl::StatusOr<std::shared_ptr<TokenAuthProcessor>> TokenAuthProcessor::Create(
    const TokenAuthOptions& options) {
  int64_t mtime = 0, size = 0;
  StatFile(options.tokens_file, &mtime, &size);
  absl::StatusOr<auth::TokenStore> store = auth::TokenStore::Load(options.tokens_file);
  if (!store.ok()) return store.status();
  return std::shared_ptr<TokenAuthProcessor>(new TokenAuthProcessor(
      options, std::make_shared<const auth::TokenStore>(*std::move(store)), mtime, size));
}

TokenAuthProcessor::TokenAuthProcessor(TokenAuthOptions options,
                                       std::shared_ptr<const auth::TokenStore> store,
                                       int64_t mtime_ns, int64_t size)
    : options_(std::move(options)),
      store_(std::move(store)),
      mtime_ns_(mtime_ns),
      size_(size),
      next_check_(absl::Now() + options_.reload_interval) {}

std::shared_ptr<const auth::TokenStore> TokenAuthProcessor::Tokens() {
  absl::MutexLock lock(&mu_);
  const absl::Time now = absl::Now();
  if (now < next_check_) return store_;
  next_check_ = now + options_.reload_interval;
  int64_t mtime = 0, size = 0;
  if (!StatFile(options_.tokens_file, &mtime, &size) || (mtime == mtime_ns_ && size == size_)) {
    return store_;
  }
  absl::StatusOr<auth::TokenStore> fresh = auth::TokenStore::Load(options_.tokens_file);
  if (!fresh.ok()) {
    PROCTOR_LOG(WARNING) << "keeping the previous tokens: " << fresh.status().ToString();
  } else {
    store_ = std::make_shared<const auth::TokenStore>(*std::move(fresh));
    PROCTOR_LOG(INFO) << "reloaded " << store_->size() << " tokens from " << options_.tokens_file;
  }
  mtime_ns_ = mtime;
  size_ = size;
  return store_;
}

grpc::Status TokenAuthProcessor::Process(const InputMetadata& auth_metadata,
                                         grpc::AuthContext* context,
                                         OutputMetadata* consumed_auth_metadata,
                                         OutputMetadata* response_metadata) {
  absl::string_view method;
  if (auto it = auth_metadata.find(":path"); it != auth_metadata.end()) method = View(it->second);
  std::shared_ptr<const auth::TokenStore> tokens = Tokens();
  CallerCredentials caller;
  if (auto it = auth_metadata.find("authorization"); it != auth_metadata.end()) {
    absl::string_view value = View(it->second);
    if (absl::ConsumePrefix(&value, "Bearer ") || absl::ConsumePrefix(&value, "bearer ")) {
      caller.identity = tokens->Find(value);
    }
    // The token stays out of the handlers' view of the metadata.
    consumed_auth_metadata->insert(
        {"authorization", std::string(it->second.data(), it->second.size())});
  }
  caller.verified_client_cert = !context->FindPropertyValues("x509_pem_cert").empty();
  if (method.empty()) {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "call without a method path");
  }
  const absl::Status decision = Authorize(method, caller, options_.policy);
  if (!decision.ok()) return ToGrpc(decision);
  if (caller.identity != nullptr) {
    context->AddProperty(kCallerNameProperty, caller.identity->name);
    context->AddProperty(kCallerRolesProperty, auth::RoleSetToString(caller.identity->roles));
    context->SetPeerIdentityPropertyName(kCallerNameProperty);
  }
  return grpc::Status::OK;
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerSecurityOptions& options) {
  absl::StatusOr<tls::ClientAuth> client_auth =
      tls::ParseClientAuth(options.tls_client_auth.empty() ? "none" : options.tls_client_auth);
  if (!client_auth.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tls_client_auth: ", client_auth.status().message()));
  }
  if (options.tls_cert_file.empty()) {
    if (!options.auth_tokens_file.empty()) {
      return absl::InvalidArgumentError(
          "--auth_tokens_file needs TLS (--tls_cert_file, --tls_key_file): bearer tokens are "
          "never accepted over plaintext");
    }
    if (!options.tls_key_file.empty() || !options.tls_client_ca_file.empty() ||
        *client_auth != tls::ClientAuth::kNone) {
      return absl::InvalidArgumentError(
          "TLS options given without --tls_cert_file (the server certificate)");
    }
    return grpc::InsecureServerCredentials();
  }
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials = tls::MakeServerCredentials(
      {options.tls_cert_file, options.tls_key_file, options.tls_client_ca_file, *client_auth,
       options.tls_reload_interval});
  if (!credentials.ok() || options.auth_tokens_file.empty()) return credentials;
  TokenAuthOptions auth;
  auth.tokens_file = options.auth_tokens_file;
  auth.reload_interval = options.auth_reload_interval;
  auth.policy.worker_needs_client_cert = *client_auth != tls::ClientAuth::kNone;
  absl::StatusOr<std::shared_ptr<TokenAuthProcessor>> processor = TokenAuthProcessor::Create(auth);
  if (!processor.ok()) return processor.status();
  (*credentials)->SetAuthMetadataProcessor(*processor);
  return credentials;
}

std::string CallerName(const grpc::ServerContext& context) {
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth == nullptr) return "";
  std::vector<grpc::string_ref> names = auth->FindPropertyValues(kCallerNameProperty);
  return names.empty() ? "" : std::string(names.front().data(), names.front().size());
}

}  // namespace proctor::coordinator
