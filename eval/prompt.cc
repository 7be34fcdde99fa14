#include "eval/prompt.h"

#include <random>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "eval/eval_internal.pb.h"
#include "eval/registry.h"
#include "eval/text_metrics.h"

namespace proctor::eval {
namespace {

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

}  // namespace

absl::StatusOr<std::string> RenderTemplate(std::string_view tmpl,
                                           const std::map<std::string, std::string>& vars) {
  std::string out;
  out.reserve(tmpl.size() + 256);
  size_t i = 0;
  while (i < tmpl.size()) {
    if (tmpl[i] == '{') {
      if (tmpl.substr(i, 3) == "{|}") {
        i += 3;
        continue;
      }
      size_t j = i + 1;
      while (j < tmpl.size() && IsNameChar(tmpl[j])) ++j;
      if (j > i + 1 && j < tmpl.size() && tmpl[j] == '}') {
        std::string name(tmpl.substr(i + 1, j - i - 1));
        auto it = vars.find(name);
        if (it == vars.end()) {
          return absl::InvalidArgumentError(
              absl::StrCat("template placeholder {", name, "} has no value"));
        }
        out += it->second;
        i = j + 1;
        continue;
      }
    }
    out.push_back(tmpl[i]);
    ++i;
  }
  return out;
}

void MoveTrailingWhitespace(ContextContinuation* cc) {
  size_t end = cc->context.size();
  while (end > 0 && IsSpace(cc->context[end - 1])) --end;
  if (end == cc->context.size()) return;
  cc->continuation = cc->context.substr(end) + cc->continuation;
  cc->context.resize(end);
}

absl::StatusOr<ContextContinuation> RenderOption(std::string_view tmpl,
                                                 std::map<std::string, std::string> vars,
                                                 const std::string& choice) {
  size_t split = tmpl.find("{|}");
  if (split == std::string_view::npos) split = tmpl.find("{choice}");
  if (split == std::string_view::npos) {
    return absl::InvalidArgumentError("loglikelihood template has neither {|} nor {choice}");
  }
  vars["choice"] = choice;
  ContextContinuation cc;
  PROCTOR_ASSIGN_OR_RETURN(cc.context, RenderTemplate(tmpl.substr(0, split), vars));
  PROCTOR_ASSIGN_OR_RETURN(cc.continuation, RenderTemplate(tmpl.substr(split), vars));
  MoveTrailingWhitespace(&cc);
  return cc;
}

std::vector<int64_t> ShotOrder(const SetDef& def, int64_t pool_size, int num_fewshot,
                               uint64_t seed) {
  std::vector<int64_t> rows;
  if (def.fewshot == "first_n") {
    for (int64_t i = 0; i < num_fewshot && i < pool_size; ++i) rows.push_back(i);
  } else if (def.fewshot == "fixed_rows") {
    for (int64_t r : def.fewshot_rows) {
      if (static_cast<int64_t>(rows.size()) >= num_fewshot) break;
      if (r < pool_size) rows.push_back(r);
    }
  } else if (def.fewshot == "seeded_draw") {
    // Fisher-Yates over raw mt19937_64 output (whose sequence the standard
    // fixes), so the draw is identical on every platform. One extra row is
    // drawn to stand in for a sample that would see itself.
    std::vector<int64_t> perm(static_cast<size_t>(pool_size));
    for (int64_t i = 0; i < pool_size; ++i) perm[static_cast<size_t>(i)] = i;
    std::mt19937_64 rng(Fnv1a64(def.name) ^ seed);
    int64_t take = std::min<int64_t>(num_fewshot + 1, pool_size);
    for (int64_t i = 0; i < take; ++i) {
      uint64_t span = static_cast<uint64_t>(pool_size - i);
      int64_t j = i + static_cast<int64_t>(rng() % span);
      std::swap(perm[static_cast<size_t>(i)], perm[static_cast<size_t>(j)]);
      rows.push_back(perm[static_cast<size_t>(i)]);
    }
  }
  return rows;
}

absl::StatusOr<std::string> BuildPrefix(const SetDef& def, const std::vector<const Doc*>& shots,
                                        const Doc* first_doc) {
  std::string prefix;
  if (!def.instruction.empty()) {
    std::map<std::string, std::string> vars;
    if (first_doc != nullptr) vars = first_doc->vars;
    PROCTOR_ASSIGN_OR_RETURN(prefix, RenderTemplate(def.instruction, vars));
  }
  if (def.fewshot == "in_template" || def.fewshot == "prompt_file") {
    prefix += def.fixed_shots;
    return prefix;
  }
  for (const Doc* shot : shots) {
    std::map<std::string, std::string> vars = shot->vars;
    if (vars.find("answer") == vars.end()) {
      if (shot->gold >= 0 && shot->gold < static_cast<int>(shot->choices.size())) {
        vars["answer"] = shot->choices[static_cast<size_t>(shot->gold)];
      } else if (!shot->answers.empty()) {
        vars["answer"] = shot->answers[0];
      }
    }
    PROCTOR_ASSIGN_OR_RETURN(std::string text, RenderTemplate(def.shot_template, vars));
    prefix += text;
  }
  return prefix;
}

absl::StatusOr<PlannedSample> BuildSample(const SetDef& def, const Doc& doc, int64_t index,
                                          const std::string& prefix) {
  PlannedSample s;
  s.dataset = def.name;
  s.sample_index = index;
  s.prefix = prefix;
  internal::SampleTarget target;
  target.set_gold(doc.gold);
  for (const std::string& a : doc.answers) target.add_answers(a);
  int64_t bytes = static_cast<int64_t>(prefix.size());
  if (def.request == "loglikelihood") {
    if (doc.choices.size() < 2) {
      return absl::InvalidArgumentError(
          absl::StrCat(def.name, " sample ", index, ": fewer than two options"));
    }
    std::vector<ContextContinuation> options;
    bool shared = true;
    for (const std::string& choice : doc.choices) {
      PROCTOR_ASSIGN_OR_RETURN(ContextContinuation cc,
                               RenderOption(def.prompt_template, doc.vars, choice));
      if (!options.empty() && cc.context != options.front().context) shared = false;
      target.add_option_chars(static_cast<int32_t>(Utf8Length(cc.continuation)));
      options.push_back(std::move(cc));
    }
    // The context request (see prompt.h): the option contexts themselves,
    // scored after the prefix, so that the scorer can rank whole texts.
    v1::Request context_request;
    bool contexts_nonempty = true;
    for (const ContextContinuation& cc : options) {
      contexts_nonempty = contexts_nonempty && !cc.context.empty();
      if (cc.context.empty() || (shared && context_request.has_loglikelihood())) continue;
      context_request.mutable_loglikelihood()->add_continuations(cc.context);
    }
    if (shared) {
      v1::Request r;
      r.mutable_loglikelihood()->set_context(options.front().context);
      bytes += static_cast<int64_t>(options.front().context.size());
      for (ContextContinuation& cc : options) {
        bytes += static_cast<int64_t>(cc.continuation.size());
        r.mutable_loglikelihood()->add_continuations(std::move(cc.continuation));
      }
      target.add_request_continuations(static_cast<int32_t>(options.size()));
      s.requests.push_back(std::move(r));
    } else {
      for (ContextContinuation& cc : options) {
        v1::Request r;
        bytes += static_cast<int64_t>(cc.context.size() + cc.continuation.size());
        r.mutable_loglikelihood()->set_context(std::move(cc.context));
        r.mutable_loglikelihood()->add_continuations(std::move(cc.continuation));
        target.add_request_continuations(1);
        s.requests.push_back(std::move(r));
      }
    }
    if (contexts_nonempty) {
      const auto& conts = context_request.loglikelihood().continuations();
      for (const std::string& c : conts) bytes += static_cast<int64_t>(c.size());
      target.add_request_continuations(conts.size());
      s.requests.push_back(std::move(context_request));
    }
    s.max_new_tokens = 0;
  } else if (def.request == "generate") {
    PROCTOR_ASSIGN_OR_RETURN(std::string context, RenderTemplate(def.prompt_template, doc.vars));
    bytes += static_cast<int64_t>(context.size());
    if (def.postprocessor == "code") {
      auto get = [&doc](const char* k) {
        auto it = doc.vars.find(k);
        return it == doc.vars.end() ? std::string() : it->second;
      };
      // HumanEval: the program is prompt + completion; MBPP: the completion.
      if (doc.vars.count("prompt") > 0) target.set_program_prefix(get("prompt"));
      target.set_tests(doc.vars.count("test") > 0 ? get("test") : get("test_list"));
      target.set_entry_point(get("entry_point"));
    }
    v1::Request r;
    v1::GenerateRequest* g = r.mutable_generate();
    g->set_context(std::move(context));
    for (const std::string& stop : def.stop) g->add_stop(stop);
    g->set_max_new_tokens(def.max_new_tokens);
    s.requests.push_back(std::move(r));
    s.max_new_tokens = def.max_new_tokens;
  } else if (def.request == "loglikelihood_rolling") {
    PROCTOR_ASSIGN_OR_RETURN(std::string text, RenderTemplate(def.prompt_template, doc.vars));
    target.set_num_words(CountWords(text));
    target.set_num_bytes(static_cast<int64_t>(text.size()));
    bytes += static_cast<int64_t>(text.size());
    v1::Request r;
    r.mutable_loglikelihood_rolling()->set_text(std::move(text));
    s.requests.push_back(std::move(r));
  } else {
    return absl::InternalError(absl::StrCat(def.name, ": unknown request kind ", def.request));
  }
  s.estimated_prompt_tokens = bytes / 4;
  s.target = target.SerializeAsString();
  return s;
}

}  // namespace proctor::eval
