// Prompt building: template rendering, the context/continuation split of
// SUITE.md rule 1, few-shot prefixes (rule 5) and the model-agnostic requests
// of one sample. Pure functions over SetDef and Doc.
#ifndef PROCTOR_EVAL_PROMPT_H_
#define PROCTOR_EVAL_PROMPT_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "eval/catalog.h"
#include "eval/loaders.h"
#include "eval/set_def.h"

namespace proctor::eval {

// Replaces every {name} in `tmpl` with vars[name]. "{|}" (the split marker)
// is removed. A placeholder naming an unknown variable is INVALID_ARGUMENT.
// Text that is not a placeholder ({ followed by anything other than
// [A-Za-z0-9_]+ and }) is copied unchanged.
absl::StatusOr<std::string> RenderTemplate(std::string_view tmpl,
                                           const std::map<std::string, std::string>& vars);

struct ContextContinuation {
  std::string context;
  std::string continuation;
};

// Rule 1: moves the trailing whitespace of `context` to the front of
// `continuation`.
void MoveTrailingWhitespace(ContextContinuation* cc);

// Renders a loglikelihood template for option `choice`: the context is the
// text before "{|}" (or before "{choice}" when there is no marker), the
// continuation the rest; then MoveTrailingWhitespace.
absl::StatusOr<ContextContinuation> RenderOption(std::string_view tmpl,
                                                 std::map<std::string, std::string> vars,
                                                 const std::string& choice);

// Chooses the few-shot examples of a set per its policy (rule 5): the same
// rows for every sample of the set (except that "seeded_draw" never uses the
// sample itself: see ShotsForSample). `pool` is the few-shot source split.
// Deterministic in (def.name, seed).
std::vector<int64_t> ShotOrder(const SetDef& def, int64_t pool_size, int num_fewshot,
                               uint64_t seed);

// The few-shot prefix: instruction, then each shot rendered with
// def.shot_template ({answer} = gold option text, or the "answer" variable,
// or the first gold answer), or def.fixed_shots for "in_template".
absl::StatusOr<std::string> BuildPrefix(const SetDef& def, const std::vector<const Doc*>& shots,
                                        const Doc* first_doc);

// One planned sample: requests (contexts without the prefix) and the
// serialised SampleTarget.
//
// A loglikelihood sample has its option requests first (one request with N
// continuations when every option has the same context, else one request per
// option), then, when no option context is empty, one *context request*: an
// empty context whose continuations are the option contexts (one when
// shared, else one per option), so that the scorer knows log p(context) and
// its token count and can rank options by the mean log-likelihood of the
// whole text, as OpenCompass's PPL mode does (scoring.h).
// target.request_continuations lists the continuations of every request,
// the context request included.
absl::StatusOr<PlannedSample> BuildSample(const SetDef& def, const Doc& doc, int64_t index,
                                          const std::string& prefix);

}  // namespace proctor::eval

#endif  // PROCTOR_EVAL_PROMPT_H_
