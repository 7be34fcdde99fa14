// Collective operations between the ranks of a tensor-parallel group. The
// engine calls them at the Megatron synchronisation points (after the
// row-parallel O and down projections, for the vocabulary-parallel embedding
// and logits). Implementations: in-process threads over host memory (here)
// and NCCL (kernels/cuda, with the CUDA backend).
#ifndef PROCTOR_KERNELS_COMM_COMMUNICATOR_H_
#define PROCTOR_KERNELS_COMM_COMMUNICATOR_H_

#include <cstdint>
#include <memory>
#include <vector>

namespace proctor::kernels::comm {

// One rank's handle. Collective calls must be made by every rank of the group,
// in the same order and with the same sizes; each rank's handle is used from
// one thread at a time. Results are bit-identical on every rank.
class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // data[i] = sum over ranks r (in rank order) of rank r's data[i], i < n.
  virtual void AllReduceSum(float* data, int64_t n) = 0;
  // out[r * n + i] = rank r's in[i]; `out` holds size() * n floats.
  virtual void AllGather(const float* in, int64_t n, float* out) = 0;
};

// A group of `size` (>= 1) in-process communicators sharing host memory; give
// each to its own thread. The group lives as long as any handle.
std::vector<std::unique_ptr<Communicator>> CreateThreadGroup(int size);

}  // namespace proctor::kernels::comm

#endif  // PROCTOR_KERNELS_COMM_COMMUNICATOR_H_
