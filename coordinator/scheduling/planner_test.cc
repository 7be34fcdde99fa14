#include "coordinator/scheduling/planner.h"

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proctor/v1/worker.pb.h"

namespace proctor::coordinator {
namespace {

using ::testing::HasSubstr;

const absl::Time kNow = absl::FromUnixSeconds(1'700'000'000);

// A multiple-choice sample: one loglikelihood request with `options` continuations.
eval::PlannedSample McSample(const std::string& dataset, int64_t index, const std::string& prefix,
                             int64_t prompt_tokens, int options = 4) {
  eval::PlannedSample s;
  s.dataset = dataset;
  s.sample_index = index;
  s.target = absl::StrCat("gold=", index % options);
  s.prefix = prefix;
  v1::Request r;
  r.mutable_loglikelihood()->set_context(absl::StrCat("Question ", index, "?\nAnswer:"));
  for (int o = 0; o < options; ++o) {
    r.mutable_loglikelihood()->add_continuations(absl::StrCat(" option ", o));
  }
  s.requests.push_back(r);
  s.estimated_prompt_tokens = prompt_tokens;
  s.max_new_tokens = 0;
  return s;
}

// A generation sample with `n` requests.
eval::PlannedSample GenSample(const std::string& dataset, int64_t index, int n,
                              int64_t max_new_tokens) {
  eval::PlannedSample s;
  s.dataset = dataset;
  s.sample_index = index;
  s.target = "42";
  for (int i = 0; i < n; ++i) {
    v1::Request r;
    r.mutable_generate()->set_context(absl::StrCat("Q", index, ".", i));
    r.mutable_generate()->set_max_new_tokens(static_cast<int32_t>(max_new_tokens));
    r.mutable_generate()->add_stop("\n\n");
    s.requests.push_back(r);
  }
  s.estimated_prompt_tokens = 10;
  s.max_new_tokens = max_new_tokens;
  return s;
}

void AddDataset(eval::RunPlan& plan, const std::string& name, int64_t count) {
  v1::DatasetInfo info;
  info.set_name(name);
  plan.datasets.push_back(info);
  plan.dataset_sample_counts.push_back(count);
}

v1::RunSpec Spec() {
  v1::RunSpec spec;
  spec.mutable_model()->set_name("llama");
  spec.mutable_model()->set_path("/models/llama.gguf");
  spec.mutable_model()->set_backend("cuda");
  spec.mutable_model()->set_tensor_parallel(2);
  spec.mutable_model()->set_min_gpu_memory_bytes(int64_t{40} << 30);
  spec.set_priority(v1::PRIORITY_SWEEP);
  spec.set_submitter("alice");
  return spec;
}

// Two sets: arc_e (30 samples, prefix P1) then piqa (20 samples, prefix P2).
eval::RunPlan TwoSetPlan() {
  eval::RunPlan plan;
  for (int i = 0; i < 30; ++i) plan.samples.push_back(McSample("arc_e", i, "FEWSHOT-ARC\n", 100));
  for (int i = 0; i < 20; ++i) plan.samples.push_back(McSample("piqa", i, "FEWSHOT-PIQA\n", 50));
  AddDataset(plan, "arc_e", 30);
  AddDataset(plan, "piqa", 20);
  return plan;
}

// Reconstructs the sequence of (dataset, sample, full contexts) from jobs.
std::vector<std::string> FullContexts(const PlannedRun& run) {
  std::vector<std::string> out;
  for (const JobPayload& p : run.payloads) {
    for (const v1::Request& r : p.requests) {
      std::string prefix = r.prefix_index() > 0 ? p.prefixes.at(r.prefix_index() - 1) : "";
      out.push_back(prefix + r.loglikelihood().context());
    }
  }
  return out;
}

TEST(ModelKeyTest, PathBackendTp) {
  v1::ModelRef m;
  m.set_name("llama");
  m.set_path("/models/llama-70b");
  m.set_backend("cuda");
  m.set_tensor_parallel(8);
  EXPECT_EQ(ModelKey(m), "/models/llama-70b|cuda|8");
  m.clear_path();
  EXPECT_EQ(ModelKey(m), "llama|cuda|8");
  m.set_backend("");
  m.set_tensor_parallel(0);
  EXPECT_EQ(ModelKey(m), "llama||0");
}

TEST(ModelKeyTest, SeparatorsInPathAreEscaped) {
  v1::ModelRef a, b;
  a.set_path("x|cuda");
  a.set_backend("");
  b.set_path("x");
  b.set_backend("cuda|");  // hostile, but must not collide
  EXPECT_NE(ModelKey(a), ModelKey(b));
  EXPECT_EQ(ModelKey(a), "x\\|cuda||0");
}

TEST(MaxAttemptsTest, SpecOverridesDefault) {
  PlannerOptions o;
  v1::RunSpec spec;
  EXPECT_EQ(MaxAttempts(spec, o), 3);
  spec.set_max_attempts(5);
  EXPECT_EQ(MaxAttempts(spec, o), 5);
}

TEST(PlannerTest, RunAndJobFieldsFromSpec) {
  absl::StatusOr<PlannedRun> run = PlanRun("r1", Spec(), TwoSetPlan(), PlannerOptions(), kNow);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->run.run_id, "r1");
  EXPECT_EQ(run->run.state, v1::RUN_STATE_QUEUED);
  EXPECT_EQ(run->run.created_at, kNow);
  EXPECT_EQ(run->run.spec.submitter(), "alice");
  ASSERT_EQ(run->run.datasets.size(), 2u);
  EXPECT_EQ(run->run.datasets[0], (std::pair<std::string, int64_t>("arc_e", 30)));
  EXPECT_EQ(run->run.datasets[1], (std::pair<std::string, int64_t>("piqa", 20)));
  ASSERT_EQ(run->jobs.size(), 1u) << "50 small samples fit one default budget";
  const JobRecord& j = run->jobs[0];
  EXPECT_EQ(j.job_id, 0);
  EXPECT_EQ(j.run_id, "r1");
  EXPECT_EQ(j.index_in_run, 0);
  EXPECT_EQ(j.state, v1::JOB_STATE_QUEUED);
  EXPECT_EQ(j.model_key, "/models/llama.gguf|cuda|2");
  EXPECT_EQ(j.priority, v1::PRIORITY_SWEEP);
  EXPECT_EQ(j.submitter, "alice");
  EXPECT_EQ(j.tensor_parallel, 2);
  EXPECT_EQ(j.min_gpu_memory_bytes, int64_t{40} << 30);
  EXPECT_EQ(j.backend, "cuda");
  EXPECT_FALSE(j.judge);
  EXPECT_EQ(j.num_requests, 50);
  EXPECT_EQ(j.estimated_tokens, 30 * 100 + 20 * 50);
  EXPECT_EQ(run->payloads.size(), run->jobs.size());
}

TEST(PlannerTest, UnspecifiedPriorityBecomesInteractive) {
  v1::RunSpec spec = Spec();
  spec.clear_priority();
  absl::StatusOr<PlannedRun> run = PlanRun("r", spec, TwoSetPlan(), PlannerOptions(), kNow);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->jobs[0].priority, v1::PRIORITY_INTERACTIVE);
}

TEST(PlannerTest, RequestIdsAreOneToNInPlanOrder) {
  eval::RunPlan plan = TwoSetPlan();
  plan.samples[3].requests.push_back(plan.samples[3].requests[0]);  // a 2-request sample
  PlannerOptions o;
  o.job_token_budget = 700;  // several jobs
  absl::StatusOr<PlannedRun> run = PlanRun("r", Spec(), plan, o, kNow);
  ASSERT_TRUE(run.ok()) << run.status();
  std::vector<int64_t> ids;
  for (const JobPayload& p : run->payloads) {
    for (const v1::Request& r : p.requests) ids.push_back(r.request_id());
  }
  ASSERT_EQ(ids.size(), 51u);
  for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(ids[i], static_cast<int64_t>(i + 1));
  ASSERT_EQ(run->samples.size(), 50u);
  EXPECT_EQ(run->samples[0].request_ids, (std::vector<int64_t>{1}));
  EXPECT_EQ(run->samples[3].request_ids, (std::vector<int64_t>{4, 5}));
  EXPECT_EQ(run->samples[4].request_ids, (std::vector<int64_t>{6}));
  EXPECT_EQ(run->samples[30].dataset, "piqa");
  EXPECT_EQ(run->samples[30].sample_index, 0);
  EXPECT_EQ(run->samples[30].target, "gold=0");
}

TEST(PlannerTest, ShardsByTokenBudget) {
  PlannerOptions o;
  o.job_token_budget = 1000;  // 10 arc samples (100 each) or 20 piqa samples (50 each)
  absl::StatusOr<PlannedRun> run = PlanRun("r", Spec(), TwoSetPlan(), o, kNow);
  ASSERT_TRUE(run.ok()) << run.status();
  std::vector<int32_t> sizes;
  for (const JobRecord& j : run->jobs) {
    EXPECT_LE(j.estimated_tokens, 1000);
    sizes.push_back(j.num_requests);
  }
  EXPECT_EQ(sizes, (std::vector<int32_t>{10, 10, 10, 20}));
  for (size_t i = 0; i < run->jobs.size(); ++i) {
    EXPECT_EQ(run->jobs[i].index_in_run, static_cast<int32_t>(i));
  }
  // The spec's budget overrides the option.
  v1::RunSpec spec = Spec();
  spec.set_job_token_budget(500);
  run = PlanRun("r", spec, TwoSetPlan(), o, kNow);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->jobs.size(), 6u + 2u);
}

