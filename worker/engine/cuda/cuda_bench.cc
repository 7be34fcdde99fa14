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
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
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

namespace {

int Fail(const std::string& msg) {
  std::fprintf(stderr, "proctor_cuda_bench: %s\n", msg.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  using namespace proctor::engine;  // NOLINT: a short tool
  const int batch = absl::GetFlag(FLAGS_batch), seq = absl::GetFlag(FLAGS_seq);
  if (batch < 1 || seq < 2) return Fail("--batch >= 1 and --seq >= 2 are required");
  std::ifstream in(absl::GetFlag(FLAGS_tokens), std::ios::binary);
  if (!in) return Fail("cannot read --tokens " + absl::GetFlag(FLAGS_tokens));
  const std::string bytes((std::istreambuf_iterator<char>(in)), {});
  if (bytes.size() != static_cast<size_t>(batch) * seq * 4) {
    return Fail(absl::StrCat("--tokens has ", bytes.size(), " bytes, expected ", batch, " x ", seq,
                             " x 4"));
  }
  std::vector<int32_t> ids(bytes.size() / 4);
  std::memcpy(ids.data(), bytes.data(), bytes.size());

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
