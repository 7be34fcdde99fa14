// Streaming SHA-256 (OpenSSL EVP) and a file hasher.
//
// Thread-safety: a Sha256 object is used by one thread at a time.
#ifndef PROCTOR_EVAL_ACQUIRE_SHA256_H_
#define PROCTOR_EVAL_ACQUIRE_SHA256_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace proctor::eval::acquire {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(const void* data, size_t n);
  void Update(absl::string_view data) { Update(data.data(), data.size()); }
  // The digest as 64 lowercase hex digits. The object must not be used after.
  std::string HexDigest();

 private:
  void* ctx_;  // EVP_MD_CTX*, owned
};

struct FileDigest {
  std::string sha256;  // lowercase hex
  uint64_t size = 0;
};

// Hashes the regular file at `path`. NOT_FOUND when it does not exist,
// FAILED_PRECONDITION when it is not a regular file, INTERNAL on read errors.
absl::StatusOr<FileDigest> HashFile(const std::string& path);

// True for 64 lowercase hex digits.
bool IsSha256Hex(absl::string_view s);

}  // namespace proctor::eval::acquire

#endif  // PROCTOR_EVAL_ACQUIRE_SHA256_H_
