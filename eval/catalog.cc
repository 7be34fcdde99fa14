#include "eval/catalog.h"

#include <filesystem>
#include <map>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "eval/aggregate.h"
#include "eval/eval_internal.pb.h"
#include "eval/loaders.h"
#include "eval/prompt.h"
#include "eval/registry.h"
#include "eval/scoring.h"
#include "eval/selection.h"
#include "eval/strings.h"

namespace proctor::eval {
namespace {

v1::DatasetInfo Info(const SetDef& def, bool available) {
  v1::DatasetInfo info;
  info.set_name(def.name);
  info.set_dimension(def.dimension);
  info.set_request_type(def.request);
  info.set_metric(def.metric);
  info.set_num_fewshot(def.num_fewshot);
  info.set_prompt_hash(PromptHash(def));
  info.set_available(available);
  if (!def.group.empty()) info.add_groups(def.group);
  return info;
}

bool FilePresent(const std::string& root, const std::string& rel) {
  if (rel.empty()) return true;
  std::error_code ec;
  return std::filesystem::is_regular_file(root + "/" + rel, ec);
}

class CatalogImpl final : public Catalog {
 public:
  explicit CatalogImpl(std::string data_dir) : data_dir_(std::move(data_dir)) {
    for (const SetDef& def : AllSets()) {
      bool ok = FilePresent(data_dir_, def.path) && FilePresent(data_dir_, def.labels_path) &&
                FilePresent(data_dir_, def.fewshot_path) &&
                FilePresent(data_dir_, def.fewshot_labels_path);
      available_[def.name] = ok;
    }
  }

  std::vector<v1::DatasetInfo> ListDatasets() const override {
    std::vector<v1::DatasetInfo> out;
    for (const SetDef& def : AllSets()) out.push_back(Info(def, available_.at(def.name)));
    return out;
  }

  std::vector<v1::SuiteInfo> ListSuites() const override {
    std::vector<v1::SuiteInfo> out;
    for (const SuiteDef& s : AllSuites()) {
      v1::SuiteInfo info;
      info.set_name(s.name);
      info.set_description(s.description);
      for (const std::string& m : s.members) {
        std::vector<const SetDef*> members = GroupMembers(m);
        if (members.empty()) {
          info.add_datasets(m);
        } else {
          for (const SetDef* d : members) info.add_datasets(d->name);
        }
      }
      out.push_back(std::move(info));
    }
    return out;
  }

  absl::StatusOr<RunPlan> Plan(const v1::RunSpec& spec) const override {
    PROCTOR_ASSIGN_OR_RETURN(std::vector<Selection> selection, ResolveSelection(spec));
    RunPlan plan;
    for (const Selection& sel : selection) {
      PROCTOR_ASSIGN_OR_RETURN(std::vector<PlannedSample> samples, PlanSet(sel, spec.seed()));
      v1::DatasetInfo info = Info(*sel.def, true);
      info.set_num_fewshot(sel.num_fewshot);
      plan.datasets.push_back(std::move(info));
      plan.dataset_sample_counts.push_back(static_cast<int64_t>(samples.size()));
      for (PlannedSample& s : samples) plan.samples.push_back(std::move(s));
    }
    return plan;
  }

  absl::StatusOr<std::string> ScoreSample(std::string_view dataset, std::string_view target,
                                          absl::Span<const v1::Output> outputs) const override {
    const SetDef* def = FindSet(dataset);
    if (def == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown dataset \"", AV(dataset), "\""));
    }
    internal::SampleTarget t;
    if (!t.ParseFromArray(target.data(), static_cast<int>(target.size()))) {
      return absl::InvalidArgumentError(absl::StrCat(AV(dataset), ": target does not parse"));
    }
    PROCTOR_ASSIGN_OR_RETURN(internal::SampleScore score, ScoreOutputs(*def, t, outputs));
    return score.SerializeAsString();
  }

