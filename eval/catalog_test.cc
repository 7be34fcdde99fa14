#include "eval/catalog.h"

#include "eval/eval_internal.pb.h"
#include "eval/test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace proctor::eval {
namespace {

using ::testing::HasSubstr;

std::unique_ptr<Catalog> MakeCatalog(const std::string& dir) {
  absl::StatusOr<std::unique_ptr<Catalog>> c = Catalog::Create(dir);
  EXPECT_TRUE(c.ok()) << c.status();
  return *std::move(c);
}

v1::RunSpec Suite(const std::string& name) {
  v1::RunSpec spec;
  spec.set_suite(name);
  return spec;
}

TEST(CatalogValidationTest, UnknownSuiteListsKnownOnes) {
  TempDir dir;
  auto catalog = MakeCatalog(dir.path());
  absl::StatusOr<RunPlan> plan = catalog->Plan(Suite("x"));
  ASSERT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(plan.status().message()),
              HasSubstr("spec.suite: unknown suite \"x\"; known: opencompass-2023, core, smoke"));
}

TEST(CatalogValidationTest, FieldNamesInErrors) {
  TempDir dir;
  auto catalog = MakeCatalog(dir.path());
  v1::RunSpec spec;
  EXPECT_THAT(std::string(catalog->Plan(spec).status().message()), HasSubstr("spec:"));
  spec.add_datasets()->set_name("arc_e");
  spec.add_datasets()->set_name("nope");
  absl::Status s = catalog->Plan(spec).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("spec.datasets[1].name: unknown dataset \"nope\""));
  spec.mutable_datasets(1)->set_name("");
  EXPECT_THAT(std::string(catalog->Plan(spec).status().message()),
              HasSubstr("spec.datasets[1].name: empty"));
  spec.mutable_datasets(1)->set_name("piqa");
  spec.mutable_datasets(1)->set_limit(-2);
  EXPECT_THAT(std::string(catalog->Plan(spec).status().message()),
              HasSubstr("spec.datasets[1].limit"));
  spec.mutable_datasets(1)->set_limit(0);
  spec.set_limit(-1);
  EXPECT_THAT(std::string(catalog->Plan(spec).status().message()), HasSubstr("spec.limit"));
  spec.set_limit(0);
  spec.mutable_datasets(0)->set_name("gsm8k");
  spec.mutable_datasets(0)->set_num_fewshot(2);
  s = catalog->Plan(spec).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("spec.datasets[0].num_fewshot"));
}

