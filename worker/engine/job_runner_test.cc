#include "worker/engine/job_runner.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "gtest/gtest.h"
#include "worker/engine/cpu_engine.h"
#include "worker/engine/test_data.h"

namespace proctor::engine {
namespace {

class JobRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = testing::SharedData("models/stories260K/stories260K.gguf");
    if (path_.empty()) GTEST_SKIP() << "stories260K not found (set PROCTOR_SHARED_DATA)";
    auto m = Model::Load(path_);
    ASSERT_TRUE(m.ok()) << m.status();
    model_ = std::move(*m);
    pool_ = std::make_unique<kernels::ThreadPool>(2);
    tf_ = std::make_unique<Transformer>(&model_->weights(), pool_.get());
  }

  // Σ log p(tokens[i] | tokens[<i]) for i >= from, by one plain forward pass
  // over the whole sequence and a double-precision log-softmax.
  double PlainLogprob(const std::vector<int32_t>& tokens, int64_t from) {
    KvCache cache(model_->config());
    EXPECT_TRUE(tf_->Extend(tokens, &cache).ok());
    const int64_t vocab = model_->config().vocab_size;
    std::vector<float> logits(static_cast<size_t>(vocab));
    double sum = 0;
    for (int64_t i = from; i < static_cast<int64_t>(tokens.size()); ++i) {
      const int64_t p = i - 1;
      tf_->Logits(cache, &p, 1, logits.data());
      double mx = logits[0], z = 0;
      for (float l : logits) mx = std::max<double>(mx, l);
      for (float l : logits) z += std::exp(l - mx);
      sum += logits[static_cast<size_t>(tokens[static_cast<size_t>(i)])] - mx - std::log(z);
    }
    return sum;
  }

  static v1::Job MakeJob() {
    v1::Job job;
    job.add_prefixes("Once upon a time, there was a little girl named Lily. ");
    const char* questions[] = {"She liked to", "One day, she saw a", ""};
    int64_t id = 1;
    for (const char* q : questions) {
      v1::Request* r = job.add_requests();
      r->set_request_id(id++);
      r->set_prefix_index(q[0] ? 1 : 0);
      r->mutable_loglikelihood()->set_context(q);
      for (const char* c : {" play", " run and jump", " eat", " big dog."}) {
        r->mutable_loglikelihood()->add_continuations(c);
      }
    }
    v1::Request* roll = job.add_requests();
    roll->set_request_id(id++);
    roll->mutable_loglikelihood_rolling()->set_text("The sun was shining. Tom went to the park.");
    v1::Request* gen = job.add_requests();
    gen->set_request_id(id++);
    gen->set_prefix_index(1);
    gen->mutable_generate()->set_context("She");
    gen->mutable_generate()->set_max_new_tokens(40);
    gen->mutable_generate()->add_stop(".");
    return job;
  }

  std::map<int64_t, v1::Output> RunAll(JobRunner& runner, const v1::Job& job,
                                       const std::vector<int64_t>& skip = {}) {
    std::map<int64_t, v1::Output> outs;
    std::atomic<bool> cancelled{false};
    absl::Status s = runner.Run(
        job, skip,
        [&](v1::Output o) {
          EXPECT_EQ(outs.count(o.request_id()), 0u) << "duplicate output";
          outs[o.request_id()] = std::move(o);
        },
        cancelled);
    EXPECT_TRUE(s.ok()) << s;
    return outs;
  }

  std::string path_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<kernels::ThreadPool> pool_;
  std::unique_ptr<Transformer> tf_;
};

TEST_F(JobRunnerTest, ContinuationLogprobEqualsPlainForward) {
  JobRunner runner(model_.get(), tf_.get(), {});
  auto seq = runner.LoglikelihoodSequence("Once upon a time, there was", " a little girl");
  ASSERT_TRUE(seq.ok()) << seq.status();
  double lp;
  bool greedy;
  ASSERT_TRUE(runner.Score(*seq, &lp, &greedy).ok());
  EXPECT_NEAR(lp, PlainLogprob(seq->tokens, seq->score_from), 1e-4);
  EXPECT_LT(lp, 0);
  // The continuation is exactly the tokens after the context's tokens.
  const Tokenizer* tok = model_->tokenizer();
  const auto ctx = tok->EncodeWithBos("Once upon a time, there was");
  EXPECT_EQ(seq->score_from, static_cast<int64_t>(ctx.size()));
  EXPECT_EQ(std::vector<int32_t>(seq->tokens.begin(), seq->tokens.begin() + seq->score_from), ctx);
}

