#include "coordinator/scheduling/planner.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace proctor::coordinator {
namespace {

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

int64_t SatAdd(int64_t a, int64_t b) { return a > kInt64Max - b ? kInt64Max : a + b; }

int64_t VarintSize(uint64_t v) {
  int64_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

// Bytes of one length-delimited element of a repeated field with a one-byte
// tag (Job.prefixes = 6, Job.requests = 7).
int64_t ElementBytes(int64_t body) { return 1 + VarintSize(static_cast<uint64_t>(body)) + body; }

// Serialised size of a request whose body without prefix_index is `body0`,
// as an element of Job.requests, when it refers to prefix `prefix_index`.
int64_t RequestElementBytes(int64_t body0, int32_t prefix_index) {
  const int64_t body =
      prefix_index > 0 ? body0 + 1 + VarintSize(static_cast<uint64_t>(prefix_index)) : body0;
  return ElementBytes(body);
}

absl::Status ValidateOptions(const PlannerOptions& o) {
  if (o.job_token_budget <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("options.job_token_budget must be > 0, got ", o.job_token_budget));
  }
  if (!std::isfinite(o.generation_factor) || o.generation_factor < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "options.generation_factor must be finite and >= 0, got ", o.generation_factor));
  }
  if (o.max_job_payload_bytes <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("options.max_job_payload_bytes must be > 0, got ", o.max_job_payload_bytes));
  }
  if (o.default_max_attempts < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("options.default_max_attempts must be >= 1, got ", o.default_max_attempts));
  }
  return absl::OkStatus();
}

// The job being filled.
struct OpenJob {
  JobPayload payload;
  int64_t cost = 0;
  int64_t bytes = 0;
  // Prefix text -> 1-based index; views point into the plan (outlives us).
  absl::flat_hash_map<absl::string_view, int32_t> prefix_index;
  absl::string_view last_prefix;
  int32_t last_index = 0;

  bool empty() const { return payload.requests.empty(); }
  // Index `prefix` has or would get in this job, and whether it is new.
  std::pair<int32_t, bool> IndexOf(absl::string_view prefix) const {
    if (prefix.empty()) return {0, false};
    if (last_index > 0 && prefix == last_prefix) return {last_index, false};
    auto it = prefix_index.find(prefix);
    if (it != prefix_index.end()) return {it->second, false};
    return {static_cast<int32_t>(payload.prefixes.size()) + 1, true};
  }
};

// Payload bytes a sample adds to `job` (prefix if new + its requests).
int64_t SampleBytes(const OpenJob& job, absl::string_view prefix,
                    const std::vector<int64_t>& request_body0) {
  auto [index, is_new] = job.IndexOf(prefix);
  int64_t bytes = is_new ? ElementBytes(static_cast<int64_t>(prefix.size())) : 0;
  for (int64_t body0 : request_body0) bytes = SatAdd(bytes, RequestElementBytes(body0, index));
  return bytes;
}

}  // namespace

std::string ModelKey(const v1::ModelRef& model) {
  const std::string& where = model.path().empty() ? model.name() : model.path();
  std::string key;
  key.reserve(where.size() + model.backend().size() + 8);
  for (char c : where) {
    if (c == '|' || c == '\\') key.push_back('\\');
    key.push_back(c);
  }
  absl::StrAppend(&key, "|", model.backend(), "|", model.tensor_parallel());
  return key;
}

int32_t MaxAttempts(const v1::RunSpec& spec, const PlannerOptions& options) {
  return spec.max_attempts() > 0 ? spec.max_attempts() : options.default_max_attempts;
}