TEST(PlannerTest, GenerationTokensWeighByFactor) {
  eval::RunPlan plan;
  for (int i = 0; i < 6; ++i) plan.samples.push_back(GenSample("gsm8k", i, 1, 100));
  AddDataset(plan, "gsm8k", 6);
  PlannerOptions o;
  o.generation_factor = 1.5;  // each sample: 10 + 150 = 160
  o.job_token_budget = 480;   // exactly three per job
  absl::StatusOr<PlannedRun> run = PlanRun("r", Spec(), plan, o, kNow);
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_EQ(run->jobs.size(), 2u);
  EXPECT_EQ(run->jobs[0].estimated_tokens, 480);
  EXPECT_EQ(run->jobs[1].estimated_tokens, 480);
}

TEST(PlannerTest, SamplesAreNeverSplit) {
  eval::RunPlan plan;
  // 5 requests per sample; budget allows 2.5 samples.
  for (int i = 0; i < 7; ++i) plan.samples.push_back(GenSample("mbpp", i, 5, 20));
  AddDataset(plan, "mbpp", 7);
  PlannerOptions o;
  o.generation_factor = 1.0;
  o.job_token_budget = 75;  // each sample costs 30
  absl::StatusOr<PlannedRun> run = PlanRun("r", Spec(), plan, o, kNow);
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_EQ(run->jobs.size(), 4u);
  std::map<int64_t, size_t> job_of_request;
  for (size_t j = 0; j < run->payloads.size(); ++j) {
    EXPECT_EQ(run->payloads[j].requests.size() % 5, 0u);
    for (const v1::Request& r : run->payloads[j].requests) job_of_request[r.request_id()] = j;
  }
  for (const SampleRecord& s : run->samples) {
    std::set<size_t> jobs;
    for (int64_t id : s.request_ids) jobs.insert(job_of_request.at(id));
    EXPECT_EQ(jobs.size(), 1u) << "sample " << s.sample_index;
  }
}

