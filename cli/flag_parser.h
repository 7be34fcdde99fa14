// A small command-line parser for `proctor` subcommands: GNU-style long flags
// ("--name=value", "--name value", "--switch"), "--" to end flags, positional
// arguments anywhere. Each subcommand declares its flags, so an unknown flag is
// an error and `--help` text is generated from the declarations. Pure; no I/O.
#ifndef PROCTOR_CLI_FLAG_PARSER_H_
#define PROCTOR_CLI_FLAG_PARSER_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace proctor::cli {

// The result of a successful parse. Values are kept as text; the command
// converts them (see ParseInt below) so errors can name the flag.
class ParsedFlags {
 public:
  // The last value of flag `name`, if given.
  std::optional<std::string> Get(absl::string_view name) const;
  // Every value of a repeatable flag, in command-line order.
  std::vector<std::string> GetAll(absl::string_view name) const;
  // True when the switch (or value flag) `name` was given.
  bool Has(absl::string_view name) const;
  // True when --help or -h was given.
  bool help() const { return help_; }
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  friend class FlagParser;
  std::map<std::string, std::vector<std::string>, std::less<>> values_;
  std::vector<std::string> positional_;
  bool help_ = false;
};

// Declares the flags of one command. Not thread-safe; build, then Parse.
class FlagParser {
 public:
  // `usage` is the synopsis ("proctor watch RUN [flags]"); `description` a
  // paragraph shown under it in --help.
  FlagParser(std::string usage, std::string description);

  // A flag taking a value. `value_name` appears in help ("--limit N").
  // A non-repeatable flag given twice is an error.
  void AddValue(std::string name, std::string value_name, std::string help,
                bool repeatable = false);
  // A boolean switch: "--watch" (also "--watch=true" / "--watch=false").
  void AddSwitch(std::string name, std::string help);

  // Parses `args` (not including the program or command name). Returns
  // INVALID_ARGUMENT naming the offending token for: an unknown flag, a value
  // flag without a value, a switch given a value other than true/false, a
  // non-repeatable flag given twice. A bare "-x" other than "-h" is unknown.
  absl::StatusOr<ParsedFlags> Parse(const std::vector<std::string>& args) const;

  // The --help text: usage line, description, and one line per flag.
  std::string Help() const;

 private:
  struct Flag {
    std::string name;
    std::string value_name;  // empty for a switch
    std::string help;
    bool repeatable = false;
  };
  const Flag* Find(absl::string_view name) const;

  std::string usage_;
  std::string description_;
  std::vector<Flag> flags_;
};

// Parses `text` as a base-10 integer in [min, max]. The error names `what`
// ("--limit: expected an integer >= 1, got \"x\"").
absl::StatusOr<int64_t> ParseInt(absl::string_view what, absl::string_view text, int64_t min,
                                 int64_t max);

}  // namespace proctor::cli

#endif  // PROCTOR_CLI_FLAG_PARSER_H_
