// The `proctor` command: see docs/cli.md. Everything lives in proctor::cli;
// this file only hands in the optional commands that are built into this
// binary (`model`, `eval`), so the CLI library does not depend on them.
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "cli/proctor_cli.h"

#ifdef PROCTOR_HAVE_MODEL_COMMAND
#include "cli/model_command.h"
#endif
#ifdef PROCTOR_HAVE_EVAL_COMMAND
#include "cli/eval_command.h"
#endif

int main(int argc, char** argv) {
  // As in proctor-coordinator: Debian's Abseil runs absl::Mutex's debug-only
  // deadlock detector on every lock; `proctor eval` hosts a coordinator and
  // workers in this process, so turn it off as release Abseil does.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  std::vector<std::string> args(argv + 1, argv + argc);
  proctor::cli::CliEnv env = proctor::cli::CliEnvFromProcess();
#ifdef PROCTOR_HAVE_EVAL_COMMAND
  env.external_commands.push_back({"eval", "evaluate a model in this process, without a cluster",
                                   &proctor::cli::RunEvalCommand});
#endif
#ifdef PROCTOR_HAVE_MODEL_COMMAND
  env.external_commands.push_back(
      {"model", "inspect and run a model file locally", &proctor::cli::RunModelCommand});
#endif
  return proctor::cli::RunProctor(args, env);
}
