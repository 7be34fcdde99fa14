#include "worker/sandbox/sandbox.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"

#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000  // <linux/fcntl.h>; mount_setattr(2)
#endif

namespace proctor::sandbox {
namespace {

constexpr size_t kMaxProgramBytes = size_t{8} << 20;
// The uid/gid the program has inside its user namespace.
constexpr int kInnerId = 1000;
// The uid/gid the program runs as on the host when the worker is root.
constexpr uid_t kNobody = 65534;
// How long the parent waits for the child to report its namespaces.
constexpr int kSetupTimeoutMs = 10'000;
// After a kill, how long the pipes may take to drain.
constexpr absl::Duration kKillGrace = absl::Seconds(2);

// Setup stages a child reports failing at (kind 1 messages).
enum Stage : int32_t {
  kStageUnshare = 1,
  kStageSync,
  kStageMountPrivate,
  kStageMountReadOnly,
  kStageMountTmpfs,
  kStageFork,
  kStageStdio,
  kStageChdir,
  kStageSetId,
  kStageWriteProgram,
  kStageRlimit,
  kStagePrctl,
  kStageExec,
};

const char* StageName(int32_t stage) {
  switch (stage) {
    case kStageUnshare:
      return "unshare(user|mount|net|pid)";
    case kStageSync:
      return "waiting for the uid/gid maps";
    case kStageMountPrivate:
      return "making mounts private";
    case kStageMountReadOnly:
      return "making the filesystem read-only";
    case kStageMountTmpfs:
      return "mounting the private tmpfs";
    case kStageFork:
      return "fork of the program process";
    case kStageStdio:
      return "redirecting stdio";
    case kStageChdir:
      return "chdir to the private directory";
    case kStageSetId:
      return "dropping to the sandbox uid/gid";
    case kStageWriteProgram:
      return "writing main.py";
    case kStageRlimit:
      return "setrlimit";
    case kStagePrctl:
      return "prctl";
    case kStageExec:
      return "exec of python";
  }
  return "unknown stage";
}

// Messages on the status pipe, written whole (< PIPE_BUF, so atomic).
struct StatusMessage {
  int32_t kind;  // 1 = setup failure (a = stage, b = errno); 2 = wait status (a)
  int32_t a;
  int32_t b;
};

// Everything the children need, prepared before fork: after fork in a
// multithreaded process only async-signal-safe calls are allowed.
struct ChildPlan {
  bool namespaces = false;
  bool drop_to_nobody = false;  // fallback as root
  const char* dir = nullptr;
  const char* tmpfs_options = nullptr;
  const char* python = nullptr;
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  const char* program = nullptr;
  size_t program_size = 0;
  rlim_t cpu_soft = 0;
  rlim_t memory = 0;
  rlim_t file_size = 0;
  rlim_t processes = 0;
  int out_w = -1;
  int err_w = -1;
  int status_w = -1;
  int sync_w = -1;  // A → parent: namespaces created
  int go_r = -1;    // parent → A: maps written
};

void Report(int fd, int32_t kind, int32_t a, int32_t b) {
  StatusMessage m{kind, a, b};
  ssize_t unused = write(fd, &m, sizeof(m));
  (void)unused;
}

[[noreturn]] void FailChild(const ChildPlan& p, int32_t stage) {
  Report(p.status_w, 1, stage, errno);
  _exit(127);
}

bool SetLimit(int resource, rlim_t soft, rlim_t hard) {
  struct rlimit r;
  r.rlim_cur = soft;
  r.rlim_max = hard;
  return setrlimit(resource, &r) == 0;
}

// B: becomes the program. Never returns.
[[noreturn]] void RunProgramChild(const ChildPlan& p) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  // The worker blocks its drain signals in every thread; the program must
  // not inherit that mask.
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  const int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(p.out_w, 1) < 0 || dup2(p.err_w, 2) < 0) {
    FailChild(p, kStageStdio);
  }
  if (chdir(p.dir) != 0) FailChild(p, kStageChdir);
  if (p.namespaces) {
    if (setresgid(kInnerId, kInnerId, kInnerId) != 0 ||
        setresuid(kInnerId, kInnerId, kInnerId) != 0) {
      FailChild(p, kStageSetId);
    }
  } else if (p.drop_to_nobody) {
    if (setgroups(0, nullptr) != 0 || setresgid(kNobody, kNobody, kNobody) != 0 ||
        setresuid(kNobody, kNobody, kNobody) != 0) {
      FailChild(p, kStageSetId);
    }
  }
  const int prog = open("main.py", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (prog < 0) FailChild(p, kStageWriteProgram);
  for (size_t off = 0; off < p.program_size;) {
    const ssize_t n = write(prog, p.program + off, p.program_size - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) FailChild(p, kStageWriteProgram);
    off += static_cast<size_t>(n);
  }
  close(prog);
  if (!SetLimit(RLIMIT_CORE, 0, 0) || !SetLimit(RLIMIT_CPU, p.cpu_soft, p.cpu_soft + 1) ||
      !SetLimit(RLIMIT_AS, p.memory, p.memory) ||
      !SetLimit(RLIMIT_FSIZE, p.file_size, p.file_size) ||
      !SetLimit(RLIMIT_NPROC, p.processes, p.processes)) {
    FailChild(p, kStageRlimit);
  }
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) FailChild(p, kStagePrctl);
  // Every descriptor but stdio closes at exec (the status pipe included,
  // which is how the parent knows exec happened).
  syscall(SYS_close_range, 3U, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */);
  execve(p.python, p.argv, p.envp);
  FailChild(p, kStageExec);
}

