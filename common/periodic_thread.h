// A thread that calls a function every `period` until the object is
// destroyed. The destructor wakes the thread at once and joins it; a call in
// progress finishes first. Used by the coordinator's lease-expiry tick and the
// sweep timer.
#ifndef PROCTOR_COMMON_PERIODIC_THREAD_H_
#define PROCTOR_COMMON_PERIODIC_THREAD_H_

#include <functional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace proctor {

class PeriodicThread {
 public:
  enum class Start { kAfterPeriod, kImmediately };

  // Calls `fn` every `period` (the first call after one period, or at once
  // with Start::kImmediately) on a new thread.
  PeriodicThread(absl::Duration period, std::function<void()> fn,
                 Start start = Start::kAfterPeriod);
  ~PeriodicThread();
  PeriodicThread(const PeriodicThread&) = delete;
  PeriodicThread& operator=(const PeriodicThread&) = delete;

 private:
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace proctor

#endif  // PROCTOR_COMMON_PERIODIC_THREAD_H_
