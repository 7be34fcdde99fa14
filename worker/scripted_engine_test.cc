#include "worker/scripted_engine.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace proctor::worker {
namespace {

v1::ModelRef Model(const std::string& name, const std::string& path = "") {
  v1::ModelRef model;
  model.set_name(name);
  model.set_path(path);
  return model;
}

std::unique_ptr<engine::LoadedModel> LoadOrDie(engine::Engine& engine, const v1::ModelRef& ref) {
  auto loaded = engine.Load(ref);
  EXPECT_TRUE(loaded.ok()) << loaded.status();
  return loaded.ok() ? std::move(loaded).value() : nullptr;
}

std::vector<v1::Output> RunAll(engine::LoadedModel& model, const v1::Job& job,
                               const std::vector<int64_t>& skip = {},
                               absl::Status* status_out = nullptr) {
  std::vector<v1::Output> outputs;
  std::atomic<bool> cancelled{false};
  absl::Status status = model.RunJob(
      job, skip, [&](v1::Output o) { outputs.push_back(std::move(o)); }, cancelled);
  if (status_out != nullptr) {
    *status_out = status;
  } else {
    EXPECT_TRUE(status.ok()) << status;
  }
  return outputs;
}

v1::Request Loglikelihood(int64_t id, const std::string& context,
                          std::vector<std::string> continuations, int prefix_index = 0) {
  v1::Request r;
  r.set_request_id(id);
  r.set_prefix_index(prefix_index);
  r.mutable_loglikelihood()->set_context(context);
  for (auto& c : continuations) r.mutable_loglikelihood()->add_continuations(c);
  return r;
}

v1::Request Generate(int64_t id, const std::string& context, std::vector<std::string> stop,
                     int max_new_tokens) {
  v1::Request r;
  r.set_request_id(id);
  r.mutable_generate()->set_context(context);
  for (auto& s : stop) r.mutable_generate()->add_stop(s);
  r.mutable_generate()->set_max_new_tokens(max_new_tokens);
  return r;
}

TEST(Fnv1a64Test, MatchesPublishedVectors) {
  EXPECT_EQ(Fnv1a64(""), 0xcbf29ce484222325ULL);
  EXPECT_EQ(Fnv1a64("a"), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(Fnv1a64("foobar"), 0x85944171f73967e8ULL);
}

TEST(ScriptedEngineTest, LoglikelihoodFollowsTheDocumentedFormula) {
  auto engine = CreateScriptedEngine({});
  EXPECT_EQ(engine->backend(), "scripted");
  auto model = LoadOrDie(*engine, Model("tiny"));
  v1::Job job;
  job.add_prefixes("Few-shot block. ");
  *job.add_requests() = Loglikelihood(7, "Q: 2+2=", {" 4", " five and more"}, /*prefix_index=*/1);
  const auto outputs = RunAll(*model, job);
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_EQ(outputs[0].request_id(), 7);
  ASSERT_EQ(outputs[0].loglikelihood().continuations_size(), 2);
  const uint64_t h0 = Fnv1a64("tiny|Few-shot block. Q: 2+2=| 4");
  const auto& c0 = outputs[0].loglikelihood().continuations(0);
  EXPECT_DOUBLE_EQ(c0.logprob(), -static_cast<double>(h0 % 10000) / 1000.0);
  EXPECT_EQ(c0.num_tokens(), 1);  // 2 bytes -> max(1, 0)
  EXPECT_EQ(c0.is_greedy(), ((h0 >> 32) & 1) != 0);
  const auto& c1 = outputs[0].loglikelihood().continuations(1);
  EXPECT_EQ(c1.num_tokens(), 3);  // 14 bytes / 4
  EXPECT_LE(c1.logprob(), 0.0);
  EXPECT_GT(c1.logprob(), -10.0);
}

TEST(ScriptedEngineTest, OutputsDependOnModelAndTextOnly) {
  auto engine = CreateScriptedEngine({});
  auto a = LoadOrDie(*engine, Model("model-a"));
  auto a_again = LoadOrDie(*CreateScriptedEngine({}), Model("model-a"));
  auto b = LoadOrDie(*engine, Model("model-b"));
  v1::Job job;
  for (int i = 0; i < 20; ++i) {
    *job.add_requests() = Loglikelihood(i, absl::StrCat("context ", i), {" yes", " no"});
  }
  v1::Request rolling;
  rolling.set_request_id(100);
  rolling.mutable_loglikelihood_rolling()->set_text("a long document to score");
  *job.add_requests() = rolling;
  *job.add_requests() = Generate(101, "Tell me a story", {}, 0);

  const auto first = RunAll(*a, job);
  const auto second = RunAll(*a_again, job);
  const auto other = RunAll(*b, job);
  ASSERT_EQ(first.size(), 22u);
  ASSERT_EQ(second.size(), first.size());
  int differing = 0;
  for (size_t i = 0; i < first.size(); ++i) {
    EXPECT_EQ(first[i].SerializeAsString(), second[i].SerializeAsString()) << i;
    if (first[i].SerializeAsString() != other[i].SerializeAsString()) ++differing;
  }
  EXPECT_GT(differing, 15);  // another model gives other answers
  EXPECT_EQ(first[20].loglikelihood_rolling().num_tokens(), 6);  // 24 bytes / 4
}

TEST(ScriptedEngineTest, QuestionsGetAnAnswerAndStopStringsAreHonoured) {
  auto engine = CreateScriptedEngine({});
  auto model = LoadOrDie(*engine, Model("tiny"));
  v1::Job job;
  const std::string context = "Question: Tom has 3 apples and buys 4 more. How many?\nAnswer:";
  *job.add_requests() = Generate(1, context, {"\n\n", "Question:"}, 64);
  *job.add_requests() = Generate(2, context, {}, 64);
  *job.add_requests() = Generate(3, context, {}, 2);
  *job.add_requests() = Generate(4, context, {"", "answer"}, 64);
  const auto outputs = RunAll(*model, job);
  ASSERT_EQ(outputs.size(), 4u);
  const uint64_t n = Fnv1a64("tiny|" + context) % 100;

  const auto& stopped = outputs[0].generate();
  EXPECT_EQ(stopped.text(), absl::StrCat("The answer is ", n, "."));
  EXPECT_EQ(stopped.finish_reason(), v1::FINISH_REASON_STOP);
  EXPECT_EQ(stopped.num_tokens(), 5);  // the token holding the stop string counts

  const auto& natural = outputs[1].generate();
  EXPECT_EQ(natural.text(),
            absl::StrCat("The answer is ", n, ".\n\nQuestion: What is ", n, " plus one?"));
  EXPECT_EQ(natural.finish_reason(), v1::FINISH_REASON_EOS);
  EXPECT_EQ(natural.num_tokens(), 11);

  const auto& cut = outputs[2].generate();
  EXPECT_EQ(cut.text(), "The answer");
  EXPECT_EQ(cut.finish_reason(), v1::FINISH_REASON_LENGTH);
  EXPECT_EQ(cut.num_tokens(), 2);

  // Empty stop strings are ignored; the stop string itself is not returned.
  EXPECT_EQ(outputs[3].generate().text(), "The ");
  EXPECT_EQ(outputs[3].generate().finish_reason(), v1::FINISH_REASON_STOP);
}

TEST(ScriptedEngineTest, FreeTextHasBoundedLengthAndEndsWithAPeriod) {
  auto model = LoadOrDie(*CreateScriptedEngine({}), Model("tiny"));
  v1::Job job;
  for (int i = 0; i < 30; ++i) *job.add_requests() = Generate(i, absl::StrCat("Once ", i), {}, 0);
  for (const auto& out : RunAll(*model, job)) {
    EXPECT_GE(out.generate().num_tokens(), 6);
    EXPECT_LE(out.generate().num_tokens(), 15);
    EXPECT_EQ(out.generate().text().back(), '.');
    EXPECT_EQ(out.generate().finish_reason(), v1::FINISH_REASON_EOS);
  }
}

TEST(ScriptedEngineTest, SkipsAcknowledgedRequests) {
  auto model = LoadOrDie(*CreateScriptedEngine({}), Model("tiny"));
  v1::Job job;
  for (int i = 1; i <= 5; ++i) *job.add_requests() = Loglikelihood(i, "c", {" x"});
  const auto outputs = RunAll(*model, job, {2, 4});
  ASSERT_EQ(outputs.size(), 3u);
  EXPECT_EQ(outputs[0].request_id(), 1);
  EXPECT_EQ(outputs[1].request_id(), 3);
  EXPECT_EQ(outputs[2].request_id(), 5);
}

TEST(ScriptedEngineTest, RejectsMalformedRequests) {
  auto model = LoadOrDie(*CreateScriptedEngine({}), Model("tiny"));
  struct Case {
    v1::Request request;
    std::string message;
  };
  std::vector<Case> cases;
  cases.push_back({Loglikelihood(1, "c", {" x"}, /*prefix_index=*/2), "prefix_index 2"});
  cases.push_back({Loglikelihood(2, "c", {}), "no continuations"});
  cases.push_back({Generate(3, "c", {}, -1), "max_new_tokens is negative"});
  v1::Request empty;
  empty.set_request_id(4);
  cases.push_back({empty, "no request kind"});
  for (const Case& c : cases) {
    v1::Job job;
    job.add_prefixes("only one prefix");
    *job.add_requests() = c.request;
    absl::Status status;
    RunAll(*model, job, {}, &status);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    EXPECT_NE(status.message().find(c.message), std::string::npos) << status;
    EXPECT_NE(status.message().find(absl::StrCat("request ", c.request.request_id())),
              std::string::npos)
        << status;
  }
}

TEST(ScriptedEngineTest, LoadFailuresAreFailedPrecondition) {
  auto engine = CreateScriptedEngine({});
  auto missing = engine->Load(Model("m", "/nonexistent/dir/model.gguf"));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(missing.status().message().find("/nonexistent/dir/model.gguf"), std::string::npos);
  // Relative paths and existing absolute paths load.
  EXPECT_TRUE(engine->Load(Model("m", "relative/model.gguf")).ok());
  EXPECT_TRUE(engine->Load(Model("m", "/")).ok());
  EXPECT_EQ(engine->Load(Model("", "")).status().code(), absl::StatusCode::kInvalidArgument);

  ScriptedEngineOptions options;
  options.fail_model_load = true;
  auto failing = CreateScriptedEngine(options)->Load(Model("m"));
  EXPECT_EQ(failing.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(ScriptedEngineTest, CancellationStopsADelayedJob) {
  ScriptedEngineOptions options;
  options.request_delay = absl::Milliseconds(50);
  options.resident_bytes = 12345;
  auto model = LoadOrDie(*CreateScriptedEngine(options), Model("slow"));
  EXPECT_EQ(model->ResidentBytes(), 12345);
  v1::Job job;
  for (int i = 0; i < 100; ++i) *job.add_requests() = Loglikelihood(i, "c", {" x"});
  std::atomic<bool> cancelled{false};
  std::atomic<int> produced{0};
  const absl::Time start = absl::Now();
  std::thread canceller([&] {
    absl::SleepFor(absl::Milliseconds(120));
    cancelled.store(true);
  });
  const absl::Status status = model->RunJob(
      job, {}, [&](v1::Output) { ++produced; }, cancelled);
  canceller.join();
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled);
  EXPECT_GE(produced.load(), 1);
  EXPECT_LE(produced.load(), 3);
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
}

}  // namespace
}  // namespace proctor::worker
