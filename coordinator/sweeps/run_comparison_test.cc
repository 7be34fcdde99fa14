// GetSampleResults / CompareRuns over a real Coordinator (SQLite store in a
// scratch directory, fake clock) with a catalog that plans the registry set
// "arc_e" and scores with real eval SampleScore records, so that the eval
// decoder and the paired tests run on what the coordinator stored.
#include "coordinator/sweeps/run_comparison.h"

#include "absl/strings/str_cat.h"
#include "coordinator/store/sqlite_store.h"
#include "coordinator/store/store_test_util.h"
#include "eval/eval_internal.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace proctor::coordinator {
namespace {

using ::testing::HasSubstr;

constexpr int kSamples = 20;

// "arc_e" with kSamples samples; gold option is 0 for even samples, 1 for odd.
class ArcCatalog final : public eval::Catalog {
 public:
  std::vector<v1::DatasetInfo> ListDatasets() const override { return {}; }
  std::vector<v1::SuiteInfo> ListSuites() const override { return {}; }
  absl::StatusOr<eval::RunPlan> Plan(const v1::RunSpec&) const override {
    eval::RunPlan plan;
    v1::DatasetInfo info;
    info.set_name("arc_e");
    plan.datasets.push_back(info);
    plan.dataset_sample_counts.push_back(kSamples);
    for (int i = 0; i < kSamples; ++i) {
      eval::PlannedSample s;
      s.dataset = "arc_e";
      s.sample_index = i;
      s.target = i % 2 == 0 ? "0" : "1";
      v1::Request r;
      r.mutable_loglikelihood()->set_context(absl::StrCat("Q", i));
      r.mutable_loglikelihood()->add_continuations(" A");
      r.mutable_loglikelihood()->add_continuations(" B");
      s.requests.push_back(r);
      s.estimated_prompt_tokens = 10;
      s.max_new_tokens = 0;
      plan.samples.push_back(std::move(s));
    }
    return plan;
  }
  absl::StatusOr<std::string> ScoreSample(std::string_view, std::string_view target,
                                          absl::Span<const v1::Output> outputs) const override {
    const auto& c = outputs[0].loglikelihood().continuations();
    const int best = c[0].logprob() >= c[1].logprob() ? 0 : 1;
    eval::internal::SampleScore s;
    auto* m = s.add_metrics();
    m->set_name("acc");
    m->set_value(best == (target == "0" ? 0 : 1) ? 100 : 0);
    return s.SerializeAsString();
  }
  absl::StatusOr<v1::Results> Aggregate(const v1::RunSpec&,
                                        const std::vector<eval::SetScores>& sets) const override {
    v1::Results r;
    for (const eval::SetScores& s : sets) {
      v1::SetResult* set = r.add_sets();
      set->set_dataset(s.dataset);
      set->set_dimension("Exam");
      set->set_complete(static_cast<int64_t>(s.sample_scores.size()) == s.num_samples_planned);
    }
    return r;
  }
};

class RunComparisonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = SqliteStore::Open(dir_.File("store.db"));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    CoordinatorOptions options;
    options.max_lease_wait = absl::ZeroDuration();
    auto c = Coordinator::Create(store_.get(), &catalog_, &clock_, nullptr, options);
    ASSERT_TRUE(c.ok()) << c.status();
    c_ = *std::move(c);
    v1::RegisterRequest r;
    r.set_worker_name("w");
    r.mutable_capabilities()->set_backend("cpu");
    worker_ = c_->Register(r)->worker_id();
  }
  // Submits a run and completes it: a "smart" model answers every sample
  // right, otherwise option 0 always wins (right on even samples only).
  std::string RunModel(const std::string& model, bool smart) {
    v1::RunSpec spec;
    spec.mutable_model()->set_name(model);
    spec.set_suite("any");
    absl::StatusOr<v1::Run> run = c_->SubmitRun(spec);
    EXPECT_TRUE(run.ok()) << run.status();
    while (true) {
      v1::LeaseRequest lr;
      lr.set_worker_id(worker_);
      absl::StatusOr<v1::LeaseResponse> lease = c_->Lease(lr);
      EXPECT_TRUE(lease.ok());
      if (!lease.ok() || !lease->has_job()) break;
      v1::ReportOutputsRequest rep;
      rep.set_job_id(lease->job().job_id());
      rep.set_fencing_token(lease->job().fencing_token());
      for (const v1::Request& req : lease->job().requests()) {
        v1::Output* o = rep.add_outputs();
        o->set_request_id(req.request_id());
        const int index = std::stoi(req.loglikelihood().context().substr(1));
        const int winner = smart ? index % 2 : 0;
        for (int k = 0; k < 2; ++k) {
          o->mutable_loglikelihood()->add_continuations()->set_logprob(k == winner ? -1 : -3);
        }
      }
      rep.set_complete(true);
      EXPECT_TRUE(c_->ReportOutputs(rep).ok());
    }
    return run->run_id();
  }

  ScratchDir dir_;
  FakeClockForTest clock_;
  ArcCatalog catalog_;
  std::unique_ptr<SqliteStore> store_;
  std::unique_ptr<Coordinator> c_;
  std::string worker_;
};

