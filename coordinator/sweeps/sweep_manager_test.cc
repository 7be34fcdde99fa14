// SweepManager against a real SweepStore in a scratch directory, a fake
// clock and a fake launcher that records the runs it is asked to create.
#include "coordinator/sweeps/sweep_manager.h"

#include <fstream>

#include "coordinator/store/store_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace proctor::coordinator {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class FakeLauncher final : public RunLauncher {
 public:
  absl::StatusOr<std::vector<v1::Run>> FindRuns(
      const std::map<std::string, std::string>& labels) override {
    std::vector<v1::Run> out;
    for (const v1::Run& r : runs) {
      bool all = true;
      for (const auto& [k, v] : labels) {
        auto it = r.spec().labels().find(k);
        all = all && it != r.spec().labels().end() && it->second == v;
      }
      if (all) out.push_back(r);
    }
    return out;
  }
  absl::StatusOr<std::string> Submit(v1::RunSpec spec) override {
    if (fail_model == spec.model().name()) return absl::InvalidArgumentError("spec.model: bad");
    if (unavailable) return absl::UnavailableError("shutting down");
    v1::Run r;
    r.set_run_id(absl::StrCat("run-", runs.size() + 1));
    *r.mutable_spec() = std::move(spec);
    runs.push_back(r);
    return r.run_id();
  }
  // "model@firing" of every run, in creation order.
  std::vector<std::string> Fired() const {
    std::vector<std::string> out;
    for (const v1::Run& r : runs) {
      out.push_back(absl::StrCat(r.spec().model().name(), "@", r.spec().labels().at("firing")));
    }
    return out;
  }
  absl::Status Validate(const v1::RunSpec& spec) override {
    if (spec.suite() == "unknown") return absl::InvalidArgumentError("spec.suite: unknown suite");
    return absl::OkStatus();
  }
  std::vector<v1::Run> runs;
  std::string fail_model;
  bool unavailable = false;
};

absl::Time At(const std::string& rfc3339) {
  absl::Time t;
  std::string err;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, rfc3339, &t, &err)) << err;
  return t;
}

v1::Sweep Hourly(const std::string& name) {
  v1::Sweep s;
  s.set_name(name);
  s.set_schedule("0 * * * *");
  s.add_models()->set_name("m1");
  s.add_models()->set_name("m2");
  s.mutable_spec()->set_suite("tiny");
  return s;
}

class SweepManagerTest : public ::testing::Test {
 protected:
  SweepManagerTest() : clock_(At("2026-11-27T10:30:00Z")) { Reopen(); }
  // A coordinator restart: new store connection and manager, same file.
  void Reopen() {
    manager_.reset();
    store_.reset();
    absl::StatusOr<std::unique_ptr<SweepStore>> s = SweepStore::Open(dir_.File("store.db"));
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = *std::move(s);
    manager_ = std::make_unique<SweepManager>(store_.get(), &launcher_, &clock_);
  }

  ScratchDir dir_;
  FakeClockForTest clock_;
  FakeLauncher launcher_;
  std::unique_ptr<SweepStore> store_;
  std::unique_ptr<SweepManager> manager_;
};

TEST_F(SweepManagerTest, FiresExactlyOncePerSlot) {
  absl::StatusOr<v1::Sweep> s = manager_->Create(Hourly("nightly"));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->next_slot().seconds(), absl::ToUnixSeconds(At("2026-11-27T11:00:00Z")));
  EXPECT_EQ(s->spec().priority(), v1::PRIORITY_SWEEP);
  ASSERT_TRUE(manager_->Tick().ok());
  EXPECT_TRUE(launcher_.runs.empty());
  clock_.Advance(absl::Minutes(30));  // 11:00 exactly
  ASSERT_TRUE(manager_->Tick().ok());
  ASSERT_TRUE(manager_->Tick().ok());
  clock_.Advance(absl::Minutes(59));
  ASSERT_TRUE(manager_->Tick().ok());
  EXPECT_THAT(launcher_.Fired(), ElementsAre("m1@2026-11-27T11:00:00Z", "m2@2026-11-27T11:00:00Z"));
  EXPECT_EQ(launcher_.runs[0].spec().labels().at("sweep"), "nightly");
  EXPECT_EQ(launcher_.runs[0].spec().priority(), v1::PRIORITY_SWEEP);
  EXPECT_EQ(launcher_.runs[0].spec().suite(), "tiny");
  clock_.Advance(absl::Minutes(1));  // 12:00
  ASSERT_TRUE(manager_->Tick().ok());
  EXPECT_EQ(launcher_.runs.size(), 4u);
  absl::StatusOr<v1::Sweep> after = manager_->Get("nightly");
  EXPECT_EQ(after->last_fired_slot().seconds(), absl::ToUnixSeconds(At("2026-11-27T12:00:00Z")));
}

