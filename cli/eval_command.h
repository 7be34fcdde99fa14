// `proctor eval`: the embedded one-process evaluation (coordinator, worker
// and engine in one process, no cluster). Declared here so the dispatcher in
// proctor_cli.cc can reach it; defined in eval_command.cc, which is built into
// the command (and PROCTOR_HAVE_EVAL_COMMAND defined) only when that file
// exists — see cli/CMakeLists.txt.
#ifndef PROCTOR_CLI_EVAL_COMMAND_H_
#define PROCTOR_CLI_EVAL_COMMAND_H_

namespace proctor::cli {

// Runs `proctor eval ...`. `argv[0]` is "eval" and argv[1..argc-1] are the
// arguments after it, exactly as typed (global flags given before `eval` are
// not included). Returns the process exit code, using the codes of
// cli/exit_codes.h (0 ok, 1 run failed, 2 usage, ...). Must not call exit().
int RunEvalCommand(int argc, char** argv);

}  // namespace proctor::cli

#endif  // PROCTOR_CLI_EVAL_COMMAND_H_
