#include "eval/report/report_input.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "eval/registry.h"

namespace proctor::eval::report {
namespace {

void AddUnique(const std::string& name, std::vector<std::string>* names,
               std::set<std::string>* seen) {
  if (seen->insert(name).second) names->push_back(name);
}

}  // namespace

absl::Status ValidateReportInput(const ReportInput& input) {
  if (input.runs.empty())
    return absl::InvalidArgumentError("runs: a report needs at least one run");
  if (input.runs.size() > kMaxRuns) {
    return absl::InvalidArgumentError(
        absl::StrCat("runs: ", input.runs.size(), " runs; a report shows at most ", kMaxRuns));
  }
  std::set<std::string> ids;
  for (size_t i = 0; i < input.runs.size(); ++i) {
    const v1::Results& r = input.runs[i];
    if (r.run_id().empty()) {
      return absl::InvalidArgumentError(absl::StrCat("runs[", i, "].run_id: empty"));
    }
    if (!ids.insert(r.run_id()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("runs[", i, "].run_id: run \"", r.run_id(), "\" is given twice"));
    }
    if (r.sets_size() > kMaxSetsPerRun) {
      return absl::InvalidArgumentError(
          absl::StrCat("runs[", i, "].sets: ", r.sets_size(), " sets; at most ", kMaxSetsPerRun));
    }
  }
  std::set<std::string> compared;
  for (size_t i = 0; i < input.comparisons.size(); ++i) {
    const v1::Comparison& c = input.comparisons[i];
    if (c.run_a() != input.runs[0].run_id()) {
      return absl::InvalidArgumentError(absl::StrCat("comparisons[", i, "].run_a: \"", c.run_a(),
                                                     "\" is not the baseline run \"",
                                                     input.runs[0].run_id(), "\""));
    }
    const bool later = std::any_of(input.runs.begin() + 1, input.runs.end(),
                                   [&](const v1::Results& r) { return r.run_id() == c.run_b(); });
    if (!later) {
      return absl::InvalidArgumentError(absl::StrCat("comparisons[", i, "].run_b: \"", c.run_b(),
                                                     "\" is not one of the later runs"));
    }
    if (!compared.insert(c.run_b()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("comparisons[", i, "].run_b: \"", c.run_b(), "\" is compared twice"));
    }
  }
  return absl::OkStatus();
}

std::string RunLabel(const v1::Results& run) {
  if (run.model().empty()) return run.run_id();
  return absl::StrCat(run.model(), " · ", run.run_id());
}

std::string RunStateText(v1::RunState state) {
  switch (state) {
    case v1::RUN_STATE_QUEUED:
      return "queued";
    case v1::RUN_STATE_RUNNING:
      return "running";
    case v1::RUN_STATE_SUCCEEDED:
      return "succeeded";
    case v1::RUN_STATE_FAILED:
      return "failed";
    case v1::RUN_STATE_CANCELLED:
      return "cancelled";
    default:
      return "unknown";
  }
}

const v1::MetricValue* PrimaryMetric(const v1::SetResult& set) {
  for (const v1::MetricValue& m : set.metrics()) {
    if (m.name() == set.primary_metric()) return &m;
  }
  return set.metrics().empty() ? nullptr : &set.metrics(0);
}

ScoreState GroupState(const v1::GroupResult* group) {
  if (group == nullptr) return ScoreState::kMissing;
  if (group->complete()) return ScoreState::kComplete;
  return group->has_stderr() ? ScoreState::kPartial : ScoreState::kMissing;
}

ScoreState SetState(const v1::SetResult* set) {
  if (set == nullptr || set->num_samples() <= 0 || PrimaryMetric(*set) == nullptr) {
    return ScoreState::kMissing;
  }
  return set->complete() ? ScoreState::kComplete : ScoreState::kPartial;
}

bool ComparedRollUpScored(const ReportInput& input, const v1::Comparison& c, RollUp kind,
                          std::string_view name) {
  for (const v1::Results& r : input.runs) {
    if (r.run_id() != c.run_a() && r.run_id() != c.run_b()) continue;
    const v1::GroupResult* g = nullptr;
    switch (kind) {
      case RollUp::kGroup:
        g = FindGroup(r, name);
        break;
      case RollUp::kDimension:
        g = FindDimension(r, name);
        break;
      case RollUp::kOverall:
        g = r.has_overall() ? &r.overall() : nullptr;
        break;
    }
    if (GroupState(g) == ScoreState::kMissing) return false;
  }
  return true;
}

std::vector<std::string> SetNames(const ReportInput& input) {
  std::vector<std::string> names;
  std::set<std::string> seen;
  for (const v1::Results& r : input.runs) {
    for (const v1::SetResult& s : r.sets()) AddUnique(s.dataset(), &names, &seen);
  }
  return names;
}

std::vector<std::string> GroupNames(const ReportInput& input) {
  std::vector<std::string> names;
  std::set<std::string> seen;
  for (const v1::Results& r : input.runs) {
    for (const v1::GroupResult& g : r.groups()) AddUnique(g.name(), &names, &seen);
  }
  return names;
}

std::vector<std::string> DimensionNames(const ReportInput& input) {
  std::vector<std::string> names;
  std::set<std::string> seen;
  for (const std::string& d : Dimensions()) AddUnique(d, &names, &seen);
  for (const v1::Results& r : input.runs) {
    for (const v1::GroupResult& g : r.dimensions()) AddUnique(g.name(), &names, &seen);
  }
  return names;
}

const v1::SetResult* FindSet(const v1::Results& run, std::string_view name) {
  for (const v1::SetResult& s : run.sets()) {
    if (s.dataset() == name) return &s;
  }
  return nullptr;
}

const v1::GroupResult* FindGroup(const v1::Results& run, std::string_view name) {
  for (const v1::GroupResult& g : run.groups()) {
    if (g.name() == name) return &g;
  }
  return nullptr;
}

const v1::GroupResult* FindDimension(const v1::Results& run, std::string_view name) {
  for (const v1::GroupResult& g : run.dimensions()) {
    if (g.name() == name) return &g;
  }
  return nullptr;
}

const v1::SetComparison* FindSetComparison(const v1::Comparison& c, std::string_view dataset) {
  for (const v1::SetComparison& s : c.sets()) {
    if (s.dataset() == dataset) return &s;
  }
  return nullptr;
}

}  // namespace proctor::eval::report
