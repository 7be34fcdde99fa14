// Backend selection for the worker: one registry maps a backend name
// ("scripted", "cpu", and "cuda" where it was built) to the factory that builds its Engine.
// Adding a backend is one line in engine_registry.cc.
#ifndef PROCTOR_WORKER_ENGINE_REGISTRY_H_
#define PROCTOR_WORKER_ENGINE_REGISTRY_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "worker/engine/engine.h"
#include "worker/scripted_engine.h"

namespace proctor::worker {

// Everything a backend factory may need. Each backend reads only its part.
struct EngineOptions {
  ScriptedEngineOptions scripted;
  // Compute threads for CPU backends; 0 = backend default.
  int threads = 0;
  // Backends that open model files accept only paths under one of these
  // directories; empty = any path (the scripted backend opens no file).
  std::vector<std::string> allowed_model_roots;
  // Tensor-parallel degree for GPU backends; 0 = chosen from the model size
  // and the GPUs (docs/design/cuda-backend.md).
  int tensor_parallel = 0;
  // Generate requests a job decodes together (continuous batching, see
  // worker/engine/job_runner.h); 0 = backend default (16 cpu, 64 cuda).
  int max_batch = 0;
};

// What a backend runs on, for the worker's advertised capabilities.
struct BackendDevices {
  int gpu_count = 0;
  int64_t gpu_memory_bytes = 0;  // per GPU (the smallest one)
};

// The GPUs `backend` would use: none for "cpu" and "scripted", the visible
// CUDA devices for "cuda" (none without a driver or device).
BackendDevices DevicesForBackend(absl::string_view backend);

// Returns a new engine for `backend`, or INVALID_ARGUMENT naming the unknown
// backend and the ones this binary was built with; passes on the factory's
// error (e.g. FAILED_PRECONDITION: no device) unchanged.
absl::StatusOr<std::unique_ptr<engine::Engine>> CreateEngine(absl::string_view backend,
                                                             const EngineOptions& options);

// The backend names CreateEngine accepts, in registry order.
std::vector<std::string> RegisteredBackends();

}  // namespace proctor::worker

#endif  // PROCTOR_WORKER_ENGINE_REGISTRY_H_
