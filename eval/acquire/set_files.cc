#include "eval/acquire/set_files.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "eval/registry.h"

namespace proctor::eval::acquire {

std::vector<std::string> FilesOfSet(const SetDef& def) {
  std::vector<std::string> out;
  for (const std::string* p :
       {&def.path, &def.labels_path, &def.fewshot_path, &def.fewshot_labels_path}) {
    if (!p->empty() && std::find(out.begin(), out.end(), *p) == out.end()) out.push_back(*p);
  }
  return out;
}

absl::StatusOr<std::vector<SetFiles>> SelectSets(const std::vector<std::string>& names,
                                                 const std::string& suite) {
  std::set<std::string> wanted;
  auto add = [&](const std::string& name) -> absl::Status {
    if (FindSet(name) != nullptr) {
      wanted.insert(name);
      return absl::OkStatus();
    }
    std::vector<const SetDef*> members = GroupMembers(name);
    if (members.empty()) {
      return absl::NotFoundError(
          absl::StrCat("unknown dataset '", name, "' (see `proctor datasets list`)"));
    }
    for (const SetDef* m : members) wanted.insert(m->name);
    return absl::OkStatus();
  };
  for (const std::string& n : names) {
    if (absl::Status s = add(n); !s.ok()) return s;
  }
  if (!suite.empty()) {
    const SuiteDef* s = FindSuite(suite);
    if (s == nullptr) return absl::NotFoundError(absl::StrCat("unknown suite '", suite, "'"));
    for (const std::string& m : s->members) {
      if (absl::Status st = add(m); !st.ok()) return st;
    }
  }
  const bool all = names.empty() && suite.empty();
  std::vector<SetFiles> out;
  for (const SetDef& def : AllSets()) {
    if (all || wanted.count(def.name) > 0) out.push_back({def.name, FilesOfSet(def)});
  }
  return out;
}

std::vector<std::string> AllPaths(const std::vector<SetFiles>& sets) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const SetFiles& s : sets) {
    for (const std::string& p : s.paths) {
      if (seen.insert(p).second) out.push_back(p);
    }
  }
  return out;
}

FileState SetState(const std::vector<std::string>& paths, const std::vector<FileReport>& reports) {
  std::map<std::string, FileState> by_path;
  for (const FileReport& r : reports) by_path[r.path] = r.state;
  FileState worst = FileState::kOk;
  for (const std::string& p : paths) {
    auto it = by_path.find(p);
    FileState s = it == by_path.end() ? FileState::kMissing : it->second;
    if (static_cast<int>(s) > static_cast<int>(worst)) worst = s;
  }
  return worst;
}

}  // namespace proctor::eval::acquire
