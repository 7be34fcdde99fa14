#include "cli/compare_format.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/results_format.h"
#include "cli/text_table.h"

namespace proctor::cli {
namespace {

namespace pb = ::proctor::v1;

std::string HashCell(const pb::SetComparison& s) {
  if (!s.prompt_differs()) return s.prompt_hash_a();
  return absl::StrCat(s.prompt_hash_a(), " / ", s.prompt_hash_b());
}

void AddGroupRows(TextTable* t, const pb::GroupComparison& g) {
  t->AddRow({absl::StrCat(g.name(), g.complete() ? "" : "*"), FormatScore(g.score_a()),
             FormatScore(g.score_b()), FormatDelta(g.delta()), FormatScore(g.delta_stderr()),
             g.paired() ? "paired" : "unpaired"});
}

// Full precision for machine-readable output.
std::string Num(double v) { return absl::StrFormat("%.10g", v); }

}  // namespace

std::string FormatPValue(double p) {
  if (p < 1e-12) return "<1e-12";
  return absl::StrFormat("%.4g", p);
}

std::string FormatDelta(double delta) {
  if (std::fabs(delta) < 0.005) delta = 0;  // no "-0.00"
  return absl::StrFormat("%+.2f", delta);
}

absl::StatusOr<std::string> FormatComparison(const pb::Comparison& c, OutputFormat format) {
  if (format == OutputFormat::kJson) return MessageToJson(c);
  if (format == OutputFormat::kCsv) {
    TextTable t({"kind", "name", "metric", "score_a", "score_b", "delta", "delta_stderr", "test",
                 "p_value", "n_paired", "n_unpaired", "outcome", "prompt_hash_a", "prompt_hash_b",
                 "prompt_differs", "paired", "complete"});
    for (const pb::SetComparison& s : c.sets()) {
      t.AddRow({"set", s.dataset(), s.primary_metric(), Num(s.score_a()), Num(s.score_b()),
                Num(s.delta()), Num(s.delta_stderr()), s.test(), Num(s.p_value()),
                absl::StrCat(s.num_paired()), absl::StrCat(s.num_unpaired()), s.outcome(),
                s.prompt_hash_a(), s.prompt_hash_b(), s.prompt_differs() ? "true" : "false", "true",
                ""});
    }
    auto group = [&t](const char* kind, const pb::GroupComparison& g) {
      t.AddRow({kind, g.name(), "", Num(g.score_a()), Num(g.score_b()), Num(g.delta()),
                Num(g.delta_stderr()), "", "", "", "", "", "", "", "",
                g.paired() ? "true" : "false", g.complete() ? "true" : "false"});
    };
    for (const pb::GroupComparison& g : c.groups()) group("group", g);
    for (const pb::GroupComparison& g : c.dimensions()) group("dimension", g);
    if (c.has_overall()) group("overall", c.overall());
    return t.RenderCsv();
  }
  const bool md = format == OutputFormat::kMarkdown;
  std::string out =
      absl::StrCat(md ? "**" : "", "B = ", c.model_b(), " (", c.run_b(),
                   ") against A = ", c.model_a(), " (", c.run_a(), ")", md ? "**" : "", "\n\n");
  TextTable sets(
      {"dataset", "metric", "A", "B", "delta", "±se", "test", "p", "n", "B", "prompt"},
      {Align::kLeft, Align::kLeft, Align::kRight, Align::kRight, Align::kRight, Align::kRight,
       Align::kLeft, Align::kRight, Align::kRight, Align::kLeft, Align::kLeft});
  for (const pb::SetComparison& s : c.sets()) {
    std::string metric = s.primary_metric();
    if (!s.higher_is_better()) absl::StrAppend(&metric, " (lower better)");
    sets.AddRow(
        {absl::StrCat(s.dataset(), s.prompt_differs() ? "!" : ""), metric, FormatScore(s.score_a()),
         FormatScore(s.score_b()), FormatDelta(s.delta()), FormatScore(s.delta_stderr()),
         s.test() == "mcnemar_exact" ? "mcnemar"
                                     : (s.test() == "paired_bootstrap" ? "bootstrap" : s.test()),
         FormatPValue(s.p_value()),
         s.num_unpaired() > 0 ? absl::StrCat(s.num_paired(), "+", s.num_unpaired(), "u")
                              : absl::StrCat(s.num_paired()),
         s.outcome(), HashCell(s)});
  }
  absl::StrAppend(&out, md ? sets.RenderMarkdown() : sets.RenderText());
  TextTable summary(
      {"", "A", "B", "delta", "±se", "stderr"},
      {Align::kLeft, Align::kRight, Align::kRight, Align::kRight, Align::kRight, Align::kLeft});
  for (const pb::GroupComparison& g : c.groups()) AddGroupRows(&summary, g);
  for (const pb::GroupComparison& g : c.dimensions()) AddGroupRows(&summary, g);
  if (c.has_overall()) AddGroupRows(&summary, c.overall());
  if (summary.num_rows() > 0) {
    absl::StrAppend(&out, "\n", md ? summary.RenderMarkdown() : summary.RenderText());
  }
  absl::StrAppend(&out, "\n", "B wins ", c.wins(), ", ties ", c.ties(), ", loses ", c.losses(),
                  " of ", c.wins() + c.ties() + c.losses(), " compared sets at significance level ",
                  absl::StrFormat("%g", c.alpha()),
                  " (paired tests: exact McNemar for accuracy, paired bootstrap otherwise)\n");
  if (c.prompt_mismatches() > 0) {
    absl::StrAppend(&out, "WARNING: ", c.prompt_mismatches(),
                    " set(s) marked ! were compared across different prompt configs "
                    "(prompt hashes A / B shown); their differences mix model and prompt\n");
  }
  if (c.only_in_a_size() + c.only_in_b_size() > 0) {
    absl::StrAppend(&out, "not compared: ", c.only_in_a_size(), " set(s) only in A, ",
                    c.only_in_b_size(), " only in B\n");
  }
  return out;
}

}  // namespace proctor::cli