TEST_F(SweepManagerTest, MissedWhileDownFiresOnceOnStart) {
  ASSERT_TRUE(manager_->Create(Hourly("nightly")).ok());
  clock_.Advance(absl::Minutes(30));
  ASSERT_TRUE(manager_->Tick().ok());  // 11:00 fires
  manager_.reset();                    // "down" from 11:00 to 15:20
  clock_.Advance(absl::Hours(4) + absl::Minutes(20));
  Reopen();
  ASSERT_TRUE(manager_->Tick().ok());
  ASSERT_TRUE(manager_->Tick().ok());
  EXPECT_THAT(launcher_.Fired(), ElementsAre("m1@2026-11-27T11:00:00Z", "m2@2026-11-27T11:00:00Z",
                                             "m1@2026-11-27T15:00:00Z", "m2@2026-11-27T15:00:00Z"));
}

TEST_F(SweepManagerTest, InterruptedFiringResumesWithoutDuplicates) {
  ASSERT_TRUE(manager_->Create(Hourly("nightly")).ok());
  clock_.Advance(absl::Minutes(30));
  // A crash after the pending slot was recorded and m1's run was created.
  ASSERT_TRUE(store_->BeginFiring("nightly", At("2026-11-27T11:00:00Z")).ok());
  v1::RunSpec m1;
  m1.mutable_model()->set_name("m1");
  (*m1.mutable_labels())["sweep"] = "nightly";
  (*m1.mutable_labels())["firing"] = "2026-11-27T11:00:00Z";
  ASSERT_TRUE(launcher_.Submit(m1).ok());
  Reopen();
  ASSERT_TRUE(manager_->Tick().ok());
  ASSERT_TRUE(manager_->Tick().ok());
  EXPECT_THAT(launcher_.Fired(), ElementsAre("m1@2026-11-27T11:00:00Z", "m2@2026-11-27T11:00:00Z"));
}

TEST_F(SweepManagerTest, UnavailableCoordinatorRetriesTheSameSlot) {
  ASSERT_TRUE(manager_->Create(Hourly("nightly")).ok());
  clock_.Advance(absl::Minutes(30));
  launcher_.unavailable = true;
  EXPECT_EQ(manager_->Tick().code(), absl::StatusCode::kUnavailable);
  launcher_.unavailable = false;
  clock_.Advance(absl::Minutes(5));
  ASSERT_TRUE(manager_->Tick().ok());
  EXPECT_THAT(launcher_.Fired(), ElementsAre("m1@2026-11-27T11:00:00Z", "m2@2026-11-27T11:00:00Z"));
}

TEST_F(SweepManagerTest, RefusedModelIsSkippedAndReported) {
  ASSERT_TRUE(manager_->Create(Hourly("nightly")).ok());
  launcher_.fail_model = "m1";
  clock_.Advance(absl::Minutes(30));
  ASSERT_TRUE(manager_->Tick().ok());
  EXPECT_THAT(launcher_.Fired(), ElementsAre("m2@2026-11-27T11:00:00Z"));
  EXPECT_THAT(manager_->Get("nightly")->last_error(), HasSubstr("model m1"));
  clock_.Advance(absl::Minutes(10));
  ASSERT_TRUE(manager_->Tick().ok());  // the slot is done: no retry
  EXPECT_EQ(launcher_.runs.size(), 1u);
}