TEST(PlannerTest, SampleOverBudgetGetsItsOwnJob) {
  eval::RunPlan plan;
  plan.samples.push_back(McSample("a", 0, "", 10));
  plan.samples.push_back(McSample("a", 1, "", 5000));
  plan.samples.push_back(McSample("a", 2, "", 10));
  AddDataset(plan, "a", 3);
  PlannerOptions o;
  o.job_token_budget = 100;
  absl::StatusOr<PlannedRun> run = PlanRun("r", Spec(), plan, o, kNow);
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_EQ(run->jobs.size(), 3u);
  EXPECT_EQ(run->jobs[1].estimated_tokens, 5000);
}

TEST(PlannerTest, PrefixesStoredOncePerJobWithOneBasedIndex) {
  absl::StatusOr<PlannedRun> run = PlanRun("r", Spec(), TwoSetPlan(), PlannerOptions(), kNow);
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_EQ(run->payloads.size(), 1u);
  const JobPayload& p = run->payloads[0];
  EXPECT_EQ(p.prefixes, (std::vector<std::string>{"FEWSHOT-ARC\n", "FEWSHOT-PIQA\n"}));
  for (int i = 0; i < 30; ++i) EXPECT_EQ(p.requests[i].prefix_index(), 1);
  for (int i = 30; i < 50; ++i) EXPECT_EQ(p.requests[i].prefix_index(), 2);
  // The full context round-trips.
  std::vector<std::string> ctx = FullContexts(*run);
  EXPECT_EQ(ctx[0], "FEWSHOT-ARC\nQuestion 0?\nAnswer:");
  EXPECT_EQ(ctx[49], "FEWSHOT-PIQA\nQuestion 19?\nAnswer:");
}