TEST(CatalogValidationTest, MissingFilesAreFailedPreconditionNamingThePath) {
  TempDir dir;
  auto catalog = MakeCatalog(dir.path());
  absl::Status s = catalog->Plan(Suite("smoke")).status();
  ASSERT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr(dir.path() + "/arc/ARC-Easy-Dev.jsonl"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("proctor datasets fetch"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("--data-dir"));
  for (const v1::DatasetInfo& info : catalog->ListDatasets()) EXPECT_FALSE(info.available());
}

TEST(CatalogValidationTest, CreateRejectsAFileAsDataDir) {
  TempDir dir;
  dir.Write("f", "x");
  EXPECT_EQ(Catalog::Create(dir.path() + "/f").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(CatalogTest, SuitesListExpandedMembers) {
  TempDir dir;
  auto catalog = MakeCatalog(dir.path());
  std::vector<v1::SuiteInfo> suites = catalog->ListSuites();
  ASSERT_EQ(suites.size(), 3u);
  EXPECT_EQ(suites[2].name(), "smoke");
  EXPECT_THAT(suites[2].datasets(), ::testing::ElementsAre("arc_e", "piqa", "boolq", "gsm8k"));
  int mmlu = 0;
  for (const std::string& d : suites[1].datasets()) mmlu += d.rfind("mmlu_", 0) == 0;
  EXPECT_EQ(mmlu, 57);
}

// Fake outputs: option `pick` gets the highest logprob.
v1::Output ChoiceOutput(const v1::Request& r, int pick) {
  v1::Output o;
  for (int i = 0; i < r.loglikelihood().continuations_size(); ++i) {
    v1::ContinuationScore* c = o.mutable_loglikelihood()->add_continuations();
    c->set_logprob(i == pick ? -1.0 : -5.0);
    c->set_num_tokens(2);
  }
  return o;
}

TEST(CatalogRealDataTest, SmokeSuiteEndToEnd) {
  PROCTOR_REQUIRE_SHARED_DATA(data);
  auto catalog = MakeCatalog(data);
  v1::RunSpec spec = Suite("smoke");
  absl::StatusOr<RunPlan> plan = catalog->Plan(spec);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->datasets.size(), 4u);
  EXPECT_EQ(plan->datasets[0].name(), "arc_e");
  EXPECT_EQ(plan->datasets[3].name(), "gsm8k");
  EXPECT_THAT(plan->dataset_sample_counts, ::testing::ElementsAre(10, 10, 10, 10));
  ASSERT_EQ(plan->samples.size(), 40u);
  // Deterministic: a second plan is equal.
  absl::StatusOr<RunPlan> again = catalog->Plan(spec);
  ASSERT_TRUE(again.ok());
  for (size_t i = 0; i < plan->samples.size(); ++i) {
    EXPECT_EQ(plan->samples[i].target, again->samples[i].target);
    EXPECT_EQ(plan->samples[i].prefix, again->samples[i].prefix);
    ASSERT_EQ(plan->samples[i].requests.size(), again->samples[i].requests.size());
    EXPECT_EQ(plan->samples[i].requests[0].SerializeAsString(),
              again->samples[i].requests[0].SerializeAsString());
  }
  // Score: every PPL sample answered with the gold option, GSM8K half right.
  std::map<std::string, SetScores> by_set;
  for (const PlannedSample& s : plan->samples) {
    internal::SampleTarget t;
    ASSERT_TRUE(t.ParseFromString(s.target));
    std::vector<v1::Output> outs;
    if (s.dataset == "gsm8k") {
      v1::Output o;
      std::string gold = t.answers(0).substr(t.answers(0).rfind("####") + 5);
      o.mutable_generate()->set_text(s.sample_index % 2 == 0 ? "So it is " + gold + ".\n"
                                                             : "I do not know.");
      outs.push_back(o);
    } else {
      // The options, then the context request (eval/prompt.h).
      ASSERT_EQ(s.requests.size(), 2u);
      outs.push_back(ChoiceOutput(s.requests[0], t.gold()));
      outs.push_back(ChoiceOutput(s.requests[1], -1));
    }
    absl::StatusOr<std::string> score = catalog->ScoreSample(s.dataset, s.target, outs);
    ASSERT_TRUE(score.ok()) << score.status();
    SetScores& set = by_set[s.dataset];
    set.dataset = s.dataset;
    set.num_samples_planned = 10;
    set.sample_scores.push_back(*score);
  }
  std::vector<SetScores> sets;
  for (auto& [name, s] : by_set) sets.push_back(s);
  absl::StatusOr<v1::Results> results = catalog->Aggregate(spec, sets);
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->sets_size(), 4);
  for (const v1::SetResult& r : results->sets()) {
    EXPECT_TRUE(r.complete()) << r.dataset();
    EXPECT_EQ(r.num_samples(), 10);
    EXPECT_EQ(r.prompt_hash().size(), 8u);
    double want = r.dataset() == "gsm8k" ? 50.0 : 100.0;
    EXPECT_DOUBLE_EQ(r.metrics(0).value(), want) << r.dataset();
  }
  // Dimensions are incomplete: the smoke suite covers only four sets.
  EXPECT_FALSE(results->overall().complete());
  EXPECT_GT(results->overall().missing_size(), 0);
}

TEST(CatalogRealDataTest, LimitAndOverrides) {
  PROCTOR_REQUIRE_SHARED_DATA(data);
  auto catalog = MakeCatalog(data);
  v1::RunSpec spec;
  spec.set_limit(3);
  v1::DatasetSelection* arc = spec.add_datasets();
  arc->set_name("arc_c");
  v1::DatasetSelection* mmlu = spec.add_datasets();
  mmlu->set_name("mmlu_anatomy");
  mmlu->set_limit(2);
  mmlu->set_num_fewshot(1);
  absl::StatusOr<RunPlan> plan = catalog->Plan(spec);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(plan->dataset_sample_counts, ::testing::ElementsAre(3, 2));
  EXPECT_EQ(plan->datasets[1].num_fewshot(), 1);
  const PlannedSample& m = plan->samples[3];
  EXPECT_EQ(m.dataset, "mmlu_anatomy");
  // One shot: one "Answer: X" line in the prefix.
  size_t count = 0;
  for (size_t p = m.prefix.find("\nAnswer: "); p != std::string::npos;
       p = m.prefix.find("\nAnswer: ", p + 1)) {
    ++count;
  }
  EXPECT_EQ(count, 1u);
}

TEST(CatalogRealDataTest, AvailabilityReflectsFiles) {
  PROCTOR_REQUIRE_SHARED_DATA(data);
  auto catalog = MakeCatalog(data);
  std::map<std::string, bool> avail;
  for (const v1::DatasetInfo& i : catalog->ListDatasets()) avail[i.name()] = i.available();
  EXPECT_TRUE(avail["arc_e"]);
  EXPECT_TRUE(avail["gsm8k"]);
  EXPECT_TRUE(avail["mmlu_virology"]);
  EXPECT_TRUE(avail["flores_eng-deu"]);
  EXPECT_FALSE(avail["hellaswag"]);
  EXPECT_FALSE(avail["ceval_logic"]);
}

TEST(CatalogTest, ScoreSampleRejectsMismatchedOutputs) {
  TempDir dir;
  dir.Write(
      "arc/ARC-Easy-Dev.jsonl",
      R"({"id":"x","question":{"stem":"Q?","choices":[{"text":"a","label":"A"},{"text":"b","label":"B"}]},"answerKey":"B"})"
      "\n");
  auto catalog = MakeCatalog(dir.path());
  v1::RunSpec spec;
  spec.add_datasets()->set_name("arc_e");
  absl::StatusOr<RunPlan> plan = catalog->Plan(spec);
  ASSERT_TRUE(plan.ok()) << plan.status();
  const PlannedSample& s = plan->samples[0];
  v1::Output gen;
  gen.mutable_generate()->set_text("A");
  EXPECT_EQ(catalog->ScoreSample("arc_e", s.target, {gen}).status().code(),
            absl::StatusCode::kInvalidArgument);
  v1::Output one;
  one.mutable_loglikelihood()->add_continuations()->set_logprob(-1);
  EXPECT_EQ(catalog->ScoreSample("arc_e", s.target, {one}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(catalog->ScoreSample("arc_e", s.target, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(catalog->ScoreSample("zzz", s.target, {one}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(catalog->ScoreSample("arc_e", "\xff\xff\xff", {one}).status().code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_EQ(s.requests.size(), 2u);  // the options, then the context request
  absl::StatusOr<std::string> ok = catalog->ScoreSample(
      "arc_e", s.target, {ChoiceOutput(s.requests[0], 1), ChoiceOutput(s.requests[1], -1)});
  ASSERT_TRUE(ok.ok()) << ok.status();
}

}  // namespace
}  // namespace proctor::eval

namespace proctor::eval {
namespace {

std::string CsqaLine(int i) {
  return "{\"answerKey\":\"A\",\"id\":\"" + std::to_string(i) +
         "\",\"question\":{\"stem\":\"Question number " + std::to_string(i) +
         "?\",\"choices\":[{\"label\":\"A\",\"text\":\"yes\"},{\"label\":\"B\",\"text\":\"no\"}]}}"
         "\n";
}

TEST(CatalogFewShotTest, SeededDrawIsReproducibleAndNeverShowsTheSampleItself) {
  TempDir dir;
  std::string file;
  for (int i = 0; i < 12; ++i) file += CsqaLine(i);
  dir.Write("commonsenseqa/valid.jsonl", file);
  auto catalog = MakeCatalog(dir.path());
  v1::RunSpec spec;
  spec.add_datasets()->set_name("commonsenseqa");
  spec.set_seed(3);
  absl::StatusOr<RunPlan> a = catalog->Plan(spec);
  absl::StatusOr<RunPlan> b = catalog->Plan(spec);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_EQ(a->samples.size(), 12u);
  int own_prefixes = 0;
  for (size_t i = 0; i < a->samples.size(); ++i) {
    const std::string& prefix = a->samples[i].prefix;
    EXPECT_EQ(prefix, b->samples[i].prefix);
    std::string self = "Question number " + std::to_string(i) + "?";
    EXPECT_EQ(prefix.find(self), std::string::npos) << i;
    size_t shots = 0;
    for (size_t p = prefix.find("Question: "); p != std::string::npos;
         p = prefix.find("Question: ", p + 1)) {
      ++shots;
    }
    EXPECT_EQ(shots, 8u);
    own_prefixes += prefix != a->samples[0].prefix;
  }
  EXPECT_LE(own_prefixes, 9);  // only samples drawn as shots differ
  spec.set_seed(4);
  absl::StatusOr<RunPlan> c = catalog->Plan(spec);
  ASSERT_TRUE(c.ok());
  bool differs = false;
  for (size_t i = 0; i < c->samples.size(); ++i)
    differs |= c->samples[i].prefix != a->samples[i].prefix;
  EXPECT_TRUE(differs);
  // A limit keeps the first N samples with the same prompts.
  spec.set_seed(3);
  spec.set_limit(5);
  absl::StatusOr<RunPlan> d = catalog->Plan(spec);
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->samples.size(), 5u);
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(d->samples[i].prefix, a->samples[i].prefix);
    EXPECT_EQ(d->samples[i].target, a->samples[i].target);
  }
}

}  // namespace
}  // namespace proctor::eval

namespace proctor::eval {
namespace {

TEST(CatalogRealDataTest, CoreSuitePlansEverySetInSpecOrder) {
  PROCTOR_REQUIRE_SHARED_DATA(data);
  auto catalog = MakeCatalog(data);
  absl::StatusOr<RunPlan> plan = catalog->Plan(Suite("core"));
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->datasets.size(), 2u + 57u + 5u);
  EXPECT_EQ(plan->datasets[0].name(), "arc_c");
  EXPECT_EQ(plan->datasets[2].name(), "mmlu_abstract_algebra");
  EXPECT_EQ(plan->datasets.back().name(), "gsm8k");
  int64_t total = 0;
  for (int64_t n : plan->dataset_sample_counts) total += n;
  EXPECT_EQ(total, static_cast<int64_t>(plan->samples.size()));
  EXPECT_EQ(total, 299 + 570 + 14079 + 3270 + 1221 + 1838 + 1954 + 1319);
  // Samples are grouped by set, in set order, indices 0..n-1.
  size_t k = 0;
  for (size_t d = 0; d < plan->datasets.size(); ++d) {
    for (int64_t i = 0; i < plan->dataset_sample_counts[d]; ++i, ++k) {
      ASSERT_EQ(plan->samples[k].dataset, plan->datasets[d].name());
      ASSERT_EQ(plan->samples[k].sample_index, i);
      ASSERT_FALSE(plan->samples[k].requests.empty());
      ASSERT_GT(plan->samples[k].estimated_prompt_tokens, 0);
    }
  }
}

}  // namespace
}  // namespace proctor::eval
