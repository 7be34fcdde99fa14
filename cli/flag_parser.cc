#include "cli/flag_parser.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace proctor::cli {

std::optional<std::string> ParsedFlags::Get(absl::string_view name) const {
  auto it = values_.find(name);
  if (it == values_.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

std::vector<std::string> ParsedFlags::GetAll(absl::string_view name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return {};
  return it->second;
}

bool ParsedFlags::Has(absl::string_view name) const { return values_.find(name) != values_.end(); }

FlagParser::FlagParser(std::string usage, std::string description)
    : usage_(std::move(usage)), description_(std::move(description)) {}

void FlagParser::AddValue(std::string name, std::string value_name, std::string help,
                          bool repeatable) {
  flags_.push_back({std::move(name), std::move(value_name), std::move(help), repeatable});
}

void FlagParser::AddSwitch(std::string name, std::string help) {
  flags_.push_back({std::move(name), "", std::move(help), false});
}

const FlagParser::Flag* FlagParser::Find(absl::string_view name) const {
  for (const Flag& f : flags_) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

absl::StatusOr<ParsedFlags> FlagParser::Parse(const std::vector<std::string>& args) const {
  ParsedFlags parsed;
  bool flags_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (flags_done || arg.size() < 2 || arg[0] != '-') {
      parsed.positional_.push_back(arg);
      continue;
    }
    if (arg == "--") {
      flags_done = true;
      continue;
    }
    if (arg == "-h" || arg == "--help") {
      parsed.help_ = true;
      continue;
    }
    absl::string_view body = arg;
    if (!absl::ConsumePrefix(&body, "--")) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag ", arg));
    }
    std::optional<std::string> value;
    absl::string_view name = body;
    if (size_t eq = body.find('='); eq != absl::string_view::npos) {
      name = body.substr(0, eq);
      value = std::string(body.substr(eq + 1));
    }
    const Flag* flag = Find(name);
    if (flag == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
    }
    if (flag->value_name.empty()) {  // switch
      if (value.has_value() && *value != "true" && *value != "false") {
        return absl::InvalidArgumentError(
            absl::StrCat("--", name, " takes no value (or true/false), got \"", *value, "\""));
      }
      if (value.has_value() && *value == "false") {
        parsed.values_.erase(std::string(name));
        continue;
      }
      parsed.values_[std::string(name)] = {"true"};
      continue;
    }
    if (!value.has_value()) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("--", name, " needs a value (", flag->value_name, ")"));
      }
      value = args[++i];
    }
    auto& slot = parsed.values_[std::string(name)];
    if (!flag->repeatable && !slot.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("--", name, " given more than once"));
    }
    slot.push_back(*std::move(value));
  }
  return parsed;
}

std::string FlagParser::Help() const {
  std::string out = absl::StrCat("usage: ", usage_, "\n");
  if (!description_.empty()) absl::StrAppend(&out, "\n", description_, "\n");
  if (flags_.empty()) return out;
  absl::StrAppend(&out, "\nflags:\n");
  std::vector<std::string> lefts;
  size_t width = 0;
  for (const Flag& f : flags_) {
    std::string left = absl::StrCat("  --", f.name);
    if (!f.value_name.empty()) absl::StrAppend(&left, "=", f.value_name);
    width = std::max(width, left.size());
    lefts.push_back(std::move(left));
  }
  // Help text wraps at kHelpColumns, continuation lines indented under it.
  constexpr size_t kHelpColumns = 100;
  const size_t indent = width + 2;
  for (size_t k = 0; k < flags_.size(); ++k) {
    std::string line = absl::StrFormat("%-*s  ", static_cast<int>(width), lefts[k]);
    const std::string help =
        absl::StrCat(flags_[k].help, flags_[k].repeatable ? " (repeatable)" : "");
    size_t col = line.size();
    bool first_word = true;
    for (absl::string_view word : absl::StrSplit(help, ' ', absl::SkipEmpty())) {
      if (!first_word && col + 1 + word.size() > kHelpColumns) {
        absl::StrAppend(&line, "\n", std::string(indent, ' '));
        col = indent;
        first_word = true;
      }
      if (!first_word) {
        line.push_back(' ');
        ++col;
      }
      absl::StrAppend(&line, word);
      col += word.size();
      first_word = false;
    }
    absl::StrAppend(&out, line, "\n");
  }
  return out;
}

absl::StatusOr<int64_t> ParseInt(absl::string_view what, absl::string_view text, int64_t min,
                                 int64_t max) {
  int64_t value = 0;
  if (!absl::SimpleAtoi(text, &value) || value < min || value > max) {
    std::string range;
    if (max == std::numeric_limits<int64_t>::max()) {
      range = absl::StrCat(">= ", min);
    } else {
      range = absl::StrCat("in [", min, ", ", max, "]");
    }
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": expected an integer ", range, ", got \"", text, "\""));
  }
  return value;
}

}  // namespace proctor::cli
