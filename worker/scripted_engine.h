// The "scripted" backend: a deterministic test double of the model engine.
//
// Integration and fault tests run real `proctor-worker` processes against a
// real coordinator without a model. Every output is a pure function of the
// model name and the full request text (job prefix + context), so two runs of
// the same suite -- sharded differently, retried, resumed -- must produce
// byte-identical scores. The rules (docs/design/worker.md has the rationale):
//
//   h(x)            = Fnv1a64(x)
//   loglikelihood   : for each continuation c,
//                       h = h(model + "|" + full_context + "|" + c)
//                       logprob    = -(h % 10000) / 1000.0
//                       num_tokens = max(1, bytes(c) / 4)
//                       is_greedy  = bit 32 of h
//   rolling         : h = h(model + "|" + full_text), same logprob rule,
//                     num_tokens = max(1, bytes(full_text) / 4)
//   generate        : h = h(model + "|" + full_context) (the sampling seed is
//                     mixed in when temperature > 0). A context containing
//                     "Question:" yields "The answer is N." (N = h % 100)
//                     followed by "\n\nQuestion: ..." (so stop strings
//                     matter); any other context yields 6-15 words from a
//                     fixed vocabulary. Tokens are whitespace-led words;
//                     generation stops before the first stop string
//                     (FINISH_REASON_STOP), after max_new_tokens words
//                     (FINISH_REASON_LENGTH) or at the natural end (EOS).
//
// Model loading fails with FAILED_PRECONDITION when `fail_model_load` is set,
// or when ModelRef.path is non-empty, absolute and does not exist.
#ifndef PROCTOR_WORKER_SCRIPTED_ENGINE_H_
#define PROCTOR_WORKER_SCRIPTED_ENGINE_H_

#include <cstdint>
#include <memory>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "worker/engine/engine.h"

namespace proctor::worker {

struct ScriptedEngineOptions {
  // Sleep before each request (cancellation is checked every few ms), so that
  // tests can kill or cancel a worker in the middle of a job.
  absl::Duration request_delay = absl::ZeroDuration();
  // Sleep inside Load, so that tests can kill a worker during a model load.
  absl::Duration load_delay = absl::ZeroDuration();
  // Every Load fails with FAILED_PRECONDITION (simulates a corrupt model file).
  bool fail_model_load = false;
  // What each loaded model reports as ResidentBytes (drives the model cache).
  int64_t resident_bytes = int64_t{1} << 20;
};

// 64-bit FNV-1a of `data`.
uint64_t Fnv1a64(absl::string_view data);

// Returns a new scripted engine; backend() is "scripted". Thread-safe: Load
// may be called from any thread; each LoadedModel follows the LoadedModel
// contract (RunJob from one thread at a time).
std::unique_ptr<engine::Engine> CreateScriptedEngine(const ScriptedEngineOptions& options);

}  // namespace proctor::worker

#endif  // PROCTOR_WORKER_SCRIPTED_ENGINE_H_
