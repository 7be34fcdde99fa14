// A fixed-size fork-join pool for data-parallel kernels. ParallelFor splits
// [0, n) into contiguous chunks, runs them on the pool's workers and the
// calling thread, and returns when all are done. ParallelFor must not be
// called concurrently on one pool, nor from inside a chunk.
#ifndef PROCTOR_KERNELS_CPU_THREAD_POOL_H_
#define PROCTOR_KERNELS_CPU_THREAD_POOL_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
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
  // least `min_chunk` long (except the last).
  void ParallelFor(int64_t n, const std::function<void(int64_t, int64_t)>& fn,
                   int64_t min_chunk = 1);

 private:
  void WorkerLoop(int index);

  const int num_threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
  uint64_t generation_ = 0;
  bool stop_ = false;
  int pending_ = 0;
  int64_t n_ = 0;
  int64_t chunk_ = 0;
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
};

}  // namespace proctor::kernels

#endif  // PROCTOR_KERNELS_CPU_THREAD_POOL_H_
