// The "cpu" Engine: loads GGUF / llama2.c models from allowed directories and
// runs jobs with JobRunner on a private thread pool.
#ifndef PROCTOR_WORKER_ENGINE_CPU_ENGINE_H_
#define PROCTOR_WORKER_ENGINE_CPU_ENGINE_H_

#include <memory>
#include <string>
#include <vector>

#include "worker/engine/engine.h"

namespace proctor::engine {

struct CpuEngineOptions {
  // Compute threads per loaded model; 0 = std::thread::hardware_concurrency().
  int threads = 0;
  // Model paths must resolve (after symlinks) to a file under one of these
  // directories; empty = any path is allowed.
  std::vector<std::string> allowed_model_roots;
  // Reuse the KV cache across requests sharing a token prefix (default on).
  bool prefix_sharing = true;
  // Generate requests decoded together per job (JobRunnerOptions::max_batch);
  // each holds its own KV cache while it runs.
  int max_batch = 16;
};

// Load() errors: PERMISSION_DENIED for a path outside the allowed roots;
// FAILED_PRECONDITION for a missing, malformed or unsupported model file or a
// model without a tokenizer. Each LoadedModel owns its thread pool and cache.
std::unique_ptr<Engine> CreateCpuEngine(const CpuEngineOptions& options);

}  // namespace proctor::engine

#endif  // PROCTOR_WORKER_ENGINE_CPU_ENGINE_H_
