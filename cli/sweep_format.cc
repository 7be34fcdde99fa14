#include "cli/sweep_format.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "cli/listing_format.h"
#include "cli/text_table.h"
#include "proctor/v1/sweeps.pb.h"

namespace proctor::cli {

namespace pb = ::proctor::v1;

absl::StatusOr<std::string> FormatSweeps(const std::vector<pb::Sweep>& sweeps,
                                         OutputFormat format) {
  if (format == OutputFormat::kJson) {
    pb::ListSweepsResponse all;
    for (const pb::Sweep& s : sweeps) *all.add_sweeps() = s;
    return MessageToJson(all);
  }
  TextTable t({"name", "schedule", "tz", "models", "suite", "state", "last firing", "next firing",
               "error"});
  for (const pb::Sweep& s : sweeps) {
    std::string suite = s.spec().suite();
    if (suite.empty()) suite = absl::StrCat(s.spec().datasets_size(), " dataset(s)");
    t.AddRow({s.name(), s.schedule(), s.time_zone(),
              s.model_glob().empty() ? absl::StrCat(s.models_size()) : s.model_glob(), suite,
              s.paused() ? "paused" : "active",
              s.has_last_fired_slot() ? FormatTimestampRfc3339(s.last_fired_slot()) : "-",
              s.has_next_slot() ? FormatTimestampRfc3339(s.next_slot()) : "-", s.last_error()});
  }
  if (format == OutputFormat::kCsv) return t.RenderCsv();
  if (format == OutputFormat::kMarkdown) return t.RenderMarkdown();
  return t.RenderText();
}

absl::StatusOr<pb::ModelRef> ParseSweepModel(absl::string_view value) {
  if (value.empty()) return absl::InvalidArgumentError("--model: empty value");
  pb::ModelRef m;
  const size_t eq = value.find('=');
  if (eq != absl::string_view::npos) {
    m.set_name(std::string(value.substr(0, eq)));
    m.set_path(std::string(value.substr(eq + 1)));
    if (m.name().empty() || m.path().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--model: \"", value, "\" must be NAME=PATH with both parts non-empty"));
    }
    return m;
  }
  if (value.find('/') == absl::string_view::npos) {
    m.set_name(std::string(value));
    return m;
  }
  std::string file(value.substr(value.find_last_of('/') + 1));
  const size_t dot = file.find_last_of('.');
  if (dot != std::string::npos && dot > 0) file = file.substr(0, dot);
  if (file.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--model: \"", value, "\" names no file"));
  }
  m.set_name(file);
  m.set_path(std::string(value));
  return m;
}

}  // namespace proctor::cli
