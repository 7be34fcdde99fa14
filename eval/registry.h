// The registry: every evaluation set of SUITE.md as a SetDef row, the groups
// they form, and the named suites. Data, not code: see registry.cc for the
// table and docs/design/eval.md for how to add a set.
//
// Thread-safety: the registry is built once (function-local static) and is
// immutable afterwards.
#ifndef PROCTOR_EVAL_REGISTRY_H_
#define PROCTOR_EVAL_REGISTRY_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "eval/set_def.h"

namespace proctor::eval {

struct SuiteDef {
  std::string name;
  std::string description;
  std::vector<std::string> members;  // set or group names, in order
  int64_t default_limit = 0;         // samples per set when spec.limit is 0
};

// The five dimensions of the leaderboard summary (Overall = their mean).
const std::vector<std::string>& Dimensions();

// Every set, in registry order (dimension order of SUITE.md).
const std::vector<SetDef>& AllSets();

// All suites ("opencompass-2023", "core", "smoke").
const std::vector<SuiteDef>& AllSuites();

// nullptr when unknown.
const SetDef* FindSet(std::string_view name);
const SuiteDef* FindSuite(std::string_view name);

// Members of group `name` in registry order; empty when it is not a group.
std::vector<const SetDef*> GroupMembers(std::string_view name);

// The prompt-config hash of a set: first 8 hex digits of FNV-1a 64 over the
// template, instruction, shot template, fixed shots, few-shot policy and
// count, stop strings, max tokens, post-processor and metric.
std::string PromptHash(const SetDef& def);

// The metric a set is ranked by ("acc", "em", "bleu", "rouge1", "pass@1",
// "word_perplexity"): the set score of aggregation and comparison.
std::string PrimaryMetric(const SetDef& def);

// FNV-1a 64 of `data` (exposed for tests and seeding).
uint64_t Fnv1a64(std::string_view data);

}  // namespace proctor::eval

#endif  // PROCTOR_EVAL_REGISTRY_H_
