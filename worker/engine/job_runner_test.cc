#include "worker/engine/job_runner.h"

#include <cmath>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kernels/comm/communicator.h"
#include "worker/engine/backend_cpu.h"
#include "worker/engine/cpu_engine.h"
#include "worker/engine/tensor_parallel.h"
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

// Options for the one-by-one reference path and the batched path.
JobRunnerOptions OneByOne() {
  JobRunnerOptions o;
  o.batching = false;
  return o;
}

JobRunnerOptions Batched(int max_batch = 16) {
  JobRunnerOptions o;
  o.max_batch = max_batch;
  return o;
}

// Two outputs of one request from two runners agree: log-likelihoods within
// float summation tolerance, everything else exactly.
void ExpectSameOutput(const v1::Output& a, const v1::Output& b) {
  SCOPED_TRACE(a.request_id());
  ASSERT_EQ(a.result_case(), b.result_case());
  if (a.has_loglikelihood()) {
    ASSERT_EQ(a.loglikelihood().continuations_size(), b.loglikelihood().continuations_size());
    for (int c = 0; c < a.loglikelihood().continuations_size(); ++c) {
      const auto& x = a.loglikelihood().continuations(c);
      const auto& y = b.loglikelihood().continuations(c);
      EXPECT_NEAR(x.logprob(), y.logprob(), 1e-4) << "continuation " << c;
      EXPECT_EQ(x.num_tokens(), y.num_tokens()) << "continuation " << c;
      EXPECT_EQ(x.is_greedy(), y.is_greedy()) << "continuation " << c;
    }
  } else if (a.has_loglikelihood_rolling()) {
    EXPECT_NEAR(a.loglikelihood_rolling().logprob(), b.loglikelihood_rolling().logprob(), 1e-4);
    EXPECT_EQ(a.loglikelihood_rolling().num_tokens(), b.loglikelihood_rolling().num_tokens());
  } else {
    EXPECT_EQ(a.generate().text(), b.generate().text());
    EXPECT_EQ(a.generate().num_tokens(), b.generate().num_tokens());
    EXPECT_EQ(a.generate().finish_reason(), b.generate().finish_reason());
  }
}

// Multiple-choice questions under two few-shot prefixes (continuations with
// shared first words, a duplicate, an empty one, one-token letters), questions
// without a prefix, and rolling texts, one of them longer than a window.
v1::Job MixedScoringJob() {
  v1::Job job;
  job.add_prefixes("Once upon a time, there was a little girl named Lily. She liked to play. ");
  job.add_prefixes("Tom had a big red ball. He went to the park with his mom. ");
  int64_t id = 1;
  auto mc = [&](int prefix, const std::string& q, std::vector<std::string> conts) {
    v1::Request* r = job.add_requests();
    r->set_request_id(id++);
    r->set_prefix_index(prefix);
    r->mutable_loglikelihood()->set_context(q);
    for (const std::string& c : conts) r->mutable_loglikelihood()->add_continuations(c);
  };
  mc(1, "One day, she saw a", {" big dog", " big cat", " small bird", " tree", " big dog"});
  mc(1, "She wanted to", {" run", " eat a cake", " go home", ""});
  mc(1, "Answer:", {" A", " B", " C", " D"});
  mc(2, "Tom threw the", {" ball", " ball to his mom", " cake"});
  mc(2, "Answer:", {" A", " B", " C", " D"});
  mc(0, "The sun", {" was shining.", " is hot", " went to sleep"});
  mc(0, "", {"Once upon a time", "The end."});
  for (const char* text : {"The sun was shining. Tom went to the park.",
                           "Lily and her mom made a cake. It was very yummy and sweet. They ate it "
                           "all and then they went outside to play in the warm sun.",
                           ""}) {
    v1::Request* roll = job.add_requests();
    roll->set_request_id(id++);
    roll->mutable_loglikelihood_rolling()->set_text(text);
  }
  return job;
}

