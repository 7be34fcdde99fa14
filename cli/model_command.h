// `proctor model info|tokenize|generate|score MODEL ...`: a small local tool
// for humans to inspect and try a model file with the CPU engine.
#ifndef PROCTOR_CLI_MODEL_COMMAND_H_
#define PROCTOR_CLI_MODEL_COMMAND_H_

namespace proctor::cli {

// argv[0] is "model" (the subcommand name); argv[1] the action. Writes results
// to stdout and diagnostics to stderr. Returns 0 on success, 2 for a usage
// error, 1 when the model cannot be loaded or run.
//   info MODEL                         config, tensor formats, tokenizer
//   tokenize MODEL TEXT [--no-bos]     ids and pieces
//   generate MODEL PROMPT [--max-tokens N] [--stop S]... [--threads N]
//   score MODEL CONTEXT CONTINUATION... [--threads N]
int RunModelCommand(int argc, char** argv);

}  // namespace proctor::cli

#endif  // PROCTOR_CLI_MODEL_COMMAND_H_
