// proctor_engine_bench: CPU engine figures on a real model (reported, never
// asserted). Usage:
//   proctor_engine_bench [--model PATH] [--threads N] [--questions Q] [--choices C]
//                        [--prefill-tokens P] [--decode-tokens D] [--speed-only]
//                        [--score-ids ID,ID,...]
// Default model: $PROCTOR_SHARED_DATA/models/stories260K/stories260K.gguf.
// Prints prefill tokens/s, decode tokens/s, and multiple-choice scoring
// requests/s with and without prefix sharing (plus the positions computed).
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

int Main(int argc, char** argv) {
  std::string model_path;
  int threads = 2, questions = 20, choices = 4, prefill_tokens = 128, decode_tokens = 32;
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
    } else if (a == "--score-ids" && has_value) {
      score_ids = argv[++i];
    } else if (a == "--speed-only") {
      speed_only = true;
    } else {
      std::fprintf(stderr,
                   "usage: proctor_engine_bench [--model PATH] [--threads N] [--questions Q] "
                   "[--choices C] [--prefill-tokens P] [--decode-tokens D] [--speed-only] "
                   "[--score-ids ID,ID,...]\n");
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
  double rate[2] = {0, 0};
  for (int sharing = 1; sharing >= 0; --sharing) {
    JobRunner runner(&m, &tf, JobRunnerOptions{sharing == 1, 0});
    std::atomic<bool> cancelled{false};
    int outputs = 0;
    const double t0 = Now();
    absl::Status s = runner.Run(
        job, {}, [&](v1::Output) { ++outputs; }, cancelled);
    const double dt = Now() - t0;
    if (!s.ok()) {
      std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
      return 1;
    }
    rate[sharing] = outputs / dt;
    std::printf(
        "multiple-choice (%s): %d requests x %d choices in %.2f s = %.2f requests/s; "
        "positions computed %lld, reused %lld, scored %lld\n",
        sharing ? "prefix sharing" : "one by one", outputs, choices, dt, outputs / dt,
        static_cast<long long>(runner.stats().tokens_computed),
        static_cast<long long>(runner.stats().tokens_reused),
        static_cast<long long>(runner.stats().tokens_scored));
  }
  std::printf("prefix-sharing speed-up: %.2fx\n", rate[1] / rate[0]);
  return 0;
}

}  // namespace
}  // namespace proctor::engine

int main(int argc, char** argv) { return proctor::engine::Main(argc, argv); }