TEST_F(JobRunnerTest, BatchedScoringEqualsOneByOne) {
  const v1::Job job = MixedScoringJob();
  for (int64_t max_context : {0, 24}) {
    SCOPED_TRACE(max_context);
    JobRunnerOptions batched_options = Batched();
    batched_options.max_context = max_context;
    JobRunnerOptions reference_options = OneByOne();
    reference_options.max_context = max_context;
    JobRunnerOptions scratch_options = reference_options;
    scratch_options.prefix_sharing = false;
    JobRunner batched(model_.get(), tf_.get(), batched_options);
    JobRunner reference(model_.get(), tf_.get(), reference_options);
    JobRunner scratch(model_.get(), tf_.get(), scratch_options);
    auto a = RunAll(batched, job);
    auto b = RunAll(reference, job);
    auto c = RunAll(scratch, job);
    ASSERT_EQ(a.size(), static_cast<size_t>(job.requests_size()));
    ASSERT_EQ(b.size(), a.size());
    ASSERT_EQ(c.size(), a.size());
    for (const auto& [id, out] : a) {
      ExpectSameOutput(out, b[id]);
      ExpectSameOutput(out, c[id]);
    }
    // The empty continuation scores nothing.
    EXPECT_EQ(a[2].loglikelihood().continuations(3).num_tokens(), 0);
    EXPECT_EQ(a[2].loglikelihood().continuations(3).logprob(), 0.0);
    // Same positions fed and scored; batching computed at most a few more
    // (sub-branch slack) in far fewer calls.
    const JobStats& sa = batched.stats();
    const JobStats& sb = reference.stats();
    EXPECT_EQ(sa.sequences, sb.sequences);
    EXPECT_EQ(sa.tokens_scored, sb.tokens_scored);
    EXPECT_EQ(sa.tokens_computed + sa.tokens_reused, sb.tokens_computed + sb.tokens_reused);
    EXPECT_LE(sa.tokens_computed, sb.tokens_computed * 5 / 4 + 8);
    EXPECT_LT(sa.extend_calls, sb.extend_calls);
    if (max_context == 0) {
      EXPECT_LT(sb.tokens_computed * 2, scratch.stats().tokens_computed);
    }
  }
}

TEST_F(JobRunnerTest, BranchGroupsNeverRecomputeTheQuestion) {
  // MMLU-shaped: one few-shot prefix, then per question 4 letters (one or two
  // tokens in this vocabulary). The group of each question forks after the
  // question (nothing is computed twice), never after the few-shot prefix.
  v1::Job job;
  job.add_prefixes(
      "Lily liked to play with her ball. Answer: A\n\nTom went to the park. Answer: C\n\n"
      "The sun was hot. Answer: B\n\n");
  const char* questions[] = {"The dog ran to the tree.", "Mom made a big cake.",
                             "She saw a little bird in the sky.", "They ate it all."};
  int64_t id = 1;
  for (const char* q : questions) {
    v1::Request* r = job.add_requests();
    r->set_request_id(id++);
    r->set_prefix_index(1);
    r->mutable_loglikelihood()->set_context(absl::StrCat(q, " Answer:"));
    for (const char* c : {" A", " B", " C", " D"}) r->mutable_loglikelihood()->add_continuations(c);
  }
  JobRunner batched(model_.get(), tf_.get(), Batched());
  JobRunner reference(model_.get(), tf_.get(), OneByOne());
  auto a = RunAll(batched, job);
  auto b = RunAll(reference, job);
  for (const auto& [rid, out] : a) ExpectSameOutput(out, b[rid]);
  EXPECT_EQ(batched.stats().tokens_computed, reference.stats().tokens_computed);
  EXPECT_EQ(batched.stats().tokens_reused, reference.stats().tokens_reused);
  EXPECT_EQ(batched.stats().tokens_scored, reference.stats().tokens_scored);
  // Per question: one call to the question, at most one for its branches.
  EXPECT_LE(batched.stats().extend_calls, 8);
  EXPECT_GE(batched.stats().extend_calls, 4);
}

// Generate requests sharing a prompt prefix, with stop strings, small
// max_new_tokens, an end-of-text ending and seeded sampling.
v1::Job GenerateJob(int n) {
  v1::Job job;
  job.add_prefixes("Once upon a time, there was a little girl named Lily. ");
  const char* contexts[] = {
      "She liked to",     "One day, she saw a",        "Tom had a", "She", "The sun was",
      "Lily and her mom", "The end. Once upon a time", ""};
  for (int i = 0; i < n; ++i) {
    v1::Request* r = job.add_requests();
    r->set_request_id(100 + i);
    r->set_prefix_index(i % 3 == 2 ? 0 : 1);
    auto* g = r->mutable_generate();
    g->set_context(contexts[i % 8]);
    g->set_max_new_tokens(i % 4 == 0 ? 6 + i : 120);
    if (i % 4 == 1) g->add_stop(".");
    if (i % 4 == 3) g->add_stop("\n");
    if (i % 5 == 4) {
      g->set_temperature(0.8f);
      g->set_top_p(0.9f);
      g->set_seed(7 + i);
    }
  }
  return job;
}

