#include "tests/ops/ops_testing.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/auth_tokens.h"
#include "tests/testing/subprocess.h"

namespace proctor::testing {

bool HaveProgram(const std::string& program) {
  const char* path = std::getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path ? path : "/usr/bin:/bin", ':')) {
    const std::string candidate = absl::StrCat(dir, "/", program);
    if (::access(candidate.c_str(), X_OK) == 0) return true;
  }
  return false;
}

absl::Status RunCommand(const std::vector<std::string>& argv, const std::string& log_path,
                        absl::Duration timeout) {
  std::vector<std::string> resolved = argv;
  if (resolved[0].find('/') == std::string::npos) {
    const char* path = std::getenv("PATH");
    for (absl::string_view dir : absl::StrSplit(path ? path : "/usr/bin:/bin", ':')) {
      const std::string candidate = absl::StrCat(dir, "/", argv[0]);
      if (::access(candidate.c_str(), X_OK) == 0) {
        resolved[0] = candidate;
        break;
      }
    }
  }
  Subprocess process;
  absl::Status s = process.Start(resolved, log_path);
  if (!s.ok()) return s;
  int status = 0;
  s = process.Wait(timeout, &status);
  if (!s.ok()) return s;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(
        absl::StrCat(argv[0], " failed (wait status ", status, "): ", ReadFileOrEmpty(log_path)));
  }
  return absl::OkStatus();
}

absl::Status TestPki::MakeCa(const std::string& ca_name) {
  std::filesystem::create_directories(dir_);
  return RunCommand({"openssl",
                     "req",
                     "-x509",
                     "-newkey",
                     "ec",
                     "-pkeyopt",
                     "ec_paramgen_curve:prime256v1",
                     "-nodes",
                     "-keyout",
                     key(ca_name),
                     "-out",
                     cert(ca_name),
                     "-days",
                     "2",
                     "-subj",
                     "/CN=" + ca_name,
                     "-addext",
                     "basicConstraints=critical,CA:TRUE",
                     "-addext",
                     "keyUsage=critical,keyCertSign,cRLSign"},
                    dir_ + "/openssl.log");
}

absl::Status TestPki::Issue(const std::string& ca_name, const std::string& name, int days) {
  const std::string csr = dir_ + "/" + name + ".csr";
  const std::string ext = dir_ + "/" + name + ".ext";
  absl::Status s = WriteFile(ext,
                             "basicConstraints=CA:FALSE\n"
                             "keyUsage=critical,digitalSignature,keyEncipherment\n"
                             "extendedKeyUsage=serverAuth,clientAuth\n"
                             "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  if (!s.ok()) return s;
  s = RunCommand({"openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                  "-nodes", "-keyout", key(name), "-out", csr, "-subj", "/CN=" + name},
                 dir_ + "/openssl.log");
  if (!s.ok()) return s;
  return RunCommand(
      {"openssl", "x509", "-req", "-in", csr, "-CA", cert(ca_name), "-CAkey", key(ca_name),
       "-CAcreateserial", "-out", cert(name), "-days", absl::StrCat(days), "-extfile", ext},
      dir_ + "/openssl.log");
}

absl::Status WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

absl::Status WriteTokensFile(const std::string& path, const std::vector<TokenEntry>& entries) {
  std::string text = "# written by the ops tests\n";
  for (const TokenEntry& e : entries) {
    absl::StrAppend(&text, e.name, " ", e.roles, " sha256:", auth::Sha256Hex(e.token), "\n");
  }
  return WriteFile(path, text);
}

int FreeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

}  // namespace proctor::testing
