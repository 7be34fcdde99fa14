#include "common/periodic_thread.h"

#include <utility>

namespace proctor {

PeriodicThread::PeriodicThread(absl::Duration period, std::function<void()> fn, Start start)
    : thread_([this, period, fn = std::move(fn), start] {
        absl::MutexLock lock(&mu_);
        if (start == Start::kAfterPeriod) mu_.AwaitWithTimeout(absl::Condition(&stop_), period);
        while (!stop_) {
          mu_.Unlock();
          fn();
          mu_.Lock();
          mu_.AwaitWithTimeout(absl::Condition(&stop_), period);
        }
      }) {}

PeriodicThread::~PeriodicThread() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
}

}  // namespace proctor
