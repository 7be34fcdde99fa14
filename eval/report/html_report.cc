#include "eval/report/html_report.h"

#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "eval/registry.h"
#include "eval/report/bar_chart.h"
#include "eval/report/escape.h"
#include "eval/report/numbers.h"
#include "eval/report/radar_chart.h"
#include "eval/report/svg_chart.h"

namespace proctor::eval::report {
namespace {

constexpr char kStyle[] = R"(body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
margin:24px;color:#222;max-width:1200px}
h1{font-size:22px;margin-bottom:4px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0;font-size:13px}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
thead th{background:#f4f4f4}td.score,td.num{text-align:right;white-space:nowrap}
td.partial{background:#fff8e1}td.missing{color:#999}.se{color:#666;font-size:11px}
.mark{color:#b26a00;font-weight:bold}.generated,.note{color:#666;font-size:12px}
.win{color:#1b7f3b;font-weight:bold}.loss{color:#b00020;font-weight:bold}
.flag{color:#b00020}code{font-size:12px}figure{margin:8px 0}
)";

std::string E(std::string_view s) { return HtmlEscape(s); }

const char* StateClass(ScoreState s) {
  switch (s) {
    case ScoreState::kComplete:
      return "complete";
    case ScoreState::kPartial:
      return "partial";
    case ScoreState::kMissing:
      break;
  }
  return "missing";
}

std::string TimestampText(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", absl::FromUnixSeconds(t.seconds()),
                          absl::UTCTimeZone());
}

// One score cell. `title` (unescaped) becomes the tooltip.
std::string ScoreCell(const std::string& run_id, const std::string& key, ScoreState state,
                      double value, double se, bool has_se, const std::string& title) {
  std::string out = absl::StrCat("<td class=\"score ", StateClass(state), "\" data-run=\"",
                                 E(run_id), "\" data-key=\"", E(key), "\"");
  if (!title.empty()) absl::StrAppend(&out, " title=\"", E(title), "\"");
  out += ">";
  if (state == ScoreState::kMissing) {
    out += "<span class=\"v\">–</span></td>";
    return out;
  }
  absl::StrAppend(&out, "<span class=\"v\">", FormatScore(value), "</span>");
  if (state == ScoreState::kPartial) out += "<span class=\"mark\">*</span>";
  if (has_se) absl::StrAppend(&out, " <span class=\"se\">± ", FormatScore(se), "</span>");
  out += "</td>";
  return out;
}

std::string GroupCell(const v1::Results& run, const std::string& key, const v1::GroupResult* g) {
  const ScoreState state = GroupState(g);
  std::string title;
  if (g != nullptr && !g->complete()) {
    title = absl::StrCat("incomplete: ", g->missing_size(), " of ", g->members_size(),
                         " members missing or incomplete");
  }
  return ScoreCell(run.run_id(), key, state, g ? g->score() : 0, g ? g->stderr() : 0,
                   g != nullptr && g->has_stderr(), title);
}

std::string RunsSection(const ReportInput& in) {
  std::string out =
      "<section id=\"runs\"><h2>Runs</h2>\n<table id=\"runs-table\"><thead><tr><th>#</th>"
      "<th>run</th><th>model</th><th>state</th><th>results computed</th></tr></thead><tbody>\n";
  for (size_t i = 0; i < in.runs.size(); ++i) {
    const v1::Results& r = in.runs[i];
    absl::StrAppend(&out, "<tr data-run=\"", E(r.run_id()), "\"><td>", i + 1,
                    i == 0 && in.runs.size() > 1 ? " (baseline)" : "", "</td><td><code>",
                    E(r.run_id()), "</code></td><td>", E(r.model()), "</td><td>",
                    RunStateText(r.state()), "</td><td>", TimestampText(r.computed_at()),
                    "</td></tr>\n");
  }
  out += "</tbody></table></section>\n";
  return out;
}

std::string SummarySection(const ReportInput& in, const std::vector<std::string>& dims) {
  std::string out =
      "<section id=\"summary\"><h2>Summary</h2>\n<table id=\"summary-table\"><thead><tr>"
      "<th>run</th><th>Overall</th>";
  for (const std::string& d : dims) absl::StrAppend(&out, "<th>", E(d), "</th>");
  out += "</tr></thead><tbody>\n";
  for (const v1::Results& r : in.runs) {
    absl::StrAppend(&out, "<tr data-run=\"", E(r.run_id()), "\"><th>", E(RunLabel(r)), "</th>",
                    GroupCell(r, "overall", r.has_overall() ? &r.overall() : nullptr));
    for (const std::string& d : dims) {
      out += GroupCell(r, absl::StrCat("dim:", d), FindDimension(r, d));
    }
    out += "</tr>\n";
  }
  out +=
      "</tbody></table>\n<p class=\"note\">Score ± standard error. * incomplete: a partial score "
      "over the complete members only, for information. – nothing scored. Overall is the mean "
      "of the five dimensions.</p></section>\n";
  return out;
}

std::string RadarSection(const ReportInput& in) {
  const std::vector<std::string>& axes = Dimensions();
  std::vector<RadarSeries> series;
  for (size_t i = 0; i < in.runs.size(); ++i) {
    RadarSeries s;
    s.label = RunLabel(in.runs[i]);
    s.color = SeriesColor(i);
    for (const std::string& axis : axes) {
      const v1::GroupResult* g = FindDimension(in.runs[i], axis);
      const ScoreState state = GroupState(g);
      if (state == ScoreState::kMissing) {
        s.values.push_back(std::nullopt);
      } else {
        s.values.push_back(RadarValue{g->score(), state == ScoreState::kPartial});
      }
    }
    series.push_back(std::move(s));
  }
  return absl::StrCat("<section id=\"radar\"><h2>Dimensions</h2>\n<figure>",
                      RenderRadarSvg(axes, series), "</figure></section>\n");
}

std::string BarsSection(const ReportInput& in, const std::vector<std::string>& sets) {
  // Perplexity-type sets are not on the 0-100 scale: they stay in the table.
  std::vector<std::string> plotted;
  std::vector<std::string> left_out;
  for (const std::string& name : sets) {
    bool lower_better = false;
    for (const v1::Results& r : in.runs) {
      const v1::SetResult* s = FindSet(r, name);
      const v1::MetricValue* m = s ? PrimaryMetric(*s) : nullptr;
      if (m != nullptr && (m->name() == "word_perplexity" || m->name() == "bits_per_byte")) {
        lower_better = true;
      }
    }
    (lower_better ? left_out : plotted).push_back(name);
  }
  std::vector<BarSeries> series;
  for (size_t i = 0; i < in.runs.size(); ++i) {
    BarSeries b;
    b.label = RunLabel(in.runs[i]);
    b.color = SeriesColor(i);
    for (const std::string& name : plotted) {
      const v1::SetResult* s = FindSet(in.runs[i], name);
      const ScoreState state = SetState(s);
      if (state == ScoreState::kMissing) {
        b.values.push_back(std::nullopt);
        continue;
      }
      const v1::MetricValue* m = PrimaryMetric(*s);
      b.values.push_back(
          BarValue{m->value(), m->stderr(), m->has_stderr(), state == ScoreState::kPartial});
    }
    series.push_back(std::move(b));
  }
  BarLayout layout;
  layout.max_value = BarAxisMax(series);
  std::string out = absl::StrCat("<section id=\"bars\"><h2>Per-set scores</h2>\n<figure>",
                                 RenderBarChartSvg(plotted, series, layout), "</figure>\n");
  if (!left_out.empty()) {
    out +=
        "<p class=\"note\">Not plotted (lower is better, not on the 0–100 scale; see the "
        "table):";
    for (const std::string& name : left_out) absl::StrAppend(&out, " <code>", E(name), "</code>");
    out += "</p>\n";
  }
  out += "</section>\n";
  return out;
}

std::string SetsSection(const ReportInput& in, const std::vector<std::string>& sets) {
  std::string out =
      "<section id=\"sets\"><h2>Sets</h2>\n<table id=\"sets-table\"><thead><tr><th>set</th>"
      "<th>dimension</th><th>metric</th>";
  for (const v1::Results& r : in.runs) {
    absl::StrAppend(&out, "<th>", E(RunLabel(r)), "</th><th>n</th><th>prompt</th>");
  }
  out += "</tr></thead><tbody>\n";
  for (const std::string& name : sets) {
    std::string dimension, metric;
    std::set<std::string> hashes;
    for (const v1::Results& r : in.runs) {
      if (const v1::SetResult* s = FindSet(r, name)) {
        if (dimension.empty()) dimension = s->dimension();
        if (metric.empty()) metric = s->primary_metric();
        hashes.insert(s->prompt_hash());
      }
    }
    const bool differs = hashes.size() > 1;
    absl::StrAppend(&out, "<tr data-set=\"", E(name), "\"><td>", E(name),
                    differs ? " <span class=\"flag\" title=\"prompt configs differ between "
                              "runs\">!</span>"
                            : "",
                    "</td><td>", E(dimension), "</td><td>", E(metric), "</td>");
    for (const v1::Results& r : in.runs) {
      const v1::SetResult* s = FindSet(r, name);
      const ScoreState state = SetState(s);
      const v1::MetricValue* m = state == ScoreState::kMissing ? nullptr : PrimaryMetric(*s);
      out += ScoreCell(r.run_id(), absl::StrCat("set:", name), state, m ? m->value() : 0,
                       m ? m->stderr() : 0, m != nullptr && m->has_stderr(),
                       state == ScoreState::kPartial ? "incomplete set" : "");
      if (s == nullptr) {
        out += "<td class=\"num\"></td><td></td>";
      } else {
        absl::StrAppend(&out, "<td class=\"num\">", s->num_samples(),
                        s->complete() ? "" : absl::StrCat("/", s->num_samples_total()),
                        "</td><td><code>", E(s->prompt_hash()), "</code></td>");
      }
    }
    out += "</tr>\n";
  }
  out +=
      "</tbody></table>\n<p class=\"note\">n: samples scored (scored/planned when incomplete). "
      "! the runs used different prompt configs for this set.</p></section>\n";
  return out;
}

std::string GroupsSection(const ReportInput& in) {
  const std::vector<std::string> groups = GroupNames(in);
  if (groups.empty()) return "";
  std::string out =
      "<section id=\"groups\"><h2>Groups</h2>\n<table id=\"groups-table\"><thead><tr>"
      "<th>group</th>";
  for (const v1::Results& r : in.runs) absl::StrAppend(&out, "<th>", E(RunLabel(r)), "</th>");
  out += "</tr></thead><tbody>\n";
  for (const std::string& name : groups) {
    absl::StrAppend(&out, "<tr data-group=\"", E(name), "\"><td>", E(name), "</td>");
    for (const v1::Results& r : in.runs) {
      out += GroupCell(r, absl::StrCat("group:", name), FindGroup(r, name));
    }
    out += "</tr>\n";
  }
  out += "</tbody></table></section>\n";
  return out;
}

std::string GroupComparisonRow(const ReportInput& in, const v1::Comparison& c, RollUp kind,
                               const v1::GroupComparison& g) {
  static constexpr const char* kKinds[] = {"group", "dimension", "overall"};
  const bool scored = ComparedRollUpScored(in, c, kind, g.name());
  const auto num = [scored](const std::string& text) { return scored ? text : "–"; };
  return absl::StrCat(
      "<tr data-kind=\"", kKinds[static_cast<int>(kind)], "\" data-name=\"", E(g.name()), "\"><td>",
      E(g.name()), g.complete() ? "" : " <span class=\"mark\">*</span>", "</td><td class=\"num\">",
      num(FormatScore(g.score_a())), "</td><td class=\"num\">", num(FormatScore(g.score_b())),
      "</td><td class=\"num delta\">", num(FormatDelta(g.delta())), "</td><td class=\"num\">",
      num(FormatScore(g.delta_stderr())), "</td><td>",
      scored ? (g.paired() ? "paired" : "unpaired") : "not scored", "</td></tr>\n");
}

std::string ComparisonBlock(const ReportInput& in, size_t index, const v1::Comparison& c) {
  std::string out = absl::StrCat(
      "<div class=\"comparison\" id=\"comparison-", index, "\" data-run-a=\"", E(c.run_a()),
      "\" data-run-b=\"", E(c.run_b()), "\"><h3>", E(c.model_b().empty() ? c.run_b() : c.model_b()),
      " <code>", E(c.run_b()), "</code> against ", E(c.model_a().empty() ? c.run_a() : c.model_a()),
      " <code>", E(c.run_a()),
      "</code></h3>\n<p class=\"wtl\">B against A at α = ", FormatPValue(c.alpha()),
      ": <span class=\"win\">", c.wins(), " win</span>, ", c.ties(), " tie, <span class=\"loss\">",
      c.losses(), " loss</span>");
  if (c.prompt_mismatches() > 0) {
    absl::StrAppend(&out, " — <span class=\"flag\">", c.prompt_mismatches(),
                    " set(s) compared across different prompt configs (marked !)</span>");
  }
  out +=
      "</p>\n<table class=\"compare-sets\"><thead><tr><th>set</th><th>A</th><th>B</th>"
      "<th>delta</th><th>±se</th><th>test</th><th>p</th><th>paired n</th><th>B</th>"
      "<th>prompt</th></tr></thead><tbody>\n";
  for (const v1::SetComparison& s : c.sets()) {
    const bool counted = s.outcome() != "none";
    absl::StrAppend(
        &out, "<tr data-set=\"", E(s.dataset()), "\"><td>", E(s.dataset()),
        s.prompt_differs() ? " <span class=\"flag\">!</span>" : "", "</td><td class=\"num\">",
        counted ? FormatScore(s.score_a()) : "–", "</td><td class=\"num\">",
        counted ? FormatScore(s.score_b()) : "–", "</td><td class=\"num delta\">",
        counted ? FormatDelta(s.delta()) : "–", "</td><td class=\"num\">",
        counted ? FormatScore(s.delta_stderr()) : "–", "</td><td>", E(s.test()),
        "</td><td class=\"num\">", counted ? FormatPValue(s.p_value()) : "–",
        "</td><td class=\"num\">", s.num_paired(),
        s.num_unpaired() > 0 ? absl::StrCat("+", s.num_unpaired(), "u") : "",
        "</td><td class=\"outcome ", E(s.outcome()), "\">", E(s.outcome()), "</td><td><code>",
        E(s.prompt_hash_a()), "</code>",
        s.prompt_differs() ? absl::StrCat(" / <code>", E(s.prompt_hash_b()), "</code>") : "",
        "</td></tr>\n");
  }
  out +=
      "</tbody></table>\n<table class=\"compare-groups\"><thead><tr><th>name</th><th>A</th>"
      "<th>B</th><th>delta</th><th>±se</th><th>se</th></tr></thead><tbody>\n";
  for (const v1::GroupComparison& g : c.groups()) {
    out += GroupComparisonRow(in, c, RollUp::kGroup, g);
  }
  for (const v1::GroupComparison& g : c.dimensions()) {
    out += GroupComparisonRow(in, c, RollUp::kDimension, g);
  }
  if (c.has_overall()) out += GroupComparisonRow(in, c, RollUp::kOverall, c.overall());
  out += "</tbody></table>\n";
  if (c.only_in_a_size() + c.only_in_b_size() > 0) {
    absl::StrAppend(&out, "<p class=\"note\">Not compared: ", c.only_in_a_size(),
                    " set(s) only in A, ", c.only_in_b_size(), " only in B.</p>\n");
  }
  out += "</div>\n";
  return out;
}

std::string ComparisonsSection(const ReportInput& in) {
  if (in.comparisons.empty()) return "";
  std::string out = "<section id=\"comparisons\"><h2>Comparisons against the baseline</h2>\n";
  size_t index = 0;
  for (size_t r = 1; r < in.runs.size(); ++r) {
    for (const v1::Comparison& c : in.comparisons) {
      if (c.run_b() == in.runs[r].run_id()) out += ComparisonBlock(in, index++, c);
    }
  }
  out +=
      "<p class=\"note\">delta = B − A on the paired samples; test: exact McNemar for "
      "accuracy-type sets, paired bootstrap otherwise; win/tie/loss for B at α; * incomplete "
      "in either run; ! different prompt configs (docs/compare.md).</p></section>\n";
  return out;
}

}  // namespace

absl::StatusOr<std::string> RenderHtmlReport(const ReportInput& input) {
  PROCTOR_RETURN_IF_ERROR(ValidateReportInput(input));
  const std::string title = input.title.empty() ? "Proctor report" : input.title;
  const std::vector<std::string> sets = SetNames(input);
  const std::vector<std::string> dims = DimensionNames(input);
  std::string out = absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
      "style-src 'unsafe-inline'\">\n<meta name=\"viewport\" content=\"width=device-width, "
      "initial-scale=1\">\n<title>",
      E(title), "</title>\n<style>", kStyle, "</style></head>\n<body>\n<h1>", E(title), "</h1>\n");
  if (!input.generated_at.empty()) {
    absl::StrAppend(&out, "<p class=\"generated\">generated ", E(input.generated_at), "</p>\n");
  }
  absl::StrAppend(&out, RunsSection(input), SummarySection(input, dims), RadarSection(input),
                  BarsSection(input, sets), SetsSection(input, sets), GroupsSection(input),
                  ComparisonsSection(input), "</body></html>\n");
  return out;
}

}  // namespace proctor::eval::report
