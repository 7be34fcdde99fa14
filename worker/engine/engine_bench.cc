// proctor_engine_bench: CPU engine figures on a real model (reported, never
// asserted). Usage:
//   proctor_engine_bench [--model PATH] [--threads N] [--questions Q] [--choices C]
//                        [--prefill-tokens P] [--decode-tokens D] [--speed-only]
//                        [--score-ids ID,ID,...] [--batch B] [--gen-requests G]
// Default model: $PROCTOR_SHARED_DATA/models/stories260K/stories260K.gguf.
// Prints prefill tokens/s, decode tokens/s, and multiple-choice scoring
// requests/s with batched branch groups, with the one-by-one trie walk and
// without prefix sharing (plus the positions computed), and the generation
// tokens/s of G few-shot requests of D tokens (default 16), batched vs one by
// one (JobRunnerOptions::batching).
// --batch B adds batched decode: B forks of one prompt, each extended by one
// greedy token per step, as one ExtendBatch + one Logits call per step vs B
// separate Extend + Logits calls.
// --score-ids prints per-position log-probabilities of a token sequence
// instead (the accuracy probe of tests/reference/exact_logprobs.py).
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/reference.h"
#include "kernels/cpu/thread_pool.h"
#include "worker/engine/job_runner.h"
#include "worker/engine/model.h"
#include "worker/engine/transformer.h"

