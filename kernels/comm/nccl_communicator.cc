#include "kernels/comm/nccl_communicator.h"

#include <nccl.h>

#include <set>

namespace proctor::kernels::comm {
namespace {

class NcclRank : public NcclCommunicator {
 public:
  NcclRank(ncclComm_t comm, int rank, int size, int device)
      : comm_(comm), rank_(rank), size_(size), device_(device) {}
  ~NcclRank() override {
    if (comm_ != nullptr) {
      cudaSetDevice(device_);
      ncclCommDestroy(comm_);
    }
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int device() const override { return device_; }
  void set_stream(cudaStream_t stream) override { stream_ = stream; }
  std::string error() const override { return error_; }

  void AllReduceSum(float* data, int64_t n) override {
    Check("ncclAllReduce(float)",
          ncclAllReduce(data, data, static_cast<size_t>(n), ncclFloat32, ncclSum, comm_, stream_));
  }
  void AllReduceSumBf16(void* data, int64_t n) override {
    Check("ncclAllReduce(bfloat16)",
          ncclAllReduce(data, data, static_cast<size_t>(n), ncclBfloat16, ncclSum, comm_, stream_));
  }
  void AllGather(const float* in, int64_t n, float* out) override {
    Check("ncclAllGather",
          ncclAllGather(in, out, static_cast<size_t>(n), ncclFloat32, comm_, stream_));
  }

 private:
  void Check(const char* what, ncclResult_t r) {
    if (r != ncclSuccess && error_.empty()) {
      error_ = std::string(what) + ": " + ncclGetErrorString(r);
      const char* last = ncclGetLastError(comm_);
      if (last != nullptr && *last != '\0') error_ += std::string(" (") + last + ")";
    }
  }

  ncclComm_t comm_;
  int rank_, size_, device_;
  cudaStream_t stream_ = nullptr;
  std::string error_;
};

}  // namespace

NcclGroup CreateNcclGroup(const std::vector<int>& devices) {
  NcclGroup g;
  if (devices.empty()) {
    g.error = "CreateNcclGroup: no devices";
    return g;
  }
  if (std::set<int>(devices.begin(), devices.end()).size() != devices.size()) {
    g.error = "CreateNcclGroup: a device is listed twice (NCCL needs one rank per GPU)";
    return g;
  }
  std::vector<ncclComm_t> comms(devices.size(), nullptr);
  const ncclResult_t r =
      ncclCommInitAll(comms.data(), static_cast<int>(devices.size()), devices.data());
  if (r != ncclSuccess) {
    g.error = std::string("ncclCommInitAll over ") + std::to_string(devices.size()) +
              " device(s): " + ncclGetErrorString(r);
    return g;
  }
  const int size = static_cast<int>(devices.size());
  for (int i = 0; i < size; ++i) {
    g.ranks.push_back(std::make_unique<NcclRank>(comms[static_cast<size_t>(i)], i, size,
                                                 devices[static_cast<size_t>(i)]));
  }
  return g;
}

}  // namespace proctor::kernels::comm
