// The code sandbox: runs one untrusted Python program in a child process
// tree that is confined and always torn down. Used by judge jobs
// (worker/judge_execution.h); threat model and limits in
// docs/design/sandbox.md.
//
// One run:
//   parent ──fork──▶ A (own process group)
//                    unshare(user | mount | net | pid) where permitted,
//                    the parent writes A's uid/gid maps (inside 1000 ↦ the
//                    worker's uid, or nobody when the worker is root),
//                    A makes every mount read-only, mounts a size-capped
//                    tmpfs on the private directory, writes main.py there
//                  ──fork──▶ B (pid 1 of the new pid namespace: reaps, reports)
//                             ──fork──▶ C: rlimits (CPU, AS, FSIZE, NPROC,
//                             CORE=0), no_new_privs, cwd = HOME = TMPDIR =
//                             private dir, near-empty environment, stdin =
//                             /dev/null, exec /usr/bin/python3 -I -S -B main.py
// B reports C's wait status on a pipe and exits. The parent captures
// stdout/stderr (capped), enforces the wall-clock timeout by SIGKILLing A's
// process group, and removes the private directory. B is the pid namespace's
// init, so when it dies the kernel kills every process left in the namespace
// (a fork bomb that called setsid() included). Without namespaces A starts
// C directly and reports its status itself.
//
// Without user namespaces (a hardened host) the run still gets its own
// process group, rlimits and private directory, drops to uid 65534 when the
// worker is root, and reports network_isolated = false: isolation is never
// claimed when it is not in place.
//
// Thread-safety: a Sandbox is immutable after Create; Run may be called from
// any number of threads at once (each run has its own processes and
// directory).
#ifndef PROCTOR_WORKER_SANDBOX_SANDBOX_H_
#define PROCTOR_WORKER_SANDBOX_SANDBOX_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace proctor::sandbox {

// Per-run limits. Defaults suit HumanEval/MBPP (programs of a few KiB that
// run in well under a second).
struct SandboxLimits {
  // Wall-clock limit: the whole process tree is killed when it passes.
  absl::Duration timeout = absl::Seconds(3);
  // RLIMIT_CPU in seconds; 0 = the timeout rounded up plus one second.
  int64_t cpu_seconds = 0;
  int64_t memory_bytes = int64_t{512} << 20;     // RLIMIT_AS
  int64_t file_size_bytes = int64_t{16} << 20;   // RLIMIT_FSIZE, per file
  int64_t max_processes = 32;                    // RLIMIT_NPROC
  int64_t workdir_bytes = int64_t{64} << 20;     // tmpfs size of the private dir
  int64_t max_output_bytes = int64_t{64} << 10;  // kept of stdout and of stderr each
};

struct SandboxOptions {
  std::string python = "/usr/bin/python3";
  // Parent of the private directories (created 0700 and removed per run).
  // Must be traversable by the sandbox user; "" = $TMPDIR or /tmp.
  std::string temp_root;
  // Try user/mount/network/pid namespaces; false = never (the fallback).
  bool use_namespaces = true;
};

enum class Outcome {
  kPassed,         // exited with status 0
  kFailed,         // exited non-zero (an assertion or an exception)
  kTimeout,        // the wall-clock limit passed; the tree was killed
  kResourceLimit,  // CPU (SIGXCPU), file size, or memory (MemoryError) limit hit
  kSignal,         // killed by another signal (e.g. SIGSEGV, SIGABRT)
};
const char* OutcomeName(Outcome outcome);

struct SandboxResult {
  Outcome outcome = Outcome::kFailed;
  int exit_code = -1;             // when the program exited, else -1
  int signal = 0;                 // the terminating signal, else 0
  std::string stdout_head;        // the first max_output_bytes of stdout
  std::string stderr_tail;        // the last max_output_bytes of stderr
  bool output_truncated = false;  // stdout or stderr was longer than kept
  absl::Duration wall_time;
  bool network_isolated = false;     // ran in a fresh network namespace
  bool filesystem_readonly = false;  // everything but the private dir read-only
};

class Sandbox {
 public:
  // Checks that `options.python` is executable and probes, with one short
  // run, which isolation the host permits. FAILED_PRECONDITION when Python
  // is missing or not even the fallback can run a program.
  static absl::StatusOr<std::unique_ptr<Sandbox>> Create(SandboxOptions options);

  // Runs `program` (Python source) to completion under `limits`. A program
  // that fails, hangs or misbehaves is an OK result with the matching
  // outcome; the error statuses are for the sandbox itself: INVALID_ARGUMENT
  // for bad limits or a program with a NUL byte or over 8 MiB,
  // UNAVAILABLE when the machine cannot start a process (EAGAIN, out of
  // file descriptors, temp dir not writable) — worth retrying elsewhere.
  // Every process started is dead and the private directory removed when
  // this returns.
  absl::StatusOr<SandboxResult> Run(std::string_view program, const SandboxLimits& limits) const;

  // Whether runs get the namespaces (network, read-only filesystem).
  bool network_isolated() const { return namespaces_; }
  const SandboxOptions& options() const { return options_; }

 private:
  Sandbox(SandboxOptions options, bool namespaces)
      : options_(std::move(options)), namespaces_(namespaces) {}
  absl::StatusOr<SandboxResult> RunOnce(std::string_view program, const SandboxLimits& limits,
                                        bool namespaces) const;

  const SandboxOptions options_;
  const bool namespaces_;
};

}  // namespace proctor::sandbox

#endif  // PROCTOR_WORKER_SANDBOX_SANDBOX_H_
