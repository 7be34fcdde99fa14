// Which data-root files each evaluation set needs (from the registry), and
// the state of a set given the states of its files.
//
// Thread-safety: pure functions over the immutable registry.
#ifndef PROCTOR_EVAL_ACQUIRE_SET_FILES_H_
#define PROCTOR_EVAL_ACQUIRE_SET_FILES_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "eval/acquire/acquire.h"
#include "eval/set_def.h"

namespace proctor::eval::acquire {

struct SetFiles {
  std::string set;                 // registry name
  std::vector<std::string> paths;  // path, labels, few-shot files; no duplicates
};

// The distinct files a set reads: path, labels_path, fewshot_path and
// fewshot_labels_path (empty ones skipped).
std::vector<std::string> FilesOfSet(const SetDef& def);

// Expands names (sets, groups such as "mmlu", suites such as "core") into
// sets in registry order without duplicates; no names and no suite = every
// set. NOT_FOUND names the first unknown name or suite.
absl::StatusOr<std::vector<SetFiles>> SelectSets(const std::vector<std::string>& names,
                                                 const std::string& suite);

// The distinct paths of `sets`, in order.
std::vector<std::string> AllPaths(const std::vector<SetFiles>& sets);

// The worst state among `paths` in `reports` (kOk for no paths).
FileState SetState(const std::vector<std::string>& paths, const std::vector<FileReport>& reports);

}  // namespace proctor::eval::acquire

#endif  // PROCTOR_EVAL_ACQUIRE_SET_FILES_H_
