// A fixed-size fork-join pool for data-parallel kernels. ParallelFor splits
// [0, n) into contiguous chunks, runs them on the pool's workers and the
// calling thread, and returns when all are done. ParallelFor must not be
// called concurrently on one pool, nor from inside a chunk.
//
// Scheduling: chunks are handed out dynamically (an atomic cursor), and the
// caller waits for the chunks to be done, not for every worker to check in:
// on a busy machine a worker that is not scheduled simply takes no chunk, and
// the caller (or another worker) runs it. Between calls, workers spin briefly
// (a decode step issues hundreds of small ParallelFor calls microseconds
// apart) and then sleep on a futex, so an idle pool costs no CPU.
#ifndef PROCTOR_KERNELS_CPU_THREAD_POOL_H_
#define PROCTOR_KERNELS_CPU_THREAD_POOL_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

namespace proctor::kernels {

class ThreadPool {
 public:
  // `num_threads` >= 1 counts the caller: num_threads - 1 workers are started.
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return num_threads_; }

  // Calls fn(begin, end) on disjoint chunks covering [0, n). Chunks are at
  // least `min_chunk` long (except the last) and start at multiples of the
  // chunk length.
  void ParallelFor(int64_t n, const std::function<void(int64_t, int64_t)>& fn,
                   int64_t min_chunk = 1);

 private:
  void WorkerLoop();
  // Claims and runs chunks of call `gen` until none is left (or a newer call
  // has started).
  void RunChunks(uint32_t gen);

  const int num_threads_;
  std::vector<std::thread> workers_;
  // Invariants: state_ = gen << 32 | limit << 16 | next, where gen counts
  // ParallelFor calls, limit is the call's chunk count (< 2^16) and next the
  // next unclaimed chunk. A chunk is claimed by a CAS that leaves gen and
  // limit unchanged, so a late worker can never claim a chunk of a finished
  // call. The call's parameters (fn_, n_, chunk_) are written before state_ is
  // published (release) and stay valid until done_ == limit.
  alignas(64) std::atomic<uint64_t> state_{0};
  alignas(64) std::atomic<uint32_t> done_{0};  // chunks finished in this call
  alignas(64) std::atomic<uint32_t> wake_{0};  // bumped per call; workers wait on it
  std::atomic<bool> stop_{false};
  int64_t n_ = 0;
  int64_t chunk_ = 0;
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
};

}  // namespace proctor::kernels

#endif  // PROCTOR_KERNELS_CPU_THREAD_POOL_H_