absl::StatusOr<PlannedRun> PlanRun(const std::string& run_id, const v1::RunSpec& spec,
                                   const eval::RunPlan& plan, const PlannerOptions& options,
                                   absl::Time now) {
  if (absl::Status s = ValidateOptions(options); !s.ok()) return s;
  if (run_id.empty()) return absl::InvalidArgumentError("run_id must not be empty");
  if (spec.job_token_budget() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("spec.job_token_budget must be >= 0, got ", spec.job_token_budget()));
  }
  if (spec.max_attempts() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("spec.max_attempts must be >= 0, got ", spec.max_attempts()));
  }
  if (plan.datasets.size() != plan.dataset_sample_counts.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("plan has ", plan.datasets.size(), " datasets but ",
                     plan.dataset_sample_counts.size(), " dataset sample counts"));
  }
  if (plan.samples.empty()) {
    return absl::InvalidArgumentError("plan has no samples: the spec selects nothing to evaluate");
  }

  const int64_t budget =
      spec.job_token_budget() > 0 ? spec.job_token_budget() : options.job_token_budget;
  const int64_t max_bytes = options.max_job_payload_bytes;

  PlannedRun out;
  RunRecord& run = out.run;
  run.run_id = run_id;
  run.spec = spec;
  run.state = v1::RUN_STATE_QUEUED;
  run.created_at = now;
  run.datasets.reserve(plan.datasets.size());
  for (size_t i = 0; i < plan.datasets.size(); ++i) {
    run.datasets.emplace_back(plan.datasets[i].name(), plan.dataset_sample_counts[i]);
  }

  JobRecord job_template;
  job_template.run_id = run_id;
  job_template.state = v1::JOB_STATE_QUEUED;
  job_template.model_key = ModelKey(spec.model());
  job_template.priority =
      spec.priority() == v1::PRIORITY_UNSPECIFIED ? v1::PRIORITY_INTERACTIVE : spec.priority();
  job_template.submitter = spec.submitter();
  job_template.tensor_parallel = spec.model().tensor_parallel();
  job_template.min_gpu_memory_bytes = spec.model().min_gpu_memory_bytes();
  job_template.backend = spec.model().backend();

  OpenJob open;
  auto close_job = [&]() {
    JobRecord job = job_template;
    job.index_in_run = static_cast<int32_t>(out.jobs.size());
    job.estimated_tokens = open.cost;
    job.num_requests = static_cast<int32_t>(open.payload.requests.size());
    out.jobs.push_back(std::move(job));
    out.payloads.push_back(std::move(open.payload));
    open = OpenJob();
  };

  out.samples.reserve(plan.samples.size());
  int64_t next_request_id = 1;
  std::vector<v1::Request> requests;
  std::vector<int64_t> body0;
  for (const eval::PlannedSample& sample : plan.samples) {
    auto where = [&sample]() {
      return absl::StrCat("dataset ", sample.dataset, " sample ", sample.sample_index);
    };
    if (sample.requests.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(where(), " has no requests"));
    }
    if (sample.estimated_prompt_tokens < 0 || sample.max_new_tokens < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          where(), " has a negative token estimate (estimated_prompt_tokens ",
          sample.estimated_prompt_tokens, ", max_new_tokens ", sample.max_new_tokens, ")"));
    }

    // Copy the requests with their run-wide ids; prefix indexes come later.
    requests.clear();
    body0.clear();
    SampleRecord record;
    record.dataset = sample.dataset;
    record.sample_index = sample.sample_index;
    record.target = sample.target;
    record.request_ids.reserve(sample.requests.size());
    for (size_t r = 0; r < sample.requests.size(); ++r) {
      if (sample.requests[r].kind_case() == v1::Request::KIND_NOT_SET) {
        return absl::InvalidArgumentError(absl::StrCat(where(), " request ", r, " has no kind"));
      }
      v1::Request& req = requests.emplace_back(sample.requests[r]);
      req.set_request_id(next_request_id);
      req.set_prefix_index(0);
      body0.push_back(static_cast<int64_t>(req.ByteSizeLong()));
      record.request_ids.push_back(next_request_id);
      ++next_request_id;
    }

    const double gen =
        std::ceil(static_cast<double>(sample.max_new_tokens) * options.generation_factor);
    const int64_t gen_cost = gen >= 9.0e18 ? kInt64Max : static_cast<int64_t>(gen);
    const int64_t cost = SatAdd(sample.estimated_prompt_tokens, gen_cost);

    const absl::string_view prefix = sample.prefix;
    int64_t bytes = SampleBytes(open, prefix, body0);
    if (!open.empty() &&
        (SatAdd(open.cost, cost) > budget || SatAdd(open.bytes, bytes) > max_bytes)) {
      close_job();
      bytes = SampleBytes(open, prefix, body0);
    }
    if (open.empty() && bytes > max_bytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(where(), " needs ", bytes,
                       " payload bytes, more than options.max_job_payload_bytes ", max_bytes));
    }

    auto [index, is_new] = open.IndexOf(prefix);
    if (is_new) {
      open.payload.prefixes.emplace_back(prefix);
      open.prefix_index.emplace(prefix, index);
    }
    if (index > 0) {
      open.last_prefix = prefix;
      open.last_index = index;
    }
    for (v1::Request& req : requests) {
      req.set_prefix_index(index);
      open.payload.requests.push_back(std::move(req));
    }
    open.cost = SatAdd(open.cost, cost);
    open.bytes = SatAdd(open.bytes, bytes);
    out.samples.push_back(std::move(record));
  }
  close_job();
  return out;
}

}  // namespace proctor::coordinator
