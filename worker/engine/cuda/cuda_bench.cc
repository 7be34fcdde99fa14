// proctor_cuda_bench: the engine's evaluation-shaped path (prefill + scoring
// of every position, vocabulary-parallel log-softmax) on one backend, for the
// end-to-end part of scripts/gpu-check and tests/reference/hf_llama_compare.py.
// Figures, never assertions.
//
//   proctor_cuda_bench --model=DIR|FILE --tokens=FILE --batch=B --seq=T
//       [--backend=cuda|cpu] [--tp=0] [--nccl_at_tp1] [--no_graphs]
//       [--logits_out=FILE] [--generate=N] [--repeat=R]
//
// --tokens: B*T little-endian int32 ids (B sequences of T tokens).
// Prints one JSON line: backend, tp, the memory plan, tokens/s of scoring
// (each sequence: Extend(T) then LogProbs at positions 0..T-2, best of R
// timed passes after one warm-up), the sum of log-probabilities, and with
// --generate the greedy continuation of sequence 0. --logits_out writes the
// F32 logits [T, vocab] of sequence 0 (every position).
//
//   proctor_cuda_bench --model=M --mc_questions=Q [--mc_prefix=600]
//       [--mc_question=40] [--mc_batch=6] [--backend=...] [--repeat=R]
//
// The multiple-choice figure (PERFORMANCE.md: "MMLU-shaped 5-shot multiple
// choice"): a shared few-shot prefix of P tokens, Q questions of L tokens
// and 4 single-token options each, every option scored as log p(option |
// prefix + question). "batched": the prefix once, each question a fork of
// it, mc_batch questions per ExtendBatch, the 4 x mc_batch options in one
// LogProbs call. "separate": every (question, option) request from scratch
// (Extend(prefix + question), LogProbs of its option), as a server scoring
// each request alone would. Prints one JSON line with both times, their
// ratio, and the largest log-probability difference between the two.
// Token ids are drawn at random (fixed seed) from the vocabulary.
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <random>
#include <span>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "kernels/cpu/reference.h"
#include "kernels/cpu/thread_pool.h"
#include "worker/engine/cuda/cuda_engine.h"
#include "worker/engine/model.h"
#include "worker/engine/transformer.h"

ABSL_FLAG(std::string, model, "", "GGUF file, llama2.c .bin, or Hugging Face checkpoint directory");
ABSL_FLAG(std::string, tokens, "", "B*T little-endian int32 token ids");
ABSL_FLAG(int, batch, 1, "sequences in --tokens");
ABSL_FLAG(int, seq, 0, "tokens per sequence");
ABSL_FLAG(std::string, backend, "cuda", "cuda or cpu");
ABSL_FLAG(int, tp, 0, "cuda: tensor-parallel degree (0 = choose)");
ABSL_FLAG(bool, nccl_at_tp1, false, "cuda: collectives through a one-rank NCCL group");
ABSL_FLAG(bool, no_graphs, false, "cuda: run decode steps without CUDA graphs");
ABSL_FLAG(std::string, logits_out, "", "write F32 logits [T, vocab] of sequence 0 here");
ABSL_FLAG(int, generate, 0, "greedy tokens to generate after sequence 0");
ABSL_FLAG(int, repeat, 3, "timed passes (best is reported)");
ABSL_FLAG(int, threads, 0, "cpu: threads (0 = all)");
ABSL_FLAG(int, mc_questions, 0, "multiple-choice figure: questions (0 = off)");
ABSL_FLAG(int, mc_prefix, 600, "multiple-choice figure: tokens of the shared few-shot prefix");
ABSL_FLAG(int, mc_question, 40, "multiple-choice figure: tokens per question");
ABSL_FLAG(int, mc_batch, 6, "multiple-choice figure: questions per batched step");