// B with namespaces: pid 1 of the new pid namespace. Starts the program,
// reaps every orphan, and reports the program's wait status; its exit then
// kills whatever is left in the namespace. Never returns.
[[noreturn]] void RunInitChild(const ChildPlan& p) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  const pid_t c = fork();
  if (c < 0) FailChild(p, kStageFork);
  if (c == 0) RunProgramChild(p);
  close(p.out_w);
  close(p.err_w);
  int status = 0;
  while (true) {
    int st = 0;
    const pid_t w = waitpid(-1, &st, 0);
    if (w == c) {
      status = st;
      break;
    }
    if (w < 0 && errno != EINTR) FailChild(p, kStageFork);
  }
  Report(p.status_w, 2, status, 0);
  _exit(0);
}

// Closes every descriptor but the plan's: other threads' sandboxes must not
// see their pipes held open by this long-lived child.
void CloseOtherFds(const ChildPlan& p) {
  int keep[5] = {p.out_w, p.err_w, p.status_w, p.sync_w, p.go_r};
  for (int i = 1; i < 5; ++i) {  // insertion sort: async-signal-safe
    for (int j = i; j > 0 && keep[j - 1] > keep[j]; --j) std::swap(keep[j - 1], keep[j]);
  }
  unsigned int next = 3;
  for (int fd : keep) {
    if (fd < 0 || static_cast<unsigned int>(fd) < next) continue;
    if (static_cast<unsigned int>(fd) > next) {
      syscall(SYS_close_range, next, static_cast<unsigned int>(fd) - 1, 0U);
    }
    next = static_cast<unsigned int>(fd) + 1;
  }
  syscall(SYS_close_range, next, ~0U, 0U);
}

