#include "kernels/cpu/thread_pool.h"

#include <algorithm>

namespace proctor::kernels {
namespace {

// Spin iterations before a waiting thread sleeps (tens of microseconds):
// long enough to bridge the gaps between the ParallelFor calls of one forward
// step, short enough not to steal much from other processes on a busy box.
constexpr int kSpinIterations = 2048;
constexpr int64_t kMaxChunks = 0xffff;

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

inline uint32_t Gen(uint64_t s) { return static_cast<uint32_t>(s >> 32); }
inline uint32_t Limit(uint64_t s) { return static_cast<uint32_t>(s >> 16) & 0xffff; }
inline uint32_t Next(uint64_t s) { return static_cast<uint32_t>(s) & 0xffff; }

}  // namespace

ThreadPool::ThreadPool(int num_threads) : num_threads_(std::max(1, num_threads)) {
  for (int i = 1; i < num_threads_; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true, std::memory_order_release);
  wake_.fetch_add(1, std::memory_order_release);
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::RunChunks(uint32_t gen) {
  uint64_t s = state_.load(std::memory_order_acquire);
  for (;;) {
    if (Gen(s) != gen || Next(s) >= Limit(s)) return;
    if (!state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel,
                                      std::memory_order_acquire)) {
      continue;  // s was reloaded
    }
    // Claimed chunk Next(s) of call `gen`: the parameters stay valid until
    // this chunk is counted in done_.
    const int64_t begin = static_cast<int64_t>(Next(s)) * chunk_;
    (*fn_)(begin, std::min(n_, begin + chunk_));
    if (done_.fetch_add(1, std::memory_order_acq_rel) + 1 == Limit(s)) done_.notify_all();
    s = state_.load(std::memory_order_acquire);
  }
}

void ThreadPool::WorkerLoop() {
  uint32_t seen = 0;
  for (;;) {
    uint32_t w = wake_.load(std::memory_order_acquire);
    for (int i = 0; w == seen && i < kSpinIterations; ++i) {
      CpuRelax();
      w = wake_.load(std::memory_order_acquire);
    }
    while (w == seen) {
      wake_.wait(seen, std::memory_order_acquire);
      w = wake_.load(std::memory_order_acquire);
    }
    seen = w;
    if (stop_.load(std::memory_order_acquire)) return;
    RunChunks(Gen(state_.load(std::memory_order_acquire)));
  }
}

void ThreadPool::ParallelFor(int64_t n, const std::function<void(int64_t, int64_t)>& fn,
                             int64_t min_chunk) {
  if (n <= 0) return;
  // Up to four chunks per thread: balance when a thread is slowed down.
  int64_t chunk = std::max<int64_t>(std::max<int64_t>(1, min_chunk),
                                    (n + 4 * num_threads_ - 1) / (4 * num_threads_));
  chunk = std::max(chunk, (n + kMaxChunks - 1) / kMaxChunks);
  if (num_threads_ == 1 || chunk >= n) {
    fn(0, n);
    return;
  }
  const uint32_t limit = static_cast<uint32_t>((n + chunk - 1) / chunk);
  n_ = n;
  chunk_ = chunk;
  fn_ = &fn;
  done_.store(0, std::memory_order_relaxed);
  const uint32_t gen = Gen(state_.load(std::memory_order_relaxed)) + 1;
  state_.store(static_cast<uint64_t>(gen) << 32 | static_cast<uint64_t>(limit) << 16,
               std::memory_order_release);
  wake_.fetch_add(1, std::memory_order_release);
  wake_.notify_all();
  RunChunks(gen);
  uint32_t d = done_.load(std::memory_order_acquire);
  for (int i = 0; d != limit && i < kSpinIterations; ++i) {
    CpuRelax();
    d = done_.load(std::memory_order_acquire);
  }
  while (d != limit) {
    done_.wait(d, std::memory_order_acquire);
    d = done_.load(std::memory_order_acquire);
  }
}

}  // namespace proctor::kernels