TEST_F(SweepManagerTest, GlobIsReReadAtEachFiring) {
  const std::string models = dir_.File("models");
  std::filesystem::create_directory(models);
  auto touch = [&](const std::string& f) { std::ofstream(models + "/" + f) << "x"; };
  touch("alpha.gguf");
  touch("beta.gguf");
  touch("notes.txt");
  v1::Sweep s = Hourly("globbed");
  s.clear_models();
  s.set_model_glob(models + "/*.gguf");
  s.mutable_spec()->mutable_model()->set_backend("cuda");
  ASSERT_TRUE(manager_->Create(s).ok());
  clock_.Advance(absl::Minutes(30));
  ASSERT_TRUE(manager_->Tick().ok());
  touch("gamma.gguf");
  std::filesystem::remove(models + "/alpha.gguf");
  clock_.Advance(absl::Hours(1));
  ASSERT_TRUE(manager_->Tick().ok());
  EXPECT_THAT(launcher_.Fired(),
              ElementsAre("alpha@2026-11-27T11:00:00Z", "beta@2026-11-27T11:00:00Z",
                          "beta@2026-11-27T12:00:00Z", "gamma@2026-11-27T12:00:00Z"));
  EXPECT_EQ(launcher_.runs[0].spec().model().path(), models + "/alpha.gguf");
  EXPECT_EQ(launcher_.runs[0].spec().model().backend(), "cuda");
}

TEST_F(SweepManagerTest, PausedSweepDoesNotFireAndResumeSkipsMissedSlots) {
  ASSERT_TRUE(manager_->Create(Hourly("nightly")).ok());
  ASSERT_TRUE(manager_->Pause("nightly")->paused());
  clock_.Advance(absl::Hours(3));  // 13:30
  ASSERT_TRUE(manager_->Tick().ok());
  EXPECT_TRUE(launcher_.runs.empty());
  absl::StatusOr<v1::Sweep> resumed = manager_->Resume("nightly");
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_FALSE(resumed->paused());
  EXPECT_EQ(resumed->next_slot().seconds(), absl::ToUnixSeconds(At("2026-11-27T14:00:00Z")));
  ASSERT_TRUE(manager_->Tick().ok());
  EXPECT_TRUE(launcher_.runs.empty());
  clock_.Advance(absl::Minutes(30));
  ASSERT_TRUE(manager_->Tick().ok());
  EXPECT_EQ(launcher_.runs.size(), 2u);
}

TEST_F(SweepManagerTest, TriggerFiresNowWithoutMovingTheSchedule) {
  ASSERT_TRUE(manager_->Create(Hourly("nightly")).ok());
  absl::StatusOr<v1::TriggerSweepResponse> t = manager_->Trigger("nightly");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->run_ids_size(), 2);
  EXPECT_EQ(launcher_.runs[0].spec().labels().at("trigger"), "manual");
  EXPECT_EQ(launcher_.runs[0].spec().labels().at("firing"), "2026-11-27T10:30:00Z");
  clock_.Advance(absl::Minutes(30));
  ASSERT_TRUE(manager_->Tick().ok());
  EXPECT_EQ(launcher_.runs.size(), 4u);
  EXPECT_EQ(manager_->Trigger("nope").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SweepManagerTest, TemplateNoCacheReachesEveryRunAndSurvivesRestart) {
  v1::Sweep sweep = Hourly("fresh");
  sweep.mutable_spec()->set_no_cache(true);
  ASSERT_TRUE(manager_->Create(sweep).ok());
  Reopen();
  ASSERT_TRUE(manager_->Trigger("fresh").ok());
  ASSERT_EQ(launcher_.runs.size(), 2u);
  for (const v1::Run& run : launcher_.runs) EXPECT_TRUE(run.spec().no_cache());
  EXPECT_TRUE(manager_->Get("fresh")->spec().no_cache());
}