  absl::StatusOr<v1::Results> Aggregate(const v1::RunSpec& spec,
                                        const std::vector<SetScores>& sets) const override {
    PROCTOR_ASSIGN_OR_RETURN(std::vector<Selection> selection, ResolveSelection(spec));
    std::map<std::string, const SetScores*> by_name;
    for (const SetScores& s : sets) {
      if (FindSet(s.dataset) == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat("unknown dataset \"", s.dataset, "\""));
      }
      by_name[s.dataset] = &s;
    }
    std::vector<PlannedSetScores> planned;
    std::set<std::string> planned_names;
    for (const Selection& sel : selection) {
      PlannedSetScores p;
      p.def = sel.def;
      auto it = by_name.find(sel.def->name);
      if (it != by_name.end()) {
        p.num_samples_planned = it->second->num_samples_planned;
        p.sample_scores = &it->second->sample_scores;
      }
      planned_names.insert(sel.def->name);
      planned.push_back(p);
    }
    // Scores of sets the spec does not name are still reported.
    for (const SetScores& s : sets) {
      if (planned_names.count(s.dataset) > 0) continue;
      PlannedSetScores p;
      p.def = FindSet(s.dataset);
      p.num_samples_planned = s.num_samples_planned;
      p.sample_scores = &s.sample_scores;
      planned.push_back(p);
    }
    return AggregateAll(planned);
  }

 private:
  absl::StatusOr<std::vector<PlannedSample>> PlanSet(const Selection& sel, uint64_t seed) const {
    const SetDef& def = *sel.def;
    if (!available_.at(def.name)) {
      // Name the first missing file.
      for (const std::string* rel :
           {&def.path, &def.labels_path, &def.fewshot_path, &def.fewshot_labels_path}) {
        if (!FilePresent(data_dir_, *rel)) {
          return absl::FailedPreconditionError(absl::StrCat(
              "dataset ", def.name, ": file ", data_dir_, "/", *rel,
              " is missing; obtain it with `proctor datasets fetch ", def.name, "` (source: ",
              def.source, ") or pass --data-dir pointing at a directory that holds it"));
        }
      }
    }
    PROCTOR_ASSIGN_OR_RETURN(std::vector<Doc> docs, LoadEvalDocs(def, data_dir_));
    if (sel.limit > 0 && static_cast<int64_t>(docs.size()) > sel.limit) {
      docs.resize(static_cast<size_t>(sel.limit));
    }
    // Few-shot pool and shot rows.
    SetDef effective = def;
    std::vector<Doc> pool;
    std::vector<int64_t> rows;
    if (def.fewshot == "prompt_file") {
      PROCTOR_ASSIGN_OR_RETURN(effective.fixed_shots,
                               ReadDataFile(data_dir_ + "/" + def.fewshot_path, def.source));
    } else if (def.fewshot == "first_n" || def.fewshot == "fixed_rows" ||
               def.fewshot == "seeded_draw") {
      if (def.fewshot_path == def.path) {
        PROCTOR_ASSIGN_OR_RETURN(pool, LoadDocs(def, data_dir_, def.path, def.labels_path));
      } else {
        PROCTOR_ASSIGN_OR_RETURN(
            pool, LoadDocs(def, data_dir_, def.fewshot_path, def.fewshot_labels_path));
      }
      rows = ShotOrder(def, static_cast<int64_t>(pool.size()), sel.num_fewshot, seed);
    }
    bool exclude_self = def.fewshot == "seeded_draw" && def.fewshot_path == def.path;
    auto shots_for = [&](int64_t self_row) {
      std::vector<const Doc*> shots;
      for (int64_t r : rows) {
        if (static_cast<int>(shots.size()) >= sel.num_fewshot) break;
        if (exclude_self && r == self_row) continue;
        shots.push_back(&pool[static_cast<size_t>(r)]);
      }
      return shots;
    };
    const Doc* first = docs.empty() ? nullptr : &docs.front();
    PROCTOR_ASSIGN_OR_RETURN(std::string common_prefix,
                             BuildPrefix(effective, shots_for(-1), first));
    std::vector<PlannedSample> out;
    out.reserve(docs.size());
    for (size_t i = 0; i < docs.size(); ++i) {
      const Doc& doc = docs[i];
      std::string own_prefix;
      const std::string* prefix = &common_prefix;
      int64_t file_row = doc.row;  // LoadEvalDocs keeps file positions
      if (exclude_self && std::find(rows.begin(), rows.end(), file_row) != rows.end()) {
        PROCTOR_ASSIGN_OR_RETURN(own_prefix, BuildPrefix(effective, shots_for(file_row), first));
        prefix = &own_prefix;
      }
      absl::StatusOr<PlannedSample> s =
          BuildSample(effective, doc, static_cast<int64_t>(i), *prefix);
      if (!s.ok()) {
        return absl::Status(s.status().code(), absl::StrCat(def.path, ": record ", doc.row + 1,
                                                            ": ", s.status().message()));
      }
      out.push_back(*std::move(s));
    }
    return out;
  }

  const std::string data_dir_;
  std::map<std::string, bool> available_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Catalog>> Catalog::Create(std::string data_dir) {
  std::error_code ec;
  if (std::filesystem::exists(data_dir, ec) && !std::filesystem::is_directory(data_dir, ec)) {
    return absl::InvalidArgumentError(
        absl::StrCat("data directory ", data_dir, " exists but is not a directory"));
  }
  return std::unique_ptr<Catalog>(new CatalogImpl(std::move(data_dir)));
}

}  // namespace proctor::eval
