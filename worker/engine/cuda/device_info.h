// The CUDA devices this process can use, for the worker's capabilities and
// the engine's tensor-parallel choice. Never fails: without a driver or a
// device (cudaGetDeviceCount returns an error such as
// cudaErrorInsufficientDriver and leaves the count untouched) the list is
// empty — TOOLCHAIN.md ("CUDA").
#ifndef PROCTOR_WORKER_ENGINE_CUDA_DEVICE_INFO_H_
#define PROCTOR_WORKER_ENGINE_CUDA_DEVICE_INFO_H_

#include <cstdint>
#include <string>
#include <vector>

namespace proctor::engine::cuda {

struct CudaDevice {
  int index = 0;
  std::string name;
  int64_t total_bytes = 0;
  int compute_capability = 0;  // e.g. 90 for H100
};

// Every visible device (CUDA_VISIBLE_DEVICES applies). Creates no context.
std::vector<CudaDevice> ListCudaDevices();

// Free bytes on each of `devices` (cudaMemGetInfo, which creates a context on
// each); a device that fails reports 0.
std::vector<int64_t> FreeDeviceBytes(const std::vector<int>& devices);

}  // namespace proctor::engine::cuda

#endif  // PROCTOR_WORKER_ENGINE_CUDA_DEVICE_INFO_H_
