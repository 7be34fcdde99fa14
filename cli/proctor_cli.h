// The `proctor` command line: global flags, subcommand dispatch, and the
// subcommands that talk to the coordinator (submit, watch, results, runs,
// cancel, workers, datasets, suites). `model` and `eval` live in their own
// libraries and are handed in by main.cc as ExternalCommands. All I/O goes through CliEnv,
// so tests drive the whole command against an in-process fake server.
#ifndef PROCTOR_CLI_PROCTOR_CLI_H_
#define PROCTOR_CLI_PROCTOR_CLI_H_

#include <ostream>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/clock.h"

namespace proctor::cli {

// A command implemented outside this library (`model`, `eval`), linked into
// the binary by main.cc when it is built. `run` gets argv[0] == name and the
// arguments after the command name; it returns the exit code.
struct ExternalCommand {
  std::string name;
  std::string summary;
  int (*run)(int argc, char** argv) = nullptr;
};

// Everything the command takes from its process. Not owned pointers must
// outlive the RunProctor call.
struct CliEnv {
  std::ostream* out = nullptr;  // results, ids, listings
  std::ostream* err = nullptr;  // errors, usage, progress of `submit --watch`
  bool out_is_tty = false;      // chooses the "\r" progress bar for `watch`
  bool err_is_tty = false;      // same for `submit --watch`
  int terminal_width = 80;
  // Default for --coordinator: $PROCTOR_COORDINATOR, else "127.0.0.1:50051".
  std::string default_coordinator = "127.0.0.1:50051";
  // $PROCTOR_TOKEN: sent as a bearer token when non-empty.
  std::string token;
  // $PROCTOR_CA_CERT: default for --ca-cert (a PEM file; turns TLS on).
  std::string default_ca_cert;
  // $USER: RunSpec.submitter for `submit`.
  std::string user;
  Clock* clock = nullptr;  // nullptr = RealClock
  // `watch` reconnects after a broken stream: first delay (doubling, capped
  // at 30 s) and the number of consecutive failed attempts before giving up.
  absl::Duration watch_reconnect_delay = absl::Seconds(1);
  int watch_max_reconnects = 5;
  // Commands dispatched by name before the built-in ones.
  std::vector<ExternalCommand> external_commands;
};

// CliEnv for the real process: std::cout/std::cerr, isatty(1)/isatty(2),
// the terminal width from TIOCGWINSZ (else $COLUMNS, else 80), environment.
CliEnv CliEnvFromProcess();

// Runs `proctor <args...>` (`args` excludes the program name) and returns the
// process exit code (see exit_codes.h and docs/cli.md). Never exits itself.
int RunProctor(const std::vector<std::string>& args, const CliEnv& env);

// The top-level usage text (commands, including `env`'s external ones, and
// global flags).
std::string TopLevelUsage(const CliEnv& env);

}  // namespace proctor::cli

#endif  // PROCTOR_CLI_PROCTOR_CLI_H_