TEST_F(SweepManagerTest, TriggerThatCreatesNoRunFails) {
  ASSERT_TRUE(manager_->Create(Hourly("nightly")).ok());
  launcher_.fail_model = "m1";
  v1::Sweep one = Hourly("solo");
  one.mutable_models()->RemoveLast();
  ASSERT_TRUE(manager_->Create(one).ok());
  absl::StatusOr<v1::TriggerSweepResponse> t = manager_->Trigger("solo");
  EXPECT_EQ(t.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(t.status().message(), HasSubstr("model m1"));
}

TEST_F(SweepManagerTest, CreateValidatesAndNamesTheField) {
  struct Case {
    std::function<void(v1::Sweep&)> mutate;
    const char* message;
  };
  const Case cases[] = {
      {[](v1::Sweep& s) { s.set_name(""); }, "name: must be 1 to 63"},
      {[](v1::Sweep& s) { s.set_name("Bad Name"); }, "name: \"Bad Name\" must match"},
      {[](v1::Sweep& s) { s.set_schedule("61 * * * *"); }, "schedule: minute field"},
      {[](v1::Sweep& s) { s.set_schedule("0 0 30 2 *"); }, "schedule: \"0 0 30 2 *\" never fires"},
      {[](v1::Sweep& s) { s.set_time_zone("Nowhere/City"); }, "time_zone: unknown"},
      {[](v1::Sweep& s) { s.set_model_glob("/x/*"); }, "models, model_glob: give exactly one"},
      {[](v1::Sweep& s) { s.clear_models(); }, "models, model_glob: give a model list"},
      {[](v1::Sweep& s) { s.mutable_models(1)->set_name("m1"); }, "models[1]: duplicate"},
      {[](v1::Sweep& s) { s.mutable_models(0)->clear_name(); }, "models[0].name"},
      {[](v1::Sweep& s) {
         s.clear_models();
         s.set_model_glob("rel/*.gguf");
       },
       "model_glob: \"rel/*.gguf\" must be an absolute path"},
      {[](v1::Sweep& s) { s.mutable_spec()->clear_suite(); }, "spec: give a suite or datasets"},
      {[](v1::Sweep& s) { s.mutable_spec()->set_limit(-1); }, "spec.limit"},
      {[](v1::Sweep& s) { s.mutable_spec()->set_suite("unknown"); }, "spec.suite: unknown"},
      {[](v1::Sweep& s) { (*s.mutable_spec()->mutable_labels())["sweep"] = "x"; },
       "spec.labels: \"sweep\""},
  };
  for (const Case& c : cases) {
    v1::Sweep s = Hourly("ok");
    c.mutate(s);
    absl::StatusOr<v1::Sweep> r = manager_->Create(s);
    ASSERT_FALSE(r.ok()) << c.message;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << c.message;
    EXPECT_THAT(r.status().message(), HasSubstr(c.message));
  }
  ASSERT_TRUE(manager_->Create(Hourly("ok")).ok());
  EXPECT_EQ(manager_->Create(Hourly("ok")).status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(manager_->Get("missing").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(manager_->Delete("ok").ok());
  EXPECT_EQ(manager_->Delete("ok").code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(manager_->List()->empty());
}

TEST_F(SweepManagerTest, DefinitionsSurviveRestart) {
  ASSERT_TRUE(manager_->Create(Hourly("a")).ok());
  v1::Sweep b = Hourly("b");
  b.set_schedule("30 2 * * *");
  b.set_time_zone("Europe/Berlin");
  ASSERT_TRUE(manager_->Create(b).ok());
  ASSERT_TRUE(manager_->Pause("a").ok());
  Reopen();
  absl::StatusOr<std::vector<v1::Sweep>> all = manager_->List();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].name(), "a");
  EXPECT_TRUE((*all)[0].paused());
  EXPECT_EQ((*all)[1].time_zone(), "Europe/Berlin");
  EXPECT_EQ((*all)[1].next_slot().seconds(), absl::ToUnixSeconds(At("2026-11-28T01:30:00Z")));
}

TEST(ExpandModelGlobTest, EmptyPatternAndNoMatch) {
  EXPECT_EQ(ExpandModelGlob("", {}).status().code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<std::vector<v1::ModelRef>> none = ExpandModelGlob("/nonexistent-dir-xyz/*", {});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

}  // namespace
}  // namespace proctor::coordinator