namespace {

int Fail(const std::string& msg) {
  std::fprintf(stderr, "proctor_cuda_bench: %s\n", msg.c_str());
  return 1;
}

using proctor::engine::CacheRow;
using proctor::engine::ExtendItem;
using proctor::engine::KvCache;
using proctor::engine::Transformer;

double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

constexpr int kOptions = 4;

struct McWork {
  std::vector<int32_t> prefix;
  std::vector<std::vector<int32_t>> questions;
  std::vector<std::array<int32_t, kOptions>> options;
};

// Prefix once; per group of mc_batch questions: forks of the prefix, one
// ExtendBatch, one LogProbs over every option of the group.
absl::Status ScoreBatched(const Transformer& tf, const McWork& w, int group, float* logprob) {
  KvCache prefix;
  PROCTOR_RETURN_IF_ERROR(tf.Extend(w.prefix, &prefix));
  const int64_t base = prefix.length();
  const size_t q_count = w.questions.size();
  for (size_t q0 = 0; q0 < q_count; q0 += static_cast<size_t>(group)) {
    const size_t q1 = std::min(q_count, q0 + static_cast<size_t>(group));
    std::vector<KvCache> caches(q1 - q0);
    std::vector<ExtendItem> items;
    for (size_t q = q0; q < q1; ++q) {
      PROCTOR_RETURN_IF_ERROR(tf.Fork(prefix, base, &caches[q - q0]));
      items.push_back({&caches[q - q0], w.questions[q]});
    }
    PROCTOR_RETURN_IF_ERROR(tf.ExtendBatch(items));
    std::vector<CacheRow> rows;
    std::vector<int32_t> targets;
    for (size_t q = q0; q < q1; ++q) {
      const KvCache& c = caches[q - q0];
      for (int o = 0; o < kOptions; ++o) {
        rows.push_back({&c, c.length() - 1});
        targets.push_back(w.options[q][static_cast<size_t>(o)]);
      }
    }
    std::vector<int32_t> argmax(rows.size());
    PROCTOR_RETURN_IF_ERROR(
        tf.LogProbs(rows, targets.data(), logprob + q0 * kOptions, argmax.data()));
  }
  return absl::OkStatus();
}

// Every (question, option) request alone, from scratch.
absl::Status ScoreSeparately(const Transformer& tf, const McWork& w, float* logprob) {
  KvCache cache;
  for (size_t q = 0; q < w.questions.size(); ++q) {
    std::vector<int32_t> context = w.prefix;
    context.insert(context.end(), w.questions[q].begin(), w.questions[q].end());
    for (int o = 0; o < kOptions; ++o) {
      cache.Truncate(0);
      PROCTOR_RETURN_IF_ERROR(tf.Extend(context, &cache));
      const int64_t last = cache.length() - 1;
      int32_t argmax = 0;
      PROCTOR_RETURN_IF_ERROR(tf.LogProbs(cache, &last, &w.options[q][static_cast<size_t>(o)], 1,
                                          logprob + q * kOptions + static_cast<size_t>(o),
                                          &argmax));
    }
  }
  return absl::OkStatus();
}

int RunMultipleChoice(const Transformer& tf, int64_t vocab, const std::string& backend,
                      const std::string& plan) {
  const int questions = absl::GetFlag(FLAGS_mc_questions), group = absl::GetFlag(FLAGS_mc_batch);
  const int prefix_len = absl::GetFlag(FLAGS_mc_prefix), q_len = absl::GetFlag(FLAGS_mc_question);
  if (prefix_len < 1 || q_len < 1 || group < 1) {
    return Fail("--mc_prefix, --mc_question and --mc_batch must be >= 1");
  }
  if (prefix_len + q_len > tf.config().context_length) {
    return Fail(absl::StrCat("prefix + question (", prefix_len + q_len,
                             " tokens) exceed the context length ", tf.config().context_length));
  }
  std::mt19937 rng(42);
  auto token = [&] { return static_cast<int32_t>(rng() % static_cast<uint32_t>(vocab)); };
  McWork w;
  for (int i = 0; i < prefix_len; ++i) w.prefix.push_back(token());
  for (int q = 0; q < questions; ++q) {
    std::vector<int32_t> t(static_cast<size_t>(q_len));
    for (int32_t& x : t) x = token();
    w.questions.push_back(std::move(t));
    w.options.push_back({token(), token(), token(), token()});
  }
  const size_t scored = static_cast<size_t>(questions) * kOptions;
  std::vector<float> batched(scored), separate(scored);
  double best_batched = 1e30, best_separate = 1e30;
  for (int pass = 0; pass <= std::max(1, absl::GetFlag(FLAGS_repeat)); ++pass) {
    auto t0 = std::chrono::steady_clock::now();
    if (absl::Status s = ScoreBatched(tf, w, group, batched.data()); !s.ok()) {
      return Fail(s.ToString());
    }
    if (pass > 0) best_batched = std::min(best_batched, Seconds(t0));
    t0 = std::chrono::steady_clock::now();
    if (absl::Status s = ScoreSeparately(tf, w, separate.data()); !s.ok()) {
      return Fail(s.ToString());
    }
    if (pass > 0) best_separate = std::min(best_separate, Seconds(t0));  // pass 0 warms up
  }
  double max_diff = 0;
  for (size_t i = 0; i < scored; ++i) {
    max_diff = std::max(max_diff, std::fabs(static_cast<double>(batched[i]) - separate[i]));
  }
  std::printf(
      "{\"bench\": \"engine_multiple_choice\", \"backend\": \"%s\", \"plan\": %s, "
      "\"questions\": %d, \"prefix_tokens\": %d, \"question_tokens\": %d, \"options\": %d, "
      "\"questions_per_step\": %d, \"batched_s\": %.6f, \"separate_s\": %.6f, "
      "\"speedup\": %.2f, \"requests_per_s_batched\": %.1f, "
      "\"requests_per_s_separate\": %.1f, \"max_logprob_diff\": %.6f}\n",
      backend.c_str(), plan.c_str(), questions, prefix_len, q_len, kOptions, group, best_batched,
      best_separate, best_separate / best_batched, static_cast<double>(scored) / best_batched,
      static_cast<double>(scored) / best_separate, max_diff);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  using namespace proctor::engine;  // NOLINT: a short tool
  const int batch = absl::GetFlag(FLAGS_batch), seq = absl::GetFlag(FLAGS_seq);
  const bool multiple_choice = absl::GetFlag(FLAGS_mc_questions) > 0;
  std::vector<int32_t> ids;
  if (!multiple_choice) {
    if (batch < 1 || seq < 2) return Fail("--batch >= 1 and --seq >= 2 are required");
    std::ifstream in(absl::GetFlag(FLAGS_tokens), std::ios::binary);
    if (!in) return Fail("cannot read --tokens " + absl::GetFlag(FLAGS_tokens));
    const std::string bytes((std::istreambuf_iterator<char>(in)), {});
    if (bytes.size() != static_cast<size_t>(batch) * seq * 4) {
      return Fail(absl::StrCat("--tokens has ", bytes.size(), " bytes, expected ", batch, " x ",
                               seq, " x 4"));
    }
    ids.resize(bytes.size() / 4);
    std::memcpy(ids.data(), bytes.data(), bytes.size());
  }

  auto model = Model::Load(absl::GetFlag(FLAGS_model));
  if (!model.ok()) return Fail(model.status().ToString());
  const ModelConfig& c = (*model)->config();

  std::unique_ptr<proctor::kernels::ThreadPool> pool;
  std::unique_ptr<cuda::CudaRanks> gpus;
  std::unique_ptr<Transformer> tf;
  std::string plan = "{}";
  int tp = 1;
  if (absl::GetFlag(FLAGS_backend) == "cpu") {
    pool = std::make_unique<proctor::kernels::ThreadPool>(
        absl::GetFlag(FLAGS_threads) > 0 ? absl::GetFlag(FLAGS_threads)
                                         : static_cast<int>(std::thread::hardware_concurrency()));
    tf = std::make_unique<Transformer>(&(*model)->weights(), pool.get());
  } else if (absl::GetFlag(FLAGS_backend) == "cuda") {
    cuda::CudaEngineOptions o;
    o.plan.tp = absl::GetFlag(FLAGS_tp);
    o.nccl_at_tp1 = absl::GetFlag(FLAGS_nccl_at_tp1);
    o.cuda_graphs = !absl::GetFlag(FLAGS_no_graphs);
    const auto t0 = std::chrono::steady_clock::now();
    auto g = cuda::UploadToGpus((*model)->weights(), o);
    if (!g.ok()) return Fail(g.status().ToString());
    gpus = std::move(*g);
    tp = gpus->plan.tp;
    plan = absl::StrCat(
        "{\"tp\": ", tp, ", \"weight_bytes\": ", gpus->plan.weight_bytes,
        ", \"kv_tokens\": ", gpus->plan.kv_tokens(), ", \"upload_s\": ",
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), "}");
    tf = std::make_unique<Transformer>(gpus->ranks());
  } else {
    return Fail("--backend must be cuda or cpu");
  }
  if (multiple_choice) {
    return RunMultipleChoice(*tf, c.vocab_size, absl::GetFlag(FLAGS_backend), plan);
  }

