#include "worker/engine_registry.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "worker/engine/cpu_engine.h"
#ifdef PROCTOR_WITH_CUDA_BACKEND
#include "worker/engine/cuda/cuda_engine.h"
#include "worker/engine/cuda/device_info.h"
#endif

namespace proctor::worker {
namespace {

using Factory = absl::StatusOr<std::unique_ptr<engine::Engine>> (*)(const EngineOptions&);

struct Backend {
  const char* name;
  Factory factory;
};

// One line per backend linked into the worker.
constexpr Backend kBackends[] = {
    {"cpu",
     [](const EngineOptions& o) -> absl::StatusOr<std::unique_ptr<engine::Engine>> {
       engine::CpuEngineOptions cpu;
       cpu.threads = o.threads;
       cpu.allowed_model_roots = o.allowed_model_roots;
       if (o.max_batch > 0) cpu.max_batch = o.max_batch;
       return engine::CreateCpuEngine(cpu);
     }},
#ifdef PROCTOR_WITH_CUDA_BACKEND
    {"cuda",
     [](const EngineOptions& o) -> absl::StatusOr<std::unique_ptr<engine::Engine>> {
       engine::cuda::CudaEngineOptions cuda;
       cuda.allowed_model_roots = o.allowed_model_roots;
       cuda.plan.tp = o.tensor_parallel;
       if (o.max_batch > 0) cuda.max_batch = o.max_batch;
       return engine::cuda::CreateCudaEngine(cuda);
     }},
#endif
    {"scripted",
     [](const EngineOptions& o) -> absl::StatusOr<std::unique_ptr<engine::Engine>> {
       return CreateScriptedEngine(o.scripted);
     }},
};

}  // namespace

absl::StatusOr<std::unique_ptr<engine::Engine>> CreateEngine(absl::string_view backend,
                                                             const EngineOptions& options) {
  for (const Backend& b : kBackends) {
    if (backend == b.name) return b.factory(options);
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "backend '", backend,
      "' is not built into this worker; known: ", absl::StrJoin(RegisteredBackends(), ", ")));
}

BackendDevices DevicesForBackend(absl::string_view backend) {
  BackendDevices d;
#ifdef PROCTOR_WITH_CUDA_BACKEND
  if (backend == "cuda") {
    for (const engine::cuda::CudaDevice& dev : engine::cuda::ListCudaDevices()) {
      d.gpu_memory_bytes =
          d.gpu_count == 0 ? dev.total_bytes : std::min(d.gpu_memory_bytes, dev.total_bytes);
      ++d.gpu_count;
    }
  }
#else
  (void)backend;
#endif
  return d;
}

std::vector<std::string> RegisteredBackends() {
  std::vector<std::string> names;
  for (const Backend& b : kBackends) names.emplace_back(b.name);
  return names;
}

}  // namespace proctor::worker
