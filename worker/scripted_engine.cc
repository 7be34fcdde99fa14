#include "worker/scripted_engine.h"

#include <algorithm>
#include <filesystem>
#include <string>
#include <system_error>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"

namespace proctor::worker {
namespace {

// Used when GenerateRequest.max_new_tokens is 0 (unset).
constexpr int kDefaultMaxNewTokens = 256;

constexpr const char* kVocabulary[] = {
    "the", "model", "reads", "a",    "short", "story", "about", "cats",
    "and", "dogs",  "which", "then", "go",    "home",  "after", "dark",
};

// SplitMix64 finaliser: spreads one hash into a sequence of independent ones.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

double ScriptedLogprob(uint64_t h) { return -static_cast<double>(h % 10000) / 1000.0; }

int32_t ScriptedTokenCount(absl::string_view text) {
  return static_cast<int32_t>(std::max<size_t>(1, text.size() / 4));
}

// The whole "natural" answer as whitespace-led tokens, before stop strings and
// max_new_tokens are applied.
std::vector<std::string> NaturalTokens(uint64_t h, absl::string_view context) {
  std::vector<std::string> tokens;
  if (absl::StrContains(context, "Question:")) {
    const uint64_t n = h % 100;
    tokens = {"The",       " answer", " is", absl::StrCat(" ", n, "."), "\n\n",
              "Question:", " What",   " is", absl::StrCat(" ", n),      " plus",
              " one?"};
    return tokens;
  }
  const int words = 6 + static_cast<int>(h % 10);
  uint64_t state = h;
  for (int i = 0; i < words; ++i) {
    state = Mix(state);
    std::string word = kVocabulary[state % std::size(kVocabulary)];
    if (i == words - 1) word += ".";
    tokens.push_back(i == 0 ? word : absl::StrCat(" ", word));
  }
  return tokens;
}

// Position of the earliest occurrence of any non-empty stop string in `text`,
// or npos.
size_t FirstStop(absl::string_view text,
                 const google::protobuf::RepeatedPtrField<std::string>& stops) {
  size_t best = absl::string_view::npos;
  for (const std::string& stop : stops) {
    if (stop.empty()) continue;
    const size_t pos = text.find(stop);
    if (pos != absl::string_view::npos && (best == absl::string_view::npos || pos < best)) {
      best = pos;
    }
  }
  return best;
}

class ScriptedModel final : public engine::LoadedModel {
 public:
  ScriptedModel(std::string name, const ScriptedEngineOptions& options)
      : name_(std::move(name)), options_(options) {}

  absl::Status RunJob(const v1::Job& job, const std::vector<int64_t>& skip_request_ids,
                      const engine::OutputSink& sink, const std::atomic<bool>& cancelled) override {
    const std::unordered_set<int64_t> skip(skip_request_ids.begin(), skip_request_ids.end());
    for (const v1::Request& request : job.requests()) {
      if (cancelled.load()) return absl::CancelledError("job cancelled");
      if (skip.contains(request.request_id())) continue;
      if (!SleepUnlessCancelled(options_.request_delay, cancelled)) {
        return absl::CancelledError("job cancelled");
      }
      PROCTOR_ASSIGN_OR_RETURN(v1::Output output, RunRequest(job, request));
      sink(std::move(output));
    }
    return absl::OkStatus();
  }

  int64_t ResidentBytes() const override { return options_.resident_bytes; }

 private:
  // Returns false when `cancelled` was set during the sleep.
  static bool SleepUnlessCancelled(absl::Duration d, const std::atomic<bool>& cancelled) {
    const absl::Time end = absl::Now() + d;
    while (absl::Now() < end) {
      if (cancelled.load()) return false;
      absl::SleepFor(std::min(absl::Milliseconds(5), end - absl::Now()));
    }
    return !cancelled.load();
  }