  const int64_t scored = seq - 1;
  std::vector<int64_t> pos(static_cast<size_t>(scored));
  for (int64_t i = 0; i < scored; ++i) pos[static_cast<size_t>(i)] = i;
  std::vector<float> lp(static_cast<size_t>(scored));
  std::vector<int32_t> am(static_cast<size_t>(scored));
  double best_s = 1e30, sum_lp = 0;
  KvCache cache;
  for (int pass = 0; pass <= std::max(1, absl::GetFlag(FLAGS_repeat)); ++pass) {
    sum_lp = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (int b = 0; b < batch; ++b) {
      cache.Truncate(0);
      const std::vector<int32_t> s(ids.begin() + static_cast<int64_t>(b) * seq,
                                   ids.begin() + static_cast<int64_t>(b + 1) * seq);
      absl::Status st = tf->Extend(s, &cache);
      if (st.ok()) st = tf->LogProbs(cache, pos.data(), s.data() + 1, scored, lp.data(), am.data());
      if (!st.ok()) return Fail(st.ToString());
      for (float v : lp) sum_lp += v;
    }
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (pass > 0) best_s = std::min(best_s, secs);  // pass 0 warms up (and captures nothing)
  }

  if (!absl::GetFlag(FLAGS_logits_out).empty()) {
    cache.Truncate(0);
    const std::vector<int32_t> s(ids.begin(), ids.begin() + seq);
    if (absl::Status st = tf->Extend(s, &cache); !st.ok()) return Fail(st.ToString());
    std::vector<int64_t> all(static_cast<size_t>(seq));
    for (int64_t i = 0; i < seq; ++i) all[static_cast<size_t>(i)] = i;
    std::vector<float> logits(static_cast<size_t>(seq) * static_cast<size_t>(c.vocab_size));
    tf->Logits(cache, all.data(), seq, logits.data());
    std::ofstream out(absl::GetFlag(FLAGS_logits_out), std::ios::binary);
    out.write(reinterpret_cast<const char*>(logits.data()),
              static_cast<std::streamsize>(logits.size() * sizeof(float)));
    if (!out) return Fail("cannot write --logits_out");
  }

