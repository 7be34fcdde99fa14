#include "cli/run_spec_flags.h"

#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace proctor::cli {

namespace pb = ::proctor::v1;

absl::StatusOr<pb::Priority> ParsePriority(absl::string_view text) {
  const std::string lower = absl::AsciiStrToLower(text);
  if (lower == "interactive") return pb::PRIORITY_INTERACTIVE;
  if (lower == "sweep") return pb::PRIORITY_SWEEP;
  if (lower == "backfill") return pb::PRIORITY_BACKFILL;
  return absl::InvalidArgumentError(absl::StrCat("--priority: unknown priority \"", text,
                                                 "\" (expected interactive, sweep or backfill)"));
}

absl::StatusOr<pb::RunState> ParseRunState(absl::string_view text) {
  const std::string lower = absl::AsciiStrToLower(text);
  if (lower == "queued") return pb::RUN_STATE_QUEUED;
  if (lower == "running") return pb::RUN_STATE_RUNNING;
  if (lower == "succeeded") return pb::RUN_STATE_SUCCEEDED;
  if (lower == "failed") return pb::RUN_STATE_FAILED;
  if (lower == "cancelled" || lower == "canceled") return pb::RUN_STATE_CANCELLED;
  return absl::InvalidArgumentError(
      absl::StrCat("--state: unknown run state \"", text,
                   "\" (expected queued, running, succeeded, failed or cancelled)"));
}

std::string RunStateName(pb::RunState state) {
  switch (state) {
    case pb::RUN_STATE_QUEUED:
      return "queued";
    case pb::RUN_STATE_RUNNING:
      return "running";
    case pb::RUN_STATE_SUCCEEDED:
      return "succeeded";
    case pb::RUN_STATE_FAILED:
      return "failed";
    case pb::RUN_STATE_CANCELLED:
      return "cancelled";
    default:
      return "unspecified";
  }
}

std::string PriorityName(pb::Priority priority) {
  switch (priority) {
    case pb::PRIORITY_UNSPECIFIED:
    case pb::PRIORITY_INTERACTIVE:
      return "interactive";
    case pb::PRIORITY_SWEEP:
      return "sweep";
    case pb::PRIORITY_BACKFILL:
      return "backfill";
    default:
      return absl::StrCat("priority(", static_cast<int>(priority), ")");
  }
}

absl::StatusOr<std::pair<std::string, std::string>> ParseLabel(absl::string_view flag,
                                                               absl::string_view text) {
  const size_t eq = text.find('=');
  if (eq == absl::string_view::npos || eq == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": expected key=value with a non-empty key, got \"", text, "\""));
  }
  return std::make_pair(std::string(text.substr(0, eq)), std::string(text.substr(eq + 1)));
}

absl::StatusOr<pb::DatasetSelection> ParseDatasetSelection(absl::string_view text) {
  pb::DatasetSelection selection;
  absl::string_view name = text;
  if (const size_t colon = text.rfind(':'); colon != absl::string_view::npos) {
    name = text.substr(0, colon);
    PROCTOR_ASSIGN_OR_RETURN(
        const int64_t limit,
        ParseInt(absl::StrCat("--dataset ", text, ": limit"), text.substr(colon + 1), 1,
                 std::numeric_limits<int64_t>::max()));
    selection.set_limit(limit);
  }
  if (name.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--dataset: expected NAME or NAME:LIMIT, got \"", text, "\""));
  }
  selection.set_name(std::string(name));
  return selection;
}

void AddSubmitFlags(FlagParser* parser) {
  parser->AddValue("model", "NAME_OR_PATH",
                   "model to evaluate: a name known to the workers, or a weights path as the "
                   "workers see it (GGUF file, safetensors directory, llama2.c .bin)");
  parser->AddValue("model-name", "NAME", "display name in results (default: from --model)");
  parser->AddValue("suite", "SUITE", "evaluation suite (see `proctor suites`)");
  parser->AddValue("dataset", "NAME[:LIMIT]",
                   "an evaluation set, optionally with its own sample limit", true);
  parser->AddValue("limit", "N", "max samples per set (default: all)");
  parser->AddValue("seed", "N", "seed for sampling and shuffling (default 0)");
  parser->AddValue("priority", "CLASS", "interactive (default), sweep or backfill");
  parser->AddValue("label", "KEY=VALUE", "attach a label to the run", true);
  parser->AddValue("backend", "BACKEND", "require workers with backend cpu or cuda");
  parser->AddValue("tp", "N", "tensor-parallel degree (GPUs per worker)");
  parser->AddSwitch("no-cache",
                    "run every request on a worker instead of answering it from the result "
                    "cache (outputs are still added to the cache)");
  parser->AddSwitch("watch",
                    "after submitting, watch the run (progress on stderr) and exit "
                    "with its final state");
}

