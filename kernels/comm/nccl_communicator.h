// The NCCL Communicator: one process, one thread per GPU (ARCHITECTURE.md
// §4). A group is created with ncclCommInitAll over a list of devices; rank r
// drives devices[r]. Unlike the thread implementation, buffers are DEVICE
// pointers and every collective is enqueued on the rank's stream (set with
// set_stream) and returns before it completes: results are stream-ordered.
// Collectives may be captured into a CUDA graph on that stream.
//
// Errors: the Communicator interface has no status, so the first failed NCCL
// or CUDA call is latched and reported by error() (empty while healthy); the
// CUDA backend checks it after each step. Not thread-safe per handle; each
// rank's handle belongs to its rank's thread.
#ifndef PROCTOR_KERNELS_COMM_NCCL_COMMUNICATOR_H_
#define PROCTOR_KERNELS_COMM_NCCL_COMMUNICATOR_H_

#include <cuda_runtime_api.h>

#include <memory>
#include <string>
#include <vector>

#include "kernels/comm/communicator.h"

namespace proctor::kernels::comm {

class NcclCommunicator : public Communicator {
 public:
  // Device index of this rank.
  virtual int device() const = 0;
  // The stream collectives are enqueued on (default: the legacy stream 0).
  virtual void set_stream(cudaStream_t stream) = 0;
  // data[i] = sum over ranks of data[i] for n BF16 values (device memory).
  virtual void AllReduceSumBf16(void* data, int64_t n) = 0;
  // First error seen by this handle ("" = none), naming the call.
  virtual std::string error() const = 0;
};

struct NcclGroup {
  std::vector<std::unique_ptr<NcclCommunicator>> ranks;  // empty on error
  std::string error;                                     // "" on success
};

// One communicator per entry of `devices` (distinct device indices; NCCL
// refuses two ranks on one GPU). A single device gives a group of one, whose
// collectives are local copies / no-ops through NCCL.
NcclGroup CreateNcclGroup(const std::vector<int>& devices);

}  // namespace proctor::kernels::comm

#endif  // PROCTOR_KERNELS_COMM_NCCL_COMMUNICATOR_H_
