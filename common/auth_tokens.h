// Bearer tokens and roles. A tokens file lists who may call the coordinator;
// it stores SHA-256 hashes, never the tokens themselves, so a leaked file
// does not leak credentials. Format (docs/operators/security.md):
//
//   # comment
//   <name> <role>[,<role>...] sha256:<64 lowercase hex digits>
//
// name: 1-64 of [A-Za-z0-9._@-]; roles: submitter, worker, admin. Names and
// hashes are unique. Tokens are any printable string of 16-4096 bytes
// (`openssl rand -hex 32` makes a good one); the hash is of the token's bytes.
//
// Thread-safety: TokenStore is immutable after Parse/Load (safe to share).
#ifndef PROCTOR_COMMON_AUTH_TOKENS_H_
#define PROCTOR_COMMON_AUTH_TOKENS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace proctor::auth {

enum class Role : uint8_t { kSubmitter = 1, kWorker = 2, kAdmin = 4 };

// A set of roles as a bit mask of Role values.
using RoleSet = uint8_t;
inline constexpr RoleSet RoleBit(Role r) { return static_cast<RoleSet>(r); }

// "submitter" | "worker" | "admin"; INVALID_ARGUMENT otherwise.
absl::StatusOr<Role> ParseRole(absl::string_view text);
// The roles of `set`, comma-separated in the order submitter,worker,admin.
std::string RoleSetToString(RoleSet set);

struct Identity {
  std::string name;
  RoleSet roles = 0;
};

// Lowercase hex SHA-256 of `data` (OpenSSL libcrypto).
std::string Sha256Hex(absl::string_view data);

class TokenStore {
 public:
  static constexpr size_t kMaxFileBytes = 1 << 20;
  static constexpr size_t kMinTokenBytes = 16;
  static constexpr size_t kMaxTokenBytes = 4096;

  // Parses a tokens file's contents. INVALID_ARGUMENT naming `source` and the
  // line for a malformed line, an unknown role, a bad hash, a duplicate name
  // or hash, more than kMaxFileBytes, or a file without any token.
  static absl::StatusOr<TokenStore> Parse(absl::string_view text, absl::string_view source);
  // Reads and parses `path`; FAILED_PRECONDITION when it cannot be read.
  static absl::StatusOr<TokenStore> Load(const std::string& path);

  // The identity holding `token`, or nullptr (unknown, too short or too long).
  // The returned pointer lives as long as this store.
  const Identity* Find(absl::string_view token) const;

  size_t size() const { return by_hash_.size(); }

 private:
  absl::flat_hash_map<std::string, Identity> by_hash_;  // hex sha256 → identity
};

}  // namespace proctor::auth

#endif  // PROCTOR_COMMON_AUTH_TOKENS_H_
