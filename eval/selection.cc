#include "eval/selection.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "eval/registry.h"

namespace proctor::eval {
namespace {

std::vector<const SetDef*> Expand(const std::string& name) {
  if (const SetDef* d = FindSet(name)) return {d};
  return GroupMembers(name);
}

}  // namespace

absl::StatusOr<std::vector<Selection>> ResolveSelection(const v1::RunSpec& spec) {
  if (spec.suite().empty() && spec.datasets().empty()) {
    return absl::InvalidArgumentError("spec: neither a suite nor datasets given");
  }
  if (spec.limit() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("spec.limit: must be >= 0 (0 = all), got ", spec.limit()));
  }
  std::vector<Selection> out;
  auto find = [&out](const SetDef* d) {
    return std::find_if(out.begin(), out.end(), [d](const Selection& s) { return s.def == d; });
  };
  int64_t suite_limit = 0;
  if (!spec.suite().empty()) {
    const SuiteDef* suite = FindSuite(spec.suite());
    if (suite == nullptr) {
      std::vector<std::string> known;
      for (const SuiteDef& s : AllSuites()) known.push_back(s.name);
      return absl::InvalidArgumentError(absl::StrCat("spec.suite: unknown suite \"", spec.suite(),
                                                     "\"; known: ", absl::StrJoin(known, ", ")));
    }
    suite_limit = suite->default_limit;
    for (const std::string& m : suite->members) {
      for (const SetDef* d : Expand(m)) {
        if (find(d) != out.end()) continue;
        Selection s;
        s.def = d;
        s.limit = spec.limit() > 0 ? spec.limit() : suite_limit;
        s.num_fewshot = d->num_fewshot;
        out.push_back(s);
      }
    }
  }
  for (int i = 0; i < spec.datasets_size(); ++i) {
    const v1::DatasetSelection& ds = spec.datasets(i);
    std::string field = absl::StrCat("spec.datasets[", i, "]");
    if (ds.name().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".name: empty"));
    }
    std::vector<const SetDef*> defs = Expand(ds.name());
    if (defs.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".name: unknown dataset \"", ds.name(),
                       "\"; `proctor datasets list` shows the registered sets and groups"));
    }
    if (ds.limit() < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".limit: must be >= 0 (0 = no override), got ", ds.limit()));
    }
    if (ds.num_fewshot() < -1) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ".num_fewshot: must be >= -1 (-1 or 0 = set default), got ", ds.num_fewshot()));
    }
    for (const SetDef* d : defs) {
      int shots = d->num_fewshot;
      if (ds.num_fewshot() > 0 && ds.num_fewshot() != d->num_fewshot) {
        bool adjustable = d->fewshot == "first_n" || d->fewshot == "seeded_draw" ||
                          (d->fewshot == "fixed_rows" &&
                           ds.num_fewshot() <= static_cast<int>(d->fewshot_rows.size()));
        if (!adjustable) {
          return absl::InvalidArgumentError(
              absl::StrCat(field, ".num_fewshot: set ", d->name, " uses a fixed ", d->num_fewshot,
                           "-shot prompt (policy ", d->fewshot, "); it cannot be changed to ",
                           ds.num_fewshot()));
        }
        shots = ds.num_fewshot();
      }
      auto it = find(d);
      if (it == out.end()) {
        Selection s;
        s.def = d;
        s.limit = spec.limit();
        out.push_back(s);
        it = out.end() - 1;
      }
      if (ds.limit() > 0) it->limit = ds.limit();
      it->num_fewshot = shots;
    }
  }
  return out;
}

}  // namespace proctor::eval
