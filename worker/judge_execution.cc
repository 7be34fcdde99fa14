#include "worker/judge_execution.h"

#include <algorithm>
#include <deque>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/logging.h"

namespace proctor::worker {
namespace {

constexpr size_t kMaxStderrBytes = 4096;

v1::ExecutionOutcome WireOutcome(sandbox::Outcome o) {
  switch (o) {
    case sandbox::Outcome::kPassed:
      return v1::EXECUTION_OUTCOME_PASSED;
    case sandbox::Outcome::kFailed:
      return v1::EXECUTION_OUTCOME_FAILED;
    case sandbox::Outcome::kTimeout:
      return v1::EXECUTION_OUTCOME_TIMEOUT;
    case sandbox::Outcome::kResourceLimit:
      return v1::EXECUTION_OUTCOME_RESOURCE_LIMIT;
    case sandbox::Outcome::kSignal:
      return v1::EXECUTION_OUTCOME_SIGNAL;
  }
  return v1::EXECUTION_OUTCOME_UNSPECIFIED;
}

absl::Duration TimeoutOf(const v1::ExecuteCodeRequest& r, const JudgeRunnerOptions& options) {
  absl::Duration t = absl::Seconds(r.timeout().seconds()) + absl::Nanoseconds(r.timeout().nanos());
  if (t <= absl::ZeroDuration()) t = options.default_timeout;
  return std::min(t, options.max_timeout);
}

}  // namespace

std::string JudgeProgramOf(const v1::ExecuteCodeRequest& request) {
  std::string program = request.program();
  if (!program.empty() && program.back() != '\n') program += '\n';
  program += '\n';
  program += request.tests();
  if (!program.empty() && program.back() != '\n') program += '\n';
  return program;
}

v1::ExecuteCodeOutput ExecuteCodeOutputOf(const sandbox::SandboxResult& result) {
  v1::ExecuteCodeOutput out;
  out.set_outcome(WireOutcome(result.outcome));
  out.set_exit_code(result.exit_code);
  out.set_signal(result.signal);
  const std::string& err = result.stderr_tail;
  out.set_stderr_tail(err.size() > kMaxStderrBytes ? err.substr(err.size() - kMaxStderrBytes)
                                                   : err);
  const int64_t us = absl::ToInt64Microseconds(result.wall_time);
  out.mutable_wall_time()->set_seconds(us / 1'000'000);
  out.mutable_wall_time()->set_nanos(static_cast<int32_t>(us % 1'000'000) * 1000);
  out.set_network_isolated(result.network_isolated);
  return out;
}

absl::StatusOr<std::unique_ptr<JudgeRunner>> JudgeRunner::Create(const sandbox::Sandbox* sandbox,
                                                                 JudgeRunnerOptions options) {
  if (sandbox == nullptr) return absl::InvalidArgumentError("judge runner: no sandbox");
  if (options.parallelism < 1 || options.parallelism > 256) {
    return absl::InvalidArgumentError(
        absl::StrCat("judge runner: parallelism must be in [1, 256], got ", options.parallelism));
  }
  if (options.default_timeout <= absl::ZeroDuration() ||
      options.max_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("judge runner: timeouts must be > 0");
  }
  return std::unique_ptr<JudgeRunner>(new JudgeRunner(sandbox, std::move(options)));
}

absl::Status JudgeRunner::RunJob(const v1::Job& job, const std::vector<int64_t>& skip_request_ids,
                                 const engine::OutputSink& sink,
                                 const std::atomic<bool>& cancelled) {
  const absl::flat_hash_set<int64_t> skip(skip_request_ids.begin(), skip_request_ids.end());
  std::vector<const v1::Request*> todo;
  for (const v1::Request& r : job.requests()) {
    if (skip.contains(r.request_id())) continue;
    if (!r.has_execute_code()) {
      return absl::InvalidArgumentError(
          absl::StrCat("job ", job.job_id(), " request ", r.request_id(),
                       ": a judge job may only carry execute_code requests"));
    }
    if (r.execute_code().language() != "python") {
      return absl::InvalidArgumentError(
          absl::StrCat("job ", job.job_id(), " request ", r.request_id(), ": language \"",
                       r.execute_code().language(), "\" is not supported (python only)"));
    }
    todo.push_back(&r);
  }

  absl::Mutex mu;
  std::deque<v1::Output> ready;  // guarded by mu
  size_t next = 0;               // guarded by mu
  size_t finished = 0;           // guarded by mu
  absl::Status error;            // guarded by mu: the first sandbox error
  auto work = [&] {
    while (true) {
      const v1::Request* r;
      {
        absl::MutexLock lock(&mu);
        if (next >= todo.size() || !error.ok() || cancelled.load()) return;
        r = todo[next++];
      }
      sandbox::SandboxLimits limits = options_.limits;
      limits.timeout = TimeoutOf(r->execute_code(), options_);
      absl::StatusOr<sandbox::SandboxResult> result =
          sandbox_->Run(JudgeProgramOf(r->execute_code()), limits);
      absl::MutexLock lock(&mu);
      ++finished;
      if (!result.ok()) {
        if (error.ok()) {
          // A program the sandbox refuses (NUL byte, too large) is the
          // request's fault; anything else is this machine's.
          error = absl::IsInvalidArgument(result.status())
                      ? absl::InvalidArgumentError(absl::StrCat("request ", r->request_id(), ": ",
                                                                result.status().message()))
                      : absl::UnavailableError(absl::StrCat("request ", r->request_id(), ": ",
                                                            result.status().message()));
        }
        continue;
      }
      v1::Output out;
      out.set_request_id(r->request_id());
      *out.mutable_execute_code() = ExecuteCodeOutputOf(*result);
      ready.push_back(std::move(out));
    }
  };
  const size_t threads = std::min(todo.size(), static_cast<size_t>(options_.parallelism));
  std::vector<std::thread> pool;
  pool.reserve(threads);
  for (size_t i = 0; i < threads; ++i) pool.emplace_back(work);

  // Hand outputs to the sink from this thread, as the OutputSink contract asks.
  size_t delivered = 0;
  while (true) {
    std::deque<v1::Output> batch;
    bool all_done;
    {
      absl::MutexLock lock(&mu);
      auto has_news = [&] { return !ready.empty() || finished == next; };
      mu.AwaitWithTimeout(absl::Condition(&has_news), absl::Milliseconds(50));
      batch.swap(ready);
      // Done when nothing is running and nothing more will start.
      all_done = finished == next && (next >= todo.size() || !error.ok() || cancelled.load());
    }
    for (v1::Output& o : batch) {
      sink(std::move(o));
      ++delivered;
    }
    if (all_done) break;
  }
  for (std::thread& t : pool) t.join();
  {
    absl::MutexLock lock(&mu);
    for (v1::Output& o : ready) {  // finished between the last check and the join
      sink(std::move(o));
      ++delivered;
    }
    if (!error.ok()) return error;
  }
  if (delivered < todo.size()) {
    return absl::CancelledError(absl::StrCat("job ", job.job_id(), " cancelled after ", delivered,
                                             " of ", todo.size(), " programs"));
  }
  return absl::OkStatus();
}

}  // namespace proctor::worker