TEST_F(JobRunnerTest, BatchedGenerationEqualsOneByOne) {
  const v1::Job job = GenerateJob(10);
  JobRunner reference(model_.get(), tf_.get(), OneByOne());
  auto want = RunAll(reference, job);
  ASSERT_EQ(want.size(), 10u);
  std::map<v1::FinishReason, int> reasons;
  for (const auto& [id, out] : want) ++reasons[out.generate().finish_reason()];
  EXPECT_GT(reasons[v1::FINISH_REASON_STOP], 0);
  EXPECT_GT(reasons[v1::FINISH_REASON_LENGTH], 0);
  // (stories260K never produces its EOS: see SmolLm2BatchedGenerationWithEos.)
  // All at once, and with fewer slots than requests (continuous batching).
  for (int max_batch : {16, 3, 1}) {
    SCOPED_TRACE(max_batch);
    JobRunner batched(model_.get(), tf_.get(), Batched(max_batch));
    auto got = RunAll(batched, job);
    ASSERT_EQ(got.size(), want.size());
    for (const auto& [id, out] : got) ExpectSameOutput(out, want[id]);
    EXPECT_EQ(batched.stats().tokens_scored, reference.stats().tokens_scored);
    EXPECT_EQ(batched.stats().sequences, 10);
    if (max_batch > 1) {
      EXPECT_LT(batched.stats().extend_calls, reference.stats().extend_calls);
    }
  }
}

TEST_F(JobRunnerTest, ContinuousBatchingEmitsEachOutputWhenItFinishes) {
  // Two slots, five requests: the long first one keeps its slot while the
  // short ones pass through the other and are emitted before it.
  v1::Job job;
  const int32_t max_new[] = {80, 3, 4, 5, 6};
  for (int i = 0; i < 5; ++i) {
    v1::Request* r = job.add_requests();
    r->set_request_id(i + 1);
    r->mutable_generate()->set_context(i == 0 ? "Once upon a time" : "Tom had a big");
    r->mutable_generate()->set_max_new_tokens(max_new[i]);
  }
  JobRunner reference(model_.get(), tf_.get(), OneByOne());
  auto want = RunAll(reference, job);
  JobRunner batched(model_.get(), tf_.get(), Batched(2));
  std::vector<int64_t> order;
  std::map<int64_t, v1::Output> got;
  std::atomic<bool> cancelled{false};
  ASSERT_TRUE(batched
                  .Run(
                      job, {},
                      [&](v1::Output o) {
                        order.push_back(o.request_id());
                        got[o.request_id()] = std::move(o);
                      },
                      cancelled)
                  .ok());
  ASSERT_EQ(order.size(), 5u);
  EXPECT_EQ(order.back(), 1);
  for (const auto& [id, out] : got) ExpectSameOutput(out, want[id]);
  EXPECT_EQ(got[1].generate().num_tokens(), 80);
}

TEST_F(JobRunnerTest, CancellationStopsABatchBetweenSteps) {
  v1::Job job = GenerateJob(8);
  for (v1::Request& r : *job.mutable_requests()) {
    r.mutable_generate()->clear_stop();
    r.mutable_generate()->set_max_new_tokens(r.request_id() == 100 ? 2 : 100);
  }
  JobRunner batched(model_.get(), tf_.get(), Batched());
  std::atomic<bool> cancelled{false};
  std::vector<int64_t> emitted;
  const absl::Status s = batched.Run(
      job, {},
      [&](v1::Output o) {
        emitted.push_back(o.request_id());
        cancelled = true;  // the worker learnt of the cancel from a heartbeat
      },
      cancelled);
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled) << s;
  EXPECT_EQ(emitted, std::vector<int64_t>{100});
  // Scoring stops between groups too.
  cancelled = false;
  emitted.clear();
  const absl::Status t = batched.Run(
      MakeJob(), {},
      [&](v1::Output o) {
        emitted.push_back(o.request_id());
        cancelled = true;
      },
      cancelled);
  EXPECT_EQ(t.code(), absl::StatusCode::kCancelled) << t;
  EXPECT_EQ(emitted.size(), 1u);
}