namespace proctor::engine {
namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// CPU seconds used by the whole process (all threads): on a shared machine
// this, unlike wall time, does not count the time other processes ran.
double CpuNow() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

constexpr const char* kFewShot =
    "Question: Where does the sun rise?\nAnswer: in the east\n\n"
    "Question: What do bees make?\nAnswer: honey\n\n"
    "Question: How many legs does a spider have?\nAnswer: eight\n\n"
    "Question: What color is the sky on a clear day?\nAnswer: blue\n\n"
    "Question: What do plants need to grow?\nAnswer: water and light\n\n";

// Peak resident set of this process image in KiB: VmHWM from /proc (reset by
// exec, unlike getrusage's ru_maxrss, which keeps the high-water mark of the
// process that forked us), else ru_maxrss.
long PeakRssKib() {
  if (FILE* f = std::fopen("/proc/self/status", "r")) {
    char line[256];
    long kib = -1;
    while (std::fgets(line, sizeof(line), f) != nullptr) {
      if (std::sscanf(line, "VmHWM: %ld kB", &kib) == 1) break;
    }
    std::fclose(f);
    if (kib >= 0) return kib;
  }
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

// Batched decode: `batch` forks of one prompt, `steps` greedy tokens each
// (the first one fed is distinct per sequence), run as one ExtendBatch and one
// Logits call per step, then as one Extend and one Logits call per sequence
// per step. Prints both rates; returns non-zero on an engine error.
int BatchedDecode(const Model& m, const Transformer& tf, int batch, int steps) {
  const int64_t vocab = m.config().vocab_size;
  KvCache root(m.config());
  if (!tf.Extend(m.tokenizer()->EncodeWithBos("Once upon a time"), &root).ok()) return 1;
  steps = static_cast<int>(std::min<int64_t>(steps, m.config().context_length - root.length()));
  const size_t b = static_cast<size_t>(batch);
  double rate[2] = {0, 0}, cpu_rate[2] = {0, 0};
  for (int batched = 1; batched >= 0; --batched) {
    std::vector<KvCache> caches(b);
    std::vector<std::vector<int32_t>> next(b, std::vector<int32_t>(1));
    for (size_t i = 0; i < b; ++i) {
      if (!tf.Fork(root, root.length(), &caches[i]).ok()) return 1;
      next[i][0] = static_cast<int32_t>((100 + 37 * static_cast<int64_t>(i)) % vocab);
    }
    std::vector<float> logits(b * static_cast<size_t>(vocab));
    std::vector<ExtendItem> items(b);
    std::vector<CacheRow> rows(b);
    const double t0 = Now(), c0 = CpuNow();
    for (int step = 0; step < steps; ++step) {
      if (batched == 1) {
        for (size_t i = 0; i < b; ++i) items[i] = {&caches[i], next[i]};
        if (!tf.ExtendBatch(items).ok()) return 1;
        for (size_t i = 0; i < b; ++i) rows[i] = {&caches[i], caches[i].length() - 1};
        if (!tf.Logits(rows, logits.data()).ok()) return 1;
      } else {
        for (size_t i = 0; i < b; ++i) {
          if (!tf.Extend(next[i], &caches[i]).ok()) return 1;
          const int64_t last = caches[i].length() - 1;
          tf.Logits(caches[i], &last, 1, logits.data() + i * static_cast<size_t>(vocab));
        }
      }
      for (size_t i = 0; i < b; ++i) {
        next[i][0] = static_cast<int32_t>(
            kernels::ref::Argmax(logits.data() + i * static_cast<size_t>(vocab), vocab));
      }
    }
    const double dt = Now() - t0, cpu = CpuNow() - c0, tokens = static_cast<double>(batch) * steps;
    rate[batched] = tokens / dt;
    cpu_rate[batched] = tokens / cpu;
    std::printf(
        "decode x%d (%s): %d steps in %.2f s = %.1f tokens/s (cpu %.2f s = %.1f tokens/cpu-s)\n",
        batch, batched ? "one batched step" : "one call per sequence", steps, dt, rate[batched],
        cpu, cpu_rate[batched]);
  }
  std::printf("batched decode speed-up: %.2fx (cpu %.2fx)\n", rate[1] / rate[0],
              cpu_rate[1] / cpu_rate[0]);
  return 0;
}

int Main(int argc, char** argv) {
  std::string model_path;
  int threads = 2, questions = 20, choices = 4, prefill_tokens = 128, decode_tokens = 32;
  int batch = 0, gen_requests = 16;
  bool speed_only = false;
  std::string score_ids;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--model" && has_value) {
      model_path = argv[++i];
    } else if (a == "--threads" && has_value) {
      if (!absl::SimpleAtoi(argv[++i], &threads) || threads <= 0) return 2;
    } else if (a == "--questions" && has_value) {
      if (!absl::SimpleAtoi(argv[++i], &questions) || questions <= 0) return 2;
    } else if (a == "--choices" && has_value) {
      if (!absl::SimpleAtoi(argv[++i], &choices) || choices <= 0) return 2;
    } else if (a == "--prefill-tokens" && has_value) {
      if (!absl::SimpleAtoi(argv[++i], &prefill_tokens) || prefill_tokens <= 0) return 2;
    } else if (a == "--decode-tokens" && has_value) {
      if (!absl::SimpleAtoi(argv[++i], &decode_tokens) || decode_tokens <= 0) return 2;
    } else if (a == "--batch" && has_value) {
      if (!absl::SimpleAtoi(argv[++i], &batch) || batch <= 0) return 2;
    } else if (a == "--gen-requests" && has_value) {
      if (!absl::SimpleAtoi(argv[++i], &gen_requests) || gen_requests <= 0) return 2;
    } else if (a == "--score-ids" && has_value) {
      score_ids = argv[++i];
    } else if (a == "--speed-only") {
      speed_only = true;
    } else {
      std::fprintf(stderr,
                   "usage: proctor_engine_bench [--model PATH] [--threads N] [--questions Q] "
                   "[--choices C] [--prefill-tokens P] [--decode-tokens D] [--speed-only] "
                   "[--score-ids ID,ID,...] [--batch B] [--gen-requests G]\n");
      return 2;
    }
  }
  if (model_path.empty()) {
    const char* root = std::getenv("PROCTOR_SHARED_DATA");
    model_path =
        absl::StrCat(root ? root : "../shared/data", "/models/stories260K/stories260K.gguf");
  }
  auto loaded = Model::Load(model_path);
  if (!loaded.ok()) {
    std::fprintf(stderr, "%s\n", std::string(loaded.status().message()).c_str());
    return 1;
  }
  const Model& m = **loaded;
  if (m.tokenizer() == nullptr) {
    std::fprintf(stderr, "model has no tokenizer\n");
    return 1;
  }
  kernels::ThreadPool pool(threads);
  Transformer tf(&m.weights(), &pool);
  if (!score_ids.empty()) {
    // Accuracy probe for tests/reference/exact_logprobs.py: one prefill of the
    // ids, then "i<TAB>log p(ids[i] | ids[<i])" for i >= 1, %.9g.
    std::vector<int32_t> ids;
    for (absl::string_view part : absl::StrSplit(score_ids, ',')) {
      int32_t id;
      if (!absl::SimpleAtoi(part, &id)) {
        std::fprintf(stderr, "--score-ids: '%s' is not a token id\n", std::string(part).c_str());
        return 2;
      }
      ids.push_back(id);
    }
    KvCache cache(m.config());
    if (absl::Status s = tf.Extend(ids, &cache); !s.ok()) {
      std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
      return 1;
    }
    const int64_t vocab = m.config().vocab_size;
    std::vector<float> logits(static_cast<size_t>(vocab));
    for (size_t i = 1; i < ids.size(); ++i) {
      const int64_t at = static_cast<int64_t>(i) - 1;
      tf.Logits(cache, &at, 1, logits.data());
      float lp;
      kernels::ref::LogSoftmaxGather(logits.data(), &ids[i], &lp, nullptr, 1, vocab);
      std::printf("%zu\t%.9g\n", i, lp);
    }
    return 0;
  }
  std::printf("model: %s\n  %s\n  threads=%d simd=%s\n", model_path.c_str(),
              m.config().DebugString().c_str(), threads, kernels::IsaName(kernels::ActiveIsa()));

