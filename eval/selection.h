// Resolution and validation of a RunSpec's dataset selection: suite members
// (groups expanded) followed by explicitly named sets, without duplicates,
// each with its effective limit and few-shot count.
#ifndef PROCTOR_EVAL_SELECTION_H_
#define PROCTOR_EVAL_SELECTION_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "eval/set_def.h"
#include "proctor/v1/common.pb.h"

namespace proctor::eval {

struct Selection {
  const SetDef* def = nullptr;
  int64_t limit = 0;    // first N samples of the eval split; 0 = all
  int num_fewshot = 0;  // effective shot count
};

// INVALID_ARGUMENT naming the field: "spec" (nothing selected),
// "spec.suite" (unknown suite, listing the known ones), "spec.limit"
// (negative), "spec.datasets[i].name" (empty or unknown),
// "spec.datasets[i].limit" (negative), "spec.datasets[i].num_fewshot"
// (below -1, above the pool's policy, or a change to an in-template set).
// A name may be a set or a group (expanded to its members).
absl::StatusOr<std::vector<Selection>> ResolveSelection(const v1::RunSpec& spec);

}  // namespace proctor::eval

#endif  // PROCTOR_EVAL_SELECTION_H_