TEST_F(JobRunnerTest, GenerationPromptsForkFromTheirSharedPrefix) {
  const v1::Job job = GenerateJob(8);
  JobRunner batched(model_.get(), tf_.get(), Batched());
  JobRunnerOptions scratch_options = Batched();
  scratch_options.prefix_sharing = false;
  JobRunner scratch(model_.get(), tf_.get(), scratch_options);
  auto a = RunAll(batched, job);
  auto b = RunAll(scratch, job);
  for (const auto& [id, out] : a) ExpectSameOutput(out, b[id]);
  EXPECT_GT(batched.stats().tokens_reused, 0);
  EXPECT_EQ(scratch.stats().tokens_reused, 0);
  EXPECT_LT(batched.stats().tokens_computed, scratch.stats().tokens_computed);
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

TEST_F(JobRunnerTest, BatchedAtTwoRanksEqualsOneByOneAtOne) {
  // Two CPU ranks (heads, FFN columns and vocabulary split; scoring through
  // the vocabulary-parallel LogProbs) against the single-rank reference.
  const ModelWeights& full = model_->weights();
  auto group = kernels::comm::CreateThreadGroup(2);
  std::deque<ModelWeights> shards;
  std::vector<std::unique_ptr<Backend>> backends;
  std::vector<Backend*> ranks;
  for (int r = 0; r < 2; ++r) {
    auto shard = ShardWeights(full, r, 2);
    ASSERT_TRUE(shard.ok()) << shard.status();
    shards.push_back(std::move(*shard));
    backends.push_back(
        CreateCpuBackend(&shards.back(), nullptr, group[static_cast<size_t>(r)].get()));
    ranks.push_back(backends.back().get());
  }
  Transformer tp2(std::move(ranks));
  v1::Job job = MixedScoringJob();
  const v1::Job gen = GenerateJob(6);
  for (const v1::Request& r : gen.requests()) *job.add_requests() = r;
  job.add_prefixes(gen.prefixes(0));
  for (v1::Request& r : *job.mutable_requests()) {
    if (r.has_generate() && r.prefix_index() > 0) r.set_prefix_index(3);
  }
  JobRunner batched(model_.get(), &tp2, Batched(4));
  JobRunner reference(model_.get(), tf_.get(), OneByOne());
  auto a = RunAll(batched, job);
  auto b = RunAll(reference, job);
  ASSERT_EQ(a.size(), static_cast<size_t>(job.requests_size()));
  for (const auto& [id, out] : a) ExpectSameOutput(out, b[id]);
}

// SmolLM2-135M-Instruct (the Q4_1 GGUF at $PROCTOR_SMOLLM2_GGUF; skipped
// without it): chat prompts under one shared system prefix that finish at
// <|im_end|> (EOS), at a stop string and at max_new_tokens, in one batch and
// with fewer slots than requests, against the one-by-one path.
TEST(JobRunnerSmolLm2Test, BatchedGenerationWithEosEqualsOneByOne) {
  const char* path = std::getenv("PROCTOR_SMOLLM2_GGUF");
  if (path == nullptr || !std::filesystem::exists(path)) {
    GTEST_SKIP() << "set PROCTOR_SMOLLM2_GGUF to SmolLM2-135M-Instruct.Q4_1.gguf";
  }
  auto m = Model::Load(path);
  ASSERT_TRUE(m.ok()) << m.status();
  kernels::ThreadPool pool(2);
  Transformer tf(&(*m)->weights(), &pool);
  v1::Job job;
  job.add_prefixes(
      "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n");
  const char* questions[] = {"Say hello.", "What is the capital of France?",
                             "List three colours, separated by commas.", "Count from 1 to 30.",
                             "What is 2 + 2?"};
  for (int i = 0; i < 5; ++i) {
    v1::Request* r = job.add_requests();
    r->set_request_id(i + 1);
    r->set_prefix_index(1);
    auto* g = r->mutable_generate();
    g->set_context(absl::StrCat(questions[i], "<|im_end|>\n<|im_start|>assistant\n"));
    g->set_max_new_tokens(i == 3 ? 8 : 24);
    if (i == 0) g->add_stop("\n");
  }
  std::map<int64_t, v1::Output> want, got;
  std::atomic<bool> cancelled{false};
  JobRunner reference(m->get(), &tf, OneByOne());
  ASSERT_TRUE(
      reference
          .Run(
              job, {}, [&](v1::Output o) { want[o.request_id()] = std::move(o); }, cancelled)
          .ok());
  std::map<v1::FinishReason, int> reasons;
  for (const auto& [id, out] : want) ++reasons[out.generate().finish_reason()];
  EXPECT_GT(reasons[v1::FINISH_REASON_EOS], 0);
  EXPECT_GT(reasons[v1::FINISH_REASON_STOP], 0);
  EXPECT_GT(reasons[v1::FINISH_REASON_LENGTH], 0);
  JobRunner batched(m->get(), &tf, Batched(3));
  ASSERT_TRUE(batched
                  .Run(
                      job, {}, [&](v1::Output o) { got[o.request_id()] = std::move(o); }, cancelled)
                  .ok());
  ASSERT_EQ(got.size(), want.size());
  for (const auto& [id, out] : got) ExpectSameOutput(out, want[id]);
}

}  // namespace
}  // namespace proctor::engine
