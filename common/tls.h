// TLS credentials for Proctor's gRPC servers and channels, built from PEM
// files. Server certificates are watched: a renewed certificate, key or CA
// bundle written over the old files is picked up without a restart (the files
// are re-read every `refresh_interval`; write the new key and certificate
// atomically, e.g. with rename, so that a reader never sees a mismatched pair).
//
// This header stays free of <grpcpp>: only tls.cc includes it.
#ifndef PROCTOR_COMMON_TLS_H_
#define PROCTOR_COMMON_TLS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace grpc {
class ServerCredentials;
class ChannelCredentials;
}  // namespace grpc

namespace proctor::tls {

// Whether the server asks clients for a certificate.
enum class ClientAuth {
  kNone,      // server-side TLS only
  kOptional,  // verify a client certificate when one is presented (mTLS for
              // workers, plain TLS + token for the CLI)
  kRequire,   // every client must present a certificate signed by client_ca_file
};

// Parses "none" | "optional" | "require"; INVALID_ARGUMENT naming the value
// otherwise.
absl::StatusOr<ClientAuth> ParseClientAuth(absl::string_view text);

struct ServerTlsFiles {
  std::string cert_file;       // PEM certificate chain of the server (required)
  std::string key_file;        // PEM private key of the server (required)
  std::string client_ca_file;  // PEM CA bundle verifying client certificates
  ClientAuth client_auth = ClientAuth::kNone;
  absl::Duration refresh_interval = absl::Minutes(1);
};

// Returns TLS server credentials. Every named file is read once up front so
// that a typo fails at start-up: FAILED_PRECONDITION naming the file when it
// cannot be read or holds no PEM block; INVALID_ARGUMENT when cert/key is
// missing, when client_auth is not kNone without a client_ca_file, or when
// client_ca_file is given with kNone.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerTlsFiles& files);

struct ClientTlsFiles {
  std::string ca_file;    // PEM CA bundle verifying the server (required)
  std::string cert_file;  // PEM client certificate (mTLS), with key_file
  std::string key_file;
};

// Returns TLS channel credentials (read once; a client restarts to pick up new
// files). Errors as for MakeServerCredentials.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const ClientTlsFiles& files);

// Reads a PEM file: FAILED_PRECONDITION naming `flag` and `path` when it
// cannot be read or holds no "-----BEGIN" block.
absl::StatusOr<std::string> ReadPemFile(const std::string& path, absl::string_view flag);

}  // namespace proctor::tls

#endif  // PROCTOR_COMMON_TLS_H_
