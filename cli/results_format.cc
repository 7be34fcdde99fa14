#include "cli/results_format.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cli/run_spec_flags.h"
#include "cli/text_table.h"

namespace proctor::cli {
namespace {

namespace pb = ::proctor::v1;

const pb::MetricValue* PrimaryMetric(const pb::SetResult& set) {
  for (const pb::MetricValue& m : set.metrics()) {
    if (m.name() == set.primary_metric()) return &m;
  }
  return set.metrics().empty() ? nullptr : &set.metrics(0);
}

std::string Marked(const std::string& name, bool complete) {
  return complete ? name : absl::StrCat(name, " *");
}

std::string SampleCount(const pb::SetResult& set) {
  if (set.complete() && set.num_samples() == set.num_samples_total()) {
    return absl::StrCat(set.num_samples());
  }
  return absl::StrCat(set.num_samples(), "/", set.num_samples_total());
}

// "a, b, c" or "a, b, c, +4 more".
std::string ShortList(const google::protobuf::RepeatedPtrField<std::string>& names) {
  constexpr int kShown = 3;
  std::vector<std::string> shown;
  for (int i = 0; i < names.size() && i < kShown; ++i) shown.push_back(names[i]);
  std::string out = absl::StrJoin(shown, ", ");
  if (names.size() > kShown) absl::StrAppend(&out, ", +", names.size() - kShown, " more");
  return out;
}

// Exact-ish number for machine formats: shortest form that round-trips well
// enough for scores (up to 10 significant digits).
std::string CsvNumber(double value) { return absl::StrFormat("%.10g", value); }

bool AnyIncomplete(const pb::Results& r) {
  for (const auto& s : r.sets()) {
    if (!s.complete()) return true;
  }
  for (const auto& g : r.groups()) {
    if (!g.complete()) return true;
  }
  for (const auto& d : r.dimensions()) {
    if (!d.complete()) return true;
  }
  return r.has_overall() && !r.overall().complete();
}

struct Tables {
  TextTable sets{{"dataset", "dimension", "metric", "score", "±stderr", "n", "prompt"},
                 {Align::kLeft, Align::kLeft, Align::kLeft, Align::kRight, Align::kRight,
                  Align::kRight, Align::kLeft}};
  TextTable groups{
      {"group", "aggregation", "score", "±stderr", "members", "missing"},
      {Align::kLeft, Align::kLeft, Align::kRight, Align::kRight, Align::kRight, Align::kLeft}};
  TextTable summary{{"dimension", "score", "±stderr", "members", "missing"},
                    {Align::kLeft, Align::kRight, Align::kRight, Align::kRight, Align::kLeft}};
};

void AddGroupRow(TextTable* table, const pb::GroupResult& g, bool with_aggregation) {
  std::vector<std::string> row;
  row.push_back(Marked(g.name(), g.complete()));
  if (with_aggregation) row.push_back(g.aggregation());
  row.push_back(g.complete() ? FormatScore(g.score()) : "-");
  row.push_back(g.complete() && g.has_stderr() ? FormatScore(g.stderr()) : "");
  row.push_back(absl::StrCat(g.members_size()));
  row.push_back(ShortList(g.missing()));
  table->AddRow(std::move(row));
}

Tables BuildTables(const pb::Results& r) {
  Tables t;
  for (const pb::SetResult& s : r.sets()) {
    const pb::MetricValue* m = PrimaryMetric(s);
    t.sets.AddRow({Marked(s.dataset(), s.complete()), s.dimension(),
                   m != nullptr ? m->name() : s.primary_metric(),
                   m != nullptr ? FormatScore(m->value()) : "-",
                   m != nullptr && m->has_stderr() ? FormatScore(m->stderr()) : "", SampleCount(s),
                   s.prompt_hash()});
  }
  for (const pb::GroupResult& g : r.groups()) AddGroupRow(&t.groups, g, true);
  for (const pb::GroupResult& d : r.dimensions()) AddGroupRow(&t.summary, d, false);
  if (r.has_overall()) {
    pb::GroupResult overall = r.overall();
    if (overall.name().empty()) overall.set_name("Overall");
    AddGroupRow(&t.summary, overall, false);
  }
  return t;
}

std::string Heading(const pb::Results& r) {
  return absl::StrCat("run ", r.run_id(), "  model ", r.model(), "  state ",
                      RunStateName(r.state()));
}

constexpr char kIncompleteNote[] =
    "* incomplete: not every planned sample is scored (or a member is missing)";

std::string RenderText(const pb::Results& r) {
  const Tables t = BuildTables(r);
  std::string out = absl::StrCat(Heading(r), "\n\n", t.sets.RenderText());
  if (t.groups.num_rows() > 0) absl::StrAppend(&out, "\n", t.groups.RenderText());
  if (t.summary.num_rows() > 0) absl::StrAppend(&out, "\n", t.summary.RenderText());
  if (AnyIncomplete(r)) absl::StrAppend(&out, "\n", kIncompleteNote, "\n");
  return out;
}

std::string RenderMarkdown(const pb::Results& r) {
  const Tables t = BuildTables(r);
  std::string out = absl::StrCat("**", MarkdownCell(Heading(r)), "**\n\n", t.sets.RenderMarkdown());
  if (t.groups.num_rows() > 0) absl::StrAppend(&out, "\n", t.groups.RenderMarkdown());
  if (t.summary.num_rows() > 0) absl::StrAppend(&out, "\n", t.summary.RenderMarkdown());
  if (AnyIncomplete(r)) absl::StrAppend(&out, "\n\\", kIncompleteNote, "\n");
  return out;
}

void AddCsvGroup(TextTable* table, absl::string_view kind, const pb::GroupResult& g,
                 absl::string_view default_name) {
  table->AddRow({std::string(kind), g.name().empty() ? std::string(default_name) : g.name(), "",
                 g.aggregation(), "", g.complete() ? CsvNumber(g.score()) : "",
                 g.complete() && g.has_stderr() ? CsvNumber(g.stderr()) : "", "", "", "",
                 g.complete() ? "true" : "false", absl::StrJoin(g.missing(), ";")});
}

std::string RenderCsv(const pb::Results& r) {
  TextTable table({"kind", "name", "dimension", "metric", "primary", "score", "stderr",
                   "num_samples", "num_samples_total", "prompt_hash", "complete", "missing"});
  for (const pb::SetResult& s : r.sets()) {
    if (s.metrics().empty()) {  // nothing scored yet: still one row for the set
      table.AddRow({"set", s.dataset(), s.dimension(), s.primary_metric(), "true", "", "",
                    absl::StrCat(s.num_samples()), absl::StrCat(s.num_samples_total()),
                    s.prompt_hash(), s.complete() ? "true" : "false", ""});
    }
    for (const pb::MetricValue& m : s.metrics()) {
      table.AddRow({"set", s.dataset(), s.dimension(), m.name(),
                    m.name() == s.primary_metric() ? "true" : "false", CsvNumber(m.value()),
                    m.has_stderr() ? CsvNumber(m.stderr()) : "", absl::StrCat(s.num_samples()),
                    absl::StrCat(s.num_samples_total()), s.prompt_hash(),
                    s.complete() ? "true" : "false", ""});
    }
  }
  for (const auto& g : r.groups()) AddCsvGroup(&table, "group", g, "");
  for (const auto& d : r.dimensions()) AddCsvGroup(&table, "dimension", d, "");
  if (r.has_overall()) AddCsvGroup(&table, "overall", r.overall(), "Overall");
  return table.RenderCsv();
}

}  // namespace

std::string FormatScore(double value) { return absl::StrFormat("%.2f", value); }

absl::StatusOr<std::string> FormatResults(const pb::Results& results, OutputFormat format) {
  switch (format) {
    case OutputFormat::kJson:
      return MessageToJson(results);
    case OutputFormat::kCsv:
      return RenderCsv(results);
    case OutputFormat::kMarkdown:
      return RenderMarkdown(results);
    case OutputFormat::kTable:
      break;
  }
  return RenderText(results);
}

}  // namespace proctor::cli