namespace {

bool LooksLikePath(absl::string_view model) {
  return absl::StrContains(model, '/') || absl::EndsWith(model, ".gguf") ||
         absl::EndsWith(model, ".bin") || absl::EndsWith(model, ".safetensors");
}

std::string Stem(absl::string_view path) {
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  if (size_t slash = path.rfind('/'); slash != absl::string_view::npos) {
    path = path.substr(slash + 1);
  }
  for (absl::string_view ext : {".gguf", ".bin", ".safetensors"}) {
    if (absl::EndsWith(path, ext) && path.size() > ext.size()) {
      path.remove_suffix(ext.size());
      break;
    }
  }
  return std::string(path);
}

}  // namespace

absl::StatusOr<pb::RunSpec> BuildRunSpec(const ParsedFlags& flags, absl::string_view submitter) {
  pb::RunSpec spec;
  const std::optional<std::string> model = flags.Get("model");
  if (!model.has_value() || model->empty()) {
    return absl::InvalidArgumentError("--model is required");
  }
  pb::ModelRef* ref = spec.mutable_model();
  const std::optional<std::string> model_name = flags.Get("model-name");
  if (model_name.has_value() && model_name->empty()) {
    return absl::InvalidArgumentError("--model-name: must not be empty");
  }
  if (LooksLikePath(*model)) {
    ref->set_path(*model);
    ref->set_name(model_name.has_value() ? *model_name : Stem(*model));
    if (ref->name().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--model ", *model, ": cannot derive a name; pass --model-name"));
    }
  } else if (model_name.has_value()) {
    ref->set_name(*model_name);
    ref->set_path(*model);
  } else {
    ref->set_name(*model);
  }
  if (auto backend = flags.Get("backend")) {
    if (*backend != "cpu" && *backend != "cuda") {
      return absl::InvalidArgumentError(
          absl::StrCat("--backend: unknown backend \"", *backend, "\" (expected cpu or cuda)"));
    }
    ref->set_backend(*backend);
  }
  if (auto tp = flags.Get("tp")) {
    PROCTOR_ASSIGN_OR_RETURN(const int64_t n, ParseInt("--tp", *tp, 1, 1024));
    ref->set_tensor_parallel(static_cast<int32_t>(n));
  }

  if (auto suite = flags.Get("suite")) {
    if (suite->empty()) return absl::InvalidArgumentError("--suite: must not be empty");
    spec.set_suite(*suite);
  }
  for (const std::string& d : flags.GetAll("dataset")) {
    PROCTOR_ASSIGN_OR_RETURN(*spec.add_datasets(), ParseDatasetSelection(d));
  }
  if (spec.suite().empty() && spec.datasets().empty()) {
    return absl::InvalidArgumentError("one of --suite or --dataset is required");
  }
  if (auto limit = flags.Get("limit")) {
    PROCTOR_ASSIGN_OR_RETURN(const int64_t n,
                             ParseInt("--limit", *limit, 1, std::numeric_limits<int64_t>::max()));
    spec.set_limit(n);
  }
  if (auto seed = flags.Get("seed")) {
    uint64_t value = 0;
    if (!absl::SimpleAtoi(*seed, &value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--seed: expected a non-negative integer, got \"", *seed, "\""));
    }
    spec.set_seed(value);
  }
  if (auto priority = flags.Get("priority")) {
    PROCTOR_ASSIGN_OR_RETURN(const pb::Priority p, ParsePriority(*priority));
    spec.set_priority(p);
  } else {
    spec.set_priority(pb::PRIORITY_INTERACTIVE);
  }
  for (const std::string& l : flags.GetAll("label")) {
    PROCTOR_ASSIGN_OR_RETURN(auto kv, ParseLabel("--label", l));
    if (!spec.mutable_labels()->insert({kv.first, kv.second}).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("--label: key \"", kv.first, "\" given more than once"));
    }
  }
  if (flags.Has("no-cache")) spec.set_no_cache(true);
  spec.set_submitter(std::string(submitter));
  return spec;
}

}  // namespace proctor::cli
