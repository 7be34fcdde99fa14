#include "kernels/comm/communicator.h"

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <mutex>

namespace proctor::kernels::comm {
namespace {

// Shared state of a thread group: a reusable generation barrier plus the
// buffers each rank posts for the current collective.
class Group {
 public:
  explicit Group(int size) : size_(size), in_(static_cast<size_t>(size)) {}

  int size() const { return size_; }

  void Barrier() {
    std::unique_lock<std::mutex> lock(mu_);
    const uint64_t gen = generation_;
    if (++arrived_ == size_) {
      arrived_ = 0;
      ++generation_;
      cv_.notify_all();
    } else {
      cv_.wait(lock, [&] { return generation_ != gen; });
    }
  }

  void AllReduceSum(int rank, float* data, int64_t n) {
    in_[static_cast<size_t>(rank)] = data;
    if (rank == 0) scratch_.resize(static_cast<size_t>(n));
    Barrier();
    // Each rank sums its own slice over all ranks, in rank order.
    const int64_t per = (n + size_ - 1) / size_;
    const int64_t b = std::min(n, rank * per), e = std::min(n, b + per);
    for (int64_t i = b; i < e; ++i) {
      float s = 0.0f;
      for (int r = 0; r < size_; ++r)
        s += static_cast<const float*>(in_[static_cast<size_t>(r)])[i];
      scratch_[static_cast<size_t>(i)] = s;
    }
    Barrier();
    std::memcpy(data, scratch_.data(), static_cast<size_t>(n) * sizeof(float));
    Barrier();  // nobody may reuse scratch_ before every rank copied it
  }

  void AllGather(int rank, const float* in, int64_t n, float* out) {
    in_[static_cast<size_t>(rank)] = in;
    Barrier();
    for (int r = 0; r < size_; ++r) {
      std::memcpy(out + r * n, in_[static_cast<size_t>(r)], static_cast<size_t>(n) * sizeof(float));
    }
    Barrier();
  }

 private:
  const int size_;
  std::mutex mu_;
  std::condition_variable cv_;
  int arrived_ = 0;
  uint64_t generation_ = 0;
  std::vector<const void*> in_;
  std::vector<float> scratch_;
};

class ThreadCommunicator : public Communicator {
 public:
  ThreadCommunicator(std::shared_ptr<Group> group, int rank)
      : group_(std::move(group)), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return group_->size(); }
  void AllReduceSum(float* data, int64_t n) override {
    if (group_->size() > 1) group_->AllReduceSum(rank_, data, n);
  }
  void AllGather(const float* in, int64_t n, float* out) override {
    if (group_->size() == 1) {
      std::memcpy(out, in, static_cast<size_t>(n) * sizeof(float));
      return;
    }
    group_->AllGather(rank_, in, n, out);
  }

 private:
  std::shared_ptr<Group> group_;
  int rank_;
};

}  // namespace

std::vector<std::unique_ptr<Communicator>> CreateThreadGroup(int size) {
  size = std::max(1, size);
  auto group = std::make_shared<Group>(size);
  std::vector<std::unique_ptr<Communicator>> out;
  for (int r = 0; r < size; ++r) out.push_back(std::make_unique<ThreadCommunicator>(group, r));
  return out;
}

}  // namespace proctor::kernels::comm