TEST_F(RunComparisonTest, SampleResultsInSampleOrder) {
  const std::string a = RunModel("base", false);
  v1::GetSampleResultsRequest req;
  req.set_run_id(a);
  absl::StatusOr<v1::SampleResults> r = GetSampleResults(*c_, req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->model(), "base");
  ASSERT_EQ(r->sets_size(), 1);
  const v1::SampleResultSet& s = r->sets(0);
  EXPECT_EQ(s.dataset(), "arc_e");
  EXPECT_EQ(s.aggregation(), "mean");
  ASSERT_EQ(s.sample_indices_size(), kSamples);
  for (int i = 0; i < kSamples; ++i) {
    EXPECT_EQ(s.sample_indices(i), i);
    EXPECT_EQ(s.values(i), i % 2 == 0 ? 100 : 0) << i;
  }
  req.add_datasets("nope");
  EXPECT_THAT(GetSampleResults(*c_, req).status().message(), HasSubstr("datasets[0]"));
  req.set_run_id("no-such-run");
  EXPECT_EQ(GetSampleResults(*c_, req).status().code(), absl::StatusCode::kNotFound);
  req.clear_run_id();
  EXPECT_EQ(GetSampleResults(*c_, req).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(RunComparisonTest, CompareRunsPairsAndTests) {
  const std::string a = RunModel("base", false);
  const std::string b = RunModel("tuned", true);
  v1::CompareRunsRequest req;
  req.set_run_a(a);
  req.set_run_b(b);
  absl::StatusOr<v1::Comparison> c = CompareRuns(*c_, req);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->model_a(), "base");
  EXPECT_EQ(c->model_b(), "tuned");
  ASSERT_EQ(c->sets_size(), 1);
  const v1::SetComparison& s = c->sets(0);
  EXPECT_EQ(s.test(), "mcnemar_exact");
  EXPECT_EQ(s.num_paired(), kSamples);
  EXPECT_EQ(s.a_only(), 0);
  EXPECT_EQ(s.b_only(), 10);
  EXPECT_NEAR(s.delta(), 50, 1e-12);
  EXPECT_NEAR(s.p_value(), 2.0 / 1024, 1e-15);  // 2 * 0.5^10
  EXPECT_EQ(s.outcome(), "win");
  EXPECT_EQ(c->wins(), 1);
  req.set_alpha(2);
  EXPECT_THAT(CompareRuns(*c_, req).status().message(), HasSubstr("alpha"));
  req.set_alpha(0);
  req.clear_run_b();
  EXPECT_THAT(CompareRuns(*c_, req).status().message(), HasSubstr("run_b"));
}

}  // namespace
}  // namespace proctor::coordinator
