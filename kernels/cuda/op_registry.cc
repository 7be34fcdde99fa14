#include "kernels/cuda/op_registry.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <thread>
#include <utility>

namespace proctor::kernels::cuda {

uint16_t HostFloatToBf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);  // NaN
  const uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>((u + rounding) >> 16);
}

float HostBf16ToFloat(uint16_t h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return f;
}

namespace {

// Runs fn(begin, end) over [0, n) in contiguous chunks on up to
// hardware_concurrency threads (inline when n is small): the benchmark builds
// inputs of up to half a billion elements, and every element below depends
// only on its index, so the split does not change any value.
template <typename Fn>
void ParallelChunks(size_t n, Fn fn) {
  constexpr size_t kMinPerThread = size_t{1} << 20;
  const size_t hw = std::max(1u, std::thread::hardware_concurrency());
  const size_t threads = std::min(hw, std::max<size_t>(1, n / kMinPerThread));
  if (threads <= 1) {
    fn(size_t{0}, n);
    return;
  }
  std::vector<std::thread> pool;
  const size_t chunk = (n + threads - 1) / threads;
  for (size_t t = 0; t < threads; ++t) {
    const size_t begin = t * chunk, end = std::min(n, begin + chunk);
    if (begin >= end) break;
    pool.emplace_back(fn, begin, end);
  }
  for (std::thread& th : pool) th.join();
}

}  // namespace

std::vector<float> RandomUniform(size_t n, float lo, float hi, uint64_t seed) {
  std::vector<float> out(n);
  // splitmix64: element i uses state seed + (i + 1) * golden, so any element
  // can be computed from its index alone.
  ParallelChunks(n, [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) {
      uint64_t z = seed + (static_cast<uint64_t>(i) + 1) * 0x9e3779b97f4a7c15ull;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      z ^= z >> 31;
      const double unit = static_cast<double>(z >> 11) * (1.0 / 9007199254740992.0);
      out[i] = lo + static_cast<float>(unit) * (hi - lo);
    }
  });
  return out;
}

std::vector<uint16_t> ToBf16(const std::vector<float>& x) {
  std::vector<uint16_t> out(x.size());
  ParallelChunks(x.size(), [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) out[i] = HostFloatToBf16(x[i]);
  });
  return out;
}

std::vector<float> FromBf16(const std::vector<uint16_t>& x) {
  std::vector<float> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) out[i] = HostBf16ToFloat(x[i]);
  return out;
}

DeviceBuffer::~DeviceBuffer() {
  if (ptr_ != nullptr) cudaFree(ptr_);
}

DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept
    : ptr_(std::exchange(other.ptr_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    if (ptr_ != nullptr) cudaFree(ptr_);
    ptr_ = std::exchange(other.ptr_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

cudaError_t DeviceBuffer::Allocate(size_t bytes) {
  if (ptr_ != nullptr) cudaFree(ptr_);
  ptr_ = nullptr;
  bytes_ = 0;
  if (bytes == 0) return cudaSuccess;
  cudaError_t err = cudaMalloc(&ptr_, bytes);
  if (err != cudaSuccess) {
    ptr_ = nullptr;
    return err;
  }
  bytes_ = bytes;
  return cudaSuccess;
}

cudaError_t DeviceBuffer::Upload(const void* host, size_t bytes) {
  cudaError_t err = Allocate(bytes);
  if (err != cudaSuccess || bytes == 0) return err;
  return cudaMemcpy(ptr_, host, bytes, cudaMemcpyHostToDevice);
}

cudaError_t DeviceBuffer::Download(void* host, size_t bytes) const {
  if (bytes > bytes_) return cudaErrorInvalidValue;
  if (bytes == 0) return cudaSuccess;
  return cudaMemcpy(host, ptr_, bytes, cudaMemcpyDeviceToHost);
}

double MaxAbsError(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return std::numeric_limits<double>::infinity();
  double worst = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i])) return std::numeric_limits<double>::infinity();
    const double d = std::fabs(static_cast<double>(a[i]) - static_cast<double>(b[i]));
    if (d > worst) worst = d;
  }
  return worst;
}

std::string CudaErrorText(const char* what, cudaError_t err) {
  return std::string(what) + ": " + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")";
}

OpCaseList MakeTestCases() {
  OpCaseList out;
  AddNormCases(false, &out);
  AddElementwiseCases(false, &out);
  AddGemmCases(false, &out);
  AddAttentionCases(false, &out);
  return out;
}

OpCaseList MakeBenchCases() {
  OpCaseList out;
  AddNormCases(true, &out);
  AddElementwiseCases(true, &out);
  AddGemmCases(true, &out);
  AddAttentionCases(true, &out);
  return out;
}

}  // namespace proctor::kernels::cuda
