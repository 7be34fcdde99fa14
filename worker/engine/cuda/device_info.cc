#include "worker/engine/cuda/device_info.h"

#include <cuda_runtime_api.h>

namespace proctor::engine::cuda {

std::vector<CudaDevice> ListCudaDevices() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    (void)cudaGetLastError();  // clear the sticky-free error state
    return {};
  }
  std::vector<CudaDevice> out;
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) {
      (void)cudaGetLastError();
      continue;
    }
    CudaDevice d;
    d.index = i;
    d.name = prop.name;
    d.total_bytes = static_cast<int64_t>(prop.totalGlobalMem);
    d.compute_capability = prop.major * 10 + prop.minor;
    out.push_back(std::move(d));
  }
  return out;
}

std::vector<int64_t> FreeDeviceBytes(const std::vector<int>& devices) {
  std::vector<int64_t> out;
  for (int d : devices) {
    size_t free_b = 0, total_b = 0;
    if (cudaSetDevice(d) != cudaSuccess || cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) {
      (void)cudaGetLastError();
      free_b = 0;
    }
    out.push_back(static_cast<int64_t>(free_b));
  }
  return out;
}

}  // namespace proctor::engine::cuda
