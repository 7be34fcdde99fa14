// The result cache: key completeness (every key part changes the key), the
// store's cache table (hit, miss, LRU bound, restart) and the coordinator's
// use of it (a repeated run is answered without leasing; --no-cache, a
// changed model hash and an unknown model all go to a worker).
#include "coordinator/result_cache.h"

#include <filesystem>
#include <functional>
#include <set>

#include "absl/strings/str_cat.h"
#include "coordinator/coordinator.h"
#include "coordinator/coordinator_fixture.h"
#include "coordinator/store/sqlite_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace proctor::coordinator {
namespace {

using ::testing::HasSubstr;

v1::ModelIdentity Identity(const std::string& hash_digit = "a") {
  v1::ModelIdentity id;
  id.set_model_key("/models/m.gguf||0");
  std::string hash;
  for (int i = 0; i < 64; ++i) hash += hash_digit;
  id.set_content_hash(hash);
  id.set_engine_build("exe-sha256:0123");
  id.set_backend("cpu");
  id.set_dtype("f32");
  id.set_tensor_parallel(1);
  return id;
}

v1::Request Loglikelihood(const std::string& context, std::vector<std::string> continuations,
                          int32_t prefix_index = 1) {
  v1::Request r;
  r.set_request_id(7);
  r.set_prefix_index(prefix_index);
  r.mutable_loglikelihood()->set_context(context);
  for (auto& c : continuations) r.mutable_loglikelihood()->add_continuations(c);
  return r;
}

v1::Request Greedy() {
  v1::Request r;
  r.set_request_id(3);
  auto* g = r.mutable_generate();
  g->set_context("Q: 2+2?\nA:");
  g->add_stop("\n");
  g->set_max_new_tokens(32);
  return r;
}

std::string KeyOf(const v1::ModelIdentity& id, const v1::Request& r,
                  const std::vector<std::string>& prefixes = {"Few-shot block.\n"}) {
  absl::StatusOr<std::string> h = RequestHash(r, prefixes);
  EXPECT_TRUE(h.ok()) << h.status();
  return ResultCacheKey(id, h.value_or(""));
}

// ---- Key ------------------------------------------------------------------------

TEST(ResultCacheKeyTest, KeyCompletenessEveryPartChangesTheKey) {
  const v1::ModelIdentity base_id = Identity();
  const v1::Request base = Loglikelihood("Q: sky?", {" blue", " green"});
  const std::string key = KeyOf(base_id, base);
  EXPECT_EQ(key.size(), 32u);
  EXPECT_EQ(KeyOf(base_id, base), key) << "the key must be deterministic";

  std::vector<std::pair<std::string, std::function<void(v1::ModelIdentity&)>>> id_changes = {
      {"content_hash",
       [](v1::ModelIdentity& i) { i.set_content_hash(Identity("b").content_hash()); }},
      {"engine_build", [](v1::ModelIdentity& i) { i.set_engine_build("exe-sha256:4567"); }},
      {"backend", [](v1::ModelIdentity& i) { i.set_backend("cuda"); }},
      {"dtype", [](v1::ModelIdentity& i) { i.set_dtype("bf16"); }},
      {"tensor_parallel", [](v1::ModelIdentity& i) { i.set_tensor_parallel(2); }},
  };
  std::set<std::string> seen = {key};
  for (const auto& [name, change] : id_changes) {
    v1::ModelIdentity id = base_id;
    change(id);
    EXPECT_TRUE(seen.insert(KeyOf(id, base)).second) << "changing " << name << " must miss";
  }

  std::vector<std::pair<std::string, v1::Request>> request_changes = {
      {"context", Loglikelihood("Q: sea?", {" blue", " green"})},
      {"continuation text", Loglikelihood("Q: sky?", {" blue", " grey"})},
      {"continuation order", Loglikelihood("Q: sky?", {" green", " blue"})},
      {"continuation count", Loglikelihood("Q: sky?", {" blue", " green", " red"})},
      {"no prefix", Loglikelihood("Q: sky?", {" blue", " green"}, 0)},
      {"continuation split", Loglikelihood("Q: sky?", {" blue green"})},
  };
  {
    v1::Request rolling;
    rolling.set_prefix_index(1);
    rolling.mutable_loglikelihood_rolling()->set_text("Q: sky?");
    request_changes.emplace_back("kind", rolling);
  }
  for (const auto& [name, r] : request_changes) {
    EXPECT_TRUE(seen.insert(KeyOf(base_id, r)).second) << "changing the " << name << " must miss";
  }
  // The prefix text is part of the request; so is where it ends.
  EXPECT_TRUE(seen.insert(KeyOf(base_id, base, {"Other block.\n"})).second);
  EXPECT_TRUE(seen.insert(KeyOf(base_id, Loglikelihood("\nQ: sky?", {" blue", " green"}),
                                {"Few-shot block."}))
                  .second)
      << "moving text across the prefix boundary must miss";

  // Generation: every decoding parameter is a key part.
  const std::string greedy = KeyOf(base_id, Greedy());
  EXPECT_TRUE(seen.insert(greedy).second);
  std::vector<std::pair<std::string, std::function<void(v1::GenerateRequest&)>>> gen_changes = {
      {"stop", [](v1::GenerateRequest& g) { g.set_stop(0, "\n\n"); }},
      {"extra stop", [](v1::GenerateRequest& g) { g.add_stop("Q:"); }},
      {"max_new_tokens", [](v1::GenerateRequest& g) { g.set_max_new_tokens(33); }},
      {"top_p", [](v1::GenerateRequest& g) { g.set_top_p(0.9f); }},
      {"seed", [](v1::GenerateRequest& g) { g.set_seed(1); }},
      {"context", [](v1::GenerateRequest& g) { g.set_context("Q: 2+3?\nA:"); }},
  };
  for (const auto& [name, change] : gen_changes) {
    v1::Request r = Greedy();
    change(*r.mutable_generate());
    EXPECT_TRUE(seen.insert(KeyOf(base_id, r)).second) << "changing " << name << " must miss";
  }
}

TEST(ResultCacheKeyTest, RequestIdPrefixIndexAndModelKeyAreNotKeyParts) {
  const v1::Request a = Loglikelihood("Q", {" x"}, 1);
  v1::Request b = Loglikelihood("Q", {" x"}, 2);
  b.set_request_id(99);
  // Prefix 1 of the first job and prefix 2 of another hold the same text.
  EXPECT_EQ(KeyOf(Identity(), a, {"P"}), KeyOf(Identity(), b, {"other", "P"}));
  v1::ModelIdentity moved = Identity();
  moved.set_model_key("/elsewhere/m.gguf||0");
  EXPECT_EQ(KeyOf(Identity(), a), KeyOf(moved, a)) << "the same bytes under another path hit";
}

TEST(ResultCacheKeyTest, OnlyGreedyAndLoglikelihoodRequestsAreCacheable) {
  EXPECT_TRUE(IsCacheableRequest(Loglikelihood("c", {" x"})));
  EXPECT_TRUE(IsCacheableRequest(Greedy()));
  v1::Request sampled = Greedy();
  sampled.mutable_generate()->set_temperature(0.7f);
  sampled.mutable_generate()->set_seed(42);
  EXPECT_FALSE(IsCacheableRequest(sampled)) << "seeded sampling is not proven reproducible";
  EXPECT_FALSE(IsCacheableRequest(v1::Request()));
  absl::StatusOr<std::string> h = RequestHash(sampled, {});
  EXPECT_EQ(h.status().code(), absl::StatusCode::kInvalidArgument);
  h = RequestHash(Loglikelihood("c", {" x"}, 3), {"only one"});
  EXPECT_EQ(h.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(h.status().message(), HasSubstr("prefix_index 3"));
  h = RequestHash(Loglikelihood("c", {" x"}, -1), {});
  EXPECT_EQ(h.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ResultCacheKeyTest, MalformedIdentitiesAreRefusedByField) {
  EXPECT_TRUE(ValidateModelIdentity(Identity(), "id").ok());
  v1::ModelIdentity id = Identity();
  id.set_content_hash("ABCD");
  EXPECT_THAT(ValidateModelIdentity(id, "id").message(), HasSubstr("id.content_hash"));
  id = Identity();
  id.set_content_hash(std::string(64, 'A'));  // upper case is not canonical
  EXPECT_FALSE(ValidateModelIdentity(id, "id").ok());
  id = Identity();
  id.clear_engine_build();
  EXPECT_THAT(ValidateModelIdentity(id, "id").message(), HasSubstr("id.engine_build"));
  id = Identity();
  id.set_backend(std::string(1000, 'x'));
  EXPECT_THAT(ValidateModelIdentity(id, "id").message(), HasSubstr("id.backend"));
  id = Identity();
  id.set_tensor_parallel(65);
  EXPECT_THAT(ValidateModelIdentity(id, "id").message(), HasSubstr("id.tensor_parallel"));
}

// ---- A tiny catalog: one set, one loglikelihood request per sample ---------------

class OneSetCatalog final : public eval::Catalog {
 public:
  std::vector<v1::DatasetInfo> ListDatasets() const override {
    std::vector<v1::DatasetInfo> out(1);
    out[0].set_name("a");
    return out;
  }
  std::vector<v1::SuiteInfo> ListSuites() const override { return {}; }
  absl::StatusOr<eval::RunPlan> Plan(const v1::RunSpec& spec) const override {
    eval::RunPlan plan;
    v1::DatasetInfo info;
    info.set_name("a");
    plan.datasets.push_back(info);
    const int n = spec.limit() > 0 ? static_cast<int>(spec.limit()) : 12;
    plan.dataset_sample_counts.push_back(n);
    for (int i = 0; i < n; ++i) {
      eval::PlannedSample s;
      s.dataset = "a";
      s.sample_index = i;
      s.target = "0";
      v1::Request r;
      r.mutable_loglikelihood()->set_context(absl::StrCat("Q", i, ":"));
      r.mutable_loglikelihood()->add_continuations(" yes");
      r.mutable_loglikelihood()->add_continuations(" no");
      s.requests.push_back(r);
      s.prefix = "Answer.\n";
      s.estimated_prompt_tokens = 1000;
      s.max_new_tokens = 0;
      plan.samples.push_back(std::move(s));
    }
    return plan;
  }
  absl::StatusOr<std::string> ScoreSample(std::string_view, std::string_view,
                                          absl::Span<const v1::Output> outputs) const override {
    if (outputs.size() != 1 || !outputs[0].has_loglikelihood()) {
      return absl::InvalidArgumentError("expected one loglikelihood output");
    }
    const auto& c = outputs[0].loglikelihood().continuations();
    return std::string(c.size() == 2 && c[0].logprob() >= c[1].logprob() ? "1" : "0");
  }
  absl::StatusOr<v1::Results> Aggregate(const v1::RunSpec&,
                                        const std::vector<eval::SetScores>& sets) const override {
    v1::Results r;
    for (const auto& s : sets) {
      auto* set = r.add_sets();
      set->set_dataset(s.dataset);
      set->set_num_samples(static_cast<int64_t>(s.sample_scores.size()));
      double sum = 0;
      for (const auto& v : s.sample_scores) sum += v == "1" ? 1 : 0;
      set->add_metrics()->set_value(sum);
    }
    return r;
  }
};

// A worker's answer: a function of the request text and the model's "weights"
// (the content hash), as with a real engine.
v1::Output Answer(const v1::Request& r, const std::string& content_hash) {
  v1::Output o;
  o.set_request_id(r.request_id());
  const size_t h = std::hash<std::string>()(r.loglikelihood().context() + content_hash);
  for (int i = 0; i < r.loglikelihood().continuations_size(); ++i) {
    auto* c = o.mutable_loglikelihood()->add_continuations();
    c->set_logprob(-static_cast<double>((h >> (4 * i)) % 16));
    c->set_num_tokens(1);
  }
  return o;
}

class ResultCacheCoordinatorTest : public CoordinatorFixture {
 protected:
  eval::Catalog* catalog() override { return &catalog_; }
  void SetUp() override {
    CoordinatorFixture::SetUp();
    options_.max_lease_wait = absl::ZeroDuration();
    options_.planner.job_token_budget = 3000;  // 3 samples per job
    store_options_.quick_check_on_open = false;
    Open();
  }
  void AfterOpen() override {
    v1::RegisterRequest r;
    r.set_worker_name("w1");
    r.mutable_capabilities()->set_backend("cpu");
    worker_ = coordinator_->Register(r)->worker_id();
  }
  v1::RunSpec Spec(bool no_cache = false) {
    v1::RunSpec spec;
    spec.mutable_model()->set_path("/models/m.gguf");
    spec.set_suite("");
    spec.add_datasets()->set_name("a");
    spec.set_no_cache(no_cache);
    return spec;
  }
  // Plays a worker until no job is left: leases with `lease_identity` (when
  // set) and reports with `identity`. Returns the requests it ran.
  int64_t Work(const std::optional<v1::ModelIdentity>& lease_identity,
               const v1::ModelIdentity& identity) {
    int64_t ran = 0;
    while (true) {
      v1::LeaseRequest lease;
      lease.set_worker_id(worker_);
      if (lease_identity) *lease.add_model_identities() = *lease_identity;
      auto resp = coordinator_->Lease(lease);
      EXPECT_TRUE(resp.ok()) << resp.status();
      if (!resp.ok() || !resp->has_job()) return ran;
      const v1::Job& job = resp->job();
      EXPECT_EQ(job.model_key(), identity.model_key());
      v1::ReportOutputsRequest report;
      report.set_job_id(job.job_id());
      report.set_fencing_token(job.fencing_token());
      *report.mutable_model_identity() = identity;
      for (const auto& r : job.requests())
        *report.add_outputs() = Answer(r, identity.content_hash());
      report.set_complete(true);
      auto done = coordinator_->ReportOutputs(report);
      EXPECT_TRUE(done.ok()) << done.status();
      ran += job.requests_size();
    }
  }
  v1::ModelIdentity Id(const std::string& digit = "a") {
    v1::ModelIdentity id = Identity(digit);
    id.set_model_key("/models/m.gguf||0");
    id.set_tensor_parallel(0);
    return id;
  }
  v1::Run Finished(const std::string& run_id) {
    auto run = coordinator_->GetRun(run_id);
    EXPECT_TRUE(run.ok()) << run.status();
    EXPECT_EQ(run->state(), v1::RUN_STATE_SUCCEEDED);
    return *run;
  }
  double Score(const std::string& run_id) {
    auto results = coordinator_->GetResults(run_id);
    EXPECT_TRUE(results.ok()) << results.status();
    return results->sets(0).metrics(0).value();
  }

  OneSetCatalog catalog_;
  std::string worker_;
};

TEST_F(ResultCacheCoordinatorTest, ModelKeyMatchesThePlanner) {
  auto run = coordinator_->SubmitRun(Spec());
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(Work(std::nullopt, Id()), 12);
}

TEST_F(ResultCacheCoordinatorTest, RepeatedRunIsAnsweredWithoutLeasingAndSurvivesRestart) {
  auto first = coordinator_->SubmitRun(Spec());
  ASSERT_TRUE(first.ok()) << first.status();
  // The first run misses (nothing cached) and fills the cache.
  EXPECT_EQ(Work(Id(), Id()), 12);
  EXPECT_EQ(Finished(first->run_id()).progress().requests_cached(), 0);
  EXPECT_EQ(*store_->CountCacheEntries(), 12);

  auto second = coordinator_->SubmitRun(Spec());
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(Work(Id(), Id()), 0) << "every request is answered from the cache";
  v1::Run done = Finished(second->run_id());
  EXPECT_EQ(done.progress().requests_done(), 12);
  EXPECT_EQ(done.progress().requests_cached(), 12);
  EXPECT_EQ(Score(second->run_id()), Score(first->run_id()));

  // A new coordinator on the same file: entries and cached counts survive.
  Open();
  EXPECT_EQ(coordinator_->GetRun(second->run_id())->progress().requests_cached(), 12);
  auto third = coordinator_->SubmitRun(Spec());
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(Work(Id(), Id()), 0);
  EXPECT_EQ(Finished(third->run_id()).progress().requests_cached(), 12);
  EXPECT_EQ(Score(third->run_id()), Score(first->run_id()));
  EXPECT_EQ(*store_->CountCacheEntries(), 12);
}

TEST_F(ResultCacheCoordinatorTest, ChangedModelHashMisses) {
  ASSERT_TRUE(coordinator_->SubmitRun(Spec()).ok());
  EXPECT_EQ(Work(Id("a"), Id("a")), 12);
  // The file was overwritten: the worker now reports another content hash.
  auto changed = coordinator_->SubmitRun(Spec());
  ASSERT_TRUE(changed.ok());
  EXPECT_EQ(Work(Id("b"), Id("b")), 12) << "a changed model must never hit old entries";
  EXPECT_EQ(Finished(changed->run_id()).progress().requests_cached(), 0);
  EXPECT_EQ(*store_->CountCacheEntries(), 24);
}

TEST_F(ResultCacheCoordinatorTest, NoCacheBypassesTheLookupButFills) {
  ASSERT_TRUE(coordinator_->SubmitRun(Spec(/*no_cache=*/true)).ok());
  EXPECT_EQ(Work(Id(), Id()), 12);
  EXPECT_EQ(*store_->CountCacheEntries(), 12) << "a no-cache run still fills the cache";
  auto bypass = coordinator_->SubmitRun(Spec(/*no_cache=*/true));
  ASSERT_TRUE(bypass.ok());
  EXPECT_EQ(Work(Id(), Id()), 12) << "no_cache runs every request on a worker";
  EXPECT_EQ(Finished(bypass->run_id()).progress().requests_cached(), 0);
  auto cached = coordinator_->SubmitRun(Spec());
  ASSERT_TRUE(cached.ok());
  EXPECT_EQ(Work(Id(), Id()), 0);
}

TEST_F(ResultCacheCoordinatorTest, WorkerWithoutIdentityIsLeasedTheJob) {
  ASSERT_TRUE(coordinator_->SubmitRun(Spec()).ok());
  EXPECT_EQ(Work(Id(), Id()), 12);
  ASSERT_TRUE(coordinator_->SubmitRun(Spec()).ok());
  // The worker has not hashed the model (or its file changed): no lookup.
  EXPECT_EQ(Work(std::nullopt, Id()), 12);
}

TEST_F(ResultCacheCoordinatorTest, PartlyCachedJobCarriesOnlyTheMisses) {
  v1::RunSpec small = Spec();
  small.set_limit(4);  // fills samples 0-3
  ASSERT_TRUE(coordinator_->SubmitRun(small).ok());
  EXPECT_EQ(Work(Id(), Id()), 4);
  auto full = coordinator_->SubmitRun(Spec());
  ASSERT_TRUE(full.ok());
  EXPECT_EQ(Work(Id(), Id()), 8) << "jobs carry only the requests the cache did not answer";
  v1::Run done = Finished(full->run_id());
  EXPECT_EQ(done.progress().requests_cached(), 4);
  EXPECT_EQ(done.progress().requests_done(), 12);
}

TEST_F(ResultCacheCoordinatorTest, MalformedIdentityIsInvalidArgument) {
  ASSERT_TRUE(coordinator_->SubmitRun(Spec()).ok());
  v1::LeaseRequest lease;
  lease.set_worker_id(worker_);
  v1::ModelIdentity bad = Id();
  bad.set_content_hash("not-a-hash");
  *lease.add_model_identities() = bad;
  auto resp = coordinator_->Lease(lease);
  EXPECT_EQ(resp.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(resp.status().message(), HasSubstr("model_identities[0].content_hash"));
}

// ---- The store's cache table ------------------------------------------------------

class ResultCacheStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           absl::StrCat("result_cache_store_",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::unique_ptr<SqliteStore> Open(int64_t max_entries) {
    SqliteStoreOptions options;
    options.result_cache_max_entries = max_entries;
    auto store = SqliteStore::Open((dir_ / "store.db").string(), options);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }
  // A run with one job, so that WriteOutputs has somewhere to write.
  RunRecord MakeRun(SqliteStore& store, const std::string& run_id) {
    RunRecord run;
    run.run_id = run_id;
    run.spec.mutable_model()->set_name("m");
    run.created_at = absl::FromUnixSeconds(1);
    std::vector<JobRecord> jobs(1);
    jobs[0].num_requests = 100;
    std::vector<JobPayload> payloads(1);
    EXPECT_TRUE(store.CreateRun(run, jobs, payloads, {}).ok());
    job_id_ = jobs[0].job_id;
    return run;
  }
  static v1::Output Out(double logprob) {
    v1::Output o;
    o.mutable_loglikelihood_rolling()->set_logprob(logprob);
    return o;
  }
  static std::string Key(int i) { return std::string(31, 'k') + static_cast<char>(i); }
  absl::Status Fill(SqliteStore& store, const std::string& run_id, int from, int to,
                    absl::Time now) {
    OutputBatch batch;
    batch.run_id = run_id;
    batch.job_id = job_id_;
    batch.now = now;
    for (int i = from; i < to; ++i) batch.cache_entries.push_back({Key(i), Out(-i)});
    return store.WriteOutputs(batch).status();
  }

  std::filesystem::path dir_;
  int64_t job_id_ = 0;
};

TEST_F(ResultCacheStoreTest, LookupIsBatchedOrderedAndSurvivesReopen) {
  {
    auto store = Open(0);
    MakeRun(*store, "r1");
    ASSERT_TRUE(Fill(*store, "r1", 0, 5, absl::FromUnixSeconds(10)).ok());
    EXPECT_EQ(*store->CountCacheEntries(), 5);
    // Refilling a key keeps the first output.
    OutputBatch again;
    again.run_id = "r1";
    again.job_id = job_id_;
    again.cache_entries.push_back({Key(0), Out(-99)});
    ASSERT_TRUE(store->WriteOutputs(again).ok());
    EXPECT_EQ(*store->CountCacheEntries(), 5);
  }
  auto store = Open(0);
  auto found = store->LookupCache({Key(3), "absent", Key(0), ""});
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_EQ(found->size(), 4u);
  ASSERT_TRUE((*found)[0].has_value());
  EXPECT_EQ((*found)[0]->loglikelihood_rolling().logprob(), -3);
  EXPECT_FALSE((*found)[1].has_value());
  ASSERT_TRUE((*found)[2].has_value());
  EXPECT_EQ((*found)[2]->loglikelihood_rolling().logprob(), 0);
  EXPECT_FALSE((*found)[3].has_value());
  EXPECT_EQ(*store->CountCacheEntries(), 5);
}

TEST_F(ResultCacheStoreTest, BoundEvictsLeastRecentlyUsed) {
  auto store = Open(/*max_entries=*/10);
  MakeRun(*store, "r1");
  ASSERT_TRUE(Fill(*store, "r1", 0, 10, absl::FromUnixSeconds(10)).ok());
  // Keys 0-4 are used again later than 5-9.
  ASSERT_TRUE(Fill(*store, "r1", 0, 5, absl::FromUnixSeconds(20)).ok());
  EXPECT_EQ(*store->CountCacheEntries(), 10);
  // Two more take the cache over its bound: the two least recently used go.
  ASSERT_TRUE(Fill(*store, "r1", 10, 12, absl::FromUnixSeconds(30)).ok());
  const int64_t entries = *store->CountCacheEntries();
  EXPECT_LE(entries, 10);
  std::vector<std::string> keys;
  for (int i = 0; i < 12; ++i) keys.push_back(Key(i));
  auto found = store->LookupCache(keys);
  ASSERT_TRUE(found.ok());
  int64_t present = 0;
  for (int i = 0; i < 12; ++i) present += (*found)[static_cast<size_t>(i)].has_value() ? 1 : 0;
  EXPECT_EQ(present, entries) << "the counter matches the table";
  for (int i : {0, 1, 2, 3, 4, 10, 11}) {
    EXPECT_TRUE((*found)[static_cast<size_t>(i)].has_value()) << "recently used key " << i;
  }
  EXPECT_FALSE((*found)[5].has_value()) << "the least recently used entry goes first";
}

TEST_F(ResultCacheStoreTest, CachedOutputsAreCountedPerRun) {
  auto store = Open(0);
  MakeRun(*store, "r1");
  OutputBatch batch;
  batch.run_id = "r1";
  batch.job_id = job_id_;
  batch.from_cache = true;
  for (int i = 1; i <= 3; ++i) {
    v1::Output o = Out(-1);
    o.set_request_id(i);
    batch.outputs.push_back(o);
  }
  ASSERT_EQ(*store->WriteOutputs(batch), 3);
  batch.from_cache = false;
  batch.outputs[0].set_request_id(4);
  batch.outputs.resize(1);
  ASSERT_EQ(*store->WriteOutputs(batch), 1);
  EXPECT_EQ(*store->CountOutputs("r1"), 4);
  EXPECT_EQ(*store->CountCachedOutputs("r1"), 3);
}

TEST_F(ResultCacheStoreTest, EntryWithoutResultIsRefused) {
  auto store = Open(0);
  MakeRun(*store, "r1");
  OutputBatch batch;
  batch.run_id = "r1";
  batch.job_id = job_id_;
  batch.cache_entries.push_back({Key(1), v1::Output()});
  EXPECT_EQ(store->WriteOutputs(batch).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*store->CountCacheEntries(), 0);
}

}  // namespace
}  // namespace proctor::coordinator
