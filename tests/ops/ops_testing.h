// Helpers for the operations and security tests: a throw-away PKI made with
// the `openssl` command, tokens files, free loopback ports.
#ifndef PROCTOR_TESTS_OPS_OPS_TESTING_H_
#define PROCTOR_TESTS_OPS_OPS_TESTING_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace proctor::testing {

// Runs argv[0] (searched in PATH when it has no '/') with `argv`, output to
// `log_path`; OK when it exits 0 within `timeout`, INTERNAL with the log
// otherwise.
absl::Status RunCommand(const std::vector<std::string>& argv, const std::string& log_path,
                        absl::Duration timeout = absl::Seconds(30));

// True when `program` is found in PATH.
bool HaveProgram(const std::string& program);

// A certificate authority and the certificates it signs, as PEM files in
// `dir`: <name>.crt and <name>.key (EC P-256). Leaf certificates carry
// subjectAltName IP:127.0.0.1 and DNS:localhost and may serve as server or
// client certificates.
class TestPki {
 public:
  explicit TestPki(std::string dir) : dir_(std::move(dir)) {}
  // Makes the CA `ca_name` (self-signed, valid 2 days).
  absl::Status MakeCa(const std::string& ca_name);
  // Issues `name` signed by `ca_name`, valid for `days` (negative: already
  // expired).
  absl::Status Issue(const std::string& ca_name, const std::string& name, int days = 2);
  std::string cert(const std::string& name) const { return dir_ + "/" + name + ".crt"; }
  std::string key(const std::string& name) const { return dir_ + "/" + name + ".key"; }

 private:
  std::string dir_;
};

struct TokenEntry {
  std::string name;
  std::string roles;  // "submitter", "worker,admin", ...
  std::string token;
};

// Writes a tokens file (hashes only) to `path`.
absl::Status WriteTokensFile(const std::string& path, const std::vector<TokenEntry>& entries);

// Writes `content` to `path`.
absl::Status WriteFile(const std::string& path, const std::string& content);

// A TCP port on 127.0.0.1 that was free a moment ago (bind to 0, close).
int FreeLoopbackPort();

}  // namespace proctor::testing

#endif  // PROCTOR_TESTS_OPS_OPS_TESTING_H_
