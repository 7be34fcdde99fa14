#include "eval/report/markdown_report.h"

#include <set>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "eval/report/escape.h"
#include "eval/report/numbers.h"

namespace proctor::eval::report {
namespace {

std::string M(std::string_view s) { return MarkdownEscape(s); }

std::string Score(ScoreState state, double value, double se, bool has_se) {
  if (state == ScoreState::kMissing) return "–";
  std::string out = FormatScore(value);
  if (state == ScoreState::kPartial) out += "\\*";
  if (has_se) absl::StrAppend(&out, " ± ", FormatScore(se));
  return out;
}

std::string GroupScore(const v1::GroupResult* g) {
  return Score(GroupState(g), g ? g->score() : 0, g ? g->stderr() : 0,
               g != nullptr && g->has_stderr());
}

void Row(std::string* out, const std::vector<std::string>& cells) {
  *out += "|";
  for (const std::string& c : cells) absl::StrAppend(out, " ", c, " |");
  *out += "\n";
}

// `align` has one letter per column: 'l' (left) or 'r' (right); columns
// past its end are right-aligned.
void Header(std::string* out, const std::vector<std::string>& cells, std::string_view align) {
  Row(out, cells);
  *out += "|";
  for (size_t i = 0; i < cells.size(); ++i) {
    *out += i < align.size() && align[i] == 'l' ? " --- |" : " ---: |";
  }
  *out += "\n";
}

void Comparison(std::string* out, const ReportInput& in, const v1::Comparison& c) {
  absl::StrAppend(out, "\n### ", M(c.model_b().empty() ? c.run_b() : c.model_b()), " (",
                  M(c.run_b()), ") against ", M(c.model_a().empty() ? c.run_a() : c.model_a()),
                  " (", M(c.run_a()), ")\n\nB against A at α = ", FormatPValue(c.alpha()), ": ",
                  c.wins(), " win, ", c.ties(), " tie, ", c.losses(), " loss");
  if (c.prompt_mismatches() > 0) {
    absl::StrAppend(out, "; ", c.prompt_mismatches(),
                    " set(s) compared across different prompt configs (marked !)");
  }
  *out += "\n\n";
  Header(out, {"set", "A", "B", "delta", "±se", "test", "p", "paired n", "B", "prompt"},
         "lrrrrlrrll");
  for (const v1::SetComparison& s : c.sets()) {
    const bool counted = s.outcome() != "none";
    Row(out, {absl::StrCat(M(s.dataset()), s.prompt_differs() ? " \\!" : ""),
              counted ? FormatScore(s.score_a()) : "–", counted ? FormatScore(s.score_b()) : "–",
              counted ? FormatDelta(s.delta()) : "–", counted ? FormatScore(s.delta_stderr()) : "–",
              M(s.test()), counted ? FormatPValue(s.p_value()) : "–",
              absl::StrCat(s.num_paired(),
                           s.num_unpaired() > 0 ? absl::StrCat("+", s.num_unpaired(), "u") : ""),
              M(s.outcome()),
              s.prompt_differs() ? absl::StrCat(M(s.prompt_hash_a()), " / ", M(s.prompt_hash_b()))
                                 : M(s.prompt_hash_a())});
  }
  *out += "\n";
  Header(out, {"name", "A", "B", "delta", "±se", "se"}, "lrrrrl");
  auto group_row = [&](RollUp kind, const v1::GroupComparison& g) {
    const bool scored = ComparedRollUpScored(in, c, kind, g.name());
    const auto num = [scored](const std::string& text) { return scored ? text : "–"; };
    Row(out, {absl::StrCat(M(g.name()), g.complete() ? "" : " \\*"), num(FormatScore(g.score_a())),
              num(FormatScore(g.score_b())), num(FormatDelta(g.delta())),
              num(FormatScore(g.delta_stderr())),
              scored ? (g.paired() ? "paired" : "unpaired") : "not scored"});
  };
  for (const v1::GroupComparison& g : c.groups()) group_row(RollUp::kGroup, g);
  for (const v1::GroupComparison& g : c.dimensions()) group_row(RollUp::kDimension, g);
  if (c.has_overall()) group_row(RollUp::kOverall, c.overall());
}

}  // namespace

absl::StatusOr<std::string> RenderMarkdownReport(const ReportInput& input) {
  PROCTOR_RETURN_IF_ERROR(ValidateReportInput(input));
  std::string out =
      absl::StrCat("# ", M(input.title.empty() ? "Proctor report" : input.title), "\n\n");
  if (!input.generated_at.empty())
    absl::StrAppend(&out, "generated ", M(input.generated_at), "\n\n");

  out += "## Runs\n\n";
  Header(&out, {"#", "run", "model", "state"}, "llll");
  for (size_t i = 0; i < input.runs.size(); ++i) {
    const v1::Results& r = input.runs[i];
    Row(&out, {absl::StrCat(i + 1, i == 0 && input.runs.size() > 1 ? " (baseline)" : ""),
               M(r.run_id()), M(r.model()), RunStateText(r.state())});
  }

  const std::vector<std::string> dims = DimensionNames(input);
  out += "\n## Summary\n\n";
  std::vector<std::string> header = {"run", "Overall"};
  for (const std::string& d : dims) header.push_back(M(d));
  Header(&out, header, "l");
  for (const v1::Results& r : input.runs) {
    std::vector<std::string> cells = {M(RunLabel(r)),
                                      GroupScore(r.has_overall() ? &r.overall() : nullptr)};
    for (const std::string& d : dims) cells.push_back(GroupScore(FindDimension(r, d)));
    Row(&out, cells);
  }
  out +=
      "\nScore ± standard error. \\* incomplete: a partial score over the complete members "
      "only. – nothing scored. Charts: see report.html.\n";

  out += "\n## Sets\n\n";
  header = {"set", "dimension", "metric"};
  std::string align = "lll";
  for (const v1::Results& r : input.runs) {
    header.push_back(M(RunLabel(r)));
    header.push_back("n");
    header.push_back("prompt");
    align += "rrl";
  }
  Header(&out, header, align);
  for (const std::string& name : SetNames(input)) {
    std::string dimension, metric;
    std::set<std::string> hashes;
    for (const v1::Results& r : input.runs) {
      if (const v1::SetResult* s = FindSet(r, name)) {
        if (dimension.empty()) dimension = s->dimension();
        if (metric.empty()) metric = s->primary_metric();
        hashes.insert(s->prompt_hash());
      }
    }
    std::vector<std::string> cells = {absl::StrCat(M(name), hashes.size() > 1 ? " \\!" : ""),
                                      M(dimension), M(metric)};
    for (const v1::Results& r : input.runs) {
      const v1::SetResult* s = FindSet(r, name);
      const ScoreState state = SetState(s);
      const v1::MetricValue* m = state == ScoreState::kMissing ? nullptr : PrimaryMetric(*s);
      cells.push_back(
          Score(state, m ? m->value() : 0, m ? m->stderr() : 0, m != nullptr && m->has_stderr()));
      cells.push_back(
          s == nullptr
              ? ""
              : absl::StrCat(s->num_samples(),
                             s->complete() ? "" : absl::StrCat("/", s->num_samples_total())));
      cells.push_back(s == nullptr ? "" : M(s->prompt_hash()));
    }
    Row(&out, cells);
  }

  const std::vector<std::string> groups = GroupNames(input);
  if (!groups.empty()) {
    out += "\n## Groups\n\n";
    header = {"group"};
    for (const v1::Results& r : input.runs) header.push_back(M(RunLabel(r)));
    Header(&out, header, "l");
    for (const std::string& g : groups) {
      std::vector<std::string> cells = {M(g)};
      for (const v1::Results& r : input.runs) cells.push_back(GroupScore(FindGroup(r, g)));
      Row(&out, cells);
    }
  }

  if (!input.comparisons.empty()) {
    out += "\n## Comparisons against the baseline\n";
    for (size_t r = 1; r < input.runs.size(); ++r) {
      for (const v1::Comparison& c : input.comparisons) {
        if (c.run_b() == input.runs[r].run_id()) Comparison(&out, input, c);
      }
    }
    out +=
        "\ndelta = B − A on the paired samples; exact McNemar for accuracy-type sets, paired "
        "bootstrap otherwise; \\! different prompt configs (docs/compare.md).\n";
  }
  return out;
}

}  // namespace proctor::eval::report