// A: sets up the namespaces, starts B and reports how it ended. Never returns.
[[noreturn]] void RunSupervisorChild(const ChildPlan& p) {
  CloseOtherFds(p);
  setpgid(0, 0);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (p.namespaces) {
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID) != 0) {
      FailChild(p, kStageUnshare);
    }
    char c = 'u';
    if (write(p.sync_w, &c, 1) != 1) FailChild(p, kStageSync);
    if (read(p.go_r, &c, 1) != 1 || c != 'g') {
      errno = EPERM;
      FailChild(p, kStageSync);
    }
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      FailChild(p, kStageMountPrivate);
    }
    struct mount_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID;  // devices stay usable (/dev/null)
    if (syscall(SYS_mount_setattr, AT_FDCWD, "/", AT_RECURSIVE, &attr, sizeof(attr)) != 0) {
      FailChild(p, kStageMountReadOnly);
    }
    if (mount("tmpfs", p.dir, "tmpfs", MS_NOSUID | MS_NODEV, p.tmpfs_options) != 0) {
      FailChild(p, kStageMountTmpfs);
    }
  }
  // With a pid namespace the first child is the namespace's init (which
  // the kernel shields from signals, and whose death ends the namespace), so
  // the program runs one level below it.
  const pid_t b = fork();
  if (b < 0) FailChild(p, kStageFork);
  if (b == 0) {
    if (p.namespaces) RunInitChild(p);
    RunProgramChild(p);
  }
  close(p.out_w);
  close(p.err_w);
  int status = 0;
  while (waitpid(b, &status, 0) < 0) {
    if (errno != EINTR) FailChild(p, kStageFork);
  }
  if (!p.namespaces) Report(p.status_w, 2, status, 0);
  _exit(0);
}

// Removes `dir` and everything under it, making directories writable first
// (a program may chmod its own directories to 000).
void RemoveTree(const std::string& dir) {
  std::error_code ec;
  namespace fs = std::filesystem;
  for (auto it =
           fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec)) {
      fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
    }
  }
  ec.clear();
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::add, ec);
  fs::remove_all(dir, ec);
  if (ec) {
    PROCTOR_LOG(WARNING) << "sandbox: cannot remove " << dir << ": " << ec.message();
  }
}

bool WriteFile(const std::string& path, const std::string& text) {
  const int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  close(fd);
  return ok;
}

void CloseFd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

struct Pipe {
  int r = -1;
  int w = -1;
  ~Pipe() {
    CloseFd(r);
    CloseFd(w);
  }
};

absl::Status MakePipe(Pipe& p) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    return absl::UnavailableError(absl::StrCat("sandbox: pipe2: ", strerror(errno)));
  }
  p.r = fds[0];
  p.w = fds[1];
  return absl::OkStatus();
}

}  // namespace

const char* OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kPassed:
      return "passed";
    case Outcome::kFailed:
      return "failed";
    case Outcome::kTimeout:
      return "timeout";
    case Outcome::kResourceLimit:
      return "resource_limit";
    case Outcome::kSignal:
      return "signal";
  }
  return "unknown";
}

absl::StatusOr<std::unique_ptr<Sandbox>> Sandbox::Create(SandboxOptions options) {
  if (options.python.empty() || options.python[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("sandbox: python must be an absolute path, got \"", options.python, "\""));
  }
  if (access(options.python.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("sandbox: ", options.python, " is not executable: ", strerror(errno)));
  }
  if (options.temp_root.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    options.temp_root = tmp != nullptr && tmp[0] == '/' ? tmp : "/tmp";
  }
  SandboxLimits probe_limits;
  probe_limits.timeout = absl::Seconds(10);
  constexpr char kProbe[] = "import sys\nsys.exit(0 if sys.flags.isolated else 3)\n";
  std::unique_ptr<Sandbox> sandbox(new Sandbox(options, false));
  if (options.use_namespaces) {
    absl::StatusOr<SandboxResult> r = sandbox->RunOnce(kProbe, probe_limits, true);
    if (r.ok() && r->outcome == Outcome::kPassed) {
      return std::unique_ptr<Sandbox>(new Sandbox(std::move(options), true));
    }
    PROCTOR_LOG(WARNING) << "sandbox: namespaces not available ("
                         << (r.ok() ? absl::StrCat("probe ", OutcomeName(r->outcome), ": ",
                                                   r->stderr_tail)
                                    : r.status().ToString())
                         << "); programs run WITHOUT network or filesystem isolation";
  }
  absl::StatusOr<SandboxResult> r = sandbox->RunOnce(kProbe, probe_limits, false);
  if (!r.ok()) return r.status();
  if (r->outcome != Outcome::kPassed) {
    return absl::FailedPreconditionError(absl::StrCat("sandbox: a trivial program did not pass (",
                                                      OutcomeName(r->outcome),
                                                      "): ", r->stderr_tail));
  }
  return sandbox;
}

