#include "worker/model_cache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"

namespace proctor::worker {
namespace {

// An engine whose models report the size encoded in ModelRef.path ("bytes:N")
// and count how many are alive.
class CountingEngine final : public engine::Engine {
 public:
  class Model final : public engine::LoadedModel {
   public:
    Model(CountingEngine* owner, int64_t bytes) : owner_(owner), bytes_(bytes) { ++owner_->alive; }
    ~Model() override { --owner_->alive; }
    absl::Status RunJob(const v1::Job&, const std::vector<int64_t>&, const engine::OutputSink&,
                        const std::atomic<bool>&) override {
      return absl::OkStatus();
    }
    int64_t ResidentBytes() const override { return bytes_; }

   private:
    CountingEngine* owner_;
    int64_t bytes_;
  };

  std::string backend() const override { return "counting"; }
  absl::StatusOr<std::unique_ptr<engine::LoadedModel>> Load(const v1::ModelRef& ref) override {
    ++loads;
    alive_at_last_load = alive.load();
    absl::SleepFor(load_delay);
    if (ref.name() == "broken") return absl::FailedPreconditionError("model file is corrupt");
    int64_t bytes = 100;
    if (absl::StartsWith(ref.path(), "bytes:")) bytes = std::stoll(ref.path().substr(6));
    return std::make_unique<Model>(this, bytes);
  }

  std::atomic<int> loads{0};
  std::atomic<int> alive{0};
  std::atomic<int> alive_at_last_load{0};
  absl::Duration load_delay = absl::ZeroDuration();
};

v1::ModelRef Ref(const std::string& name, int64_t bytes = 100, int64_t expected = 0) {
  v1::ModelRef ref;
  ref.set_name(name);
  ref.set_path("bytes:" + std::to_string(bytes));
  ref.set_min_gpu_memory_bytes(expected);
  return ref;
}

TEST(ModelCacheTest, HitsDoNotReload) {
  CountingEngine engine;
  WorkerMetrics metrics;
  ModelCache cache(&engine, {.max_models = 2}, &metrics);
  auto a1 = cache.Get("a", Ref("a"));
  ASSERT_TRUE(a1.ok());
  auto a2 = cache.Get("a", Ref("a"));
  ASSERT_TRUE(a2.ok());
  EXPECT_EQ(a1->get(), a2->get());
  EXPECT_EQ(engine.loads.load(), 1);
  EXPECT_EQ(cache.LoadedKeys(), std::vector<std::string>{"a"});
  EXPECT_NE(metrics.RenderText().find("proctor_worker_models_loaded 1"), std::string::npos);
}

TEST(ModelCacheTest, EvictsLeastRecentlyUsedByCountBeforeLoading) {
  CountingEngine engine;
  ModelCache cache(&engine, {.max_models = 2}, nullptr);
  ASSERT_TRUE(cache.Get("a", Ref("a")).ok());
  ASSERT_TRUE(cache.Get("b", Ref("b")).ok());
  ASSERT_TRUE(cache.Get("a", Ref("a")).ok());  // a is now most recent
  EXPECT_EQ(cache.LoadedKeys(), (std::vector<std::string>{"a", "b"}));
  ASSERT_TRUE(cache.Get("c", Ref("c")).ok());
  EXPECT_EQ(cache.LoadedKeys(), (std::vector<std::string>{"c", "a"}));
  // b was freed before c was loaded.
  EXPECT_EQ(engine.alive_at_last_load.load(), 1);
  EXPECT_EQ(engine.alive.load(), 2);
  EXPECT_EQ(engine.loads.load(), 3);
  ASSERT_TRUE(cache.Get("b", Ref("b")).ok());  // reloaded
  EXPECT_EQ(engine.loads.load(), 4);
}

TEST(ModelCacheTest, EvictsByBytesAfterLoadingButKeepsTheNewModel) {
  CountingEngine engine;
  ModelCache cache(&engine, {.max_models = 10, .max_bytes = 1000}, nullptr);
  ASSERT_TRUE(cache.Get("a", Ref("a", 400)).ok());
  ASSERT_TRUE(cache.Get("b", Ref("b", 400)).ok());
  EXPECT_EQ(cache.ResidentBytes(), 800);
  ASSERT_TRUE(cache.Get("c", Ref("c", 400)).ok());
  EXPECT_EQ(cache.LoadedKeys(), (std::vector<std::string>{"c", "b"}));
  EXPECT_EQ(cache.ResidentBytes(), 800);
  // A model larger than the bound evicts everything else but stays.
  ASSERT_TRUE(cache.Get("huge", Ref("huge", 5000)).ok());
  EXPECT_EQ(cache.LoadedKeys(), std::vector<std::string>{"huge"});
  EXPECT_EQ(cache.ResidentBytes(), 5000);
  EXPECT_EQ(engine.alive.load(), 1);
}

TEST(ModelCacheTest, StatedSizeFreesMemoryBeforeTheLoad) {
  CountingEngine engine;
  ModelCache cache(&engine, {.max_models = 10, .max_bytes = 1000}, nullptr);
  ASSERT_TRUE(cache.Get("a", Ref("a", 400)).ok());
  ASSERT_TRUE(cache.Get("b", Ref("b", 400)).ok());
  ASSERT_TRUE(cache.Get("c", Ref("c", 700, /*expected=*/700)).ok());
  EXPECT_EQ(engine.alive_at_last_load.load(), 0);  // both evicted before loading c
  EXPECT_EQ(cache.LoadedKeys(), std::vector<std::string>{"c"});
}

TEST(ModelCacheTest, FailedLoadCachesNothingAndReturnsTheEngineError) {
  CountingEngine engine;
  WorkerMetrics metrics;
  ModelCache cache(&engine, {.max_models = 2}, &metrics);
  auto broken = cache.Get("broken", Ref("broken"));
  EXPECT_EQ(broken.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(cache.LoadedKeys().empty());
  EXPECT_NE(metrics.RenderText().find("proctor_worker_errors_total{kind=\"model_load\"} 1"),
            std::string::npos);
  EXPECT_NE(metrics.RenderText().find("proctor_worker_model_load_seconds_count 1"),
            std::string::npos);
}

TEST(ModelCacheTest, EvictedModelStaysAliveWhileInUse) {
  CountingEngine engine;
  ModelCache cache(&engine, {.max_models = 1}, nullptr);
  auto a = cache.Get("a", Ref("a"));
  ASSERT_TRUE(a.ok());
  std::shared_ptr<engine::LoadedModel> held = *a;
  ASSERT_TRUE(cache.Get("b", Ref("b")).ok());
  EXPECT_EQ(engine.alive.load(), 2);
  EXPECT_EQ(held->ResidentBytes(), 100);
  held.reset();
  a = absl::UnknownError("released");
  EXPECT_EQ(engine.alive.load(), 1);
}

TEST(ModelCacheTest, LoadedKeysDoesNotWaitForALoad) {
  CountingEngine engine;
  engine.load_delay = absl::Milliseconds(300);
  ModelCache cache(&engine, {.max_models = 2}, nullptr);
  std::thread loader([&] { ASSERT_TRUE(cache.Get("a", Ref("a")).ok()); });
  absl::SleepFor(absl::Milliseconds(50));
  const absl::Time start = absl::Now();
  EXPECT_TRUE(cache.LoadedKeys().empty());
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(100));
  // A concurrent Get for the same key waits and reuses the load.
  auto again = cache.Get("a", Ref("a"));
  ASSERT_TRUE(again.ok());
  loader.join();
  EXPECT_EQ(engine.loads.load(), 1);
}

}  // namespace
}  // namespace proctor::worker