  absl::StatusOr<v1::Output> RunRequest(const v1::Job& job, const v1::Request& request) const {
    std::string prefix;
    if (request.prefix_index() != 0) {
      if (request.prefix_index() < 0 || request.prefix_index() > job.prefixes_size()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "request ", request.request_id(), ": prefix_index ", request.prefix_index(),
            " is outside job.prefixes (size ", job.prefixes_size(), ")"));
      }
      prefix = job.prefixes(request.prefix_index() - 1);
    }
    v1::Output output;
    output.set_request_id(request.request_id());
    switch (request.kind_case()) {
      case v1::Request::kLoglikelihood: {
        const v1::LoglikelihoodRequest& r = request.loglikelihood();
        if (r.continuations_size() == 0) {
          return absl::InvalidArgumentError(absl::StrCat("request ", request.request_id(),
                                                         ": loglikelihood has no continuations"));
        }
        const std::string head = absl::StrCat(name_, "|", prefix, r.context(), "|");
        v1::LoglikelihoodOutput* out = output.mutable_loglikelihood();
        for (const std::string& continuation : r.continuations()) {
          const uint64_t h = Fnv1a64(absl::StrCat(head, continuation));
          v1::ContinuationScore* score = out->add_continuations();
          score->set_logprob(ScriptedLogprob(h));
          score->set_num_tokens(ScriptedTokenCount(continuation));
          score->set_is_greedy(((h >> 32) & 1) != 0);
        }
        break;
      }
      case v1::Request::kLoglikelihoodRolling: {
        const std::string text = absl::StrCat(prefix, request.loglikelihood_rolling().text());
        const uint64_t h = Fnv1a64(absl::StrCat(name_, "|", text));
        v1::LoglikelihoodRollingOutput* out = output.mutable_loglikelihood_rolling();
        out->set_logprob(ScriptedLogprob(h));
        out->set_num_tokens(ScriptedTokenCount(text));
        break;
      }
      case v1::Request::kGenerate: {
        const v1::GenerateRequest& r = request.generate();
        if (r.max_new_tokens() < 0) {
          return absl::InvalidArgumentError(absl::StrCat("request ", request.request_id(),
                                                         ": max_new_tokens is negative (",
                                                         r.max_new_tokens(), ")"));
        }
        const std::string context = absl::StrCat(prefix, r.context());
        uint64_t h = Fnv1a64(absl::StrCat(name_, "|", context));
        if (r.temperature() > 0) h = Mix(h ^ r.seed());
        Generate(h, context, r, output.mutable_generate());
        break;
      }
      case v1::Request::kExecuteCode:  // judge jobs run in worker/judge_execution.h
        return absl::InvalidArgumentError(absl::StrCat(
            "request ", request.request_id(), ": the scripted engine does not execute code"));
      case v1::Request::KIND_NOT_SET:
        return absl::InvalidArgumentError(
            absl::StrCat("request ", request.request_id(), ": no request kind is set"));
    }
    return output;
  }

  static void Generate(uint64_t h, absl::string_view context, const v1::GenerateRequest& r,
                       v1::GenerateOutput* out) {
    const int max_tokens = r.max_new_tokens() == 0 ? kDefaultMaxNewTokens : r.max_new_tokens();
    std::string text;
    int produced = 0;
    v1::FinishReason reason = v1::FINISH_REASON_EOS;
    for (const std::string& token : NaturalTokens(h, context)) {
      if (produced == max_tokens) {
        reason = v1::FINISH_REASON_LENGTH;
        break;
      }
      text += token;
      ++produced;
      const size_t stop = FirstStop(text, r.stop());
      if (stop != absl::string_view::npos) {
        text.resize(stop);
        reason = v1::FINISH_REASON_STOP;
        break;
      }
    }
    out->set_text(text);
    out->set_num_tokens(produced);
    out->set_finish_reason(reason);
  }

  const std::string name_;
  const ScriptedEngineOptions options_;
};

class ScriptedEngine final : public engine::Engine {
 public:
  explicit ScriptedEngine(const ScriptedEngineOptions& options) : options_(options) {}

  std::string backend() const override { return "scripted"; }

  absl::StatusOr<std::unique_ptr<engine::LoadedModel>> Load(const v1::ModelRef& model) override {
    if (model.name().empty() && model.path().empty()) {
      return absl::InvalidArgumentError("model: both name and path are empty");
    }
    absl::SleepFor(options_.load_delay);
    const std::string& name = model.name().empty() ? model.path() : model.name();
    if (options_.fail_model_load) {
      return absl::FailedPreconditionError(absl::StrCat(
          "model '", name, "': load failure simulated by the scripted engine (fail_model_load)"));
    }
    if (!model.path().empty() && model.path().front() == '/') {
      std::error_code ec;
      if (!std::filesystem::exists(model.path(), ec)) {
        return absl::FailedPreconditionError(
            absl::StrCat("model file ", model.path(), " does not exist"));
      }
    }
    return std::make_unique<ScriptedModel>(name, options_);
  }

 private:
  const ScriptedEngineOptions options_;
};

}  // namespace

uint64_t Fnv1a64(absl::string_view data) {
  uint64_t h = 14695981039346656037ULL;
  for (unsigned char c : data) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

std::unique_ptr<engine::Engine> CreateScriptedEngine(const ScriptedEngineOptions& options) {
  return std::make_unique<ScriptedEngine>(options);
}

}  // namespace proctor::worker
