// cudaError_t -> absl::Status at the engine boundary (STYLE.md: "CUDA
// launchers return cudaError_t; the engine wraps it with file:line and the
// CUDA error string"). Out-of-memory becomes RESOURCE_EXHAUSTED, everything
// else INTERNAL.
#ifndef PROCTOR_WORKER_ENGINE_CUDA_CUDA_STATUS_H_
#define PROCTOR_WORKER_ENGINE_CUDA_CUDA_STATUS_H_

#include <cuda_runtime_api.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace proctor::engine::cuda {

inline absl::Status CudaStatus(cudaError_t e, const char* what, const char* file, int line) {
  if (e == cudaSuccess) return absl::OkStatus();
  std::string msg = absl::StrCat(file, ":", line, ": ", what, ": ", cudaGetErrorName(e), " (",
                                 cudaGetErrorString(e), ")");
  if (e == cudaErrorMemoryAllocation) return absl::ResourceExhaustedError(msg);
  return absl::InternalError(msg);
}

}  // namespace proctor::engine::cuda

#define PROCTOR_CUDA_RETURN_IF_ERROR(expr)                                                      \
  do {                                                                                          \
    const cudaError_t proctor_cuda_err_ = (expr);                                               \
    if (proctor_cuda_err_ != cudaSuccess) {                                                     \
      return ::proctor::engine::cuda::CudaStatus(proctor_cuda_err_, #expr, __FILE__, __LINE__); \
    }                                                                                           \
  } while (0)

#endif  // PROCTOR_WORKER_ENGINE_CUDA_CUDA_STATUS_H_