TEST(PlannerTest, PrefixesRestartPerJobAndEmptyPrefixIsIndexZero) {
  eval::RunPlan plan;
  for (int i = 0; i < 4; ++i) plan.samples.push_back(McSample("a", i, i % 2 ? "P" : "", 10));
  plan.samples.push_back(McSample("a", 4, "Q", 10));
  plan.samples.push_back(McSample("a", 5, "P", 10));
  AddDataset(plan, "a", 6);
  PlannerOptions o;
  o.job_token_budget = 40;
  absl::StatusOr<PlannedRun> run = PlanRun("r", Spec(), plan, o, kNow);
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_EQ(run->payloads.size(), 2u);
  // Job 0: samples 0..3 ("", P, "", P) -> P stored once.
  EXPECT_EQ(run->payloads[0].prefixes, (std::vector<std::string>{"P"}));
  std::vector<int32_t> idx;
  for (const v1::Request& r : run->payloads[0].requests) idx.push_back(r.prefix_index());
  EXPECT_EQ(idx, (std::vector<int32_t>{0, 1, 0, 1}));
  // Job 1: samples 4, 5 (Q, P): indexes restart at 1 in the new job.
  EXPECT_EQ(run->payloads[1].prefixes, (std::vector<std::string>{"Q", "P"}));
  EXPECT_EQ(run->payloads[1].requests[0].prefix_index(), 1);
  EXPECT_EQ(run->payloads[1].requests[1].prefix_index(), 2);
}

TEST(PlannerTest, PayloadSizeCapCutsJobsAndMatchesSerialisedSize) {
  eval::RunPlan plan;
  const std::string prefix(2000, 'x');
  for (int i = 0; i < 200; ++i) plan.samples.push_back(McSample("mmlu", i, prefix, 1));
  AddDataset(plan, "mmlu", 200);
  PlannerOptions o;
  o.max_job_payload_bytes = 8000;
  absl::StatusOr<PlannedRun> run = PlanRun("r", Spec(), plan, o, kNow);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_GT(run->jobs.size(), 1u);
  size_t total = 0;
  for (size_t j = 0; j < run->payloads.size(); ++j) {
    // The planner's byte count is exact: compare with a real serialised Job.
    v1::Job job;
    for (const std::string& p : run->payloads[j].prefixes) job.add_prefixes(p);
    for (const v1::Request& r : run->payloads[j].requests) *job.add_requests() = r;
    EXPECT_LE(job.ByteSizeLong(), 8000u) << "job " << j;
    if (j + 1 < run->payloads.size()) {
      EXPECT_GT(job.ByteSizeLong() + 120, 8000u) << "job " << j << " cut too early";
    }
    EXPECT_EQ(run->payloads[j].prefixes.size(), 1u);
    total += run->payloads[j].requests.size();
  }
  EXPECT_EQ(total, 200u);
}