  // Prefill: one chunk of P tokens (or what the context allows), repeated.
  int64_t kv_bytes = 0;  // largest KV cache of the speed runs
  {
    const int64_t n = std::min<int64_t>(prefill_tokens, m.config().context_length - 1);
    std::string text;
    std::vector<int32_t> toks;
    while (static_cast<int64_t>(toks.size()) < n) {
      text += kFewShot;
      toks = m.tokenizer()->EncodeWithBos(text);
    }
    toks.resize(static_cast<size_t>(n));
    int reps = 0;
    const double t0 = Now(), c0 = CpuNow();
    do {
      KvCache cache(m.config());
      if (!tf.Extend(toks, &cache).ok()) return 1;
      kv_bytes = std::max(kv_bytes, cache.Bytes());
      ++reps;
    } while (Now() - t0 < 2.0);
    const double dt = Now() - t0, cpu = CpuNow() - c0;
    std::printf(
        "prefill: %lld tokens x %d in %.2f s = %.1f tokens/s (cpu %.2f s = %.1f tokens/cpu-s)\n",
        static_cast<long long>(n), reps, dt, static_cast<double>(n) * reps / dt, cpu,
        static_cast<double>(n) * reps / cpu);
  }
  // Decode: greedy single-token steps after a short prompt.
  {
    KvCache cache(m.config());
    if (!tf.Extend(m.tokenizer()->EncodeWithBos("Once upon a time"), &cache).ok()) return 1;
    std::vector<float> logits(static_cast<size_t>(m.config().vocab_size));
    const int steps = static_cast<int>(
        std::min<int64_t>(decode_tokens, m.config().context_length - cache.length()));
    const double t0 = Now(), c0 = CpuNow();
    for (int i = 0; i < steps; ++i) {
      const int64_t last = cache.length() - 1;
      tf.Logits(cache, &last, 1, logits.data());
      const int32_t next =
          static_cast<int32_t>(kernels::ref::Argmax(logits.data(), m.config().vocab_size));
      if (!tf.Extend({next}, &cache).ok()) return 1;
    }
    const double dt = Now() - t0, cpu = CpuNow() - c0;
    std::printf("decode: %d tokens in %.2f s = %.1f tokens/s (cpu %.2f s = %.1f tokens/cpu-s)\n",
                steps, dt, steps / dt, cpu, steps / cpu);
    kv_bytes = std::max(kv_bytes, cache.Bytes());
  }
  if (batch > 0) {
    const int status = BatchedDecode(m, tf, batch, decode_tokens);
    if (status != 0) return status;
  }
  {
    std::printf("memory: peak RSS %.1f MiB, weights mapped %.1f MiB, largest KV cache %.1f MiB\n",
                static_cast<double>(PeakRssKib()) / 1024.0,
                static_cast<double>(m.weights().mapped_bytes) / (1 << 20),
                static_cast<double>(kv_bytes) / (1 << 20));
  }
  if (speed_only) return 0;
  // Multiple choice: a few-shot prefix, Q questions, C choices each.
  v1::Job job;
  job.add_prefixes(kFewShot);
  const char* words[] = {"red",   "green",         "the moon", "a small cat",
                         "seven", "under the bed", "bread",    "slowly"};
  for (int q = 0; q < questions; ++q) {
    v1::Request* r = job.add_requests();
    r->set_request_id(q + 1);
    r->set_prefix_index(1);
    r->mutable_loglikelihood()->set_context(
        absl::StrCat("Question: What is item number ", q, " in the list?\nAnswer:"));
    for (int c = 0; c < choices; ++c) {
      r->mutable_loglikelihood()->add_continuations(absl::StrCat(" ", words[(q + c) % 8]));
    }
  }
  // The same questions with sentence endings as choices (HellaSwag/PIQA-like:
  // several tokens each after the shared question).
  v1::Job endings = job;
  const char* tails[] = {" because it was raining outside all day.",
                         " and then everybody went home to sleep.",
                         " so the teacher wrote it on the board again.",
                         " but nobody in the class could remember it."};
  for (v1::Request& r : *endings.mutable_requests()) {
    for (int c = 0; c < choices; ++c) {
      r.mutable_loglikelihood()->set_continuations(
          c, tails[(static_cast<int>(r.request_id()) + c) % 4]);
    }
  }
  // (a) branch groups in batched steps, (b) the one-by-one trie walk, (c) every
  // sequence from scratch.
  struct Mode {
    const char* name;
    bool prefix_sharing, batching;
  };
  const Mode modes[] = {{"batched branches", true, true},
                        {"one-by-one trie walk", true, false},
                        {"no prefix sharing", false, false}};
  for (const v1::Job* mc : {&job, &endings}) {
    const char* shape = mc == &job ? "short answers" : "sentence endings";
    double rate[3] = {0, 0, 0};
    for (int k = 0; k < 3; ++k) {
      JobRunnerOptions options;
      options.prefix_sharing = modes[k].prefix_sharing;
      options.batching = modes[k].batching;
      JobRunner runner(&m, &tf, options);
      std::atomic<bool> cancelled{false};
      int outputs = 0;
      const double t0 = Now(), c0 = CpuNow();
      absl::Status s = runner.Run(
          *mc, {}, [&](v1::Output) { ++outputs; }, cancelled);
      const double dt = Now() - t0, cpu = CpuNow() - c0;
      if (!s.ok()) {
        std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
        return 1;
      }
      rate[k] = outputs / dt;
      std::printf(
          "multiple-choice, %s (%s): %d requests x %d choices in %.2f s = %.2f requests/s "
          "(cpu %.2f s = %.2f requests/cpu-s); positions computed %lld, reused %lld, scored %lld; "
          "extend calls %lld\n",
          shape, modes[k].name, outputs, choices, dt, outputs / dt, cpu, outputs / cpu,
          static_cast<long long>(runner.stats().tokens_computed),
          static_cast<long long>(runner.stats().tokens_reused),
          static_cast<long long>(runner.stats().tokens_scored),
          static_cast<long long>(runner.stats().extend_calls));
    }
    std::printf("multiple-choice, %s: batched %.2fx, trie walk %.2fx over no sharing\n", shape,
                rate[0] / rate[2], rate[1] / rate[2]);
  }
  // Generation: G few-shot prompts, D greedy tokens each, no stop strings;
  // continuous batching (max_batch 16) against one request at a time.
  v1::Job gen;
  gen.add_prefixes(kFewShot);
  for (int g = 0; g < gen_requests; ++g) {
    v1::Request* r = gen.add_requests();
    r->set_request_id(g + 1);
    r->set_prefix_index(1);
    r->mutable_generate()->set_context(
        absl::StrCat("Question: What is item number ", g, " in the list?\nAnswer:"));
    r->mutable_generate()->set_max_new_tokens(decode_tokens);
  }
  double gen_rate[2] = {0, 0};
  for (int batching = 1; batching >= 0; --batching) {
    JobRunnerOptions options;
    options.batching = batching == 1;
    JobRunner runner(&m, &tf, options);
    std::atomic<bool> cancelled{false};
    int64_t tokens = 0;
    const double t0 = Now(), c0 = CpuNow();
    absl::Status s = runner.Run(
        gen, {}, [&](v1::Output o) { tokens += o.generate().num_tokens(); }, cancelled);
    const double dt = Now() - t0, cpu = CpuNow() - c0;
    if (!s.ok()) {
      std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
      return 1;
    }
    gen_rate[batching] = static_cast<double>(tokens) / dt;
    std::printf(
        "generation (%s): %d requests, %lld tokens in %.2f s = %.1f tokens/s "
        "(cpu %.2f s = %.1f tokens/cpu-s; prompts included); positions computed %lld, "
        "reused %lld\n",
        batching ? "batched, max_batch 16" : "one by one", gen_requests,
        static_cast<long long>(tokens), dt, static_cast<double>(tokens) / dt, cpu,
        static_cast<double>(tokens) / cpu, static_cast<long long>(runner.stats().tokens_computed),
        static_cast<long long>(runner.stats().tokens_reused));
  }
  std::printf("generation speed-up: %.2fx\n", gen_rate[1] / gen_rate[0]);
  return 0;
}

}  // namespace
}  // namespace proctor::engine

int main(int argc, char** argv) { return proctor::engine::Main(argc, argv); }