absl::StatusOr<SandboxResult> Sandbox::Run(std::string_view program,
                                           const SandboxLimits& limits) const {
  return RunOnce(program, limits, namespaces_);
}

absl::StatusOr<SandboxResult> Sandbox::RunOnce(std::string_view program,
                                               const SandboxLimits& limits, bool namespaces) const {
  if (program.size() > kMaxProgramBytes) {
    return absl::InvalidArgumentError(absl::StrCat("sandbox: program is ", program.size(),
                                                   " bytes; the limit is ", kMaxProgramBytes));
  }
  if (program.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("sandbox: program has a NUL byte at offset ", program.find('\0')));
  }
  if (limits.timeout <= absl::ZeroDuration() || limits.timeout > absl::Hours(1)) {
    return absl::InvalidArgumentError("sandbox: timeout must be in (0, 1h]");
  }
  if (limits.cpu_seconds < 0 || limits.memory_bytes < (int64_t{16} << 20) ||
      limits.file_size_bytes < 0 || limits.max_processes < 1 ||
      limits.workdir_bytes < (int64_t{1} << 20) || limits.max_output_bytes < 0) {
    return absl::InvalidArgumentError(
        "sandbox: limits must be cpu_seconds >= 0, memory_bytes >= 16 MiB, file_size_bytes >= 0, "
        "max_processes >= 1, workdir_bytes >= 1 MiB, max_output_bytes >= 0");
  }

  // The private directory on the host (a mount point when namespaces are
  // used; the working directory itself otherwise).
  std::string dir_template = options_.temp_root + "/proctor-sandbox-XXXXXX";
  std::vector<char> dir_buf(dir_template.begin(), dir_template.end());
  dir_buf.push_back('\0');
  if (mkdtemp(dir_buf.data()) == nullptr) {
    return absl::UnavailableError(absl::StrCat("sandbox: cannot create a directory under ",
                                               options_.temp_root, ": ", strerror(errno)));
  }
  const std::string dir(dir_buf.data());
  const bool root = geteuid() == 0;
  if (!namespaces && root && chown(dir.c_str(), kNobody, kNobody) != 0) {
    const int e = errno;
    RemoveTree(dir);
    return absl::UnavailableError(absl::StrCat("sandbox: chown ", dir, ": ", strerror(e)));
  }

  const int64_t cpu = limits.cpu_seconds > 0
                          ? limits.cpu_seconds
                          : static_cast<int64_t>(absl::ToDoubleSeconds(limits.timeout)) + 2;
  const std::string tmpfs_options =
      absl::StrCat("size=", limits.workdir_bytes, ",mode=0700,uid=", kInnerId, ",gid=", kInnerId);
  const std::string home = "HOME=" + dir;
  const std::string tmpdir = "TMPDIR=" + dir;
  std::vector<std::string> args = {"python3", "-I", "-S", "-B", "main.py"};
  std::vector<std::string> env = {"PATH=/usr/bin:/bin", home, tmpdir, "LANG=C.UTF-8"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  const std::string uid_map = absl::StrCat(kInnerId, " ", root ? kNobody : geteuid(), " 1\n");
  const std::string gid_map = absl::StrCat(kInnerId, " ", root ? kNobody : getegid(), " 1\n");

  Pipe out, err, status, sync_pipe, go_pipe;
  for (Pipe* p : {&out, &err, &status, &sync_pipe, &go_pipe}) {
    absl::Status s = MakePipe(*p);
    if (!s.ok()) {
      RemoveTree(dir);
      return s;
    }
  }
  ChildPlan plan;
  plan.namespaces = namespaces;
  plan.drop_to_nobody = !namespaces && root;
  plan.dir = dir.c_str();
  plan.tmpfs_options = tmpfs_options.c_str();
  plan.python = options_.python.c_str();
  plan.argv = argv.data();
  plan.envp = envp.data();
  plan.program = program.data();
  plan.program_size = program.size();
  plan.cpu_soft = static_cast<rlim_t>(cpu);
  plan.memory = static_cast<rlim_t>(limits.memory_bytes);
  plan.file_size = static_cast<rlim_t>(limits.file_size_bytes);
  plan.processes = static_cast<rlim_t>(limits.max_processes);
  plan.out_w = out.w;
  plan.err_w = err.w;
  plan.status_w = status.w;
  plan.sync_w = sync_pipe.w;
  plan.go_r = go_pipe.r;

  const absl::Time start = absl::Now();
  const pid_t pid = fork();
  if (pid < 0) {
    const int e = errno;
    RemoveTree(dir);
    return absl::UnavailableError(absl::StrCat("sandbox: fork: ", strerror(e)));
  }
  if (pid == 0) RunSupervisorChild(plan);
  setpgid(pid, pid);  // also done by the child; whichever runs first wins
  CloseFd(out.w);
  CloseFd(err.w);
  CloseFd(status.w);
  CloseFd(sync_pipe.w);
  CloseFd(go_pipe.r);
  auto kill_tree = [pid] {
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
  };

  std::string setup_error;
  if (namespaces) {
    // Wait for A to unshare, then map its user namespace's ids.
    struct pollfd pfd = {sync_pipe.r, POLLIN, 0};
    char c = 0;
    const int ready = poll(&pfd, 1, kSetupTimeoutMs);
    if (ready == 1 && read(sync_pipe.r, &c, 1) == 1 && c == 'u') {
      const std::string proc = absl::StrCat("/proc/", pid, "/");
      if (!WriteFile(proc + "uid_map", uid_map) || !WriteFile(proc + "setgroups", "deny") ||
          !WriteFile(proc + "gid_map", gid_map)) {
        setup_error = absl::StrCat("writing the uid/gid maps of pid ", pid, ": ", strerror(errno));
      } else if (write(go_pipe.w, "g", 1) != 1) {
        setup_error = absl::StrCat("signalling the sandbox child: ", strerror(errno));
      }
    }
    // Otherwise A failed before unsharing or timed out; its report (or the
    // missing one) is handled below.
    CloseFd(go_pipe.w);
    if (!setup_error.empty()) kill_tree();
  }

  // Drain stdout, stderr and the status pipe until all are closed.
  SandboxResult result;
  result.network_isolated = namespaces;
  result.filesystem_readonly = namespaces;
  std::string err_buf;
  const size_t cap = static_cast<size_t>(limits.max_output_bytes);
  bool timed_out = false;
  bool have_status = false;
  int wait_status = 0;
  int32_t failed_stage = 0;
  int failed_errno = 0;
  std::vector<char> buf(64 << 10);
  const absl::Time deadline = start + limits.timeout;
  absl::Time hard_stop = absl::InfiniteFuture();
  int open_fds = 3;
  bool out_open = true, err_open = true, status_open = true;
  while (open_fds > 0) {
    const absl::Time now = absl::Now();
    if (!timed_out && now >= deadline) {
      timed_out = true;
      kill_tree();
      hard_stop = now + kKillGrace;
    }
    if (now >= hard_stop) break;
    const absl::Time until = timed_out ? hard_stop : deadline;
    const int wait_ms =
        static_cast<int>(std::max<int64_t>(1, absl::ToInt64Milliseconds(until - now) + 1));
    struct pollfd fds[3];
    int n = 0;
    if (out_open) fds[n++] = {out.r, POLLIN, 0};
    if (err_open) fds[n++] = {err.r, POLLIN, 0};
    if (status_open) fds[n++] = {status.r, POLLIN, 0};
    const int ready = poll(fds, static_cast<nfds_t>(n), wait_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      kill_tree();
      break;
    }
    for (int i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      const ssize_t got = read(fds[i].fd, buf.data(), buf.size());
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        if (fds[i].fd == out.r) out_open = false;
        if (fds[i].fd == err.r) err_open = false;
        if (fds[i].fd == status.r) status_open = false;
        --open_fds;
        continue;
      }
      const size_t g = static_cast<size_t>(got);
      if (fds[i].fd == out.r) {
        const size_t keep = std::min(g, cap - std::min(cap, result.stdout_head.size()));
        result.stdout_head.append(buf.data(), keep);
        if (keep < g) result.output_truncated = true;
      } else if (fds[i].fd == err.r) {
        err_buf.append(buf.data(), g);
        if (err_buf.size() > 2 * cap + (64 << 10)) {
          err_buf.erase(0, err_buf.size() - cap);
          result.output_truncated = true;
        }
      } else {
        // Status messages are written whole and atomically.
        for (size_t off = 0; off + sizeof(StatusMessage) <= g; off += sizeof(StatusMessage)) {
          StatusMessage m;
          memcpy(&m, buf.data() + off, sizeof(m));
          if (m.kind == 1 && failed_stage == 0) {
            failed_stage = m.a;
            failed_errno = m.b;
          } else if (m.kind == 2) {
            have_status = true;
            wait_status = m.a;
          }
        }
      }
    }
  }
  if (open_fds > 0) kill_tree();  // gave up draining: make sure nothing survives
  int a_status = 0;
  while (waitpid(pid, &a_status, 0) < 0 && errno == EINTR) {
  }
  result.wall_time = absl::Now() - start;
  if (err_buf.size() > cap) {
    err_buf.erase(0, err_buf.size() - cap);
    result.output_truncated = true;
  }
  result.stderr_tail = std::move(err_buf);
  // The private directory: empty on the host when the program's files lived
  // in the namespace's tmpfs; the program's own files otherwise.
  RemoveTree(dir);

  if (!setup_error.empty()) return absl::UnavailableError("sandbox: " + setup_error);
  if (failed_stage != 0) {
    return absl::UnavailableError(
        absl::StrCat("sandbox: ", StageName(failed_stage), " failed: ", strerror(failed_errno)));
  }
  if (timed_out && !have_status) {
    result.outcome = Outcome::kTimeout;
    result.signal = SIGKILL;
    return result;
  }
  if (!have_status) {
    return absl::UnavailableError(absl::StrCat(
        "sandbox: the supervisor process ended without a report (wait status ", a_status, ")"));
  }
  if (WIFEXITED(wait_status)) {
    result.exit_code = WEXITSTATUS(wait_status);
    if (result.exit_code == 0) {
      result.outcome = Outcome::kPassed;
    } else if (absl::StrContains(result.stderr_tail, "MemoryError") ||
               absl::StrContains(result.stderr_tail, "File too large")) {
      result.outcome = Outcome::kResourceLimit;
    } else {
      result.outcome = Outcome::kFailed;
    }
  } else if (WIFSIGNALED(wait_status)) {
    result.signal = WTERMSIG(wait_status);
    if (timed_out) {
      result.outcome = Outcome::kTimeout;
    } else if (result.signal == SIGXCPU || result.signal == SIGXFSZ || result.signal == SIGKILL) {
      // SIGKILL that the sandbox did not send: the CPU hard limit or the
      // kernel's OOM killer.
      result.outcome = Outcome::kResourceLimit;
    } else {
      result.outcome = Outcome::kSignal;
    }
  }
  return result;
}

}  // namespace proctor::sandbox