TEST(PlannerTest, OversizedSampleIsInvalidArgument) {
  eval::RunPlan plan = TwoSetPlan();
  plan.samples[7].prefix = std::string(5000, 'p');
  PlannerOptions o;
  o.max_job_payload_bytes = 4096;
  absl::StatusOr<PlannedRun> run = PlanRun("r", Spec(), plan, o, kNow);
  ASSERT_FALSE(run.ok());
  EXPECT_EQ(run.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(run.status().message(), HasSubstr("dataset arc_e sample 7"));
  EXPECT_THAT(run.status().message(), HasSubstr("max_job_payload_bytes 4096"));
}

TEST(PlannerTest, IsDeterministic) {
  PlannerOptions o;
  o.job_token_budget = 777;
  absl::StatusOr<PlannedRun> a = PlanRun("r", Spec(), TwoSetPlan(), o, kNow);
  absl::StatusOr<PlannedRun> b = PlanRun("r", Spec(), TwoSetPlan(), o, kNow);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->jobs.size(), b->jobs.size());
  for (size_t j = 0; j < a->jobs.size(); ++j) {
    EXPECT_EQ(a->jobs[j].estimated_tokens, b->jobs[j].estimated_tokens);
    EXPECT_EQ(a->payloads[j].prefixes, b->payloads[j].prefixes);
    ASSERT_EQ(a->payloads[j].requests.size(), b->payloads[j].requests.size());
    for (size_t r = 0; r < a->payloads[j].requests.size(); ++r) {
      EXPECT_EQ(a->payloads[j].requests[r].SerializeAsString(),
                b->payloads[j].requests[r].SerializeAsString());
    }
  }
}

TEST(PlannerTest, BadInputIsInvalidArgumentNamingTheField) {
  struct Case {
    std::string name;
    std::function<void(std::string&, v1::RunSpec&, eval::RunPlan&, PlannerOptions&)> mutate;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"empty run id", [](auto& id, auto&, auto&, auto&) { id.clear(); }, "run_id"},
      {"negative budget", [](auto&, auto& s, auto&, auto&) { s.set_job_token_budget(-1); },
       "spec.job_token_budget"},
      {"negative attempts", [](auto&, auto& s, auto&, auto&) { s.set_max_attempts(-2); },
       "spec.max_attempts"},
      {"zero option budget", [](auto&, auto&, auto&, auto& o) { o.job_token_budget = 0; },
       "options.job_token_budget"},
      {"nan factor", [](auto&, auto&, auto&, auto& o) { o.generation_factor = std::nan(""); },
       "options.generation_factor"},
      {"zero payload cap", [](auto&, auto&, auto&, auto& o) { o.max_job_payload_bytes = 0; },
       "options.max_job_payload_bytes"},
      {"zero attempts", [](auto&, auto&, auto&, auto& o) { o.default_max_attempts = 0; },
       "options.default_max_attempts"},
      {"no samples", [](auto&, auto&, auto& p, auto&) { p.samples.clear(); }, "no samples"},
      {"count mismatch", [](auto&, auto&, auto& p, auto&) { p.dataset_sample_counts.pop_back(); },
       "dataset sample counts"},
      {"sample without requests",
       [](auto&, auto&, auto& p, auto&) { p.samples[31].requests.clear(); },
       "dataset piqa sample 1 has no requests"},
      {"request without kind",
       [](auto&, auto&, auto& p, auto&) { p.samples[2].requests[0].clear_kind(); },
       "dataset arc_e sample 2 request 0 has no kind"},
      {"negative estimate",
       [](auto&, auto&, auto& p, auto&) { p.samples[4].estimated_prompt_tokens = -5; },
       "dataset arc_e sample 4 has a negative token estimate"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::string id = "r";
    v1::RunSpec spec = Spec();
    eval::RunPlan plan = TwoSetPlan();
    PlannerOptions o;
    c.mutate(id, spec, plan, o);
    absl::StatusOr<PlannedRun> run = PlanRun(id, spec, plan, o, kNow);
    ASSERT_FALSE(run.ok());
    EXPECT_EQ(run.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(run.status().message(), HasSubstr(c.want));
  }
}

TEST(PlannerTest, HugeEstimatesSaturateInsteadOfOverflowing) {
  eval::RunPlan plan;
  plan.samples.push_back(GenSample("g", 0, 1, INT64_MAX / 2));
  plan.samples.push_back(GenSample("g", 1, 1, INT64_MAX / 2));
  plan.samples[0].estimated_prompt_tokens = INT64_MAX;
  AddDataset(plan, "g", 2);
  absl::StatusOr<PlannedRun> run = PlanRun("r", Spec(), plan, PlannerOptions(), kNow);
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_EQ(run->jobs.size(), 2u);
  EXPECT_EQ(run->jobs[0].estimated_tokens, INT64_MAX);
  EXPECT_GT(run->jobs[1].estimated_tokens, 0);
}

}  // namespace
}  // namespace proctor::coordinator
