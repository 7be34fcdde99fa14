#include "cli/report_command.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace proctor::cli {
namespace {

namespace pb = ::proctor::v1;
namespace rep = ::proctor::eval::report;

// Adds the run id to a coordinator error, keeping its code.
absl::Status ForRun(const std::string& run_id, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat("run ", run_id, ": ", status.message()));
}

absl::Status PrepareDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("--out: cannot create directory \"", dir, "\": ", ec.message()));
  }
  if (!std::filesystem::is_directory(dir, ec)) {
    return absl::FailedPreconditionError(absl::StrCat("--out: \"", dir, "\" is not a directory"));
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("--out: directory \"", dir, "\" is not writable"));
  }
  return absl::OkStatus();
}

absl::Status WriteFileAtomically(const std::string& path, const std::string& content) {
  const std::string tmp = absl::StrCat(path, ".tmp.", ::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << content;
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      return absl::FailedPreconditionError(absl::StrCat("cannot write \"", tmp, "\""));
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return absl::FailedPreconditionError(
        absl::StrCat("cannot rename \"", tmp, "\" to \"", path, "\""));
  }
  return absl::OkStatus();
}

}  // namespace

void AddReportFlags(FlagParser* parser) {
  parser->AddValue("out", "DIR", "directory to write the report into (created when missing)");
  parser->AddValue("format", "LIST",
                   "comma-separated formats to write: html, md, csv (default html,md,csv)");
  parser->AddValue("alpha", "P", "significance level of win/loss in comparisons (default 0.05)");
  parser->AddValue("title", "TEXT", "heading of the report (default \"Proctor report\")");
}

absl::StatusOr<ReportCommandOptions> ParseReportCommand(const ParsedFlags& flags) {
  ReportCommandOptions options;
  options.out_dir = flags.Get("out").value_or("");
  if (options.out_dir.empty()) {
    return absl::InvalidArgumentError("--out: a directory is required (--out DIR)");
  }
  absl::StatusOr<std::vector<rep::ReportFormat>> formats =
      rep::ParseReportFormats(flags.Get("format").value_or("html,md,csv"));
  if (!formats.ok())
    return absl::InvalidArgumentError(absl::StrCat("--format: ", formats.status().message()));
  options.formats = *std::move(formats);
  if (auto text = flags.Get("alpha")) {
    if (!absl::SimpleAtod(*text, &options.alpha) || !(options.alpha > 0 && options.alpha < 1)) {
      return absl::InvalidArgumentError(absl::StrCat("--alpha: \"", *text, "\" is not in (0, 1)"));
    }
  }
  options.title = flags.Get("title").value_or("");
  options.run_ids = flags.positional();
  if (options.run_ids.empty()) return absl::InvalidArgumentError("no RUN given");
  if (options.run_ids.size() > rep::kMaxRuns) {
    return absl::InvalidArgumentError(absl::StrCat(
        options.run_ids.size(), " runs given; a report shows at most ", rep::kMaxRuns));
  }
  std::set<std::string> seen;
  for (const std::string& id : options.run_ids) {
    if (!seen.insert(id).second) {
      return absl::InvalidArgumentError(absl::StrCat("run \"", id, "\" is given twice"));
    }
  }
  return options;
}

absl::StatusOr<std::vector<std::string>> WriteReport(CoordinatorClient& client,
                                                     const ReportCommandOptions& options,
                                                     absl::Time now) {
  PROCTOR_RETURN_IF_ERROR(PrepareDir(options.out_dir));
  rep::ReportInput input;
  input.title = options.title;
  input.generated_at = absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", now, absl::UTCTimeZone());
  for (const std::string& id : options.run_ids) {
    absl::StatusOr<pb::Results> results = client.GetResults(id);
    if (!results.ok()) return ForRun(id, results.status());
    input.runs.push_back(*std::move(results));
  }
  pb::CompareRunsRequest request;
  request.set_run_a(options.run_ids[0]);
  request.set_alpha(options.alpha);
  for (size_t i = 1; i < options.run_ids.size(); ++i) {
    request.set_run_b(options.run_ids[i]);
    absl::StatusOr<pb::Comparison> c = client.CompareRuns(request);
    if (!c.ok()) return ForRun(options.run_ids[i], c.status());
    input.comparisons.push_back(*std::move(c));
  }
  std::vector<std::string> written;
  for (rep::ReportFormat format : options.formats) {
    PROCTOR_ASSIGN_OR_RETURN(std::string text, rep::RenderReport(input, format));
    const std::string path =
        (std::filesystem::path(options.out_dir) / rep::ReportFileName(format)).string();
    PROCTOR_RETURN_IF_ERROR(WriteFileAtomically(path, text));
    written.push_back(path);
  }
  return written;
}

}  // namespace proctor::cli