  std::vector<int32_t> generated;
  if (absl::GetFlag(FLAGS_generate) > 0) {
    cache.Truncate(0);
    const std::vector<int32_t> s(ids.begin(), ids.begin() + seq);
    if (absl::Status st = tf->Extend(s, &cache); !st.ok()) return Fail(st.ToString());
    std::vector<float> logits(static_cast<size_t>(c.vocab_size));
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < absl::GetFlag(FLAGS_generate) && cache.length() < c.context_length; ++i) {
      const int64_t last = cache.length() - 1;
      tf->Logits(cache, &last, 1, logits.data());
      generated.push_back(
          static_cast<int32_t>(proctor::kernels::ref::Argmax(logits.data(), c.vocab_size)));
      if (absl::Status st = tf->Extend({generated.back()}, &cache); !st.ok()) {
        return Fail(st.ToString());
      }
    }
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "decode: %zu tokens in %.3f s (%.1f tokens/s)\n", generated.size(), secs,
                 static_cast<double>(generated.size()) / secs);
  }

  std::printf(
      "{\"bench\": \"engine_score\", \"backend\": \"%s\", \"plan\": %s, \"batch\": %d, "
      "\"seq\": %d, \"seconds\": %.6f, \"tokens_per_s\": %.1f, \"sum_logprob\": %.6f, "
      "\"generated\": [%s]}\n",
      absl::GetFlag(FLAGS_backend).c_str(), plan.c_str(), batch, seq, best_s,
      static_cast<double>(batch) * seq / best_s, sum_lp, absl::StrJoin(generated, ", ").c_str());
  return 0;
}
