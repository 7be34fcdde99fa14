#include "common/auth_tokens.h"

#include <openssl/evp.h>

#include <fstream>
#include <sstream>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace proctor::auth {
namespace {

bool ValidName(absl::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '@' &&
        c != '-') {
      return false;
    }
  }
  return true;
}

bool ValidHexDigest(absl::string_view hex) {
  if (hex.size() != 64) return false;
  for (char c : hex) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<Role> ParseRole(absl::string_view text) {
  if (text == "submitter") return Role::kSubmitter;
  if (text == "worker") return Role::kWorker;
  if (text == "admin") return Role::kAdmin;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown role \"", text, "\" (roles: submitter, worker, admin)"));
}

std::string RoleSetToString(RoleSet set) {
  std::string out;
  for (auto [role, name] : {std::pair{Role::kSubmitter, "submitter"},
                            std::pair{Role::kWorker, "worker"}, std::pair{Role::kAdmin, "admin"}}) {
    if (set & RoleBit(role)) absl::StrAppend(&out, out.empty() ? "" : ",", name);
  }
  return out;
}

std::string Sha256Hex(absl::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  // EVP_Digest with a static algorithm cannot fail short of memory exhaustion;
  // an all-zero digest then matches no stored hash.
  if (EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr) != 1) {
    return std::string(64, '0');
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * length);
  for (unsigned int i = 0; i < length; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xf]);
  }
  return out;
}

absl::StatusOr<TokenStore> TokenStore::Parse(absl::string_view text, absl::string_view source) {
  if (text.size() > kMaxFileBytes) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", text.size(),
                                                   " bytes is more than the limit of ",
                                                   kMaxFileBytes, " for a tokens file"));
  }
  TokenStore store;
  absl::flat_hash_set<std::string> names;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    const size_t hash_pos = line.find('#');
    if (hash_pos != absl::string_view::npos) line = line.substr(0, hash_pos);
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    const auto where = [&] { return absl::StrCat(source, ":", line_number, ": "); };
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (fields.size() != 3) {
      return absl::InvalidArgumentError(
          absl::StrCat(where(), "expected 3 fields \"<name> <role>[,<role>] sha256:<hex>\", got ",
                       fields.size()));
    }
    if (!ValidName(fields[0])) {
      return absl::InvalidArgumentError(
          absl::StrCat(where(), "name \"", fields[0], "\" is not 1-64 of [A-Za-z0-9._@-]"));
    }
    Identity identity{std::string(fields[0]), 0};
    for (absl::string_view r : absl::StrSplit(fields[1], ',')) {
      absl::StatusOr<Role> role = ParseRole(r);
      if (!role.ok())
        return absl::InvalidArgumentError(absl::StrCat(where(), role.status().message()));
      identity.roles |= RoleBit(*role);
    }
    absl::string_view hash = fields[2];
    if (!absl::ConsumePrefix(&hash, "sha256:") || !ValidHexDigest(hash)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where(),
                       "hash must be sha256: followed by 64 lowercase hex digits (the token itself "
                       "never goes in this file)"));
    }
    if (!names.insert(identity.name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(where(), "name \"", identity.name, "\" appears twice"));
    }
    if (!store.by_hash_.emplace(std::string(hash), std::move(identity)).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(where(), "the same token hash is listed for two names"));
    }
  }
  if (store.by_hash_.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": no tokens (every call would be refused)"));
  }
  return store;
}

absl::StatusOr<TokenStore> TokenStore::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::FailedPreconditionError(absl::StrCat("tokens file ", path, ": cannot be read"));
  }
  std::string text;
  text.resize(kMaxFileBytes + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  return Parse(text, path);
}

const Identity* TokenStore::Find(absl::string_view token) const {
  if (token.size() < kMinTokenBytes || token.size() > kMaxTokenBytes) return nullptr;
  auto it = by_hash_.find(Sha256Hex(token));
  return it == by_hash_.end() ? nullptr : &it->second;
}

}  // namespace proctor::auth