TEST_F(JobRunnerTest, SuiteRulesForJoiningAndEmptyContext) {
  JobRunner runner(model_.get(), tf_.get(), {});
  // Rule 1: trailing whitespace moves to the continuation.
  auto a = runner.LoglikelihoodSequence("Once upon a time ", "there");
  auto b = runner.LoglikelihoodSequence("Once upon a time", " there");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->tokens, b->tokens);
  EXPECT_EQ(a->score_from, b->score_from);
  // Rule 2: empty context scores after BOS.
  auto e = runner.LoglikelihoodSequence("", "Once upon");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->tokens[0], 1);
  EXPECT_EQ(e->score_from, 1);
  EXPECT_EQ(std::vector<int32_t>(e->tokens.begin() + 1, e->tokens.end()),
            model_->tokenizer()->Encode("Once upon"));
}

TEST_F(JobRunnerTest, LeftTruncationKeepsScoredTokens) {
  JobRunner small(model_.get(), tf_.get(), JobRunnerOptions{true, 8});
  auto seq = small.LoglikelihoodSequence(
      "Once upon a time, there was a little girl named Lily. She liked to", " play");
  ASSERT_TRUE(seq.ok()) << seq.status();
  EXPECT_EQ(seq->tokens.size(), 9u);  // window = 8 fed + the last token
  const std::vector<int32_t> whole = model_->tokenizer()->EncodeWithBos(
      "Once upon a time, there was a little girl named Lily. She liked to play");
  EXPECT_EQ(std::vector<int32_t>(whole.end() - 9, whole.end()), seq->tokens);
  EXPECT_EQ(seq->score_from, 8);
  auto too_long =
      small.LoglikelihoodSequence("Once", " upon a time, there was a little girl named");
  EXPECT_EQ(too_long.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(JobRunnerTest, PrefixSharingEqualsNoSharing) {
  const v1::Job job = MakeJob();
  JobRunner shared(model_.get(), tf_.get(), JobRunnerOptions{true, 0});
  JobRunner alone(model_.get(), tf_.get(), JobRunnerOptions{false, 0});
  auto a = RunAll(shared, job);
  auto b = RunAll(alone, job);
  ASSERT_EQ(a.size(), static_cast<size_t>(job.requests_size()));
  ASSERT_EQ(b.size(), a.size());
  for (const auto& [id, out] : a) {
    const v1::Output& other = b[id];
    if (out.has_loglikelihood()) {
      ASSERT_EQ(out.loglikelihood().continuations_size(), 4);
      for (int c = 0; c < 4; ++c) {
        const auto& x = out.loglikelihood().continuations(c);
        const auto& y = other.loglikelihood().continuations(c);
        EXPECT_NEAR(x.logprob(), y.logprob(), 1e-4) << id << "/" << c;
        EXPECT_EQ(x.num_tokens(), y.num_tokens());
        EXPECT_EQ(x.is_greedy(), y.is_greedy());
        EXPECT_GT(x.num_tokens(), 0);
      }
    } else if (out.has_loglikelihood_rolling()) {
      EXPECT_NEAR(out.loglikelihood_rolling().logprob(), other.loglikelihood_rolling().logprob(),
                  1e-4);
    } else {
      EXPECT_EQ(out.generate().text(), other.generate().text());
    }
  }
  // Sharing computed far fewer positions.
  EXPECT_LT(shared.stats().tokens_computed * 2, alone.stats().tokens_computed);
  EXPECT_GT(shared.stats().tokens_reused, 0);
}

TEST_F(JobRunnerTest, RollingEqualsFullSequenceAndWindowsCoverAllTokens) {
  const std::string text = "The sun was shining. Tom went to the park with his mom.";
  const std::vector<int32_t> body = model_->tokenizer()->Encode(text);
  std::vector<int32_t> full = {1};
  full.insert(full.end(), body.begin(), body.end());
  v1::Job job;
  auto* r = job.add_requests();
  r->set_request_id(7);
  r->mutable_loglikelihood_rolling()->set_text(text);
  JobRunner big(model_.get(), tf_.get(), {});
  auto out = RunAll(big, job);
  EXPECT_EQ(out[7].loglikelihood_rolling().num_tokens(), static_cast<int32_t>(body.size()));
  EXPECT_NEAR(out[7].loglikelihood_rolling().logprob(), PlainLogprob(full, 1), 1e-4);
  JobRunner small(model_.get(), tf_.get(), JobRunnerOptions{true, 5});
  const auto windows = small.RollingSequences(text);
  EXPECT_EQ(windows.size(), (body.size() + 4) / 5);
  int64_t scored = 0;
  for (const auto& w : windows) {
    EXPECT_LE(w.tokens.size(), 6u);
    scored += static_cast<int64_t>(w.tokens.size()) - w.score_from;
  }
  EXPECT_EQ(scored, static_cast<int64_t>(body.size()));
}

TEST_F(JobRunnerTest, GreedyGenerationMatchesGoldenAndStops) {
  PROCTOR_REQUIRE_DATA(want_path, "expected/llama2c_run_t0_n64_once_upon_a_time.ids.txt");
  std::ifstream in(want_path);
  std::vector<int32_t> want;
  for (int32_t id; in >> id;) want.push_back(id);
  const std::vector<int32_t> gen(want.begin() + 4, want.end());
  const Tokenizer* tok = model_->tokenizer();
  const std::string want_text = tok->Decode(gen, false);
  JobRunner runner(model_.get(), tf_.get(), {});
  v1::Job job;
  auto* r = job.add_requests();
  r->set_request_id(1);
  r->mutable_generate()->set_context("Once upon a time");
  r->mutable_generate()->set_max_new_tokens(static_cast<int32_t>(gen.size()));
  auto* s = job.add_requests();
  s->set_request_id(2);
  s->mutable_generate()->set_context("Once upon a time");
  s->mutable_generate()->set_max_new_tokens(200);
  s->mutable_generate()->add_stop(".");
  s->mutable_generate()->add_stop("zzz");
  auto out = RunAll(runner, job);
  EXPECT_EQ(out[1].generate().text(), want_text);
  EXPECT_EQ(out[1].generate().finish_reason(), v1::FINISH_REASON_LENGTH);
  EXPECT_EQ(out[1].generate().num_tokens(), static_cast<int32_t>(gen.size()));
  EXPECT_EQ(out[2].generate().finish_reason(), v1::FINISH_REASON_STOP);
  EXPECT_EQ(out[2].generate().text(), want_text.substr(0, want_text.find('.')));
}

TEST_F(JobRunnerTest, SkipsAcknowledgedAndHonoursCancellation) {
  const v1::Job job = MakeJob();
  JobRunner runner(model_.get(), tf_.get(), {});
  auto out = RunAll(runner, job, {1, 2});
  EXPECT_EQ(out.count(1), 0u);
  EXPECT_EQ(out.count(2), 0u);
  EXPECT_EQ(out.count(3), 1u);
  std::atomic<bool> cancelled{true};
  int emitted = 0;
  EXPECT_EQ(runner
                .Run(
                    job, {}, [&](v1::Output) { ++emitted; }, cancelled)
                .code(),
            absl::StatusCode::kCancelled);
  EXPECT_EQ(emitted, 0);
}

TEST_F(JobRunnerTest, InvalidRequestsAreRejected) {
  JobRunner runner(model_.get(), tf_.get(), {});
  std::atomic<bool> cancelled{false};
  v1::Job job;
  job.add_requests()->set_request_id(1);  // no kind
  EXPECT_EQ(runner
                .Run(
                    job, {}, [](v1::Output) {}, cancelled)
                .code(),
            absl::StatusCode::kInvalidArgument);
  v1::Job job2;
  auto* r = job2.add_requests();
  r->set_request_id(2);
  r->set_prefix_index(3);
  r->mutable_loglikelihood()->add_continuations("x");
  EXPECT_EQ(runner
                .Run(
                    job2, {}, [](v1::Output) {}, cancelled)
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(JobRunnerTest, CpuEngineLoadsAndRuns) {
  CpuEngineOptions opts;
  opts.threads = 2;
  opts.allowed_model_roots = {std::filesystem::path(path_).parent_path().string()};
  auto engine = CreateCpuEngine(opts);
  EXPECT_EQ(engine->backend(), "cpu");
  v1::ModelRef ref;
  ref.set_path(path_);
  auto loaded = engine->Load(ref);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_GT((*loaded)->ResidentBytes(), 0);
  std::atomic<bool> cancelled{false};
  int n = 0;
  ASSERT_TRUE((*loaded)
                  ->RunJob(
                      MakeJob(), {}, [&](v1::Output) { ++n; }, cancelled)
                  .ok());
  EXPECT_EQ(n, 5);
  // Outside the allowed roots, missing, and garbage files.
  v1::ModelRef outside;
  outside.set_path("/etc/hostname");
  EXPECT_EQ(engine->Load(outside).status().code(), absl::StatusCode::kPermissionDenied);
  v1::ModelRef missing;
  missing.set_path("/nonexistent/m.gguf");
  EXPECT_EQ(engine->Load(missing).status().code(), absl::StatusCode::kFailedPrecondition);
  const std::string garbage = ::testing::TempDir() + "/garbage.gguf";
  std::ofstream(garbage) << "GGUF this is not a model";
  auto any = CreateCpuEngine(CpuEngineOptions{});
  v1::ModelRef g;
  g.set_path(garbage);
  auto bad = any->Load(g);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(bad.status().message().find("garbage.gguf"), std::string::npos) << bad.status();
}

}  // namespace
}  // namespace proctor::engine
