// A child process for integration and fault tests: started with fork/exec,
// output to a log file, killed (SIGKILL by default) when the object dies.
#ifndef PROCTOR_TESTS_TESTING_SUBPROCESS_H_
#define PROCTOR_TESTS_TESTING_SUBPROCESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace proctor::testing {

class Subprocess {
 public:
  Subprocess() = default;
  ~Subprocess();  // SIGKILL + reap if still running
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  // Starts argv[0] (a path) with `argv`; stdout and stderr go to `log_path`
  // (appended, so restarts keep one log).
  absl::Status Start(const std::vector<std::string>& argv, const std::string& log_path);
  // Sends `signal`. No-op when not running.
  void Signal(int signal);
  // SIGKILL and reap.
  void Kill();
  // Waits for exit up to `timeout`; returns the exit status as from waitpid
  // (DEADLINE_EXCEEDED when still running).
  absl::Status Wait(absl::Duration timeout, int* wait_status);
  bool running();
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

// Polls `path` until it holds an integer (a port file) or `timeout` passes;
// gives up early (FAILED_PRECONDITION) when `writer` is given and exits.
absl::Status ReadPortFile(const std::string& path, absl::Duration timeout, int* port,
                          Subprocess* writer = nullptr);

// Reads a whole file ("" when missing).
std::string ReadFileOrEmpty(const std::string& path);

}  // namespace proctor::testing

#endif  // PROCTOR_TESTS_TESTING_SUBPROCESS_H_
