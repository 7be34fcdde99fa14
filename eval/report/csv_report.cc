#include "eval/report/csv_report.h"

#include <array>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "eval/report/escape.h"
#include "eval/report/numbers.h"

namespace proctor::eval::report {
namespace {

enum Column {
  kSection,
  kRunId,
  kModel,
  kName,
  kDimension,
  kMetric,
  kValue,
  kStderr,
  kNumSamples,
  kNumSamplesTotal,
  kComplete,
  kPromptHash,
  kBaselineRunId,
  kBaselineValue,
  kDelta,
  kDeltaStderr,
  kTest,
  kPValue,
  kOutcome,
  kBaselinePromptHash,
  kNumColumns
};

constexpr const char* kHeader[kNumColumns] = {
    "section",      "run_id",      "model",           "name",           "dimension",
    "metric",       "value",       "stderr",          "num_samples",    "num_samples_total",
    "complete",     "prompt_hash", "baseline_run_id", "baseline_value", "delta",
    "delta_stderr", "test",        "p_value",         "outcome",        "baseline_prompt_hash"};

using Row = std::array<std::string, kNumColumns>;

void Emit(std::string* out, const Row& row) { absl::StrAppend(out, absl::StrJoin(row, ","), "\n"); }

const char* Bool(bool b) { return b ? "true" : "false"; }

void GroupRow(std::string* out, const char* section, const v1::Results& r,
              const v1::GroupResult& g) {
  Row row;
  row[kSection] = section;
  row[kRunId] = CsvText(r.run_id());
  row[kModel] = CsvText(r.model());
  row[kName] = CsvText(g.name());
  if (GroupState(&g) != ScoreState::kMissing) {
    row[kValue] = CsvNumber(g.score());
    if (g.has_stderr()) row[kStderr] = CsvNumber(g.stderr());
  }
  row[kComplete] = Bool(g.complete());
  Emit(out, row);
}

void CompareGroupRow(std::string* out, const ReportInput& in, RollUp kind, const v1::Comparison& c,
                     const v1::GroupComparison& g) {
  static constexpr const char* kSections[] = {"compare_group", "compare_dimension",
                                              "compare_overall"};
  Row row;
  row[kSection] = kSections[static_cast<int>(kind)];
  row[kRunId] = CsvText(c.run_b());
  row[kModel] = CsvText(c.model_b());
  row[kName] = CsvText(g.name());
  row[kComplete] = Bool(g.complete());
  row[kBaselineRunId] = CsvText(c.run_a());
  if (ComparedRollUpScored(in, c, kind, g.name())) {
    row[kValue] = CsvNumber(g.score_b());
    row[kBaselineValue] = CsvNumber(g.score_a());
    row[kDelta] = CsvNumber(g.delta());
    row[kDeltaStderr] = CsvNumber(g.delta_stderr());
    row[kTest] = g.paired() ? "paired" : "unpaired";
  }
  Emit(out, row);
}

}  // namespace

absl::StatusOr<std::string> RenderCsvReport(const ReportInput& input) {
  PROCTOR_RETURN_IF_ERROR(ValidateReportInput(input));
  std::string out;
  Row header;
  for (int i = 0; i < kNumColumns; ++i) header[static_cast<size_t>(i)] = kHeader[i];
  Emit(&out, header);
  for (const v1::Results& r : input.runs) {
    for (const v1::SetResult& s : r.sets()) {
      Row row;
      row[kSection] = "set";
      row[kRunId] = CsvText(r.run_id());
      row[kModel] = CsvText(r.model());
      row[kName] = CsvText(s.dataset());
      row[kDimension] = CsvText(s.dimension());
      row[kMetric] = CsvText(s.primary_metric());
      if (SetState(&s) != ScoreState::kMissing) {
        const v1::MetricValue* m = PrimaryMetric(s);
        row[kValue] = CsvNumber(m->value());
        if (m->has_stderr()) row[kStderr] = CsvNumber(m->stderr());
      }
      row[kNumSamples] = absl::StrCat(s.num_samples());
      row[kNumSamplesTotal] = absl::StrCat(s.num_samples_total());
      row[kComplete] = Bool(s.complete());
      row[kPromptHash] = CsvText(s.prompt_hash());
      Emit(&out, row);
    }
    for (const v1::GroupResult& g : r.groups()) GroupRow(&out, "group", r, g);
    for (const v1::GroupResult& g : r.dimensions()) GroupRow(&out, "dimension", r, g);
    if (r.has_overall()) GroupRow(&out, "overall", r, r.overall());
  }
  for (size_t i = 1; i < input.runs.size(); ++i) {
    for (const v1::Comparison& c : input.comparisons) {
      if (c.run_b() != input.runs[i].run_id()) continue;
      for (const v1::SetComparison& s : c.sets()) {
        Row row;
        row[kSection] = "compare_set";
        row[kRunId] = CsvText(c.run_b());
        row[kModel] = CsvText(c.model_b());
        row[kName] = CsvText(s.dataset());
        row[kDimension] = CsvText(s.dimension());
        row[kMetric] = CsvText(s.primary_metric());
        const bool counted = s.outcome() != "none";
        if (counted) {
          row[kValue] = CsvNumber(s.score_b());
          row[kBaselineValue] = CsvNumber(s.score_a());
          row[kDelta] = CsvNumber(s.delta());
          row[kDeltaStderr] = CsvNumber(s.delta_stderr());
          row[kPValue] = CsvNumber(s.p_value());
        }
        row[kNumSamples] = absl::StrCat(s.num_paired());
        row[kPromptHash] = CsvText(s.prompt_hash_b());
        row[kBaselineRunId] = CsvText(c.run_a());
        row[kTest] = CsvText(s.test());
        row[kOutcome] = CsvText(s.outcome());
        row[kBaselinePromptHash] = CsvText(s.prompt_hash_a());
        Emit(&out, row);
      }
      for (const v1::GroupComparison& g : c.groups()) {
        CompareGroupRow(&out, input, RollUp::kGroup, c, g);
      }
      for (const v1::GroupComparison& g : c.dimensions()) {
        CompareGroupRow(&out, input, RollUp::kDimension, c, g);
      }
      if (c.has_overall()) CompareGroupRow(&out, input, RollUp::kOverall, c, c.overall());
    }
  }
  return out;
}

}  // namespace proctor::eval::report
