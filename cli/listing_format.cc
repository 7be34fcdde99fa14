#include "cli/listing_format.h"

#include <algorithm>
#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cli/progress.h"
#include "cli/run_spec_flags.h"
#include "cli/text_table.h"

namespace proctor::cli {
namespace {

namespace pb = ::proctor::v1;

absl::Time ToTime(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

bool IsSet(const google::protobuf::Timestamp& ts) { return ts.seconds() != 0 || ts.nanos() != 0; }

std::string Render(const TextTable& table, OutputFormat format) {
  switch (format) {
    case OutputFormat::kCsv:
      return table.RenderCsv();
    case OutputFormat::kMarkdown:
      return table.RenderMarkdown();
    default:
      return table.RenderText();
  }
}

// Labels sorted by key ("a=1,b=2"): protobuf maps have no stable order.
std::string JoinLabels(const google::protobuf::Map<std::string, std::string>& labels,
                       absl::string_view separator) {
  std::map<std::string, std::string> sorted(labels.begin(), labels.end());
  return absl::StrJoin(sorted, separator, absl::PairFormatter("="));
}

std::string RunWhat(const pb::RunSpec& spec) {
  std::vector<std::string> parts;
  if (!spec.suite().empty()) parts.push_back(spec.suite());
  for (const auto& d : spec.datasets()) {
    parts.push_back(d.limit() > 0 ? absl::StrCat(d.name(), ":", d.limit()) : d.name());
  }
  return absl::StrJoin(parts, "+");
}

std::string WorkerStateName(pb::WorkerState state) {
  switch (state) {
    case pb::WORKER_STATE_IDLE:
      return "idle";
    case pb::WORKER_STATE_BUSY:
      return "busy";
    case pb::WORKER_STATE_DRAINING:
      return "draining";
    case pb::WORKER_STATE_LOST:
      return "lost";
    default:
      return "unspecified";
  }
}

}  // namespace

std::string FormatTimestamp(const google::protobuf::Timestamp& ts) {
  if (!IsSet(ts)) return "";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", ToTime(ts), absl::UTCTimeZone());
}

std::string FormatTimestampRfc3339(const google::protobuf::Timestamp& ts) {
  if (!IsSet(ts)) return "";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", ToTime(ts), absl::UTCTimeZone());
}

std::string FormatBytes(int64_t bytes) {
  if (bytes < 1024) return absl::StrCat(bytes, bytes == 0 ? "" : " B");
  constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  double value = static_cast<double>(bytes) / 1024;
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  return absl::StrFormat("%.1f %s", value, kUnits[unit]);
}

std::string FormatAge(const google::protobuf::Timestamp& ts, absl::Time now) {
  if (!IsSet(ts)) return "never";
  const int64_t s = std::max<int64_t>(0, absl::ToInt64Seconds(now - ToTime(ts)));
  if (s < 120) return absl::StrCat(s, "s ago");
  if (s < 2 * 3600) return absl::StrCat(s / 60, "m ago");
  if (s < 2 * 86400) return absl::StrCat(s / 3600, "h ago");
  return absl::StrCat(s / 86400, "d ago");
}

absl::StatusOr<std::string> FormatRuns(const pb::ListRunsResponse& runs, OutputFormat format) {
  if (format == OutputFormat::kJson) return MessageToJson(runs);
  if (format == OutputFormat::kCsv) {
    TextTable table({"run_id", "state", "model", "model_path", "suite", "datasets", "priority",
                     "submitter", "jobs_done", "jobs_failed", "jobs_total", "requests_done",
                     "requests_total", "created_at", "finished_at", "labels", "failure_reason"});
    for (const pb::Run& run : runs.runs()) {
      std::vector<std::string> datasets;
      for (const auto& d : run.spec().datasets()) {
        datasets.push_back(d.limit() > 0 ? absl::StrCat(d.name(), ":", d.limit()) : d.name());
      }
      const pb::RunProgress& p = run.progress();
      table.AddRow({run.run_id(), RunStateName(run.state()), run.spec().model().name(),
                    run.spec().model().path(), run.spec().suite(), absl::StrJoin(datasets, ";"),
                    PriorityName(run.spec().priority()), run.spec().submitter(),
                    absl::StrCat(p.jobs_done()), absl::StrCat(p.jobs_failed()),
                    absl::StrCat(p.jobs_total()), absl::StrCat(p.requests_done()),
                    absl::StrCat(p.requests_total()), FormatTimestampRfc3339(run.created_at()),
                    FormatTimestampRfc3339(run.finished_at()), JoinLabels(run.spec().labels(), ";"),
                    run.failure_reason()});
    }
    return table.RenderCsv();
  }
  TextTable table(
      {"run", "state", "model", "evaluates", "progress", "priority", "created", "labels"},
      {Align::kLeft, Align::kLeft, Align::kLeft, Align::kLeft, Align::kRight, Align::kLeft,
       Align::kLeft, Align::kLeft});
  for (const pb::Run& run : runs.runs()) {
    const pb::RunProgress& p = run.progress();
    table.AddRow({run.run_id(), RunStateName(run.state()), run.spec().model().name(),
                  RunWhat(run.spec()),
                  absl::StrFormat("%s (%d/%d)", FormatPercent(RunFraction(run)), p.jobs_done(),
                                  p.jobs_total()),
                  PriorityName(run.spec().priority()), FormatTimestamp(run.created_at()),
                  JoinLabels(run.spec().labels(), ",")});
  }
  return Render(table, format);
}

absl::StatusOr<std::string> FormatWorkers(const pb::ListWorkersResponse& workers,
                                          OutputFormat format, absl::Time now) {
  if (format == OutputFormat::kJson) return MessageToJson(workers);
  const bool csv = format == OutputFormat::kCsv;
  TextTable table(
      {"worker", "name", "state", "backend", "gpus", csv ? "gpu_memory_bytes" : "gpu memory",
       "sandbox", "models", "leases", csv ? "last_seen" : "last seen"},
      {Align::kLeft, Align::kLeft, Align::kLeft, Align::kLeft, Align::kRight, Align::kRight,
       Align::kLeft, Align::kLeft, Align::kRight, Align::kLeft});
  for (const pb::WorkerInfo& w : workers.workers()) {
    const pb::WorkerCapabilities& c = w.capabilities();
    table.AddRow(
        {w.worker_id(), w.worker_name(), WorkerStateName(w.state()), c.backend(),
         absl::StrCat(c.gpu_count()),
         csv ? absl::StrCat(c.gpu_memory_bytes()) : FormatBytes(c.gpu_memory_bytes()),
         c.sandbox() ? "yes" : "no", absl::StrJoin(c.loaded_models(), csv ? ";" : ","),
         csv ? absl::StrJoin(w.leased_job_ids(), ";") : absl::StrCat(w.leased_job_ids_size()),
         csv ? FormatTimestampRfc3339(w.last_seen()) : FormatAge(w.last_seen(), now)});
  }
  return Render(table, format);
}

absl::StatusOr<std::string> FormatDatasets(const pb::ListDatasetsResponse& datasets,
                                           OutputFormat format) {
  if (format == OutputFormat::kJson) return MessageToJson(datasets);
  const bool csv = format == OutputFormat::kCsv;
  TextTable table({"dataset", "dimension", "type", "metric", "fewshot", "available", "groups",
                   csv ? "prompt_hash" : "prompt"},
                  {Align::kLeft, Align::kLeft, Align::kLeft, Align::kLeft, Align::kRight,
                   Align::kLeft, Align::kLeft, Align::kLeft});
  for (const pb::DatasetInfo& d : datasets.datasets()) {
    table.AddRow({d.name(), d.dimension(), d.request_type(), d.metric(),
                  absl::StrCat(d.num_fewshot()), d.available() ? "yes" : "no",
                  absl::StrJoin(d.groups(), csv ? ";" : ","), d.prompt_hash()});
  }
  return Render(table, format);
}

absl::StatusOr<std::string> FormatSuites(const pb::ListSuitesResponse& suites,
                                         OutputFormat format) {
  if (format == OutputFormat::kJson) return MessageToJson(suites);
  if (format == OutputFormat::kCsv) {
    TextTable table({"suite", "description", "datasets"});
    for (const pb::SuiteInfo& s : suites.suites()) {
      table.AddRow({s.name(), s.description(), absl::StrJoin(s.datasets(), ";")});
    }
    return table.RenderCsv();
  }
  TextTable table({"suite", "sets", "description", "datasets"},
                  {Align::kLeft, Align::kRight, Align::kLeft, Align::kLeft});
  for (const pb::SuiteInfo& s : suites.suites()) {
    constexpr int kShown = 4;
    std::vector<std::string> shown(s.datasets().begin(),
                                   s.datasets().begin() + std::min(kShown, s.datasets_size()));
    std::string list = absl::StrJoin(shown, ",");
    if (s.datasets_size() > kShown) absl::StrAppend(&list, ",…");
    table.AddRow({s.name(), absl::StrCat(s.datasets_size()), s.description(), list});
  }
  return Render(table, format);
}

}  // namespace proctor::cli
